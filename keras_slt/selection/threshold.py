"""The compiled threshold search: `kth_smallest` and `threshold_of_scores`.

The threshold of docs/METHOD.md, section 5 (Selection), computed with
`keras.ops` inside a compiled train step. Only free scores take part: the
k-th smallest modified score is -inf while k <= (number pruned), +inf past
the free part, and otherwise the (k - pruned)-th smallest free |score|,
found exactly by a few counting passes (`keras_slt.selection.bracket`). The
backend modules `tf_backend` and `jax_backend` run the same search as one
compiled call that counts with one variadic reduction per pass.
"""

import keras
import numpy as np
from keras import ops

from keras_slt.selection.bracket import count_generic, keys_fn, kth_key, weighted_count
from keras_slt.selection.keys import NO_KEY, magnitude_keys
from keras_slt.utils.validation import check_one_of

# How a pass counts: "variadic", one variadic reduction per tensor (the
# backend modules; plain reductions on other backends), or "generic", plain
# keras.ops reductions, the path of backends other than TensorFlow and JAX
# (tests run it on both).
COUNTINGS = ("variadic", "generic")


def kth_smallest(magnitudes, free, k, num_free, hint=None, counting="variadic"):
    """k-th smallest (1-based) free value over several tensors.

    Args:
        magnitudes: list of float32 tensors of non-negative values (|scores|).
        free: list of matching boolean tensors; only True positions count.
        k: static Python int, rank among the free values.
        num_free: static Python int, the number of True positions.
        hint: optional int32 scalar tensor, the bit pattern of a value near
            the answer (e.g. the previous step's); only speeds the search up.
        counting: "variadic" (default) or "generic", how each pass counts;
            see `COUNTINGS`. Both give the same, exact result.

    Returns:
        A float32 scalar tensor: the value, -inf when k <= 0, +inf when
        k > num_free.

    Example:

    >>> x = ops.convert_to_tensor(np.array([3.0, 1.0, 2.0], "float32"))
    >>> float(kth_smallest([x], [x > 0], 2, 3))
    2.0
    """
    threshold, _ = _select(_keys_of_magnitudes, magnitudes, free, k, num_free, hint, counting)
    return threshold


def threshold_of_scores(scores, k, num_free, hint=None, counting="variadic", weights=None):
    """The k-th smallest |score| of the free weights' scores.

    The layers hold scores for free weights only (docs/METHOD.md, section
    11 (Search state)), so every score takes part. The same as
    `kth_smallest([abs(s)...], [all true...], k, num_free, hint)`, but the
    magnitudes and keys are formed inside the compiled selection, where they
    fuse into its first pass.

    With `weights`, each score of tensor i counts as weights[i] elements (a
    block score of a blocked layer stands for the block's weights): the
    result is the k-th smallest of the multiset in which each score is
    repeated that many times, i.e. the smallest |score| t such that the
    scores with |score| <= t weigh at least k. `k` and `num_free` are then
    in those units.

    Args:
        scores: list of float32 score tensors (any sign).
        k, num_free, hint, counting: as `kth_smallest`.
        weights: optional list of positive Python ints, one per tensor;
            default 1 each.

    Returns:
        (threshold, key): the float32 threshold and its int32 bit pattern,
        the hint for the next search (0, meaning none, when the threshold
        is infinite).
    """
    return _select(_keys_of_scores, scores, [None] * len(scores), k, num_free, hint, counting, weights)


def _keys_of_magnitudes(magnitude, free, loop_flag):
    key = magnitude_keys(_unhoistable(ops.reshape(magnitude, (-1,)), loop_flag))
    return ops.where(ops.reshape(free, (-1,)), key, NO_KEY)


def _keys_of_scores(score, no_mask, loop_flag):
    # Every score is free: `no_mask` is always None.
    return magnitude_keys(_unhoistable(ops.reshape(score, (-1,)), loop_flag))


def _unhoistable(values, loop_flag):
    """`values` unchanged (`loop_flag` is always False), but loop-dependent.

    The keys are formed inside every pass, fused into its reduction. Were
    they loop-invariant, XLA would hoist them out of the loop into an int32
    copy of all scores, written afresh (page faults and all) every step: at
    ResNet-50 size that costs more than two passes. A select moves bits
    exactly (unlike x + 0.0, which flushes denormals).
    """
    return ops.where(loop_flag, ops.zeros_like(values), values)


def _select(make_keys, values, masks, k, num_free, hint, counting, weights=None):
    check_one_of("counting", counting, COUNTINGS)
    if k <= 0:
        return ops.convert_to_tensor(-np.inf, "float32"), ops.convert_to_tensor(0, "int32")
    if k > num_free:
        return ops.convert_to_tensor(np.inf, "float32"), ops.convert_to_tensor(0, "int32")
    hint = 0 if hint is None else getattr(hint, "value", hint)  # a variable's value
    hint = ops.convert_to_tensor(hint, "int32")
    # Runtime values in the compiled search: one compilation serves every k.
    k, num_free = ops.convert_to_tensor(k, "int32"), ops.convert_to_tensor(num_free, "int32")
    values, masks = list(values), list(masks)
    # Static per tensor, so the counts are scaled after each reduction.
    weights = (1,) * len(values) if weights is None else tuple(int(w) for w in weights)
    path = _backend_path()
    if path is None:
        count = weighted_count(count_generic, weights)
        key = kth_key(keys_fn(make_keys, values, masks), k, num_free, hint, count)
    else:
        count = weighted_count(count_generic if counting == "generic" else path.count_variadic, weights)
        key = path.compiled_search(make_keys, values, masks, k, num_free, hint, count)
    return ops.view(key, "float32"), key


def _backend_path():
    """The module running the search as one compiled call, or None.

    Compiled as a whole so that eager callers do not retrace the loop.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from keras_slt.selection import tf_backend

        return tf_backend
    if backend == "jax":
        from keras_slt.selection import jax_backend

        return jax_backend
    return None
