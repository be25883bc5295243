"""`SupermaskModel`: one selection for all its supermask layers, and its files.

The model owns the selection mode and the sparsity of its supermask layers,
lists them by `layer_index`, selects their masks from the current scores on
every call (`fit`, `predict`, `masks`), refuses networks it cannot select
for, and saves and loads with its config and exact masks.
"""

import json

import keras
import numpy as np
import pytest
from helpers import GLOBAL_ERROR, kernel_weights, numpy, reference_masks

import keras_slt
from keras_slt.layers import SupermaskDense
from keras_slt.search import callbacks
from keras_slt.utils.counting import floor_count


def small_model(selection_mode="global", sparsity=0.6, prune_rate=0.0, lock_rate=0.0, **kwargs):
    frozen = dict(seed=2, prune_rate=prune_rate, lock_rate=lock_rate)
    network = keras.Sequential(
        [
            keras.Input((6,)),
            SupermaskDense(8, activation="relu", layer_index=0, **frozen),
            SupermaskDense(3, layer_index=1, **frozen),
        ]
    )
    return keras_slt.SupermaskModel(network, sparsity=sparsity, selection=selection_mode, **kwargs)


def toy_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype("float32")
    return x, (x[:, 0] > x[:, 1]).astype("int32") + (x[:, 2] > 0).astype("int32")


def as_json(config):
    """A config as its file holds it (tuples, e.g. of build shapes, as lists)."""
    return json.loads(json.dumps(config))


def test_supermask_layers_are_listed_by_index_through_nested_models():
    inner = keras.Sequential(
        [
            keras.Input((6,)),
            SupermaskDense(7, layer_index=0, name="first"),
            keras.layers.BatchNormalization(),
            SupermaskDense(9, layer_index=2, name="third"),
        ]
    )
    inputs = keras.Input((4,))
    h = SupermaskDense(5, layer_index=1, name="second")(inputs)
    h = inner(keras.layers.Dense(6, name="plain")(h))
    model = keras_slt.SupermaskModel(
        keras.Model(inputs, SupermaskDense(2, layer_index=3, name="last")(h)), sparsity=0.5
    )
    assert [l.name for l in model.supermask_layers] == ["first", "second", "third", "last"]
    # Masks, thresholds and statistics follow the same order.
    assert [m.shape for m in model.masks()] == [(6, 7), (4, 5), (7, 9), (9, 2)]
    assert list(model.mask_statistics()["layer_sparsity"]) == ["first", "second", "third", "last"]


def test_model_owns_selection_and_sparsity():
    model = small_model("global", sparsity=0.7)
    assert [(l.selection, l.sparsity) for l in model.supermask_layers] == [("global", 0.7)] * 2
    network = keras.Sequential([keras.Input((6,)), SupermaskDense(3, sparsity=0.5)])
    with pytest.raises(ValueError, match="has sparsity 0.5, its SupermaskModel 0.7"):
        keras_slt.SupermaskModel(network, sparsity=0.7)
    for name in ("sparsity", "selection"):
        with pytest.raises(AttributeError):
            setattr(model, name, 0.5)


@pytest.mark.parametrize(
    "network, options, message",
    [
        ([SupermaskDense(3)], {"selection": "local"}, "selection must be one of global, layerwise; got 'local'"),
        ([SupermaskDense(3)], {"sparsity": 1.0}, r"sparsity must be in \[0, 1\), got 1.0"),
        ([keras.layers.Dense(3)], {}, "network has no supermask layers; see keras_slt.supermaskify"),
        (
            [SupermaskDense(3, layer_index=1), SupermaskDense(3, layer_index=1)],
            {},
            r"supermask layers need distinct layer_index values, got \[1, 1\]",
        ),
        (
            [SupermaskDense(3, prune_rate=0.5)],
            {"sparsity": 0.2},
            r"sparsity must be in \[prune_ratio, 1 - lock_ratio\] = \[0.5, 1\], got 0.2",
        ),
    ],
)
def test_networks_it_cannot_select_for_are_refused(network, options, message):
    with pytest.raises(ValueError, match=message):
        keras_slt.SupermaskModel(keras.Sequential([keras.Input((6,)), *network]), **{"sparsity": 0.5, **options})


