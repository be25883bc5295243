"""Edge-Popup mask selection (DESIGN.md section 3).

Two halves:
- NumPy reference functions (`global_masks`, `layerwise_masks`) that follow
  the design word for word: modified scores (free -> |score|, pruned -> -inf,
  locked -> +inf), k = floor(N*s), threshold = k-th smallest, mask = score >
  threshold with frozen positions forced. Tests and tools use them as ground
  truth.
- `kth_smallest`, the same threshold computed with `keras.ops` inside a
  compiled train step. Only free scores take part: the k-th smallest modified
  score is -inf while k <= (number pruned), +inf past the free part, and
  otherwise the (k - pruned)-th smallest free |score|, found by radix selection.
"""

import numpy as np
from keras import ops

from keras_slt.counting import floor_count
from keras_slt.freezing import LOCKED, PRUNED

# --- NumPy reference ---------------------------------------------------------


def modified_scores(scores, freeze):
    """|score| for free weights, -inf for pruned, +inf for locked (float64)."""
    magnitude = np.abs(np.asarray(scores, dtype=np.float64))
    freeze = np.asarray(freeze)
    return np.where(freeze == PRUNED, -np.inf, np.where(freeze == LOCKED, np.inf, magnitude))


def _kth_smallest_np(values, k):
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
    threshold = _kth_smallest_np(flat, floor_count(flat.size, sparsity))
    return [_mask(m, np.asarray(f), threshold) for m, f in zip(modified, freezes)]


def layerwise_masks(scores, freezes, sparsity):
    """Masks from a threshold per layer, k_l = floor(N_l * s).

    Args and returns as `global_masks`.
    """
    masks = []
    for s, f in zip(scores, freezes):
        modified = modified_scores(s, f)
        threshold = _kth_smallest_np(modified.ravel(), floor_count(modified.size, sparsity))
        masks.append(_mask(modified, np.asarray(f), threshold))
    return masks


# --- keras.ops selection -------------------------------------------------------

# Non-negative float32 values order like their int32 bit patterns, so the k-th
# smallest is found digit by digit: a histogram of the high 16 bits picks the
# bucket holding it, a histogram of the low 16 bits inside that bucket the exact
# value. Two passes over the scores, no sort. Bit 31 (the sign) is always 0 for
# |score|, so the high digit has 2**15 values.
_HIGH_BINS = 2**15
_LOW_BINS = 2**16


def kth_smallest(magnitudes, free, k, num_free):
    """k-th smallest (1-based) free value over several tensors.

    Args:
        magnitudes: list of float32 tensors of non-negative finite values
            (|scores|).
        free: list of matching boolean tensors; only True positions count.
        k: static Python int, rank among the free values.
        num_free: static Python int, the number of True positions.

    Returns:
        A float32 scalar tensor: the value, -inf when k <= 0, +inf when
        k > num_free.

    Example:

    >>> x = ops.convert_to_tensor(np.array([3.0, 1.0, 2.0], "float32"))
    >>> float(kth_smallest([x], [x > 0], 2, 3))
    2.0
    """
    if k <= 0:
        return ops.convert_to_tensor(-np.inf, "float32")
    if k > num_free:
        return ops.convert_to_tensor(np.inf, "float32")
    bits = [ops.view(ops.reshape(m, (-1,)), "int32") for m in magnitudes]
    free = [ops.reshape(f, (-1,)) for f in free]
    high = [ops.right_shift(b, 16) for b in bits]
    high_digit, k_in_bucket = _select_digit(
        [ops.where(f, h, _HIGH_BINS) for f, h in zip(free, high)], k, _HIGH_BINS
    )
    low_digit, _ = _select_digit(
        [
            ops.where(f & (h == high_digit), ops.bitwise_and(b, 0xFFFF), _LOW_BINS)
            for f, h, b in zip(free, high, bits)
        ],
        k_in_bucket,
        _LOW_BINS,
    )
    return ops.view(ops.left_shift(high_digit, 16) + low_digit, "float32")


def _select_digit(digits, k, num_bins):
    """The digit holding the k-th smallest value, and k's rank inside it.

    `digits` are int32 tensors with values in [0, num_bins]; the value
    `num_bins` marks positions that do not take part.
    """
    histogram = None
    for d in digits:
        # segment_sum with a static number of segments compiles under XLA,
        # unlike bincount, whose output length depends on the data.
        counts = ops.segment_sum(ops.ones_like(d), d, num_segments=num_bins + 1)
        histogram = counts if histogram is None else histogram + counts
    cumulative = ops.cumsum(histogram[:num_bins])
    digit = ops.sum(ops.cast(cumulative < k, "int32"))
    below = ops.where(digit > 0, ops.take(cumulative, ops.maximum(digit - 1, 0)), 0)
    return digit, k - below
