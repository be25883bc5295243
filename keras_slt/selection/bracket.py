"""The bracket search for the k-th smallest key, and how its passes count.

The backend-neutral arithmetic of the threshold search
(`keras_slt.selection.threshold`): `kth_key` narrows a bracket of int32 keys
with a few counting passes; `count_generic` counts a pass with plain
`keras.ops` reductions, and `variadic_terms`, `combine` and `merge` are the
pieces of the one variadic reduction per pass that the backend modules
(`tf_backend`, `jax_backend`) build from their own reduce.
"""

import numpy as np
from keras import ops

from keras_slt.selection.keys import END, INF_BITS, NO_KEY

# How the search works.
#
# Why not a sort or a histogram: on CPU, XLA sorts slowly (a 100k-element sort
# takes ~20 ms) and runs scatter, hence any histogram, as a serial loop (~1 ns
# per element): a two-histogram radix select costs about as much as 8 plain
# passes over the scores. What XLA runs fast is a *variadic*
# reduction: counting the keys below 4 probes, plus a min and a max, costs
# about 1.4 plain sums (~0.25 ns per element), while a lone count costs more
# than that (XLA's CPU tree-reduction rewrite slows single-output reductions
# down and leaves variadic ones alone).
#
# So the selection works on int32 keys: the bit pattern of |score| for free
# weights (non-negative floats order like their bit patterns; integer work
# also keeps denormals, which XLA's float ops flush to zero) and NO_KEY for
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

NUM_PROBES = 4
_MAX_PASSES = 48  # the bracket halves each pass: 32 passes always suffice
# Cold start: probes at these powers of two.
_LADDER_EXPONENTS = (-16, -8, -5, -2)
# Warm start: probes at hint -+ these many ulps.
_WARM_OFFSETS = (64, 2048)
# A bracket wider than this (one binade) is split evenly: interpolating a
# count across binades is too far off to help.
_WIDE = 2**23

_weighted_counts = {}


def weighted_count(count, weights):
    """`count(keys, probes)` with tensor i's counts multiplied by weights[i].

    The bracket search only needs #(key < probe) to be the count of the
    multiset with repeats, which this is; its two certified exits (exactly
    k - 1 below probes[0], exactly k below probes[1]) stay exact for
    repeated keys, they just fire less often. The result is cached per
    (count, weights): the backend paths cache their compiled search by it.
    """
    if all(w == 1 for w in weights):
        return count
    cache_key = (count, weights)
    if cache_key not in _weighted_counts:

        def counted(keys, probes):
            per_tensor = [count([key], probes) for key in keys]
            return _combined([(c * w, a, b) for (c, a, b), w in zip(per_tensor, weights)])

        _weighted_counts[cache_key] = counted
    return _weighted_counts[cache_key]


def keys_fn(make_keys, values, masks):
    """`keys(loop_flag)`: the keys of all tensors; see `search._unhoistable`."""
    return lambda loop_flag: [make_keys(v, m, loop_flag) for v, m in zip(values, masks)]


def kth_key(keys, k, num_free, hint, count):
    """The k-th smallest key; `keys(loop_flag)` gives the int32 keys, flat.

    `k` and `num_free` are int32 scalar tensors, 1 <= k <= num_free;
    `count(keys, probes)` counts one pass, as `count_generic`.
    """
    k_f = ops.cast(k, "float32")

    def first_probes():
        # Around the hint, or the cold-start ladder.
        warm = ops.stack([hint + sign * offset for offset in _WARM_OFFSETS for sign in (-1, 1)])
        ladder = [int(np.float32(2.0**e).view(np.int32)) for e in _LADDER_EXPONENTS]
        cold = ops.convert_to_tensor(ladder, "int32")
        return ops.clip(ops.where((hint > 0) & (hint < INF_BITS), warm, cold), 1, END - 1)

    def next_probes(lo, hi, c_lo, c_hi, even):
        width = hi - lo
        # Even split: lo + step * (1..NUM_PROBES); with step 0 the bracket
        # is at most NUM_PROBES keys wide and the probes enumerate it.
        step = width // (NUM_PROBES + 1)
        spaced = lo + ops.maximum(step, 1) * ops.arange(1, NUM_PROBES + 1, dtype="int32")
        # Interpolation: the bracket holds n keys, the answer is the r-th;
        # assuming they are spread evenly it sits near offset x, keys are g
        # apart, and the rank's uncertainty is about sigma keys.
        n = ops.cast(c_hi - c_lo, "float32")
        r = k_f - ops.cast(c_lo, "float32")
        width_f = ops.cast(width, "float32")
        g = width_f / n
        x = width_f * (r - 0.5) / n
        sigma = ops.sqrt(r * (n - r + 1.0) / n) + 0.5
        below, above = x - g / 2.0, x + g / 2.0
        # Next to the estimate, the bracket's middle, and one rank-sigma out.
        offsets = ops.stack([below, above, width_f / 2.0, below - g * sigma])
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
        ops.convert_to_tensor(END, "int32"),
        zero,
        num_free,
        zero,
        ops.convert_to_tensor(False),
        zero,
        first_probes(),
    )
    state = ops.while_loop(cond, body, state)
    return state[4]


def count_generic(keys, probes):
    """(#(key < probes[i]) for each i, min key >= probes[0], max key < probes[1])."""

    def count_one(key):
        counts = ops.stack([ops.sum(ops.cast(key < probes[i], "int32")) for i in range(NUM_PROBES)])
        above = ops.min(ops.where(key >= probes[0], key, NO_KEY))
        return counts, above, ops.max(ops.where(key < probes[1], key, -1))

    return _combined([count_one(key) for key in keys])


def _combined(per_tensor):
    """Several tensors' (counts, above, below) as one: counts summed, min above, max below."""
    counts, above, below = per_tensor[0]
    for c, a, b in per_tensor[1:]:
        counts, above, below = counts + c, ops.minimum(above, a), ops.maximum(below, b)
    return counts, above, below


# The variadic reduction of the backend paths: what `count_generic` counts,
# as per-element terms reduced together in one loop.


def variadic_terms(key, probes, where):
    """Per-element terms of the variadic reduction and their initial values."""
    terms = [where(key < probes[i], 1, 0) for i in range(NUM_PROBES)]
    terms += [where(key >= probes[0], key, NO_KEY), where(key < probes[1], key, -1)]
    return terms, [0] * NUM_PROBES + [NO_KEY, -1]


def combine(a, b, minimum, maximum):
    """The reducer: two partial results of `variadic_terms` into one."""
    n = NUM_PROBES
    return tuple([a[i] + b[i] for i in range(n)] + [minimum(a[n], b[n]), maximum(a[n + 1], b[n + 1])])


def merge(per_tensor):
    """The reductions of several tensors into `count_generic`'s result."""
    return _combined([(ops.stack(t[:NUM_PROBES]), t[NUM_PROBES], t[NUM_PROBES + 1]) for t in per_tensor])