@pytest.mark.parametrize("selection_mode", ["global", "layerwise"])
def test_masks_thresholds_and_statistics_agree(selection_mode):
    model = small_model(selection_mode, prune_rate=0.25, lock_rate=0.125)
    masks = model.masks()
    for mask, expected in zip(masks, reference_masks(model)):
        assert mask.dtype == np.int8
        np.testing.assert_array_equal(mask, expected)
    n = sum(m.size for m in masks)
    thresholds = model.layer_thresholds()
    assert len(thresholds) == 2
    for layer, threshold, mask in zip(model.supermask_layers, thresholds, masks):
        np.testing.assert_array_equal(numpy(layer.mask(threshold)), mask)
    statistics = model.mask_statistics()
    kept = sum(int(m.sum()) for m in masks)
    assert statistics["actual_sparsity"] == 1 - kept / n
    assert statistics["layer_sparsity"] == {l.name: 1 - float(m.mean()) for l, m in zip(model.supermask_layers, masks)}
    if selection_mode == "global":
        assert kept == n - floor_count(n, 0.6)
        assert [float(numpy(t)) for t in thresholds] == [statistics["threshold"]] * 2
        assert statistics["threshold"] == float(numpy(model.global_threshold()))
    else:
        assert [int(m.sum()) for m in masks] == [m.size - floor_count(m.size, 0.6) for m in masks]
        assert statistics["threshold"] == [float(numpy(t)) for t in thresholds]


def test_network_of_a_global_model_refuses_to_run_alone():
    model = small_model("global")
    x = np.ones((2, 6), "float32")
    model(x)
    with pytest.raises(ValueError, match=GLOBAL_ERROR):
        model.network(x)
    cut = keras.Model(model.network.inputs[0], model.network.layers[0].output)
    with pytest.raises(ValueError, match=GLOBAL_ERROR):
        cut(x)


def test_network_of_a_layerwise_model_selects_alone():
    model = small_model("layerwise")
    x = np.random.default_rng(0).standard_normal((3, 6)).astype("float32")
    np.testing.assert_array_equal(numpy(model.network(x)), numpy(model(x)))


def test_only_training_calls_record_the_threshold_hint():
    model = small_model()
    x, _ = toy_data(4)
    model(x, training=False)
    assert int(numpy(model.threshold_hint)) == 0
    model(x, training=True)
    threshold = np.float32(numpy(model.global_threshold()))
    assert int(numpy(model.threshold_hint)) == int(threshold.view(np.int32)) != 0


@pytest.mark.parametrize("selection_mode", ["global", "layerwise"])
def test_fit_trains_the_scores_and_predict_uses_their_masks(selection_mode):
    model = small_model(selection_mode)
    model.compile(keras.optimizers.SGD(0.5, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = toy_data()
    scores = [numpy(l.scores) for l in model.supermask_layers]
    before = model.masks()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = model.masks()
    assert all(not np.array_equal(numpy(l.scores), s) for l, s in zip(model.supermask_layers, scores))
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))
    for mask, expected in zip(after, reference_masks(model)):
        np.testing.assert_array_equal(mask, expected)
    first, last = (kernel_weights(l) * m for l, m in zip(model.supermask_layers, after))
    expected = np.maximum(x @ first, 0) @ last
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


class LazyNetwork(keras.Model):
    """A subclassed network that makes its supermask layers when it is built."""

    def build(self, input_shape):
        self.hidden = SupermaskDense(8, activation="relu", layer_index=0)
        self.logits = SupermaskDense(3, layer_index=1)
        self.hidden.build(input_shape)
        self.logits.build((*input_shape[:-1], 8))

    def call(self, inputs):
        return self.logits(self.hidden(inputs))


def test_layers_a_subclassed_network_makes_when_built_are_adopted():
    model = keras_slt.SupermaskModel(LazyNetwork(), sparsity=0.5)
    assert not model.built and model.supermask_layers == []
    assert model(np.ones((2, 6), "float32")).shape == (2, 3)
    assert [(l.sparsity, l.selection) for l in model.supermask_layers] == [(0.5, "global")] * 2
    assert sum(int(m.sum()) for m in model.masks()) == (6 * 8 + 8 * 3) // 2


