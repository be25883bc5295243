"""Density distributions: how a global density is shared among layers.

Implements docs/METHOD.md, section 4 (Layer-wise distributions): uniform,
ERK, EPL, IGQ. Pure Python: inputs are Keras kernel shapes, outputs are
per-layer sparsities.

ERK, EPL and IGQ follow the paper's official code operation by operation
(same loops, same float64 arithmetic in the same order), so that the
per-layer counts drawn from them (`keras_slt.freezing.pattern.layer_ratios`) are the
official ones; docs/FIDELITY.md lists the rules. Uniform, which the official
code does not have, gives whole kept counts (floored).
"""

import numpy as np

from keras_slt.utils.counting import floor_count
from keras_slt.utils.validation import check_fraction, check_one_of

METHODS = ("uniform", "erk", "epl", "igq")
# The distributions of the official code; their counts are taken its way.
OFFICIAL_METHODS = ("erk", "epl", "igq")
# IGQ's bisection never needs more than ~100 halvings of its [0, 1e20] bracket;
# the cap only guards against a midpoint that hits the target exactly.
_IGQ_MAX_STEPS = 10_000


def check_method(method, argument="distribution"):
    return check_one_of(argument, method, METHODS)


def layer_sparsities(shapes, density, method="uniform"):
    """Per-layer sparsities that keep a fraction `density` of all weights.

    - uniform: every layer keeps floor(N_l * density) weights.
    - erk: density_l = eps * sum(kernel dims) / N_l; eps makes the kept
      counts N_l - floor(N_l * (1 - density)) add up, and the layer of largest
      density_l becomes dense while eps * its raw density is >= 1. The
      sparsity 1 - density_l is not rounded to a whole count.
    - epl: equal kept counts, water-filled where a layer is full; each kept
      count is floored.
    - igq: kept_l = N_l / (F * N_l + 1), F bisected until the total sparsity
      is within 1 / sum(N_l) of the target; not rounded.

    Args:
        shapes: Keras kernel shapes, one per supermask layer.
        density: the global fraction of weights kept, in [0, 1].
        method: "uniform", "erk", "epl" or "igq".

    Returns:
        A list of floats, the sparsity of each layer.

    Example:

    >>> layer_sparsities([(784, 1024), (1024, 10)], 0.5, "uniform")
    [0.5, 0.5]
    """
    check_method(method)
    check_fraction("density", density)
    if not shapes:
        raise ValueError("shapes must name at least one layer")
    sizes = [int(np.prod(s)) for s in shapes]
    if min(sizes) <= 0:
        raise ValueError(f"every kernel shape must have weights, got {list(shapes)}")
    if method == "erk":
        return _erk(shapes, sizes, density)
    if method == "epl":
        return _epl(sizes, density)
    if method == "igq":
        return _igq(sizes, density)
    return [1.0 - min(floor_count(n, density), n) / n for n in sizes]


def _erk(shapes, sizes, density):
    """ERK with the official budget and saturation rule (see layer_sparsities)."""
    raw = [sum(shape) / n for shape, n in zip(shapes, sizes)]
    dense = set()
    while True:
        # eps * sum(raw_l * N_l over sparse l) = their kept counts minus the
        # weights the dense layers keep beyond their own share.
        rhs, divisor = 0, 0.0
        for index, n in enumerate(sizes):
            # int(), not floor_count: the official budget truncates the float product.
            zeros = int(n * (1 - density))
            if index in dense:
                rhs -= zeros
            else:
                rhs += n - zeros
                divisor += raw[index] * n
        if divisor == 0:
            return [0.0] * len(sizes)
        eps = rhs / divisor
        largest = max(raw[i] for i in range(len(sizes)) if i not in dense)
        if largest * eps < 1:
            return [0.0 if i in dense else 1.0 - eps * raw[i] for i in range(len(sizes))]
        dense |= {i for i in range(len(sizes)) if i not in dense and raw[i] == largest}


def _epl(sizes, density):
    """EPL: an equal share per layer, the excess of full layers shared again."""
    kept = [0.0] * len(sizes)
    open_layers = list(range(len(sizes)))
    excess = sum(sizes) * density
    while excess != 0:
        for index in open_layers:
            kept[index] += excess / len(open_layers)
        excess, full = 0, set()
        for index in open_layers:
            if kept[index] > sizes[index]:
                excess += kept[index] - sizes[index]
                kept[index] = sizes[index]
                full.add(index)
        # A layer that reached its size exactly stays open, as in the official code.
        open_layers = [i for i in open_layers if i not in full]
    return [1 - int(k) / n for k, n in zip(kept, sizes)]


def _igq(sizes, density):
    """IGQ: bisects the force F on [0, 1e20] as the official code does."""
    total = sum(sizes)
    target = 1 - density
    tolerance = 1.0 / total
    areas = [1.0 / n for n in sizes]

    def lengths(force):
        return [n / (force / area + 1) for n, area in zip(sizes, areas)]

    low, high = 0.0, 1e20
    for _ in range(_IGQ_MAX_STEPS):
        for force in (low, high):
            kept = lengths(force)
            if abs(1 - sum(kept) / total - target) < tolerance:
                return [1 - k / n for k, n in zip(kept, sizes)]
        middle = float(low + high) / 2
        sparsity = 1 - sum(lengths(middle)) / total
        low = middle if sparsity < target else low
        high = middle if sparsity > target else high
    return [1 - k / n for k, n in zip(lengths(middle), sizes)]
