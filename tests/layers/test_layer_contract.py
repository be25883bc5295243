"""The Keras layer contract of every supermask layer, checked as Keras checks its own.

Each layer goes through Keras's `run_layer_test` (config and `.keras`
round trips, eager and symbolic calls, output shapes, weight counts, a
training step, mixed precision), runs inside `TimeDistributed` and a nested
model, computes output shapes as the Keras layer it stands for, and takes
and checks its arguments as that layer does: named in its signature,
refused at construction.
"""

import inspect

import keras
import numpy as np
import pytest
from absl.testing import parameterized
from keras.src import testing

import keras_slt
from keras_slt.layers import (
    SUPERMASK_ARGUMENTS,
    SupermaskConv1D,
    SupermaskConv2D,
    SupermaskDense,
    SupermaskDepthwiseConv2D,
)

# Frozen weights give a layer its free index: 5 int32 arrays beside W's signs.
FROZEN = {"sparsity": 0.5, "prune_rate": 0.25, "lock_rate": 0.125, "seed": 3}


class LayerTestCase(testing.TestCase):
    @parameterized.named_parameters(
        ("dense", SupermaskDense, {"units": 4, "use_bias": True}, (2, 3, 8), (2, 3, 4), 2, 6),
        ("dense_blocked", SupermaskDense, {"units": 4, "block_size": 4}, (2, 8), (2, 4), 1, 6),
        ("conv1d", SupermaskConv1D, {"filters": 4, "kernel_size": 3, "padding": "same"}, (2, 7, 3), (2, 7, 4), 1, 6),
        (
            "conv2d",
            SupermaskConv2D,
            {"filters": 4, "kernel_size": 3, "strides": 2, "use_bias": True, "activation": "relu"},
            (2, 7, 7, 3),
            (2, 3, 3, 4),
            2,
            6,
        ),
        (
            "depthwise",
            SupermaskDepthwiseConv2D,
            {"kernel_size": 3, "depth_multiplier": 2, "dilation_rate": 2, "weight_init": "kaiming_normal"},
            (2, 7, 7, 3),
            (2, 3, 3, 6),
            1,
            6,
        ),
    )
    def test_run_layer_test(self, layer_cls, kwargs, input_shape, output_shape, trainable, non_trainable):
        self.run_layer_test(
            layer_cls,
            init_kwargs={**kwargs, **FROZEN},
            input_shape=input_shape,
            expected_output_shape=output_shape,
            expected_num_trainable_weights=trainable,  # scores (and bias)
            expected_num_non_trainable_weights=non_trainable,  # W (or its signs) and the free index
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
        )


def test_time_distributed_applies_the_layer_to_every_frame():
    layer = SupermaskConv2D(4, 3, sparsity=0.5, seed=1)
    frames = keras.layers.TimeDistributed(layer)
    inputs = keras.Input((5, 8, 8, 3))
    model = keras.Model(inputs, frames(inputs))
    assert model.output_shape == (None, 5, 6, 6, 4)
    x = np.random.default_rng(0).standard_normal((2, 5, 8, 8, 3)).astype("float32")
    expected = np.stack([keras.ops.convert_to_numpy(layer(x[:, t])) for t in range(5)], axis=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, rtol=1e-5, atol=1e-6)


def test_layers_of_a_nested_model_select_with_their_supermask_model():
    inner = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            SupermaskConv2D(4, 3, activation="relu", layer_index=0),
            SupermaskDepthwiseConv2D(3, layer_index=1),
        ],
        name="features",
    )
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Flatten()(inner(inputs))
    network = keras.Model(inputs, SupermaskDense(3, layer_index=2)(h))
    model = keras_slt.SupermaskModel(network, sparsity=0.6)
    assert [layer.name for layer in model.supermask_layers] == [layer.name for layer in inner.layers] + [
        network.layers[-1].name
    ]
    assert model.compute_output_shape((None, 8, 8, 3)) == (None, 3)
    total = sum(layer.num_weights for layer in model.supermask_layers)
    assert sum(int(mask.sum()) for mask in model.masks()) == total - int(np.floor(total * 0.6 + 1e-6))
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    # The model's call selects once for all layers; its masks give the same outputs by hand.
    threshold = model.global_threshold()
    h = inner.layers[1](inner.layers[0](x, threshold=threshold), threshold=threshold)
    expected = network.layers[-1](keras.ops.reshape(h, (2, -1)), threshold=threshold)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-6
    )


# (supermask layer, the Keras layer it stands for, input shape), across
# padding, strides, dilation, data format and unknown dimensions.
SHAPE_CASES = [
    (SupermaskDense(5), keras.layers.Dense(5), (None, 4, 3)),
    (SupermaskConv1D(4, 3, strides=2), keras.layers.Conv1D(4, 3, strides=2), (None, None, 3)),
    (
        SupermaskConv1D(4, 5, padding="same", dilation_rate=2),
        keras.layers.Conv1D(4, 5, padding="same", dilation_rate=2),
        (2, 11, 3),
    ),
    (
        SupermaskConv2D(6, (3, 2), strides=(2, 1), padding="same"),
        keras.layers.Conv2D(6, (3, 2), strides=(2, 1), padding="same"),
        (None, 9, 7, 3),
    ),
    (
        SupermaskConv2D(6, 3, data_format="channels_first"),
        keras.layers.Conv2D(6, 3, data_format="channels_first"),
        (1, 3, 9, 8),
    ),
    (
        SupermaskDepthwiseConv2D(3, strides=2, depth_multiplier=3),
        keras.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=3),
        (None, 10, 10, 2),
    ),
]


