"""Edge-Popup search inside `model.fit`."""

import keras
import numpy as np
import pytest
from helpers import reference_masks
from keras import ops

import keras_slt


def toy_data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8, 8, 1)).astype("float32")
    y = (x[:, :4, :, 0].mean(axis=(1, 2)) > x[:, 4:, :, 0].mean(axis=(1, 2))).astype("int32")
    return x, y


def small_model(selection_mode="global", **kwargs):
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    outputs = keras.layers.Dense(2)(h)
    base = keras.Model(inputs, outputs)
    args = dict(sparsity=0.5, freeze_ratio=0.4, seed=3, selection=selection_mode)
    args.update(kwargs)
    return keras_slt.supermaskify(base, **args)


@pytest.mark.parametrize("selection_mode", ["global", "layerwise"])
def test_fit_changes_masks_lowers_loss_and_keeps_frozen(selection_mode):
    model = small_model(selection_mode)
    # jit_compile=True: XLA on TensorFlow, jax.jit on JAX.
    model.compile(
        keras.optimizers.SGD(0.1, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    x, y = toy_data()
    layers = model.supermask_layers
    scores = [ops.convert_to_numpy(l.scores) for l in layers]
    before = model.masks()
    loss_before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    after = model.masks()
    assert model.evaluate(x, y, verbose=0) < loss_before
    assert history.history["loss"][-1] < history.history["loss"][0]
    # fit trained every layer's scores, and the masks are the top-k of the new scores.
    assert all(not np.array_equal(ops.convert_to_numpy(l.scores), s) for l, s in zip(layers, scores))
    changed = sum(int((a != b).sum()) for a, b in zip(before, after))
    assert changed > 0
    freezes = [l.freeze_pattern() for l in model.supermask_layers]
    for mask, ref, freeze in zip(after, reference_masks(model), freezes):
        np.testing.assert_array_equal(mask, ref)
        assert np.all(mask[freeze == -1] == 0) and np.all(mask[freeze == 1] == 1)
    n = sum(m.size for m in after)
    kept = sum(int(m.sum()) for m in after)
    if selection_mode == "global":
        assert kept == n - int(np.floor(n * 0.5))
    else:
        assert all(int(m.sum()) == m.size - m.size // 2 for m in after)


def test_frozen_tensors_and_weights_never_change():
    model = small_model()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    layers = model.supermask_layers
    frozen = [[ops.convert_to_numpy(v) for v in l.non_trainable_weights] for l in layers]
    x, y = toy_data(128)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    # W's signs and the free index: every non-trainable variable.
    for layer, before in zip(layers, frozen):
        assert len(before) == 6
        for variable, value in zip(layer.non_trainable_weights, before):
            assert np.array_equal(ops.convert_to_numpy(variable), value)
