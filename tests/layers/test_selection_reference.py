"""The NumPy reference selection of docs/METHOD.md, section 5 (Selection)."""

import numpy as np
import pytest

from keras_slt import selection


def random_layers(seed, shapes, prune=0.0, lock=0.0):
    rng = np.random.default_rng(seed)
    scores = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    freezes = []
    for s in shapes:
        n = int(np.prod(s))
        order = rng.permutation(n)
        f = np.zeros(n, np.int8)
        f[order[: int(n * prune)]] = -1
        f[order[int(n * prune) : int(n * prune) + int(n * lock)]] = 1
        freezes.append(f.reshape(s))
    return scores, freezes


SHAPES = [(30, 20), (3, 3, 4, 8), (50,)]


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.77, 0.95])
def test_global_exact_count_without_freezing(sparsity):
    scores, freezes = random_layers(0, SHAPES)
    masks = selection.global_masks(scores, freezes, sparsity)
    n = sum(s.size for s in scores)
    assert sum(int(m.sum()) for m in masks) == n - int(np.floor(n * sparsity + 1e-6))
    assert all(m.dtype == np.int8 and set(np.unique(m)) <= {0, 1} for m in masks)


@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.77])
def test_layerwise_exact_count_without_freezing(sparsity):
    scores, freezes = random_layers(1, SHAPES)
    masks = selection.layerwise_masks(scores, freezes, sparsity)
    for m in masks:
        assert int(m.sum()) == m.size - int(np.floor(m.size * sparsity + 1e-6))


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.7])
def test_global_exact_count_with_freezing(sparsity):
    scores, freezes = random_layers(2, SHAPES, prune=0.2, lock=0.1)
    masks = selection.global_masks(scores, freezes, sparsity)
    n = sum(s.size for s in scores)
    assert sum(int(m.sum()) for m in masks) == n - int(np.floor(n * sparsity))
    for m, f in zip(masks, freezes):
        assert np.all(m[f == -1] == 0) and np.all(m[f == 1] == 1)


def test_layerwise_exact_count_with_freezing():
    scores, freezes = random_layers(3, SHAPES, prune=0.2, lock=0.1)
    masks = selection.layerwise_masks(scores, freezes, 0.5)
    for m, f in zip(masks, freezes):
        assert int(m.sum()) == m.size - int(np.floor(m.size * 0.5))
        assert np.all(m[f == -1] == 0) and np.all(m[f == 1] == 1)


def test_global_keeps_largest_free_magnitudes():
    scores, freezes = random_layers(4, SHAPES, prune=0.2, lock=0.1)
    masks = selection.global_masks(scores, freezes, 0.6)
    free_kept = np.concatenate([np.abs(s)[(f == 0) & (m == 1)] for s, f, m in zip(scores, freezes, masks)])
    free_dropped = np.concatenate([np.abs(s)[(f == 0) & (m == 0)] for s, f, m in zip(scores, freezes, masks)])
    assert free_kept.min() > free_dropped.max()


def test_sparsity_below_pruned_fraction_keeps_all_unpruned():
    # k <= number pruned: the threshold is -inf, every free weight is kept.
    scores, freezes = random_layers(5, [(100,)], prune=0.5)
    masks = selection.global_masks(scores, freezes, 0.3)
    assert np.array_equal(masks[0], (freezes[0] != -1).astype(np.int8))


def test_sparsity_past_free_part_keeps_only_locked():
    scores, freezes = random_layers(6, [(100,)], lock=0.5)
    masks = selection.global_masks(scores, freezes, 0.5)
    assert np.array_equal(masks[0], (freezes[0] == 1).astype(np.int8))


def test_sign_does_not_matter():
    scores, freezes = random_layers(7, SHAPES)
    a = selection.global_masks(scores, freezes, 0.5)
    b = selection.global_masks([-s for s in scores], freezes, 0.5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