@pytest.mark.parametrize("layer, keras_layer, shape", SHAPE_CASES)
def test_output_shapes_are_those_of_the_keras_layer(layer, keras_layer, shape):
    assert layer.compute_output_shape(shape) == tuple(keras_layer.compute_output_shape(shape))


# The arguments each layer needs, by position.
REQUIRED = {SupermaskDense: (4,), SupermaskConv1D: (4, 3), SupermaskConv2D: (4, 3), SupermaskDepthwiseConv2D: (3,)}


@pytest.mark.parametrize("layer_cls", list(REQUIRED))
def test_signatures_name_every_argument(layer_cls):
    parameters = inspect.signature(layer_cls).parameters
    takes = {name for name, p in parameters.items() if p.kind is not p.VAR_KEYWORD}
    assert set(SUPERMASK_ARGUMENTS) - takes == (set() if layer_cls is SupermaskDense else {"block_size"})
    assert {"activation", "use_bias"} <= takes
    # **kwargs holds the base layer arguments only: any other is refused, never dropped.
    assert list(parameters)[-1] == "kwargs"
    for name in sorted({"rank", "filters", "kernel_initializer"} - takes):
        with pytest.raises((TypeError, ValueError), match=f"'{name}'"):
            layer_cls(*REQUIRED[layer_cls], **{name: 2})


# Bad architecture arguments, each given to a supermask layer and to the
# Keras layer it stands for: both refuse them at construction, in Keras's words.
REFUSED = [
    (SupermaskConv2D, keras.layers.Conv2D, (4, 3), {"strides": 2, "dilation_rate": 2}),
    (SupermaskConv1D, keras.layers.Conv1D, (4, 3), {"strides": 3, "dilation_rate": 2}),
    (SupermaskConv1D, keras.layers.Conv1D, (4, 0), {}),
    (SupermaskConv2D, keras.layers.Conv2D, (4, (3, 3, 3)), {}),
    (SupermaskConv2D, keras.layers.Conv2D, (4, 3), {"strides": (1, -2)}),
    (SupermaskConv1D, keras.layers.Conv1D, (4, 3), {"dilation_rate": 0}),
    (SupermaskConv2D, keras.layers.Conv2D, (0, 3), {}),
    (SupermaskDepthwiseConv2D, keras.layers.DepthwiseConv2D, (3,), {"depth_multiplier": 0}),
    (SupermaskConv2D, keras.layers.Conv2D, (4, 3), {"data_format": "nhwc"}),
    (SupermaskDense, keras.layers.Dense, (0,), {}),
    (SupermaskDense, keras.layers.Dense, (-3,), {}),
]


@pytest.mark.parametrize("layer_cls, keras_cls, args, kwargs", REFUSED)
def test_arguments_are_refused_at_construction_as_keras_refuses_them(layer_cls, keras_cls, args, kwargs):
    with pytest.raises(ValueError) as keras_error:
        keras_cls(*args, **kwargs)
    with pytest.raises(ValueError) as error:
        layer_cls(*args, **kwargs)
    assert str(error.value) == str(keras_error.value)


@pytest.mark.parametrize(
    "make, message",
    [
        # Keras's convolutions take these; keras.ops.conv, which the supermask
        # layers apply, does not.
        (lambda: SupermaskConv1D(4, 3, padding="causal"), "must be one of 'valid', 'same'. Received: padding=causal"),
        (lambda: SupermaskConv2D(4, 3, padding=((1, 1), (1, 1))), r"Received: padding=\(\(1, 1\), \(1, 1\)\)"),
        # Keras reads what int() takes, and fails at build on a float size.
        (lambda: SupermaskConv2D(4, (3.0, 3)), "including element 3.0 of type <class 'float'>"),
        (lambda: SupermaskConv2D(True, 3), "Received filters=True."),
        (lambda: SupermaskDense(4.0), "Received: units=4.0"),
    ],
)
def test_arguments_keras_would_take_are_refused_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_depthwise_strides_combine_with_dilation_as_in_keras():
    inputs = np.random.default_rng(0).normal(size=(1, 9, 9, 2)).astype("float32")
    layer = SupermaskDepthwiseConv2D(3, strides=2, dilation_rate=2, sparsity=0.5)
    keras_layer = keras.layers.DepthwiseConv2D(3, strides=2, dilation_rate=2, use_bias=False)
    outputs = layer(inputs)
    keras_layer.build(inputs.shape)
    keras_layer.kernel.assign(layer.effective_kernel(layer.layerwise_threshold()))
    np.testing.assert_allclose(keras_layer(inputs), outputs, rtol=1e-5, atol=1e-6)
    assert tuple(outputs.shape) == (1, 3, 3, 2)


def test_checked_arguments_are_stored_as_keras_stores_them():
    layer = SupermaskConv2D(4, [3, 2], strides=(1, 2), padding="SAME", data_format="Channels_First")
    keras_layer = keras.layers.Conv2D(4, [3, 2], strides=(1, 2), padding="SAME", data_format="Channels_First")
    for name in ("kernel_size", "strides", "dilation_rate", "padding", "data_format"):
        assert getattr(layer, name) == getattr(keras_layer, name), name
