"""The NumPy reference selection (docs/METHOD.md, section 5 (Selection)).

Word for word: modified scores (free -> |score|, pruned -> -inf, locked ->
+inf), k = floor(N*s), threshold = the k-th smallest, mask = score >
threshold with frozen positions forced.
"""

import numpy as np

from keras_slt.freezing.pattern import LOCKED, PRUNED
from keras_slt.utils.counting import floor_count


def modified_scores(scores, freeze):
    """|score| for free weights, -inf for pruned, +inf for locked (float64)."""
    magnitude = np.abs(np.asarray(scores, dtype=np.float64))
    freeze = np.asarray(freeze)
    return np.where(freeze == PRUNED, -np.inf, np.where(freeze == LOCKED, np.inf, magnitude))


def _kth_smallest(values, k):
    """The k-th smallest of `values` (1-based); -inf when k == 0."""
    if k == 0:
        return -np.inf
    return np.partition(values, k - 1)[k - 1]


def _mask(modified, freeze, threshold):
    mask = modified > threshold
    mask = np.where(freeze == PRUNED, False, np.where(freeze == LOCKED, True, mask))
    return mask.astype(np.int8)


def global_masks(scores, freezes, sparsity):
    """Masks from one threshold over all layers.

    Args:
        scores: list of score arrays, one per supermask layer.
        freezes: list of matching freeze arrays (-1 pruned, +1 locked, 0 free).
        sparsity: target sparsity s in [0, 1).

    Returns:
        A list of int8 0/1 arrays shaped like `scores`.

    Example:

    >>> m = global_masks([np.array([0.1, -0.5, 0.3, 0.2])], [np.zeros(4)], 0.5)
    >>> m[0].tolist()
    [0, 1, 1, 0]
    """
    modified = [modified_scores(s, f) for s, f in zip(scores, freezes)]
    flat = np.concatenate([m.ravel() for m in modified])
    threshold = _kth_smallest(flat, floor_count(flat.size, sparsity))
    return [_mask(m, np.asarray(f), threshold) for m, f in zip(modified, freezes)]


def layerwise_masks(scores, freezes, sparsity):
    """Masks from a threshold per layer, k_l = floor(N_l * s).

    Args and returns as `global_masks`.
    """
    masks = []
    for s, f in zip(scores, freezes):
        modified = modified_scores(s, f)
        threshold = _kth_smallest(modified.ravel(), floor_count(modified.size, sparsity))
        masks.append(_mask(modified, np.asarray(f), threshold))
    return masks
