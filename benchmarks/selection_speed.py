"""Speed of the global threshold selection alone, against sorting.

Scores shaped like ResNet-50's 54 kernels (25.5M weights, Kaiming-normal
scores) live in device variables, as in training. The benchmark times, in one
process and alternating between methods round by round:

- `np.sort` of the free |scores| (already gathered into one float32 array:
  the reference the target is set against, >= 20x), plus `np.partition` and
  `tf.sort` for context;
- `keras_slt.selection.threshold_of_scores`, cold (no hint: the first step)
  and warm (hinted with the exact threshold of the previous "step", scores
  that differ by a small random update as after an optimizer step), each
  under XLA (a `tf.function(jit_compile=True)` around it, as in a train step
  compiled with XLA) and in a plain TF graph (where the selection runs as one
  nested XLA call);
- a radix select with two `segment_sum` histograms under XLA, the
  histogram approach that the counting passes replace (see
  `keras_slt/selection/threshold.py`), for comparison.

Every method's threshold is asserted equal to the NumPy reference value.
Prints medians and ratios against `np.sort` measured in the same run; never
assert on timings.

Usage:
    python benchmarks/selection_speed.py                # TF backend
    python benchmarks/selection_speed.py --freeze 0.5 --rounds 9
    KERAS_BACKEND=jax python benchmarks/selection_speed.py
"""

import argparse
import statistics
import time

import bench_setup  # noqa: E402, F401  (first: the checkout's code, TensorFlow's start-up lines silenced)
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_slt import selection  # noqa: E402
from keras_slt.utils.counting import floor_count  # noqa: E402


def resnet50_kernel_shapes():
    """The 54 kernel shapes of keras.applications.ResNet50 (25,502,912 weights)."""
    shapes = [(7, 7, 3, 64)]
    channels = 64
    for width, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for block in range(blocks):
            shapes += [(1, 1, channels, width), (3, 3, width, width)]
            if block == 0:
                shapes.append((1, 1, channels, 4 * width))  # projection shortcut
            shapes.append((1, 1, width, 4 * width))
            channels = 4 * width
    shapes.append((2048, 1000))
    return shapes


def make_scores(shapes, freeze_ratio, sparsity, seed):
    rng = np.random.default_rng(seed)
    scores, freezes = [], []
    for shape in shapes:
        fan_in = int(np.prod(shape[:-1]))
        scores.append((rng.standard_normal(shape, dtype=np.float32) * np.sqrt(2.0 / fan_in)).astype(np.float32))
        n = int(np.prod(shape))
        freeze = np.zeros(n, np.int8)
        order = rng.permutation(n) if freeze_ratio else None
        if freeze_ratio:
            n_pruned = int(n * freeze_ratio * sparsity)
            n_locked = int(n * freeze_ratio * (1 - sparsity))
            freeze[order[:n_pruned]] = -1
            freeze[order[n_pruned : n_pruned + n_locked]] = 1
        freezes.append(freeze.reshape(shape))
    return scores, freezes


def reference(scores, freezes, sparsity):
    """(free |scores| as one array, k among them, the NumPy threshold)."""
    flat = np.concatenate([np.abs(s)[f == 0] for s, f in zip(scores, freezes)])
    n = sum(s.size for s in scores)
    pruned = sum(int(np.sum(f == -1)) for f in freezes)
    k = floor_count(n, sparsity) - pruned
    return flat, k, np.float32(np.sort(flat)[k - 1])


def median_ms(times):
    return statistics.median(times) * 1e3


