"""Block-structured masks: whole blocks, weighted global counts, block gradients, tickets."""

import math

import keras
import numpy as np
import pytest
from helpers import free_part, full_scores, gradient, kernel_weights, numpy
from keras import ops

import keras_slt
from keras_slt import selection
from keras_slt.experiments.config import ConfigError, SearchConfig
from keras_slt.freezing.pattern import LOCKED, PRUNED
from keras_slt.layers import SupermaskConv2D, SupermaskDense, blocks
from keras_slt.utils.counting import floor_count


def per_weight(layer, name):
    """A layer's scores or freeze pattern, one entry per kernel weight."""
    block_shaped = full_scores(layer) if name == "scores" else layer.freeze_pattern()
    return np.repeat(block_shaped, layer.block_size, axis=0)


def conv_and_blocks(sparsity, prune, lock, seed=0):
    """A conv layer (unblocked) and Dense layers with B = 4 and 16, globally selected."""
    common = {"prune_rate": prune, "lock_rate": lock, "seed": seed}
    inputs = keras.Input((4, 4, 3))
    x = SupermaskConv2D(4, 3, padding="same", activation="relu", layer_index=0, **common)(inputs)
    x = keras.layers.Flatten()(x)  # 64
    x = SupermaskDense(48, activation="relu", block_size=4, layer_index=1, **common)(x)
    x = SupermaskDense(16, activation="relu", block_size=16, layer_index=2, **common)(x)
    outputs = SupermaskDense(5, layer_index=3, **common)(x)
    return keras_slt.SupermaskModel(keras.Model(inputs, outputs), sparsity=sparsity)


