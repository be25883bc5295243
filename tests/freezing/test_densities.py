"""Density distributions, and their counts against the paper's official code.

The `official_*` functions below restate the official PyTorch code
(image_classification/utils/sparsity_distribution.py and the frozen-mask part
of utils/model.py:initialize_params) in plain Python/NumPy, operation by
operation, on PyTorch weight shapes (out, in, kh, kw) in PyTorch module order:
their numbers are what the official code draws.
"""

import math

import numpy as np
import pytest

from keras_slt import models
from keras_slt.freezing import densities, pattern

SHAPES = [(3, 3, 3, 64), (3, 3, 64, 64), (3, 3, 64, 128), (3, 3, 128, 128), (8192, 256), (256, 256), (256, 10)]
SIZES = np.array([np.prod(s) for s in SHAPES])
DENSITIES = [round(0.05 * i, 2) for i in range(1, 19)]  # 0.05, 0.1, ..., 0.9


# --- The official code, restated -------------------------------------------


def official_erk(torch_shapes, density):
    dense_layers = set()
    while True:
        divisor, rhs, raw = 0, 0, {}
        for i, shape in enumerate(torch_shapes):
            n_param = math.prod(shape)
            n_zeros = int(n_param * (1 - density))
            if i in dense_layers:
                rhs -= n_zeros
            else:
                rhs += n_param - n_zeros
                raw[i] = sum(shape) / n_param
                divisor += raw[i] * n_param
        if divisor == 0:
            break
        eps = rhs / divisor
        max_prob = np.max(list(raw.values()))
        if max_prob * eps >= 1:
            dense_layers |= {i for i, p in raw.items() if p == max_prob}
        else:
            break
    return [0.0 if i in dense_layers else 1.0 - eps * raw[i] for i in range(len(torch_shapes))]


def official_epl(torch_shapes, density):
    n_params = [math.prod(shape) for shape in torch_shapes]
    layers, edges, dense_layers = set(range(len(n_params))), [0] * len(n_params), set()
    total = sum(n_params) * density
    while total != 0:
        for k in layers:
            edges[k] += total / len(layers)
        total = 0
        for k in layers:
            if edges[k] > n_params[k]:
                total += edges[k] - n_params[k]
                edges[k] = n_params[k]
                dense_layers.add(k)
        layers = layers - dense_layers
    return [1 - int(e) / n for e, n in zip(edges, n_params)]


def official_igq(torch_shapes, density):
    counts = [math.prod(shape) for shape in torch_shapes]
    areas = [1.0 / c for c in counts]
    target, tolerance = 1 - density, 1.0 / sum(counts)

    def search(f_low, f_high):
        for force in (f_low, f_high):
            lengths = [c / (force / a + 1) for c, a in zip(counts, areas)]
            if abs(1 - sum(lengths) / sum(counts) - target) < tolerance:
                return [1 - length / c for length, c in zip(lengths, counts)]
        force = float(f_low + f_high) / 2
        lengths = [c / (force / a + 1) for c, a in zip(counts, areas)]
        overall = 1 - sum(lengths) / sum(counts)
        return search(force if overall < target else f_low, force if overall > target else f_high)

    return search(0, 1e20)


OFFICIAL = {"erk": official_erk, "epl": official_epl, "igq": official_igq}


def official_counts(torch_shapes, method, p_ratio, r_ratio):
    """(n_pruned, n_locked) per layer, as initialize_params draws them."""
    # torch.tensor(list of floats) is float32; numel * tensor and .int() too.
    frozen = np.float32(OFFICIAL[method](torch_shapes, 1 - (p_ratio + r_ratio)))
    p_dist = np.float32(OFFICIAL[method](torch_shapes, 1 - p_ratio))
    r_dist = frozen - p_dist
    return [
        (int(np.float32(math.prod(s)) * p), int(np.float32(math.prod(s)) * r))
        for s, p, r in zip(torch_shapes, p_dist, r_dist)
    ]


# The official networks' masked weights, PyTorch shapes in module order.
def official_conv6():
    convs = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256)]
    return [(o, i, 3, 3) for o, i in convs] + [(256, 256 * 4 * 4), (256, 256), (10, 256)]


def official_resnet18():  # models/resnet_cifar.py: conv1, conv2, then the shortcut
    shapes, in_planes = [(64, 3, 3, 3)], 64
    for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block_stride in (stride, 1):
            shapes += [(planes, in_planes, 3, 3), (planes, planes, 3, 3)]
            if block_stride != 1 or in_planes != planes:
                shapes.append((planes, in_planes, 1, 1))
            in_planes = planes
    return shapes + [(10, 512)]


def official_fc():  # FC 784-1024-1024-10 (the official code has no FC; same rules)
    return [(1024, 784), (1024, 1024), (10, 1024)]


def to_torch(keras_shape):
    if len(keras_shape) == 2:
        return (keras_shape[1], keras_shape[0])
    kh, kw, cin, cout = keras_shape
    return (cout, cin, kh, kw)


def keras_kernel_shapes(name, input_shape):
    network = models.get(name, input_shape, 10, supermask=False)
    return [tuple(layer.kernel.shape) for layer in network.layers if hasattr(layer, "kernel")]


@pytest.fixture(scope="module")
def networks():
    """name -> (our Keras kernel shapes, the official PyTorch shapes)."""
    return {
        "conv6": (keras_kernel_shapes("conv6", (32, 32, 3)), official_conv6()),
        "resnet18": (keras_kernel_shapes("resnet18", (32, 32, 3)), official_resnet18()),
        "fc": (keras_kernel_shapes("fc", (28, 28, 1)), official_fc()),
    }


