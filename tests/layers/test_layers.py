"""Supermask layers: variables, masks, gradients, serialization."""

import math

import numpy as np
import pytest
from helpers import free_part, full_scores, gradient, kernel_weights
from keras import ops

from keras_slt import selection
from keras_slt.layers import SupermaskConv1D, SupermaskConv2D, SupermaskDense, SupermaskDepthwiseConv2D, initializers


def built(layer, shape):
    layer.build(shape)
    return layer


def test_variables():
    layer = built(SupermaskConv2D(8, 3, prune_rate=0.25, lock_rate=0.125, seed=5, layer_index=2), (1, 6, 6, 4))
    assert tuple(kernel_weights(layer).shape) == (3, 3, 4, 8) == layer.freeze_pattern().shape
    # Lean state: scores for the free weights only, W as its signs.
    assert tuple(layer.scores.shape) == (288 - 72 - 36,)
    assert [v.name for v in layer.trainable_weights] == ["scores"]
    assert layer.weight is None and tuple(layer.sign_words.shape) == (9,)
    assert all(v.dtype == "int32" for v in layer.non_trainable_weights)
    freeze = layer.freeze_pattern()
    assert freeze.dtype == np.int8
    assert np.sum(freeze == -1) == math.floor(288 * 0.25) == layer.num_pruned
    assert np.sum(freeze == 1) == math.floor(288 * 0.125) == layer.num_locked
    assert layer.num_free == 288 - 72 - 36
    assert layer.bias is None


def test_unfrozen_layer_has_no_free_index():
    layer = built(SupermaskDense(10, seed=1, weight_init="kaiming_normal"), (1, 7))
    assert layer.free_index is None and tuple(layer.scores.shape) == (70,)
    assert [v.name for v in layer.non_trainable_weights] == ["weight"]


@pytest.mark.parametrize("name", initializers.NAMES)
def test_weight_initializers(name):
    layer = built(SupermaskDense(400, weight_init=name, seed=1), (1, 300))
    w = kernel_weights(layer)
    std = math.sqrt(2.0 / 300)
    if name == "signed_kaiming_constant":
        np.testing.assert_allclose(np.abs(w), np.float32(std), rtol=1e-6)
        assert abs((w > 0).mean() - 0.5) < 0.01
    elif name == "kaiming_normal":
        assert abs(w.std() - std) < 0.01 * std * 5 and abs(w.mean()) < 0.01 * std * 5
    else:
        bound = std * math.sqrt(3)
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
        assert abs(w.std() - std) < 0.05 * std


def test_scores_kaiming_normal_by_default():
    layer = built(SupermaskDense(500, seed=1), (1, 200))
    s = ops.convert_to_numpy(layer.scores)
    assert abs(s.std() - math.sqrt(2.0 / 200)) < 0.05 * math.sqrt(2.0 / 200)


def test_depthwise_fan_in_and_shapes():
    layer = built(SupermaskDepthwiseConv2D(3, depth_multiplier=2, use_bias=True), (1, 8, 8, 5))
    assert kernel_weights(layer).shape == (3, 3, 5, 2)
    np.testing.assert_allclose(np.abs(kernel_weights(layer)), math.sqrt(2 / 9), rtol=1e-6)
    assert tuple(layer.bias.shape) == (10,)


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9])
def test_standalone_layer_selects_layerwise(sparsity):
    layer = built(SupermaskDense(64, sparsity=sparsity, prune_rate=0.2 * sparsity, lock_rate=0.1, seed=3), (1, 32))
    mask = ops.convert_to_numpy(layer.mask(layer.layerwise_threshold()))
    reference = selection.layerwise_masks([full_scores(layer)], [layer.freeze_pattern()], sparsity)[0]
    np.testing.assert_array_equal(mask, reference)
    assert int(mask.sum()) == 2048 - math.floor(2048 * sparsity)