def test_static_scale_uses_the_model_sparsity():
    network = keras.Sequential([keras.Input((6,)), SupermaskDense(4, scale="static", seed=1)])
    model = keras_slt.SupermaskModel(network, sparsity=0.75, selection="layerwise")
    x = np.random.default_rng(1).standard_normal((2, 6)).astype("float32")
    kernel = kernel_weights(model.supermask_layers[0]) * model.masks()[0] * np.float32(2.0)  # 1/sqrt(1 - 0.75)
    np.testing.assert_allclose(numpy(model(x)), x @ kernel, rtol=1e-6)


def test_functional_network_builds_before_the_model_sets_sparsity():
    # Building the graph traces the layers symbolically, before any model
    # (or sparsity) exists; static scale needs the sparsity only when run.
    inputs = keras.Input((6, 6, 2))
    x = keras_slt.SupermaskConv2D(3, 3, scale="static", layer_index=0)(inputs)
    x = keras.layers.Flatten()(x)
    network = keras.Model(inputs, SupermaskDense(2, scale="static", layer_index=1)(x))
    model = keras_slt.SupermaskModel(network, sparsity=0.5)
    assert model(np.ones((1, 6, 6, 2), "float32")).shape == (1, 2)


class BatchLosses(keras.callbacks.Callback):
    """The loss of every training batch that ended."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def test_fit_is_keras_fit_and_stops_on_nan_with_the_callback_given_by_position():
    model = small_model()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert type(model).fit is keras.Model.fit
    x, y = toy_data(8)
    x[5, 1] = np.nan
    batches = BatchLosses()
    # fit(x, y, batch_size, epochs, verbose, callbacks)
    with pytest.raises(callbacks.NonFiniteTrainingError, match="training loss became nan in epoch 1, batch 2; lower"):
        model.fit(x, y, 4, 2, 0, [batches, callbacks.StopOnNonFinite()], shuffle=False)
    assert len(batches.losses) == 2


def test_nan_scores_with_a_finite_loss_stop_at_the_epoch_end():
    model = small_model()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    scores = model.supermask_layers[0].scores
    scores.assign(np.full(scores.shape, np.nan, "float32"))
    x, y = toy_data(8)
    batches = BatchLosses()
    with pytest.raises(callbacks.NonFiniteTrainingError, match="variable .*scores became NaN or infinite in epoch 1"):
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[batches, callbacks.StopOnNonFinite()])
    # Keras's TerminateOnNaN alone would not have stopped: the loss stayed finite.
    assert len(batches.losses) == 2 and np.isfinite(batches.losses).all()


def test_config_round_trip_keeps_every_setting():
    model = small_model(
        "layerwise",
        sparsity=0.7,
        metadata={"seed": 2, "distribution": "erk"},
        name="ticket",
        trainable=False,
        dtype="float64",
    )
    config = model.get_config()
    assert {k: config[k] for k in ("name", "trainable", "sparsity", "selection", "metadata")} == {
        "name": "ticket",
        "trainable": False,
        "sparsity": 0.7,
        "selection": "layerwise",
        "metadata": {"seed": 2, "distribution": "erk"},
    }
    clone = keras_slt.SupermaskModel.from_config(config)
    assert clone.get_config() == config
    assert not clone.trainable and clone.dtype_policy.name == "float64"
    assert [l.get_config() for l in clone.supermask_layers] == [l.get_config() for l in model.supermask_layers]
    for a, b in zip(clone.masks(), model.masks()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("selection_mode", ["global", "layerwise"])
def test_keras_file_round_trip_keeps_config_scores_and_masks(tmp_path, selection_mode):
    model = small_model(selection_mode, metadata={"seed": 2})
    model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = toy_data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "ticket.keras")
    loaded = keras.saving.load_model(tmp_path / "ticket.keras")
    assert isinstance(loaded, keras_slt.SupermaskModel)
    assert as_json(loaded.get_config()) == as_json(model.get_config())
    assert int(numpy(loaded.threshold_hint)) == int(numpy(model.threshold_hint))
    for a, b in zip(model.supermask_layers, loaded.supermask_layers):
        np.testing.assert_array_equal(numpy(a.scores), numpy(b.scores))
    for a, b in zip(model.masks(), loaded.masks()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