def test_networks_have_the_official_shapes(networks):
    for ours, official in networks.values():
        assert sorted(to_torch(s) for s in ours) == sorted(official)
    assert sum(math.prod(s) for s in official_conv6()) == 2_261_184
    assert sum(math.prod(s) for s in official_resnet18()) == 11_164_352


@pytest.mark.parametrize("method", densities.OFFICIAL_METHODS)
@pytest.mark.parametrize("name", ["conv6", "resnet18", "fc"])
def test_kept_counts_equal_the_official_code(networks, name, method):
    ours, official = networks[name]
    by_shape = {}
    for density in DENSITIES:
        # One distribution at density d: the weights outside its pruned part.
        reference = {
            s: math.prod(s) - p for s, (p, _) in zip(official, official_counts(official, method, 1 - density, 0.0))
        }
        ratios = pattern.layer_ratios(ours, 1 - density, 0.0, method)
        for shape, (p_l, r_l) in zip(ours, ratios):
            n = math.prod(shape)
            kept = n - pattern.floor_count(n, p_l)
            assert kept == reference[to_torch(shape)], (density, shape)
            assert pattern.floor_count(n, r_l) == 0
            by_shape.setdefault(density, []).append(kept)
    # The layers really differ (the test would not notice a uniform split).
    if method != "epl":
        assert len(set(np.round(np.array(by_shape[0.3]) / [math.prod(s) for s in ours], 3))) > 2


@pytest.mark.parametrize("method", densities.OFFICIAL_METHODS)
@pytest.mark.parametrize("p, r", [(0.25, 0.25), (0.5, 0.0), (0.8, 0.0), (0.45, 0.05), (0.09, 0.21), (0.63, 0.27)])
def test_frozen_counts_equal_the_official_code(networks, method, p, r):
    for ours, official in networks.values():
        reference = dict(zip(official, official_counts(official, method, p, r)))
        for shape, (p_l, r_l) in zip(ours, pattern.layer_ratios(ours, p, r, method)):
            n = math.prod(shape)
            counts = (pattern.floor_count(n, p_l), pattern.floor_count(n, r_l))
            assert counts == reference[to_torch(shape)], (shape, method, p, r)


def test_drawn_patterns_have_the_official_counts():
    model = models.get(
        "conv6", (32, 32, 3), 10, sparsity=0.5, prune_ratio=0.25, lock_ratio=0.25, distribution="erk", seed=0
    )
    reference = dict(zip(official_conv6(), official_counts(official_conv6(), "erk", 0.25, 0.25)))
    for layer in model.supermask_layers:
        assert (layer.num_pruned, layer.num_locked) == reference[to_torch(layer.freeze_pattern().shape)]


def test_erk_budget_and_saturation_rules():
    # A layer is dense once eps * raw >= 1 (">", as before, kept it sparse),
    # and the budget counts N - floor(N * (1 - d)) per layer.
    shapes = [(2, 2), (30, 30), (100, 100)]
    sparsities = densities.layer_sparsities(shapes, 0.1, "erk")
    assert sparsities[0] == 0.0
    budget = sum(n - int(n * 0.9) for n in (4, 900, 10000))
    eps = (budget - 4) / (60 + 200)
    assert sparsities[1:] == [1 - eps * 60 / 900, 1 - eps * 200 / 10000]


def test_uniform_keeps_whole_floored_counts():
    assert densities.layer_sparsities([(10, 10), (20, 5)], 0.3, "uniform") == [0.7, 0.7]
    for n, s in zip(SIZES, densities.layer_sparsities(SHAPES, 0.37, "uniform")):
        assert n * (1 - s) == pytest.approx(math.floor(n * 0.37 + 1e-6))


@pytest.mark.parametrize("method", densities.METHODS)
@pytest.mark.parametrize("density", [0.05, 0.3, 0.5, 0.9])
def test_total_hits_target_density(method, density):
    sparsities = densities.layer_sparsities(SHAPES, density, method)
    counts = np.array([n - math.floor(n * s + 1e-6) for n, s in zip(SIZES, sparsities)])
    assert np.all(counts <= SIZES) and np.all(counts >= 0)
    # Counts are rounded per layer (uniform, EPL down; ERK's budget up), so the
    # total is within one weight per layer of the target (IGQ: plus its 1/N
    # bisection tolerance).
    target = density * SIZES.sum()
    assert abs(counts.sum() - target) <= len(SHAPES) + 1


def test_epl_equal_counts_with_water_filling():
    shapes = [(10, 10), (100, 100), (200, 100)]
    sparsities = densities.layer_sparsities(shapes, 0.2, "epl")
    counts = [round(np.prod(s) * (1 - x)) for s, x in zip(shapes, sparsities)]
    # Target 6020 weights: 2006.7 each, the 100-weight layer is full and the
    # remaining 5920 are shared by the other two.
    assert counts == [100, 2960, 2960]


def test_igq_shape():
    sparsities = np.array(densities.layer_sparsities(SHAPES, 0.1, "igq"))
    counts = SIZES * (1 - sparsities)
    # kept_l = N_l / (F N_l + 1): larger layers keep more, but a smaller fraction.
    order = np.argsort(SIZES)
    assert np.all(np.diff(counts[order]) >= 0)
    assert np.all(np.diff((counts / SIZES)[order]) <= 1e-9)


def test_extremes():
    for method in densities.METHODS:
        assert densities.layer_sparsities(SHAPES, 1.0, method) == [0.0] * len(SHAPES)
        assert densities.layer_sparsities(SHAPES, 0.0, method) == [1.0] * len(SHAPES)


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
        densities.layer_sparsities(**args)
