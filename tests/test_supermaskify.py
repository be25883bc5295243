"""`supermaskify` on Sequential, functional and keras.applications models."""

import keras
import numpy as np
import pytest

import keras_slt
from keras_slt.layers import SupermaskConv2D, SupermaskDense, SupermaskDepthwiseConv2D, SupermaskLayer


def all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


@pytest.mark.agnostic
def test_sequential_with_nested_model():
    inner = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu")], name="inner")
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), inner, keras.layers.Dense(3)])
    converted = keras_slt.supermaskify(model, sparsity=0.5, seed=1)
    layers = converted.supermask_layers
    assert [type(l) for l in layers] == [SupermaskDense, SupermaskDense]
    assert [l.layer_index for l in layers] == [0, 1]
    assert converted.predict(np.ones((2, 4, 4, 1), "float32"), verbose=0).shape == (2, 3)


@pytest.mark.agnostic
def test_functional_conversion_details():
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, use_bias=True, activation="relu", name="c1")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.DepthwiseConv2D(3, name="dw")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(5, activation="softmax", name="fc")(h)
    model = keras.Model(inputs, outputs)
    converted = keras_slt.supermaskify(model, sparsity=0.6, prune_ratio=0.2, lock_ratio=0.1,
                                       scale="static", weight_init="kaiming_normal", seed=9)
    layers = {l.name: l for l in all_layers(converted.network)}
    assert isinstance(layers["c1"], SupermaskConv2D) and layers["c1"].activation.__name__ == "relu"
    assert isinstance(layers["dw"], SupermaskDepthwiseConv2D)
    assert isinstance(layers["fc"], SupermaskDense)
    assert all(l.bias is None and l.scale == "static" and l.weight_init == "kaiming_normal"
               for l in converted.supermask_layers)
    bn = layers["bn"]
    assert not bn.center and not bn.scale and bn.trainable_weights == []
    assert converted.trainable_weights and all(v.name == "scores" for v in converted.trainable_weights)
    # Distributions floor kept counts: layer l keeps floor(N_l * (1 - p))
    # unpruned and floor(N_l * (1 - p - r)) unfrozen weights.
    for layer in converted.supermask_layers:
        n = layer.num_weights
        assert layer.num_pruned == n - int(np.floor(n * 0.8 + 1e-6))
        assert layer.num_pruned + layer.num_locked == n - int(np.floor(n * 0.7 + 1e-6))


@pytest.mark.agnostic
def test_affine_batchnorm_option():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
    converted = keras_slt.supermaskify(model, sparsity=0.5, affine_batchnorm=True)
    names = sorted(v.name for v in converted.trainable_weights)
    assert names == ["beta", "gamma", "scores"]


@pytest.mark.agnostic
def test_unsupported_layer_is_named():
    model = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(10, 4, name="emb"),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="layer 'emb' \\(Embedding\\) has trainable weights"):
        keras_slt.supermaskify(model, sparsity=0.5)
    with pytest.warns(UserWarning, match="emb"):
        converted = keras_slt.supermaskify(model, sparsity=0.5, unsupported="keep")
    assert len(converted.supermask_layers) == 1


@pytest.mark.agnostic
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sparsity": 1.2}, r"sparsity must be in \[0, 1\)"),
        ({"freeze_ratio": 0.5, "lock_ratio": 0.1}, "either freeze_ratio"),
        ({"distribution": "normal"}, "distribution must be one of"),
        ({"selection": "topk"}, "selection must be one of global, layerwise"),
        ({"scale": "big"}, "scale must be one of none, static, dynamic"),
        ({"weight_init": "ones"}, "weight_init must be one of"),
        ({"prune_ratio": 0.8}, r"sparsity must be in \[prune_ratio, 1 - lock_ratio\]"),
        ({"seed": 2**70}, "seed must be in"),
    ],
)
def test_supermaskify_validation(kwargs, message):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
    args = {"sparsity": 0.5, **kwargs}
    with pytest.raises(ValueError, match=message):
        keras_slt.supermaskify(model, **args)


@pytest.mark.parametrize(
    "build",
    [
        lambda: keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10),
        lambda: keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10),
    ],
    ids=["ResNet50", "MobileNetV2"],
)
def test_keras_applications(build):
    base = build()
    converted = keras_slt.supermaskify(base, sparsity=0.7, freeze_ratio=0.5, distribution="erk", seed=1)
    originals = [l for l in all_layers(base) if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D))]
    supermask = converted.supermask_layers
    assert len(supermask) == len(originals)
    assert sum(l.num_weights for l in supermask) == sum(int(np.prod(l.kernel.shape)) for l in originals)
    assert all(isinstance(l, SupermaskLayer) for l in supermask)
    for layer in all_layers(converted.network):
        if isinstance(layer, keras.layers.BatchNormalization):
            assert not layer.center and not layer.scale
    size = keras_slt.model_size(converted)
    assert size.free + size.pruned + size.locked == size.supermask_weights
    assert abs(size.pruned + size.locked - 0.5 * size.supermask_weights) <= 2 * len(supermask) + 2
    out = converted.predict(np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32"), verbose=0)
    assert out.shape == (2, 10) and np.all(np.isfinite(out))


@pytest.mark.agnostic
def test_sparsity_equal_to_prune_ratio_is_accepted():
    # 1001 + 7 weights: flooring kept counts prunes 301 + 3 > 0.3 * 1008.
    model = keras.Sequential([keras.Input((143,)), keras.layers.Dense(7), keras.layers.Dense(1)])
    converted = keras_slt.supermaskify(model, sparsity=0.3, prune_ratio=0.3)
    pruned = sum(l.num_pruned for l in converted.supermask_layers)
    assert pruned == 304
    # k = floor(1008 * 0.3) = 302 < 304 pruned: the threshold is -inf.
    assert sum(int(m.sum()) for m in converted.masks()) == 1008 - pruned
