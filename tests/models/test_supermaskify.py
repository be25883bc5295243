"""`supermaskify` on Sequential, functional and keras.applications models."""

import keras
import numpy as np
import pytest

import keras_slt
from keras_slt.layers import SupermaskConv, SupermaskConv2D, SupermaskDense, SupermaskDepthwiseConv2D, SupermaskLayer
from keras_slt.ticket.materialize import effective_kernels, materialize


def all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def test_sequential_with_nested_model():
    inner = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu")], name="inner")
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), inner, keras.layers.Dense(3)])
    converted = keras_slt.supermaskify(model, sparsity=0.5, seed=1)
    layers = converted.supermask_layers
    assert [type(l) for l in layers] == [SupermaskDense, SupermaskDense]
    assert [l.layer_index for l in layers] == [0, 1]
    assert converted.predict(np.ones((2, 4, 4, 1), "float32"), verbose=0).shape == (2, 3)


def test_functional_conversion_details():
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, use_bias=True, activation="relu", name="c1")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.DepthwiseConv2D(3, name="dw")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(5, activation="softmax", name="fc")(h)
    model = keras.Model(inputs, outputs)
    converted = keras_slt.supermaskify(
        model, sparsity=0.6, prune_ratio=0.2, lock_ratio=0.1, scale="static", weight_init="kaiming_normal", seed=9
    )
    layers = {l.name: l for l in all_layers(converted.network)}
    assert isinstance(layers["c1"], SupermaskConv2D) and layers["c1"].activation.__name__ == "relu"
    assert isinstance(layers["dw"], SupermaskDepthwiseConv2D)
    assert isinstance(layers["fc"], SupermaskDense)
    assert all(
        l.bias is None and l.scale == "static" and l.weight_init == "kaiming_normal" for l in converted.supermask_layers
    )
    bn = layers["bn"]
    assert not bn.center and not bn.scale and bn.trainable_weights == []
    assert converted.trainable_weights and all(v.name == "scores" for v in converted.trainable_weights)
    # Distributions floor kept counts: layer l keeps floor(N_l * (1 - p))
    # unpruned and floor(N_l * (1 - p - r)) unfrozen weights.
    for layer in converted.supermask_layers:
        n = layer.num_weights
        assert layer.num_pruned == n - int(np.floor(n * 0.8 + 1e-6))
        assert layer.num_pruned + layer.num_locked == n - int(np.floor(n * 0.7 + 1e-6))


def test_affine_batchnorm_option():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
    converted = keras_slt.supermaskify(model, sparsity=0.5, affine_batchnorm=True)
    names = sorted(v.name for v in converted.trainable_weights)
    assert names == ["beta", "gamma", "scores"]


def test_unsupported_layer_is_named():
    model = keras.Sequential(
        [
            keras.Input((5,), dtype="int32"),
            keras.layers.Embedding(10, 4, name="emb"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    with pytest.raises(ValueError, match="layer 'emb' \\(Embedding\\) has trainable weights"):
        keras_slt.supermaskify(model, sparsity=0.5)
    with pytest.warns(UserWarning, match="emb"):
        converted = keras_slt.supermaskify(model, sparsity=0.5, unsupported="keep")
    assert len(converted.supermask_layers) == 1


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


@pytest.mark.slow
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
    originals = [
        l
        for l in all_layers(base)
        if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D))
    ]
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


def test_sparsity_equal_to_prune_ratio_is_accepted():
    # 1001 + 7 weights: flooring kept counts prunes 301 + 3 > 0.3 * 1008.
    model = keras.Sequential([keras.Input((143,)), keras.layers.Dense(7), keras.layers.Dense(1)])
    converted = keras_slt.supermaskify(model, sparsity=0.3, prune_ratio=0.3)
    pruned = sum(l.num_pruned for l in converted.supermask_layers)
    assert pruned == 304
    # k = floor(1008 * 0.3) = 302 < 304 pruned: the threshold is -inf.
    assert sum(int(m.sum()) for m in converted.masks()) == 1008 - pruned


class VolumeConv(keras.layers.Conv3D):
    """A user's own convolution: a class keras-slt does not know."""


@keras.saving.register_keras_serializable(package="test_supermaskify")
class SupermaskVolumeConv(SupermaskConv):
    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(3, filters, kernel_size, **kwargs)


keras_slt.register_supermask_layer(VolumeConv, SupermaskVolumeConv)


def test_a_registered_user_layer_is_supermaskified_and_materialized():
    base = keras.Sequential(
        [
            keras.Input((4, 6, 6, 2)),
            VolumeConv(3, 3, strides=(1, 2, 2), activation="relu", name="volume"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="fc"),
        ]
    )
    converted = keras_slt.supermaskify(base, sparsity=0.5, prune_ratio=0.1, seed=1)
    volume, fc = converted.supermask_layers
    assert type(volume) is SupermaskVolumeConv and type(fc) is SupermaskDense
    assert (volume.strides, volume.activation.__name__) == ((1, 2, 2), "relu")
    assert volume.layout.kernel_shape == tuple(base.get_layer("volume").kernel.shape) == (3, 3, 3, 2, 3)
    plain = materialize(converted)
    assert [type(layer) for layer in plain.layers] == [VolumeConv, keras.layers.Flatten, keras.layers.Dense]
    kernels = effective_kernels(converted)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(plain.get_layer("volume").kernel), kernels[0])
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(plain(x)), keras.ops.convert_to_numpy(converted(x)), rtol=1e-5, atol=1e-5
    )

    # Classes match exactly: a subclass of a registered class may compute something else.
    class VolumeConvVariant(VolumeConv):
        pass

    other = keras.Sequential([keras.Input((4, 6, 6, 2)), VolumeConvVariant(3, 3, name="c3")])
    with pytest.raises(
        ValueError,
        match="layer 'c3' \\(VolumeConvVariant\\) has trainable weights but no "
        "supermask counterpart; pass unsupported='keep'.*register_supermask_layer",
    ):
        keras_slt.supermaskify(other, sparsity=0.5)
    with (
        pytest.warns(UserWarning, match="c3"),
        pytest.raises(ValueError, match="no layer with a supermask counterpart"),
    ):
        keras_slt.supermaskify(other, sparsity=0.5, unsupported="keep")


