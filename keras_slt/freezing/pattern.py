"""Random freezing: which weights are permanently pruned or locked.

docs/METHOD.md, section 3 (Freezing). Global ratios `p` (pruned) and `r`
(locked) become per-layer ratios through a density distribution, and each
layer's ternary freeze pattern (-1 pruned, +1 locked, 0 free) is drawn from
its seed.
"""

import numpy as np

from keras_slt.freezing import densities
from keras_slt.utils import seeding
from keras_slt.utils.counting import float32_floor_count, floor_count
from keras_slt.utils.validation import check_fraction

PRUNED = -1
FREE = 0
LOCKED = 1


def split_freeze_ratio(freeze_ratio, sparsity):
    """Splits a freezing ratio f as p = f*s, r = f*(1-s).

    The frozen part then has the ticket's own sparsity.

    Example:

    >>> split_freeze_ratio(0.5, 0.9)
    (0.45, 0.04999999999999999)
    """
    return freeze_ratio * sparsity, freeze_ratio * (1.0 - sparsity)


def resolve_ratios(sparsity, freeze_ratio=None, prune_ratio=None, lock_ratio=None):
    """Validated global (p, r) from either `freeze_ratio` or `prune_ratio`/`lock_ratio`.

    Args:
        sparsity: target ticket sparsity s, in [0, 1).
        freeze_ratio: f = p + r in [0, 1], split by `split_freeze_ratio`.
        prune_ratio: p, in [0, 1]; used when `freeze_ratio` is None.
        lock_ratio: r, in [0, 1]; used when `freeze_ratio` is None.

    Returns:
        (p, r) as floats.

    Raises:
        ValueError: naming the offending argument and its valid range.
    """
    check_fraction("sparsity", sparsity, upper_open=True)
    if freeze_ratio is not None:
        if prune_ratio is not None or lock_ratio is not None:
            raise ValueError("give either freeze_ratio or prune_ratio/lock_ratio, not both")
        check_fraction("freeze_ratio", freeze_ratio)
        p, r = split_freeze_ratio(float(freeze_ratio), float(sparsity))
    else:
        p = 0.0 if prune_ratio is None else prune_ratio
        r = 0.0 if lock_ratio is None else lock_ratio
        check_fraction("prune_ratio", p)
        check_fraction("lock_ratio", r)
        check_prune_lock(p, r)
    check_sparsity(sparsity, p, r)
    return float(p), float(r)


def check_sparsity(sparsity, p, r, tolerance=1e-9):
    """Raises unless p <= sparsity <= 1 - r, up to `tolerance`."""
    if not (p - tolerance <= sparsity <= 1.0 - r + tolerance):
        raise ValueError(f"sparsity must be in [prune_ratio, 1 - lock_ratio] = [{p:g}, {1.0 - r:g}], got {sparsity}")


def check_prune_lock(prune, lock, names=("prune_ratio", "lock_ratio")):
    """Raises unless prune + lock <= 1; `names` are the two arguments' names."""
    if prune + lock > 1.0:
        raise ValueError(f"{names[0]} + {names[1]} must be <= 1, got {prune} + {lock} = {prune + lock}")


def layer_ratios(shapes, prune_ratio, lock_ratio, distribution="uniform"):
    """Per-layer (p_l, r_l) from the global ratios and a density distribution.

    frozen_l = sparsity_D(l, 1 - (p + r)), p_l = sparsity_D(l, 1 - p) and
    r_l = frozen_l - p_l, which must land in [0, 1]. For the official
    code's distributions (ERK, EPL, IGQ) the layer's counts are taken as
    that code takes them, int(N_l * p_l) and int(N_l * r_l) in float32, and
    returned as count / N_l, so `freeze_pattern` draws exactly those counts.

    Args:
        shapes: Keras kernel shapes of the supermask layers.
        prune_ratio: global p.
        lock_ratio: global r.
        distribution: a name from `distributions.METHODS`.

    Returns:
        A list of (p_l, r_l) float pairs.

    Example:

    >>> layer_ratios([(10, 10)], 0.3, 0.2)
    [(0.30000000000000004, 0.19999999999999996)]
    """
    frozen = densities.layer_sparsities(shapes, 1.0 - (prune_ratio + lock_ratio), distribution)
    pruned = densities.layer_sparsities(shapes, 1.0 - prune_ratio, distribution)
    official = distribution in densities.OFFICIAL_METHODS
    ratios = []
    for shape, f_l, p_l in zip(shapes, frozen, pruned):
        if official:
            p_l = np.float32(p_l)
            r_l = np.float32(f_l) - p_l
        else:
            r_l = f_l - p_l
        if not -1e-12 <= r_l <= 1.0:
            raise ValueError(
                f"lock_ratio: distribution {distribution!r} gives a layer of shape "
                f"{tuple(shape)} a locked fraction {r_l:.4g} outside [0, 1]; "
                "use another distribution or smaller ratios"
            )
        if official:
            n = int(np.prod(shape))
            ratios.append((float32_floor_count(n, p_l) / n, float32_floor_count(n, r_l) / n))
        else:
            ratios.append((p_l, max(r_l, 0.0)))
    return ratios


def freeze_pattern(shape, prune_rate, lock_rate, bits):
    """The ternary freeze tensor of one layer.

    `floor(N*p_l)` positions are pruned and `floor(N*r_l)` locked, drawn
    uniformly without replacement: one random permutation, the first n_p
    indices pruned, the next n_r locked.

    Args:
        shape: the kernel shape.
        prune_rate: p_l.
        lock_rate: r_l.
        bits: a bit generator from `seeding.stream(seed, index, seeding.FREEZE)`.

    Returns:
        An int8 array of `shape` with values in {-1, 0, +1}.
    """
    check_prune_lock(prune_rate, lock_rate, ("prune_rate", "lock_rate"))
    n = int(np.prod(shape))
    n_pruned = floor_count(n, prune_rate)
    n_locked = floor_count(n, lock_rate)
    pattern = np.zeros(n, dtype=np.int8)
    if n_pruned or n_locked:
        order = seeding.permutation(bits, n)
        pattern[order[:n_pruned]] = PRUNED
        pattern[order[n_pruned : n_pruned + n_locked]] = LOCKED
    return pattern.reshape(shape)
