"""Density distributions: how a global density is shared among layers.

Implements docs/METHOD.md, section 4 (Layer-wise distributions): uniform,
ERK, EPL, IGQ. Pure NumPy/Python: inputs are Keras kernel shapes, outputs
are per-layer sparsities whose kept counts are whole numbers (kept counts
are floored).
"""

import numpy as np

from keras_slt.counting import floor_count

METHODS = ("uniform", "erk", "epl", "igq")


def check_method(method, argument="distribution"):
    if method not in METHODS:
        raise ValueError(f"{argument} must be one of {', '.join(METHODS)}; got {method!r}")
    return method


def layer_sparsities(shapes, density, method="uniform"):
    """Per-layer sparsities that keep a fraction `density` of all weights.

    Args:
        shapes: Keras kernel shapes, one per supermask layer.
        density: the global fraction of weights kept, in [0, 1].
        method: "uniform", "erk", "epl" or "igq".

    Returns:
        A list of floats, the sparsity of each layer (1 - kept_l / N_l with
        kept_l an integer).

    Example:

    >>> layer_sparsities([(784, 1024), (1024, 10)], 0.5, "uniform")
    [0.5, 0.5]
    """
    check_method(method)
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be in [0, 1], got {density}")
    if not shapes:
        raise ValueError("shapes must name at least one layer")
    sizes = np.array([int(np.prod(s)) for s in shapes], dtype=np.float64)
    if np.any(sizes <= 0):
        raise ValueError(f"every kernel shape must have weights, got {list(shapes)}")
    if method == "uniform":
        kept = density * sizes
    elif method == "erk":
        kept = _erk_kept(shapes, sizes, density)
    elif method == "epl":
        kept = _epl_kept(sizes, density)
    else:
        kept = _igq_kept(sizes, density)
    counts = [min(floor_count(k, 1.0), int(n)) for k, n in zip(kept, sizes)]
    return [1.0 - c / n for c, n in zip(counts, sizes)]


def _erk_kept(shapes, sizes, density):
    """ERK: density_l = eps * sum(kernel dims) / N_l, saturating layers at 1."""
    raw = np.array([float(sum(s)) for s in shapes]) / sizes
    dense = np.zeros(len(sizes), dtype=bool)
    target = density * sizes.sum()
    while True:
        budget = target - sizes[dense].sum()
        weight = (raw * sizes)[~dense].sum()
        eps = budget / weight if weight > 0 else 0.0
        layer_density = np.where(dense, 1.0, eps * raw)
        over = (layer_density > 1.0) & ~dense
        if not over.any():
            return layer_density * sizes
        dense |= over


def _epl_kept(sizes, density):
    """EPL: equal kept counts per layer, water-filled where a layer is full."""
    full = np.zeros(len(sizes), dtype=bool)
    target = density * sizes.sum()
    while True:
        share = (target - sizes[full].sum()) / max((~full).sum(), 1)
        over = (sizes <= share) & ~full
        if not over.any():
            return np.where(full, sizes, share)
        full |= over


def _igq_kept(sizes, density):
    """IGQ: kept_l = N_l / (F * N_l + 1), F bisected to the target total."""
    total = sizes.sum()
    if density >= 1.0:
        return sizes.copy()
    if density <= 0.0:
        return np.zeros_like(sizes)

    def kept(f):
        return sizes / (f * sizes + 1.0)

    low, high = 0.0, 1.0
    while kept(high).sum() > density * total:
        high *= 2.0
    # Bisect until the total sparsity is within 1/total of the target.
    for _ in range(200):
        mid = 0.5 * (low + high)
        if kept(mid).sum() > density * total:
            low = mid
        else:
            high = mid
        if abs(kept(high).sum() - density * total) <= 1.0:
            break
    return kept(high)