def radix_two_histograms(magnitudes, free, k):
    """Radix select with two segment_sum histograms (scatter-based, for comparison)."""

    def select_digit(digits, k, num_bins):
        histogram = None
        for d in digits:
            counts = ops.segment_sum(ops.ones_like(d), d, num_segments=num_bins + 1)
            histogram = counts if histogram is None else histogram + counts
        cumulative = ops.cumsum(histogram[:num_bins])
        digit = ops.sum(ops.cast(cumulative < k, "int32"))
        below = ops.where(digit > 0, ops.take(cumulative, ops.maximum(digit - 1, 0)), 0)
        return digit, k - below

    bits = [ops.view(ops.reshape(m, (-1,)), "int32") for m in magnitudes]
    free = [ops.reshape(f, (-1,)) for f in free]
    high = [ops.right_shift(b, 16) for b in bits]
    high_digit, k_in = select_digit([ops.where(f, h, 2**15) for f, h in zip(free, high)], k, 2**15)
    low_digit, _ = select_digit(
        [ops.where(f & (h == high_digit), ops.bitwise_and(b, 0xFFFF), 2**16) for f, h, b in zip(free, high, bits)],
        k_in,
        2**16,
    )
    return ops.view(ops.left_shift(high_digit, 16) + low_digit, "float32")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--freeze", type=float, default=0.0, help="freeze ratio (p = f*s, r = f*(1-s))")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--step-noise",
        type=float,
        default=1e-3,
        help="std of the simulated score update, relative to each layer's score std",
    )
    parser.add_argument("--no-context", action="store_true", help="skip tf.sort, np.partition, two-histogram radix")
    args = parser.parse_args(argv)
    backend = keras.backend.backend()

    shapes = resnet50_kernel_shapes()
    previous, freezes = make_scores(shapes, args.freeze, args.sparsity, seed=0)
    rng = np.random.default_rng(1)
    # One simulated optimizer step: every score moves a little.
    current = [s + rng.standard_normal(s.shape, dtype=np.float32) * (args.step_noise * s.std()) for s in previous]
    flat, k, expected = reference(current, freezes, args.sparsity)
    _, _, previous_threshold = reference(previous, freezes, args.sparsity)
    num_free = flat.size
    hint_value = int(previous_threshold.view(np.int32))
    print(
        f"backend={backend} tensors={len(shapes)} weights={sum(s.size for s in current):,} "
        f"free={num_free:,} k={k:,} threshold={expected!r} "
        f"(previous step {previous_threshold!r}, {int(expected.view(np.int32)) - hint_value:+d} ulps)"
    )

    # The layers hold scores for free weights only (docs/METHOD.md, section 11).
    scores = [keras.Variable(s[f == 0]) for s, f in zip(current, freezes)]
    hint = ops.convert_to_tensor(hint_value, "int32")

    def ours(hint):
        return selection.threshold_of_scores(scores, k, num_free, hint)[0]

    methods = {"np.sort": lambda: np.sort(flat)[k - 1]}
    if not args.no_context:
        methods["np.partition"] = lambda: np.partition(flat, k - 1)[k - 1]
    if backend == "tensorflow":
        import tensorflow as tf

        flat_tensor = tf.Variable(flat)  # a variable, not a constant folded into the program
        xla = tf.function(ours, jit_compile=True)
        graph = tf.function(ours)
        methods["ours cold, XLA"] = lambda: xla(tf.constant(0))
        methods["ours warm, XLA"] = lambda: xla(hint)
        methods["ours cold, TF graph"] = lambda: graph(tf.constant(0))
        methods["ours warm, TF graph"] = lambda: graph(hint)
        if not args.no_context:
            methods["tf.sort, XLA"] = tf.function(lambda: tf.sort(flat_tensor)[k - 1], jit_compile=True)
            methods["tf.sort, TF graph"] = tf.function(lambda: tf.sort(flat_tensor)[k - 1])
            methods["two-histogram radix, XLA"] = tf.function(
                lambda: radix_two_histograms(
                    [tf.abs(s) for s in scores], [tf.ones_like(s, tf.bool) for s in scores], k
                ),
                jit_compile=True,
            )
    elif backend == "jax":
        import jax

        zero = ops.convert_to_tensor(0, "int32")
        methods["ours cold, jax.jit"] = lambda: ours(zero)
        methods["ours warm, jax.jit"] = lambda: ours(hint)
        if not args.no_context:
            flat_array = jax.numpy.asarray(flat)
            # An argument, not a closure: a captured array becomes an HLO
            # constant, which XLA would try to sort at compile time.
            sort_kth = jax.jit(lambda values: jax.numpy.sort(values)[k - 1])
            methods["jnp.sort, jax.jit"] = lambda: sort_kth(flat_array)
    else:
        methods["ours cold"] = lambda: ours(None)
        methods["ours warm"] = lambda: ours(hint)

    times = {name: [] for name in methods}
    for name, method in methods.items():  # warm-up: compile, check the value
        value = np.float32(ops.convert_to_numpy(method()))
        assert value == expected, f"{name}: {value!r} != {expected!r}"
    for round_index in range(args.rounds):
        names = list(methods) if round_index % 2 == 0 else list(reversed(methods))
        for name in names:
            start = time.perf_counter()
            value = np.float32(ops.convert_to_numpy(methods[name]()))
            times[name].append(time.perf_counter() - start)
            assert value == expected, f"{name}: {value!r} != {expected!r}"
    base = median_ms(times["np.sort"])
    print(f"{'method':24} {'median ms':>10} {'np.sort / method':>17}")
    for name in methods:
        ms = median_ms(times[name])
        print(f"{name:24} {ms:>10.2f} {base / ms:>16.1f}x")
    print("target: >= 20x faster than np.sort (every value above equals the NumPy reference)")


if __name__ == "__main__":
    main()
