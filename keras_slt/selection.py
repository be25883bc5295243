"""Edge-Popup mask selection (DESIGN.md section 3).

Two halves:
- NumPy reference functions (`global_masks`, `layerwise_masks`) that follow
  the design word for word: modified scores (free -> |score|, pruned -> -inf,
  locked -> +inf), k = floor(N*s), threshold = k-th smallest, mask = score >
  threshold with frozen positions forced. Tests and tools use them as ground
  truth.
- `kth_smallest` and `threshold_of_scores`, the same threshold computed with
  `keras.ops` inside a compiled train step. Only free scores take part: the
  k-th smallest modified score is -inf while k <= (number pruned), +inf past
  the free part, and otherwise the (k - pruned)-th smallest free |score|,
  found exactly by a few counting passes (see the notes further down).
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
#
# Why not a sort or a histogram: on CPU, XLA sorts slowly (a 100k-element sort
# takes ~20 ms) and runs scatter, hence any histogram, as a serial loop (~1 ns
# per element): the former two-histogram radix select cost about as much as
# 8 plain passes over the scores. What XLA runs fast is a *variadic*
# reduction: counting the keys below 4 probes, plus a min and a max, costs
# about 1.4 plain sums (~0.25 ns per element), while a lone count costs more
# than that (XLA's CPU tree-reduction rewrite slows single-output reductions
# down and leaves variadic ones alone).
#
# So the selection works on int32 keys: the bit pattern of |score| for free
# weights (non-negative floats order like their bit patterns; integer work
# also keeps denormals, which XLA's float ops flush to zero) and _NO_KEY for
# frozen ones. It keeps a bracket [lo, hi) of keys holding the answer, with
# c_lo = #(key < lo) <= k - 1 < #(key < hi) = c_hi, and narrows it one pass
# at a time, each pass counting the keys below a few probes in the bracket:
# - first pass, warm: around the previous step's answer (`hint`); one
#   optimizer step moves the threshold by a few hundred ulps, so 2-4 passes
#   usually suffice in all;
# - first pass, cold (no hint): powers of two covering the usual magnitudes;
# - then by interpolation: the answer is the r-th of the n keys in the bracket,
#   so expect it near lo + (hi - lo) * (r - 1/2) / n; probes go half a key gap
#   below and above that, one at the bracket's middle (so the bracket at least
#   halves every pass, and the loop always ends) and one further out. A
#   bracket wider than a binade, or one the last pass did not cut 4-fold
#   (ties, odd distributions), is split evenly instead.
# Each pass also returns the smallest key >= probes[0] and the largest key <
# probes[1]: when #(key < probes[0]) == k - 1 the k-th smallest is the former,
# when #(key < probes[1]) == k the latter, which usually ends the search a
# pass or two before the bracket is one key wide. Nothing is approximate: the
# hint and the probe placement only decide how fast the exact key is found.
# More probes per pass mean fewer passes but slower ones: 4 measured fastest
# in a train step (FC 784-1024-1024-10: 4 < 2 < 6 < 8).

_INF_BITS = 0x7F800000  # the bit pattern of +inf
_END = _INF_BITS + 1  # exclusive end of the keys of non-NaN magnitudes
_NO_KEY = 2**31 - 1  # the key of positions that do not take part
_NUM_PROBES = 4
_MAX_PASSES = 48  # the bracket halves each pass: 32 passes always suffice
# Cold start: powers of two (by number of probes: kept for experiments).
_LADDER_EXPONENTS = {8: (-24, -16, -12, -9, -7, -5, -3, 0), 6: (-20, -12, -8, -6, -4, -1), 4: (-16, -8, -5, -2), 2: (-8, -4)}
# Warm start: probes at hint -+ these many ulps.
_WARM_OFFSETS = {8: (16, 256, 4096, 65536), 6: (32, 512, 8192), 4: (64, 2048), 2: (256,)}
# A bracket wider than this (one binade) is split evenly: interpolating a
# count across binades is too far off to help.
_WIDE = 2**23

# Tests set this to count with plain keras.ops reductions (the path of
# backends other than TensorFlow and JAX) instead of variadic ones.
FORCE_GENERIC = False


def kth_smallest(magnitudes, free, k, num_free, hint=None):
    """k-th smallest (1-based) free value over several tensors.

    Args:
        magnitudes: list of float32 tensors of non-negative values (|scores|).
        free: list of matching boolean tensors; only True positions count.
        k: static Python int, rank among the free values.
        num_free: static Python int, the number of True positions.
        hint: optional int32 scalar tensor, the bit pattern of a value near
            the answer (e.g. the previous step's); only speeds the search up.

    Returns:
        A float32 scalar tensor: the value, -inf when k <= 0, +inf when
        k > num_free.

    Example:

    >>> x = ops.convert_to_tensor(np.array([3.0, 1.0, 2.0], "float32"))
    >>> float(kth_smallest([x], [x > 0], 2, 3))
    2.0
    """
    threshold, _ = _select(_keys_of_magnitudes, magnitudes, free, k, num_free, hint)
    return threshold


def threshold_of_scores(scores, freezes, k, num_free, hint=None, weights=None):
    """The k-th smallest free |score|, straight from scores and freeze patterns.

    The same as `kth_smallest([abs(s)...], [f == 0...], k, num_free, hint)`,
    but the magnitudes and keys are formed inside the compiled selection,
    where they fuse into its first pass.

    With `weights`, each score of tensor i counts as weights[i] elements (a
    block score of a blocked layer stands for the block's weights): the
    result is the k-th smallest of the multiset in which each score is
    repeated that many times, i.e. the smallest |score| t such that the
    scores with |score| <= t weigh at least k. `k` and `num_free` are then
    in those units.

    Args:
        scores: list of float32 score tensors (any sign).
        freezes: list of matching int8 freeze tensors (0 marks free weights),
            or None for a tensor known to have no frozen weight.
        k, num_free, hint: as `kth_smallest`.
        weights: optional list of positive Python ints, one per tensor;
            default 1 each.

    Returns:
        (threshold, key): the float32 threshold and its int32 bit pattern,
        the hint for the next search (0, meaning none, when the threshold
        is infinite).
    """
    return _select(_keys_of_scores, scores, freezes, k, num_free, hint, weights)


def _keys_of_magnitudes(magnitude, free, loop_flag):
    key = ops.view(_unhoistable(ops.reshape(magnitude, (-1,)), loop_flag), "int32")
    return ops.where(ops.reshape(free, (-1,)), key, _NO_KEY)


def _keys_of_scores(score, freeze, loop_flag):
    # Clearing the sign bit gives the bits of |score|. Integer work only: XLA
    # and TF run float arithmetic with denormals flushed to zero.
    key = ops.bitwise_and(ops.view(_unhoistable(ops.reshape(score, (-1,)), loop_flag), "int32"), 0x7FFFFFFF)
    if freeze is None:  # nothing frozen: no need to read the pattern
        return key
    return ops.where(ops.reshape(freeze, (-1,)) != ops.cast(loop_flag, freeze.dtype), _NO_KEY, key)


def _unhoistable(values, loop_flag):
    """`values` unchanged (`loop_flag` is always False), but loop-dependent.

    The keys are formed inside every pass, fused into its reduction. Were
    they loop-invariant, XLA would hoist them out of the loop into an int32
    copy of all scores, written afresh (page faults and all) every step: at
    ResNet-50 size that costs more than two passes. A select moves bits
    exactly (unlike x + 0.0, which flushes denormals).
    """
    return ops.where(loop_flag, ops.zeros_like(values), values)


def _select(make_keys, values, masks, k, num_free, hint, weights=None):
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
    compiled = _compiled_path()
    if compiled is None:
        key = _search(_keys_fn(make_keys, values, masks), k, num_free, hint, _weighted(_count_generic, weights))
    else:
        key = compiled(make_keys, values, masks, k, num_free, hint, weights)
    return ops.view(key, "float32"), key


def _weighted(count, weights):
    """`count(keys, probes)` with tensor i's counts multiplied by weights[i].

    The bracket search only needs #(key < probe) to be the count of the
    multiset with repeats, which this is; its two certified exits
    (exactly k - 1 below probes[0], exactly k below probes[1]) stay exact
    for repeated keys, they just fire less often.
    """
    if all(w == 1 for w in weights):
        return count

    def weighted_count(keys, probes):
        per_tensor = [count([key], probes) for key in keys]
        counts = sum(c * w for (c, _, _), w in zip(per_tensor, weights))
        above = per_tensor[0][1]
        below = per_tensor[0][2]
        for _, a, b in per_tensor[1:]:
            above, below = ops.minimum(above, a), ops.maximum(below, b)
        return counts, above, below

    return weighted_count


def _keys_fn(make_keys, values, masks):
    """`keys(loop_flag)`: the keys of all tensors; see `_unhoistable`."""
    return lambda loop_flag: [make_keys(v, m, loop_flag) for v, m in zip(values, masks)]


def _search(keys, k, num_free, hint, count):
    """The k-th smallest key; `keys(loop_flag)` gives the int32 keys, flat.

    `k` and `num_free` are int32 scalar tensors, 1 <= k <= num_free.
    """
    k_f = ops.cast(k, "float32")

    def first_probes():
        # Around the hint, or the cold-start ladder.
        warm = ops.stack(
            [hint + sign * offset for offset in _WARM_OFFSETS[_NUM_PROBES] for sign in (-1, 1)]
        )
        ladder = [int(np.float32(2.0**e).view(np.int32)) for e in _LADDER_EXPONENTS[_NUM_PROBES]]
        cold = ops.convert_to_tensor(ladder, "int32")
        return ops.clip(ops.where((hint > 0) & (hint < _INF_BITS), warm, cold), 1, _END - 1)

    def next_probes(lo, hi, c_lo, c_hi, even):
        width = hi - lo
        # Even split: lo + step * (1.._NUM_PROBES); with step 0 the bracket
        # is at most _NUM_PROBES keys wide and the probes enumerate it.
        step = width // (_NUM_PROBES + 1)
        spaced = lo + ops.maximum(step, 1) * ops.arange(1, _NUM_PROBES + 1, dtype="int32")
        # Interpolation: the bracket holds n keys, the answer is the r-th;
        # assuming they are spread evenly it sits near offset x, keys are g
        # apart, and the rank's uncertainty is about sigma keys.
        n = ops.cast(c_hi - c_lo, "float32")
        r = k_f - ops.cast(c_lo, "float32")
        width_f = ops.cast(width, "float32")
        g = width_f / n
        x = width_f * (r - 0.5) / n
        sigma = ops.sqrt(r * (n - r + 1.0) / n) + 0.5
        top = ops.maximum(n / 2.0, 2.0 * sigma)
        ratio = ops.sqrt(top / sigma)
        d = [g * sigma, g * sigma * ratio, g * top]
        below, above = x - g / 2.0, x + g / 2.0
        offsets = ops.stack(
            [below, above, width_f / 2.0, below - d[0], above + d[0], below - d[1], above + d[1], below - d[2]][
                :_NUM_PROBES
            ]
        )
        offsets = ops.clip(offsets, 1.0, ops.maximum(width_f - 1.0, 1.0))
        interpolated = lo + ops.cast(offsets, "int32")
        chosen = ops.where(even | (width > _WIDE), spaced, interpolated)
        # Probes stay strictly inside the bracket (repeats are harmless).
        return ops.clip(chosen, lo + 1, ops.maximum(hi - 1, lo + 1))

    def cond(lo, hi, c_lo, c_hi, answer, done, passes, probes):
        return ops.logical_not(done) & (passes < _MAX_PASSES)

    def body(lo, hi, c_lo, c_hi, answer, done, passes, probes):
        # lo < 0 never holds, but XLA cannot know it.
        counts, above, below = count(keys(lo < 0), probes)
        # Certified: exactly k - 1 keys below probes[0] (the answer is the
        # smallest key from there) or exactly k below probes[1].
        from_above = counts[0] == k - 1
        from_below = counts[1] == k
        # The new bracket: the last probe with <= k - 1 keys below it, and
        # the first with >= k. Counts grow with the probe, so the largest
        # such probe has the largest such count.
        low_side = counts <= k - 1
        new_lo = ops.max(ops.where(low_side, probes, lo))
        new_c_lo = ops.max(ops.where(low_side, counts, c_lo))
        new_hi = ops.min(ops.where(low_side, hi, probes))
        new_c_hi = ops.min(ops.where(low_side, c_hi, counts))
        narrow = new_hi - new_lo <= 1
        answer = ops.where(from_above, above, ops.where(from_below, below, new_lo))
        done = from_above | from_below | narrow
        # Interpolation that did not cut the bracket's keys 4-fold (ties,
        # odd distributions) gives way to an even split next pass.
        even = (passes > 0) & (new_c_hi - new_c_lo > (c_hi - c_lo) // 4)
        # The next probes travel in the loop state: computed here, they
        # would be fused into (and recomputed for every element of) the
        # next pass's reduction, which made passes ~3x slower.
        probes = next_probes(new_lo, new_hi, new_c_lo, new_c_hi, even)
        return new_lo, new_hi, new_c_lo, new_c_hi, answer, done, passes + 1, probes

    zero = ops.convert_to_tensor(0, "int32")
    state = (
        zero,
        ops.convert_to_tensor(_END, "int32"),
        zero,
        num_free,
        zero,
        ops.convert_to_tensor(False),
        zero,
        first_probes(),
    )
    state = ops.while_loop(cond, body, state)
    return state[4]


def _count_generic(keys, probes):
    """(#(key < probes[i]) for each i, min key >= probes[0], max key < probes[1])."""
    counts, above, below = None, None, None
    for key in keys:
        c = ops.stack([ops.sum(ops.cast(key < probes[i], "int32")) for i in range(_NUM_PROBES)])
        a = ops.min(ops.where(key >= probes[0], key, _NO_KEY))
        b = ops.max(ops.where(key < probes[1], key, -1))
        if counts is None:
            counts, above, below = c, a, b
        else:
            counts, above, below = counts + c, ops.minimum(above, a), ops.maximum(below, b)
    return counts, above, below


def _contributions(key, probes, where):
    """Per-element terms of the variadic reduction and their initial values."""
    terms = [where(key < probes[i], 1, 0) for i in range(_NUM_PROBES)]
    terms += [where(key >= probes[0], key, _NO_KEY), where(key < probes[1], key, -1)]
    return terms, [0] * _NUM_PROBES + [_NO_KEY, -1]


def _combine(a, b, minimum, maximum):
    n = _NUM_PROBES
    return tuple([a[i] + b[i] for i in range(n)] + [minimum(a[n], b[n]), maximum(a[n + 1], b[n + 1])])


def _merge(per_tensor):
    counts = [sum(t[i] for t in per_tensor) for i in range(_NUM_PROBES)]
    above = per_tensor[0][_NUM_PROBES]
    below = per_tensor[0][_NUM_PROBES + 1]
    for t in per_tensor[1:]:
        above = ops.minimum(above, t[_NUM_PROBES])
        below = ops.maximum(below, t[_NUM_PROBES + 1])
    return ops.stack(counts), above, below


# Backend paths: the same search, compiled as a whole (so that eager callers
# do not retrace the loop), counting with one variadic reduction per tensor.
# With FORCE_GENERIC they count with `_count_generic` instead, which tests
# the plain keras.ops path on both backends.

_compiled = {}


def _compiled_path():
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _select_tensorflow
    if backend == "jax":
        return _select_jax
    return None


def _count_jax(keys, probes):
    import jax
    import jax.numpy as jnp

    def where(c, x, y):
        return jnp.where(c, x, y).astype(jnp.int32)

    per_tensor = []
    for key in keys:
        terms, inits = _contributions(key, probes, where)
        per_tensor.append(
            jax.lax.reduce(
                tuple(terms),
                tuple(jnp.int32(i) for i in inits),
                lambda a, b: _combine(a, b, jnp.minimum, jnp.maximum),
                (0,),
            )
        )
    return _merge(per_tensor)


def _select_jax(make_keys, values, masks, k, num_free, hint, weights):
    import jax

    count = _count_generic if FORCE_GENERIC else _count_jax
    cache_key = ("jax", make_keys, count, _NUM_PROBES, weights)
    fn = _compiled.get(cache_key)
    if fn is None:
        count = _weighted(count, weights)

        def run(values, masks, hint, k, num_free):
            return _search(_keys_fn(make_keys, values, masks), k, num_free, hint, count)

        # jax.jit caches one compilation per shapes.
        fn = _compiled[cache_key] = jax.jit(run)
    values = [getattr(v, "value", v) for v in values]
    masks = [getattr(m, "value", m) for m in masks]  # None stays None
    return fn(values, masks, hint, k, num_free)


def _count_tensorflow(keys, probes):
    import tensorflow as tf
    from tensorflow.compiler.tf2xla.python import xla

    reducer = _compiled.get(("tf_reducer", _NUM_PROBES))
    if reducer is None:
        scalar = tf.TensorSpec([], tf.int32)
        n = _NUM_PROBES + 2
        reducer = tf.function(
            lambda *args: _combine(args[:n], args[n:], tf.minimum, tf.maximum)
        ).get_concrete_function(*([scalar] * (2 * n)))
        _compiled[("tf_reducer", _NUM_PROBES)] = reducer

    def where(c, x, y):
        return tf.where(c, tf.constant(x, tf.int32) if isinstance(x, int) else x,
                        tf.constant(y, tf.int32) if isinstance(y, int) else y)

    per_tensor = []
    for key in keys:
        terms, inits = _contributions(key, probes, where)
        per_tensor.append(
            xla.variadic_reduce(
                terms, [tf.constant(i, tf.int32) for i in inits], dimensions_to_reduce=[0], reducer=reducer
            )
        )
    return _merge(per_tensor)


def _select_tensorflow(make_keys, values, masks, k, num_free, hint, weights):
    import tensorflow as tf

    values = [tf.convert_to_tensor(v) for v in values]
    masks = [None if m is None else tf.convert_to_tensor(m) for m in masks]
    # One tf.function per signature: each is traced once, so models with
    # many layer shapes (layer-wise selection) raise no retracing warnings.
    count = _count_generic if FORCE_GENERIC else _count_tensorflow
    signature = ("tf", make_keys, count, _NUM_PROBES, weights) + tuple(
        None if t is None else (tuple(t.shape), t.dtype.name) for t in values + masks
    )
    fn = _compiled.get(signature)
    if fn is None:
        count = _weighted(count, weights)
        # jit_compile=True: XLA fuses each pass into one loop, and the
        # variadic reduction exists only there. Inside a train step compiled
        # with XLA this is simply inlined; in a plain graph or eagerly it
        # runs as one compiled call.
        def run(values, masks, hint, k, num_free):
            return _search(_keys_fn(make_keys, values, masks), k, num_free, hint, count)

        fn = _compiled[signature] = tf.function(run, jit_compile=True, autograph=False)
        # The functions share their code, which TF's retracing detector
        # would count as one function retraced for every new layer shape.
        fn._omit_frequent_tracing_warning = True
    return fn(values, masks, hint, k, num_free)