@pytest.mark.parametrize(
    "plain_class, supermask_class, message",
    [
        (keras.layers.Dense, SupermaskConv2D, "Dense is already registered with SupermaskDense"),
        (keras.layers.Conv2DTranspose, SupermaskDense, "SupermaskDense is already registered with Dense"),
        (SupermaskDense, SupermaskVolumeConv, "plain_class must be a Keras layer class that is no supermask layer"),
        (
            keras.layers.Conv2DTranspose,
            keras.layers.Conv2DTranspose,
            "supermask_class must be a subclass of keras_slt.layers.SupermaskLayer",
        ),
    ],
)
def test_registrations_that_would_make_the_registry_ambiguous_are_refused(plain_class, supermask_class, message):
    with pytest.raises(ValueError, match=message):
        keras_slt.register_supermask_layer(plain_class, supermask_class)
    keras_slt.register_supermask_layer(VolumeConv, SupermaskVolumeConv)  # the same pair again: nothing changes


def test_biases_and_batchnorm_stay_at_their_initial_values():
    base = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, name="hidden"),  # bias at zero
            keras.layers.BatchNormalization(name="bn"),  # gamma 1, beta 0
            keras.layers.Dense(3, bias_initializer=keras.initializers.Constant(0.0), name="out"),
        ]
    )
    converted = keras_slt.supermaskify(base, sparsity=0.5, seed=2)
    assert all(layer.bias is None for layer in converted.supermask_layers)
    bn = converted.network.get_layer("bn")
    assert (bn.center, bn.scale) == (False, False)
    assert [v.name for v in converted.trainable_weights] == ["scores", "scores"]
    # The Keras model at its initial biases, gamma and beta, with kernels W_eff, computes the same.
    for layer, kernel in zip(("hidden", "out"), effective_kernels(converted)):
        base.get_layer(layer).kernel.assign(kernel)
    x = np.random.default_rng(0).standard_normal((4, 6)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(base(x)), keras.ops.convert_to_numpy(converted(x)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "layer, message, accepted_with",
    [
        (
            keras.layers.Dense(3, bias_initializer="ones", name="fc"),
            r"layer 'fc' \(Dense\) starts its bias at values other than 0 \(Ones\), where a supermask network keeps it at 0: "
            r"pass use_bias=True to train biases, or give the layer bias_initializer='zeros'",
            {"use_bias": True},
        ),
        (
            keras.layers.BatchNormalization(gamma_initializer="random_normal", name="bn"),
            r"layer 'bn' \(BatchNormalization\) starts its gamma at values other than 1 \(RandomNormal\).*pass "
            r"affine_batchnorm=True to train gamma and beta, or give the layer gamma_initializer='ones'",
            {"affine_batchnorm": True},
        ),
        (
            keras.layers.BatchNormalization(beta_initializer="ones", name="bn"),
            "starts its beta at values other than 0",
            {"affine_batchnorm": True},
        ),
    ],
)
def test_biases_and_batchnorm_that_start_elsewhere_are_refused_or_trained(layer, message, accepted_with):
    base = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), layer])
    with pytest.raises(ValueError, match=message):
        keras_slt.supermaskify(base, sparsity=0.5)
    converted = keras_slt.supermaskify(base, sparsity=0.5, **accepted_with)
    trained = sorted(v.name for v in converted.trainable_weights)
    assert trained == (
        ["bias", "bias", "scores", "scores"] if "use_bias" in accepted_with else ["beta", "gamma", "scores"]
    )
