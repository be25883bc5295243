"""Bit packing and the free index against NumPy, and the lean state's bytes."""

import numpy as np
import pytest
from keras import ops

from keras_slt.freezing.pattern import FREE, LOCKED, PRUNED
from keras_slt.layers import SupermaskConv2D, SupermaskDense, bits, compaction


def deposit_reference(x, mask):
    """PDEP, bit by bit."""
    x, mask, result, taken = int(x) & 0xFFFFFFFF, int(mask) & 0xFFFFFFFF, 0, 0
    for bit in range(32):
        if mask >> bit & 1:
            result |= (x >> taken & 1) << bit
            taken += 1
    return result


def test_deposit_is_pdep():
    rng = np.random.default_rng(4)
    x = rng.integers(-(2**31), 2**31, 2000).astype(np.int32)
    mask = rng.integers(-(2**31), 2**31, 2000).astype(np.int32)
    mask[:6] = [0, -1, 1, -(2**31), 2**31 - 1, 0x0F0F0F0F]
    expected = np.array([deposit_reference(a, m) for a, m in zip(x, mask)], np.uint32).view(np.int32)
    np.testing.assert_array_equal(ops.convert_to_numpy(bits.deposit(x, mask)), expected)


def random_freeze(rng, size, free_fraction):
    frozen = np.where(rng.random(size) < 0.5, PRUNED, LOCKED)
    return np.where(rng.random(size) < free_fraction, FREE, frozen).astype(np.int8)


@pytest.mark.parametrize("size", [1, 31, 32, 33, 1000])
def test_pack_unpack_and_lanes(size):
    flags = np.random.default_rng(size).random(size) < 0.5
    words = bits.pack(flags)
    assert words.dtype == np.int32 and words.shape == (bits.num_words(size),)
    np.testing.assert_array_equal(bits.unpack(words, size), flags)
    np.testing.assert_array_equal(ops.convert_to_numpy(bits.flags(words, size)), flags)


def test_logical_shift_of_every_sign():
    values = np.array([0, 1, 7, -1, -(2**31), 2**31 - 1, 0x55555555, -12345], np.int32)
    for shift in (0, 1, 16, 31):
        got = ops.convert_to_numpy(bits.shift_right_logical(values, shift))
        np.testing.assert_array_equal(got, (values.view(np.uint32) >> shift).view(np.int32))


@pytest.mark.parametrize("size", [1, 5, 32, 33, 97, 4096])
@pytest.mark.parametrize("free_fraction", [0.0, 0.05, 0.5, 0.95, 1.0])
def test_expand_and_gather_free_match_numpy(size, free_fraction):
    rng = np.random.default_rng(size)
    freeze = random_freeze(rng, size, free_fraction)
    index = compaction.FreeIndex.of(freeze)
    free = freeze == FREE
    assert index.num_free == int(free.sum())
    np.testing.assert_array_equal(compaction.freeze_of(index.free_words, index.locked_words, size), freeze)
    keep_free = rng.random(index.num_free) < 0.5
    expected = freeze == LOCKED
    expected[free] = keep_free
    mask = ops.convert_to_numpy(compaction.expand(keep_free, index.arrays(), size))
    np.testing.assert_array_equal(mask, expected)
    values = rng.standard_normal(size).astype("float32")
    gathered = compaction.gather_free(values, index.arrays(), index.position_shift, index.num_free)
    np.testing.assert_array_equal(ops.convert_to_numpy(gathered), values[free])


def test_positions_far_apart_take_a_smaller_shift():
    # Free positions 70,000 apart do not fit a 16-bit offset from a shared base.
    size = 300_000
    freeze = np.full(size, PRUNED, np.int8)
    freeze[::70_000] = FREE
    freeze[1:5] = FREE
    index = compaction.FreeIndex.of(freeze)
    assert index.position_shift == 0
    dense = compaction.FreeIndex.of(np.zeros(size, np.int8))
    assert dense.position_shift == 10  # at most 2**10 free positions share a base
    values = np.arange(size, dtype="float32")
    gathered = compaction.gather_free(values, index.arrays(), index.position_shift, index.num_free)
    np.testing.assert_array_equal(ops.convert_to_numpy(gathered), np.flatnonzero(freeze == FREE))


def variable_bytes(variables):
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)


@pytest.mark.parametrize("freeze", [(0.0, 0.0), (0.35, 0.35)])
def test_state_bytes_follow_method_section_11(freeze):
    # 4 (score) + 2 (position) bytes per free entry, 12 per 32 entries
    # (bitmaps, offsets), 4 per 32 weights (signs), and the bases.
    layer = SupermaskConv2D(64, 3, prune_rate=freeze[0], lock_rate=freeze[1], seed=1)
    layer.build((None, 16, 16, 32))
    n, n_free = 3 * 3 * 32 * 64, layer.scores.shape[0]
    expected = 4 * n_free + 4 * bits.num_words(n)
    if layer.free_index is not None:
        bases = int(layer.free_index["position_bases"].shape[0])
        expected += 2 * (n_free + n_free % 2) + 12 * bits.num_words(n) + 4 * bases
    assert variable_bytes(layer.search_state) == expected
    assert n_free == n - int(np.floor(n * freeze[0])) - int(np.floor(n * freeze[1]))


def test_kaiming_weights_stay_float32():
    layer = SupermaskDense(8, weight_init="kaiming_uniform", prune_rate=0.5, seed=1)
    layer.build((None, 16))
    assert layer.sign_words is None and layer.weight.dtype == "float32"
    assert tuple(layer.weight.shape) == (16, 8) and tuple(layer.scores.shape) == (64,)