@pytest.mark.parametrize("scale", ["none", "static", "dynamic"])
def test_output_matches_reference(scale):
    layer = built(SupermaskConv2D(6, 3, padding="same", sparsity=0.6, scale=scale, lock_rate=0.2, seed=9), (1, 5, 5, 3))
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3)).astype("float32")
    mask = selection.layerwise_masks([full_scores(layer)], [layer.freeze_pattern()], 0.6)[0]
    factor = {"none": 1.0, "static": 1 / math.sqrt(0.4), "dynamic": 1 / math.sqrt(mask.mean())}[scale]
    kernel = kernel_weights(layer) * mask * np.float32(factor)
    expected = ops.convert_to_numpy(ops.conv(x, kernel, padding="same"))
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (
            SupermaskDense(8, sparsity=0.7, block_size=4, prune_rate=0.3, lock_rate=0.1, scale="dynamic", seed=4),
            (1, 32),
        ),
        (SupermaskConv2D(6, 3, sparsity=0.6, lock_rate=0.2, scale="dynamic", seed=9), (1, 5, 5, 3)),
    ],
)
def test_dynamic_scale_counts_the_mask_it_applies(layer, shape):
    # The density comes from the scores and the locked count, not from a
    # second kernel-shaped mask: the same count, the same kernel.
    layer = built(layer, shape)
    for threshold in (layer.layerwise_threshold(), 0.0, np.inf, -np.inf):
        mask = ops.convert_to_numpy(layer.mask(threshold))
        assert float(layer._kept_count(threshold)) == mask.sum()
        density = max(mask.mean(), 1 / mask.size)
        expected = kernel_weights(layer) * mask / np.sqrt(np.float32(density))
        np.testing.assert_allclose(ops.convert_to_numpy(layer.effective_kernel(threshold)), expected, rtol=1e-6)


def test_effective_kernel_is_exactly_masked_weight():
    layer = built(SupermaskDense(32, sparsity=0.5, seed=2), (1, 16))
    threshold = layer.layerwise_threshold()
    kernel = ops.convert_to_numpy(layer.effective_kernel(threshold))
    mask = ops.convert_to_numpy(layer.mask(threshold))
    assert np.array_equal(kernel, kernel_weights(layer) * mask)
    assert set(np.unique(mask)) == {0.0, 1.0}


def test_straight_through_gradient():
    layer = built(SupermaskDense(16, sparsity=0.5, lock_rate=0.1, prune_rate=0.1, seed=4), (1, 8))
    x = np.random.default_rng(1).standard_normal((4, 8)).astype("float32")
    upstream = np.random.default_rng(2).standard_normal((4, 16)).astype("float32")

    def loss():
        return ops.sum(layer(x) * upstream)

    grad = gradient(loss, layer.scores)
    # dL/dW_eff = x^T upstream; dL/dm = dL/dW_eff * W; dL/dscore = dL/dm * sign(score).
    # Frozen weights have no score: the gradient is that of the free ones.
    d_mask = (x.T @ upstream) * kernel_weights(layer)
    expected = free_part(layer, d_mask) * np.sign(ops.convert_to_numpy(layer.scores))
    assert grad.shape == (layer.num_free,)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def test_standalone_layer_needs_a_sparsity():
    layer = SupermaskDense(4, seed=1)
    with pytest.raises(ValueError, match="has no sparsity: give it one, or put it in a SupermaskModel"):
        layer(np.ones((1, 3), "float32"))


def test_global_layer_takes_a_threshold_or_refuses():
    layer = built(SupermaskDense(8, sparsity=0.5, seed=1, selection="global"), (1, 6))
    x = np.random.default_rng(0).standard_normal((2, 6)).astype("float32")
    with pytest.raises(ValueError, match="under global selection and was called without its model's threshold"):
        layer(x)
    threshold = ops.convert_to_tensor(0.05, "float32")
    mask = ops.convert_to_numpy(layer.mask(threshold))
    assert 0 < mask.sum() < mask.size
    expected = x @ (kernel_weights(layer) * mask)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x, threshold=threshold)), expected, rtol=1e-5, atol=1e-6)


def test_conv1d_and_bias():
    layer = built(SupermaskConv1D(4, 3, sparsity=0.5, use_bias=True, activation="relu"), (2, 10, 3))
    assert [v.name for v in layer.trainable_weights] == ["scores", "bias"]
    assert layer(np.ones((2, 10, 3), "float32")).shape == (2, 8, 4)


