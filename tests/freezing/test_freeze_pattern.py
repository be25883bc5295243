import numpy as np
import pytest

from keras_slt.freezing import pattern as freezing
from keras_slt.utils import seeding


def test_split_freeze_ratio():
    p, r = freezing.split_freeze_ratio(0.5, 0.7)
    assert p == pytest.approx(0.35) and r == pytest.approx(0.15)


def test_pattern_exact_counts_and_values():
    shape = (3, 3, 16, 32)
    n = np.prod(shape)
    pattern = freezing.freeze_pattern(shape, 0.3, 0.2, seeding.stream(7, 2, seeding.FREEZE))
    assert pattern.dtype == np.int8 and pattern.shape == shape
    assert np.sum(pattern == -1) == int(np.floor(n * 0.3))
    assert np.sum(pattern == 1) == int(np.floor(n * 0.2))
    assert set(np.unique(pattern)) <= {-1, 0, 1}


def test_pattern_is_the_permutation_split():
    bits = seeding.stream(3, 0, seeding.FREEZE)
    order = seeding.permutation(seeding.stream(3, 0, seeding.FREEZE), 100)
    pattern = freezing.freeze_pattern((10, 10), 0.25, 0.5, bits).ravel()
    assert np.all(pattern[order[:25]] == -1)
    assert np.all(pattern[order[25:75]] == 1)
    assert np.all(pattern[order[75:]] == 0)


def test_pattern_depends_on_seed_and_layer():
    a = freezing.freeze_pattern((50, 50), 0.5, 0.0, seeding.stream(1, 0, seeding.FREEZE))
    b = freezing.freeze_pattern((50, 50), 0.5, 0.0, seeding.stream(1, 1, seeding.FREEZE))
    c = freezing.freeze_pattern((50, 50), 0.5, 0.0, seeding.stream(2, 0, seeding.FREEZE))
    again = freezing.freeze_pattern((50, 50), 0.5, 0.0, seeding.stream(1, 0, seeding.FREEZE))
    assert np.array_equal(a, again)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("method", ["uniform", "erk", "epl", "igq"])
def test_layer_ratios_hit_global_ratios(method):
    shapes = [(3, 3, 3, 64), (3, 3, 64, 128), (4096, 256), (256, 10)]
    sizes = np.array([np.prod(s) for s in shapes])
    ratios = freezing.layer_ratios(shapes, 0.3, 0.2, method)
    pruned = sum(np.floor(n * p + 1e-6) for n, (p, _) in zip(sizes, ratios))
    frozen = sum(np.floor(n * (p + r) + 1e-6) for n, (p, r) in zip(sizes, ratios))
    assert abs(pruned - 0.3 * sizes.sum()) <= len(shapes) + 1
    assert abs(frozen - 0.5 * sizes.sum()) <= 2 * len(shapes) + 1
    for p, r in ratios:
        assert 0 <= p <= 1 and 0 <= r <= 1 and p + r <= 1 + 1e-12


def test_resolve_ratios():
    assert freezing.resolve_ratios(0.5, freeze_ratio=0.4) == pytest.approx((0.2, 0.2))
    assert freezing.resolve_ratios(0.5, prune_ratio=0.3, lock_ratio=0.1) == (0.3, 0.1)
    assert freezing.resolve_ratios(0.5) == (0.0, 0.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sparsity": 1.0}, r"sparsity must be in \[0, 1\)"),
        ({"sparsity": -0.1}, r"sparsity must be in \[0, 1\)"),
        ({"freeze_ratio": 1.5}, r"freeze_ratio must be in \[0, 1\]"),
        ({"freeze_ratio": -0.5}, r"freeze_ratio must be in \[0, 1\]"),
        ({"prune_ratio": -0.1}, r"prune_ratio must be in \[0, 1\]"),
        ({"lock_ratio": 2.0}, r"lock_ratio must be in \[0, 1\]"),
        ({"prune_ratio": 0.6, "lock_ratio": 0.5}, r"prune_ratio \+ lock_ratio must be <= 1"),
        ({"prune_ratio": 0.7}, r"sparsity must be in \[prune_ratio, 1 - lock_ratio\] = \[0.7, 1\]"),
        ({"lock_ratio": 0.6}, r"sparsity must be in \[prune_ratio, 1 - lock_ratio\] = \[0, 0.4\]"),
        ({"freeze_ratio": 0.5, "prune_ratio": 0.1}, "either freeze_ratio or prune_ratio/lock_ratio"),
    ],
)
def test_validation_errors(kwargs, message):
    args = {"sparsity": 0.5, **kwargs}
    with pytest.raises(ValueError, match=message):
        freezing.resolve_ratios(**args)


def test_pattern_refuses_overfull_layer():
    with pytest.raises(ValueError, match="prune_rate \\+ lock_rate must be <= 1"):
        freezing.freeze_pattern((10,), 0.8, 0.5, seeding.stream(0, 0, seeding.FREEZE))


@pytest.mark.parametrize("method", ["erk", "epl", "igq"])
def test_nonuniform_layer_ratios_stay_in_range(method):
    # A tiny layer next to a huge one saturates under every distribution.
    ratios = freezing.layer_ratios([(2, 2), (1000, 1000)], 0.5, 0.3, method)
    for p, r in ratios:
        assert 0 <= p <= 1 and 0 <= r <= 1 and p + r <= 1 + 1e-12
