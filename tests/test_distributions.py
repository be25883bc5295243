import math

import numpy as np
import pytest

from keras_slt import distributions

SHAPES = [(3, 3, 3, 64), (3, 3, 64, 64), (3, 3, 64, 128), (3, 3, 128, 128), (8192, 256), (256, 256), (256, 10)]
SIZES = np.array([np.prod(s) for s in SHAPES])

pytestmark = pytest.mark.agnostic


def kept(sparsities):
    return np.array([round(n * (1 - s)) for n, s in zip(SIZES, sparsities)])


@pytest.mark.parametrize("method", distributions.METHODS)
@pytest.mark.parametrize("density", [0.05, 0.3, 0.5, 0.9])
def test_total_hits_target_density(method, density):
    sparsities = distributions.layer_sparsities(SHAPES, density, method)
    counts = kept(sparsities)
    assert np.all(counts <= SIZES) and np.all(counts >= 0)
    # Kept counts are floored per layer, so the total is at most one weight
    # per layer below the target (IGQ: plus its 1/N bisection tolerance).
    target = density * SIZES.sum()
    assert target - len(SHAPES) - 1 <= counts.sum() <= target + 1


@pytest.mark.parametrize("method", distributions.METHODS)
def test_kept_counts_are_integers(method):
    for n, s in zip(SIZES, distributions.layer_sparsities(SHAPES, 0.37, method)):
        assert math.isclose(n * (1 - s), round(n * (1 - s)), abs_tol=1e-6)


def test_uniform_is_uniform():
    assert distributions.layer_sparsities([(10, 10), (20, 5)], 0.3, "uniform") == [0.7, 0.7]


def test_erk_formula_and_saturation():
    sparsities = distributions.layer_sparsities(SHAPES, 0.2, "erk")
    density = 1 - np.array(sparsities)
    raw = np.array([sum(s) / np.prod(s) for s in SHAPES])
    # The first conv (27*64 weights) has the largest raw density and saturates.
    assert density[0] == 1.0
    unsaturated = density < 1.0
    ratio = density[unsaturated] / raw[unsaturated]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-3)


def test_epl_equal_counts_with_water_filling():
    shapes = [(10, 10), (100, 100), (200, 100)]
    sparsities = distributions.layer_sparsities(shapes, 0.2, "epl")
    counts = [round(np.prod(s) * (1 - x)) for s, x in zip(shapes, sparsities)]
    # Target 6020 weights: 2006.7 each, the 100-weight layer is full and the
    # remaining 5920 are shared by the other two.
    assert counts == [100, 2960, 2960]


def test_igq_shape():
    sparsities = distributions.layer_sparsities(SHAPES, 0.1, "igq")
    counts = kept(sparsities)
    # kept_l = N_l / (F N_l + 1): larger layers keep more, but a smaller fraction.
    order = np.argsort(SIZES)
    assert np.all(np.diff(counts[order]) >= 0)
    assert np.all(np.diff((counts / SIZES)[order]) <= 1e-9)


def test_extremes():
    for method in distributions.METHODS:
        assert distributions.layer_sparsities(SHAPES, 1.0, method) == [0.0] * len(SHAPES)
        assert distributions.layer_sparsities(SHAPES, 0.0, method) == [1.0] * len(SHAPES)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"density": 1.5}, "density must be in \\[0, 1\\]"),
        ({"method": "magic"}, "distribution must be one of uniform, erk, epl, igq"),
    ],
)
def test_errors(kwargs, message):
    args = {"shapes": SHAPES, "density": 0.5, "method": "uniform", **kwargs}
    with pytest.raises(ValueError, match=message):
        distributions.layer_sparsities(**args)