# Every setting away from its default, so that a setting the config drops fails.
CONFIG_CASES = [
    (
        lambda: SupermaskDense(
            6,
            sparsity=0.6,
            prune_rate=0.25,
            lock_rate=0.125,
            weight_init="kaiming_normal",
            score_init="kaiming_uniform",
            scale="static",
            seed=3,
            layer_index=1,
            use_bias=True,
            activation="relu",
            selection="global",
            block_size=4,
            name="dense",
            trainable=False,
            dtype="mixed_bfloat16",
        ),
        (2, 8),
    ),
    (
        lambda: SupermaskConv1D(
            4,
            3,
            strides=2,
            padding="same",
            sparsity=0.5,
            prune_rate=0.1,
            weight_init="kaiming_uniform",
            scale="dynamic",
            seed=4,
            layer_index=2,
        ),
        (2, 9, 3),
    ),
    (
        lambda: SupermaskConv2D(
            8,
            (3, 3),
            strides=2,
            padding="same",
            sparsity=0.7,
            prune_rate=0.3,
            lock_rate=0.1,
            weight_init="kaiming_uniform",
            scale="dynamic",
            seed=11,
            layer_index=4,
            activation="relu",
        ),
        (2, 8, 8, 3),
    ),
    (
        lambda: SupermaskDepthwiseConv2D(
            3, depth_multiplier=2, dilation_rate=2, sparsity=0.4, lock_rate=0.2, seed=5, layer_index=3, use_bias=True
        ),
        (2, 9, 9, 2),
    ),
]


@pytest.mark.parametrize("make, shape", CONFIG_CASES, ids=["dense", "conv1d", "conv2d", "depthwise"])
def test_config_round_trip(make, shape):
    layer = make()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert (clone.trainable, clone.dtype_policy.name) == (layer.trainable, layer.dtype_policy.name)
    # The same config draws the same tensors and computes the same outputs.
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    for each in (layer, clone):
        each.build(shape)
    threshold = layer.layerwise_threshold()  # given, as a model gives a globally selected layer its threshold
    np.testing.assert_array_equal(
        ops.convert_to_numpy(layer(x, threshold=threshold)), ops.convert_to_numpy(clone(x, threshold=threshold))
    )
    for tensor in (kernel_weights, lambda l: l.freeze_pattern(), full_scores):
        np.testing.assert_array_equal(tensor(layer), tensor(clone))


def test_same_seed_same_tensors_other_seed_differs():
    a = built(SupermaskDense(20, seed=1, layer_index=0, prune_rate=0.5), (1, 10))
    b = built(SupermaskDense(20, seed=1, layer_index=0, prune_rate=0.5), (1, 10))
    c = built(SupermaskDense(20, seed=2, layer_index=0, prune_rate=0.5), (1, 10))
    for tensor in (kernel_weights, lambda l: l.freeze_pattern(), full_scores):
        va, vb, vc = (tensor(l) for l in (a, b, c))
        assert np.array_equal(va, vb) and not np.array_equal(va, vc)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sparsity": 1.0}, r"sparsity must be in \[0, 1\)"),
        ({"prune_rate": -0.5}, r"prune_rate must be in \[0, 1\]"),
        ({"lock_rate": 1.5}, r"lock_rate must be in \[0, 1\]"),
        ({"prune_rate": 0.6, "lock_rate": 0.6}, r"prune_rate \+ lock_rate must be <= 1"),
        (
            {"weight_init": "xavier"},
            "weight_init must be one of signed_kaiming_constant, kaiming_normal, kaiming_uniform",
        ),
        ({"score_init": "zeros"}, "score_init must be one of"),
        ({"scale": "huge"}, "scale must be one of none, static, dynamic"),
        ({"selection": "both"}, "selection must be one of global, layerwise"),
        ({"seed": -1}, r"seed must be in \[0, 2\*\*64\)"),
        ({"units": 0}, "Received: units=0"),
    ],
)
def test_layer_validation(kwargs, message):
    args = {"units": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        SupermaskDense(**args)