@pytest.mark.parametrize("block_size", [4, 16])
def test_block_masks_are_whole_blocks(block_size):
    layer = SupermaskDense(24, block_size=block_size, sparsity=0.6, prune_rate=0.3, lock_rate=0.2, seed=2)
    layer(np.zeros((1, 64), "float32"))
    assert kernel_weights(layer).shape == (64, 24)
    assert layer.freeze_pattern().shape == (64 // block_size, 24)
    assert tuple(layer.scores.shape) == (int((layer.freeze_pattern() == 0).sum()),)
    mask = numpy(layer.mask(layer.layerwise_threshold()))
    assert mask.shape == (64, 24)
    grouped = mask.reshape(64 // block_size, block_size, 24)
    assert (grouped == grouped[:, :1]).all()
    freeze = layer.freeze_pattern()
    n_blocks = freeze.size
    assert (freeze == PRUNED).sum() == math.floor(n_blocks * 0.3)
    assert (freeze == LOCKED).sum() == math.floor(n_blocks * 0.2)
    assert layer.num_pruned == block_size * math.floor(n_blocks * 0.3)
    assert layer.num_locked == block_size * math.floor(n_blocks * 0.2)
    assert layer.num_weights == 64 * 24
    expanded = per_weight(layer, "freeze")
    assert (mask[expanded == PRUNED] == 0).all() and (mask[expanded == LOCKED] == 1).all()
    # Layer-wise selection counts weights: k = floor(N * s) over per-weight scores.
    reference = selection.layerwise_masks([per_weight(layer, "scores")], [expanded], 0.6)[0]
    np.testing.assert_array_equal(mask, reference)


@pytest.mark.parametrize("sparsity, prune, lock", [(0.5, 0.0, 0.0), (0.7, 0.35, 0.15), (0.9, 0.45, 0.05)])
def test_global_counts_with_blocked_and_unblocked_layers(sparsity, prune, lock):
    model = conv_and_blocks(sparsity, prune, lock, seed=7)
    layers = model.supermask_layers
    assert [layer.block_size for layer in layers] == [1, 4, 16, 1]
    masks = model.masks()
    scores = [per_weight(layer, "scores") for layer in layers]
    freezes = [per_weight(layer, "freeze") for layer in layers]
    # The rule: every weight carries its block's score and freeze state, and
    # the threshold is the k-th smallest of the per-weight modified scores.
    reference = selection.global_masks(scores, freezes, sparsity)
    for mask, expected in zip(masks, reference):
        np.testing.assert_array_equal(mask, expected)
    modified = np.sort(np.concatenate([selection.modified_scores(s, f).ravel() for s, f in zip(scores, freezes)]))
    k = floor_count(modified.size, sparsity)
    threshold = float(numpy(model.global_threshold()))
    assert np.float32(threshold) == np.float32(modified[k - 1])
    # Weights at or below the threshold: at least k, and fewer than k plus
    # one block (only the block holding the k-th weight can straddle it).
    dropped = sum(m.size - int(m.sum()) for m in masks)
    assert k <= dropped < k + 16


@pytest.mark.parametrize("counting", selection.COUNTINGS)
def test_threshold_of_scores_counts_weighted_ranks(counting):
    rng = np.random.default_rng(3)
    # Few distinct values, so ties and whole blocks straddle ranks.
    scores = [rng.integers(1, 9, size).astype("float32") / 8 for size in ((12, 5), (40,), (3, 3))]
    weights = [4, 1, 16]
    repeated = np.concatenate([np.repeat(s.ravel(), w) for s, w in zip(scores, weights)])
    total = repeated.size
    for k in (1, 2, 5, 47, 48, 49, total // 2, total - 16, total - 1, total):
        value, _ = selection.threshold_of_scores(
            [ops.convert_to_tensor(s) for s in scores], k, total, counting=counting, weights=weights
        )
        assert np.float32(numpy(value)) == np.sort(repeated)[k - 1], k


def test_block_score_gradient_is_the_block_sum():
    layer = SupermaskDense(6, block_size=4, sparsity=0.5, prune_rate=0.25, lock_rate=0.25, seed=4)
    x = np.random.default_rng(1).standard_normal((3, 16)).astype("float32")
    layer(x)
    upstream = np.random.default_rng(2).standard_normal((3, 6)).astype("float32")
    grad = gradient(lambda: ops.sum(layer(x) * upstream), layer.scores)
    # dL/dW_eff = x^T upstream; per weight dL/dm = dL/dW_eff * W; a block
    # score gets the sum over its 4 weights, times sign(score).
    per_weight_grad = (x.T @ upstream) * kernel_weights(layer)
    block_grad = free_part(layer, per_weight_grad.reshape(4, 4, 6).sum(axis=1))
    expected = block_grad * np.sign(numpy(layer.scores))
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def test_block_size_one_is_the_unblocked_layer():
    x = np.random.default_rng(0).standard_normal((2, 20)).astype("float32")
    a = SupermaskDense(7, sparsity=0.6, prune_rate=0.2, seed=3)
    b = SupermaskDense(7, block_size=1, sparsity=0.6, prune_rate=0.2, seed=3)
    np.testing.assert_array_equal(numpy(a(x)), numpy(b(x)))


def test_input_size_not_a_multiple_of_the_block_is_refused():
    layer = SupermaskDense(8, block_size=16, name="head")
    with pytest.raises(ValueError, match="layer 'head': block_size 16 does not divide its 20 input units"):
        layer(np.zeros((1, 20), "float32"))
    with pytest.raises(ValueError, match="block_size must be one of 1, 4, 16; got 3"):
        SupermaskDense(8, block_size=3)
    base = keras.Sequential([keras.Input((10,)), keras.layers.Dense(4, name="odd")])
    with pytest.raises(ValueError, match="layer 'odd': block_size 4 does not divide its 10 input units"):
        keras_slt.supermaskify(base, sparsity=0.5, block_size=4)


def test_config_round_trip_and_size_accounting():
    model = conv_and_blocks(0.7, 0.35, 0.15, seed=2)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype("float32")
    np.testing.assert_array_equal(numpy(model(x)), numpy(clone(x)))
    size = keras_slt.model_size(model)
    free_blocks = [int((layer.freeze_pattern() == 0).sum()) for layer in model.supermask_layers]
    assert [l.mask_bits for l in size.layers] == free_blocks
    assert size.mask_bits == sum(free_blocks)
    assert size.free == sum(layer.num_free for layer in model.supermask_layers)
    assert size.layers[1].free == 4 * free_blocks[1] and size.layers[2].free == 16 * free_blocks[2]


def test_search_config_takes_block_size():
    assert SearchConfig(model="fc", output_dir="x", block_size=4).validate() == (0.0, 0.0)
    with pytest.raises(ConfigError, match="block_size must be one of 1, 4, 16; got 8"):
        SearchConfig(model="fc", output_dir="x", block_size=8).validate()


def test_blocks_helpers():
    assert blocks.block_shape((784, 1024), 16) == (49, 1024)
    mask = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    np.testing.assert_array_equal(blocks.to_blocks(mask, 2), [[1, 0], [0, 1]])
    np.testing.assert_array_equal(numpy(blocks.expand(ops.convert_to_tensor([[1, 0], [0, 1]]), 2)), mask)
    np.testing.assert_array_equal(numpy(blocks.block_sum(ops.convert_to_tensor(mask), 2)), [[2, 0], [0, 2]])
    with pytest.raises(ValueError, match="not constant over blocks of 2"):
        blocks.to_blocks(np.array([[1], [0]]), 2)
