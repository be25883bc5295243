"""The compiled selection (`kth_smallest`, `threshold_of_scores`) against NumPy.

Every case compares with `np.sort(values)[k - 1]` exactly, on the backend's
fast path (variadic XLA reductions) and on the plain keras.ops path, cold and
with hints near, at and far from the answer (a hint may only change the speed).
"""

import math

import keras
import numpy as np
import pytest
from helpers import full_scores
from keras import ops

import keras_slt
from keras_slt import selection
from keras_slt.selection import threshold
from keras_slt.utils.counting import floor_count

INF_BITS = 0x7F800000


@pytest.fixture(params=selection.COUNTINGS)
def counting(request):
    return request.param


def bits(value):
    return int(np.float32(value).view(np.int32))


def expected(magnitudes, free, k):
    values = np.concatenate([m[f] for m, f in zip(magnitudes, free)])
    if k <= 0:
        return np.float32(-np.inf)
    if k > values.size:
        return np.float32(np.inf)
    return np.sort(values)[k - 1]


def select(magnitudes, free, k, hint=None, counting="variadic"):
    num_free = int(sum(int(f.sum()) for f in free))
    value = selection.kth_smallest(
        [ops.convert_to_tensor(m) for m in magnitudes],
        [ops.convert_to_tensor(f) for f in free],
        k,
        num_free,
        hint=hint,
        counting=counting,
    )
    return np.float32(ops.convert_to_numpy(value))


# A few fixed shapes (each new shape compiles once), many values and ranks.
SHAPES = [[(257,)], [(13, 7), (3, 3, 2, 4), (1,)], [(4096,), (5, 5)]]


def random_case(rng, shapes, kind):
    scale = 10.0 ** rng.uniform(-4, 1)
    if kind == "normal":
        values = [np.abs(rng.standard_normal(s)).astype(np.float32) * np.float32(scale) for s in shapes]
    elif kind == "ties":  # few distinct values, zeros among them
        values = [(rng.integers(0, 4, s) * np.float32(scale)).astype(np.float32) for s in shapes]
    elif kind == "zeros":
        values = [np.where(rng.random(s) < 0.6, 0.0, np.abs(rng.standard_normal(s))).astype(np.float32) for s in shapes]
    elif kind == "extreme":  # denormals to near float32's max, and +inf
        exponents = [rng.uniform(-44, 38, s) for s in shapes]
        values = [np.float32(10.0) ** e.astype(np.float32) for e in exponents]
        values[0].flat[0] = np.inf
    else:
        raise ValueError(kind)
    free = [rng.random(s) < rng.uniform(0.3, 1.0) for s in shapes]
    return values, free


KINDS = ["normal", "ties", "zeros", "extreme"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shapes", SHAPES, ids=["one", "three", "two"])
def test_matches_numpy_sort(counting, shapes, kind):
    # A fixed seed per case: the same values in every process.
    rng = np.random.default_rng([KINDS.index(kind), SHAPES.index(shapes)])
    for _ in range(4):
        values, free = random_case(rng, shapes, kind)
        n = int(sum(int(f.sum()) for f in free))
        for k in sorted({1, 2, n // 3, n // 2, n - 1, n}):
            if not 1 <= k <= n:
                continue
            want = expected(values, free, k)
            assert select(values, free, k, counting=counting) == want, (kind, k)


def test_uncompiled_generic_path(monkeypatch):
    """The plain keras.ops search, run as is (the path of other backends)."""
    # As on a backend without a compiled path of its own.
    monkeypatch.setattr(threshold, "_backend_path", lambda: None)
    rng = np.random.default_rng(3)
    values, free = random_case(rng, SHAPES[1], "ties")
    n = int(sum(int(f.sum()) for f in free))
    for k in (1, n // 2, n):
        assert select(values, free, k) == expected(values, free, k)


def test_out_of_range_ranks(counting):
    values = [np.array([3.0, 1.0, 2.0], np.float32)]
    free = [np.array([True, True, False])]
    assert select(values, free, 0, counting=counting) == -np.inf
    assert select(values, free, -5, counting=counting) == -np.inf
    assert select(values, free, 3, counting=counting) == np.inf
    assert select(values, free, 1, counting=counting) == 1.0 and select(values, free, 2, counting=counting) == 3.0


def test_frozen_positions_do_not_count(counting):
    # The smallest values are all frozen: they must not be selected.
    values = [np.arange(100, dtype=np.float32)]
    free = [np.arange(100) >= 50]
    for k in (1, 10, 50):
        assert select(values, free, k, counting=counting) == np.float32(49 + k)


def test_single_value_and_all_equal(counting):
    assert select([np.array([0.25], np.float32)], [np.array([True])], 1, counting=counting) == np.float32(0.25)
    values = [np.full(1000, 0.3, np.float32)]
    free = [np.ones(1000, bool)]
    for k in (1, 500, 1000):
        assert select(values, free, k, counting=counting) == np.float32(0.3)


@pytest.mark.parametrize("offset", [0, 1, -1, 100, -3000, 10**6, -(10**8)])
def test_hints_change_nothing(counting, offset):
    rng = np.random.default_rng(7)
    values = [np.abs(rng.standard_normal(s)).astype(np.float32) * np.float32(0.05) for s in [(300, 20), (77,)]]
    free = [rng.random(v.shape) < 0.8 for v in values]
    n = int(sum(int(f.sum()) for f in free))
    for k in (1, n // 2, n):
        want = expected(values, free, k)
        hint = ops.convert_to_tensor(bits(want) + offset, "int32")
        assert select(values, free, k, hint=hint, counting=counting) == want


@pytest.mark.parametrize("hint", [-1, 0, INF_BITS, 2**31 - 1, bits(1e-30), bits(3e38)])
def test_unusable_hints_are_ignored(counting, hint):
    rng = np.random.default_rng(8)
    values = [np.abs(rng.standard_normal(1000)).astype(np.float32)]
    free = [np.ones(1000, bool)]
    assert select(values, free, 400, hint=ops.convert_to_tensor(hint, "int32"), counting=counting) == expected(
        values, free, 400
    )


def test_threshold_of_scores_uses_magnitudes(counting):
    rng = np.random.default_rng(9)
    scores = [rng.standard_normal(s).astype(np.float32) for s in [(700,), (3, 3, 4, 5)]]
    scores[0][:5] = -0.0
    free = [np.ones(s.shape, bool) for s in scores]
    n = sum(s.size for s in scores)
    for k in (1, n // 3, n):
        want = expected([np.abs(s) for s in scores], free, k)
        threshold, key = selection.threshold_of_scores(
            [ops.convert_to_tensor(s) for s in scores], k, n, counting=counting
        )
        assert np.float32(ops.convert_to_numpy(threshold)) == want
        assert int(ops.convert_to_numpy(key)) == bits(want)
    threshold, key = selection.threshold_of_scores([ops.convert_to_tensor(scores[0])], 0, 700, counting=counting)
    assert float(ops.convert_to_numpy(threshold)) == -np.inf and int(ops.convert_to_numpy(key)) == 0


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function")
@pytest.mark.parametrize("jit_compile", [True, False])
def test_inside_tf_function(counting, jit_compile):
    import tensorflow as tf

    rng = np.random.default_rng(10)
    values = [np.abs(rng.standard_normal(s)).astype(np.float32) for s in [(64, 32), (9,)]]
    free = [rng.random(v.shape) < 0.7 for v in values]
    n = int(sum(int(f.sum()) for f in free))
    tensors = [tf.constant(v) for v in values]
    masks = [tf.constant(f) for f in free]

    @tf.function(jit_compile=jit_compile)
    def run(hint):
        return [selection.kth_smallest(tensors, masks, k, n, hint=hint, counting=counting) for k in (1, n // 2, n)]

    for hint in (0, bits(expected(values, free, n // 2)) + 5):
        got = [np.float32(t.numpy()) for t in run(tf.constant(hint))]
        assert got == [expected(values, free, k) for k in (1, n // 2, n)]


def test_jax_jit(counting):
    if keras.backend.backend() != "jax":
        pytest.skip("jax.jit")
    import jax

    rng = np.random.default_rng(11)
    values = [np.abs(rng.standard_normal(500)).astype(np.float32)]
    free = [rng.random(500) < 0.9]
    n = int(free[0].sum())
    run = jax.jit(lambda v, f, h: selection.kth_smallest([v], [f], n // 2, n, hint=h, counting=counting))
    for hint in (0, bits(expected(values, free, n // 2)) - 40):
        assert np.float32(run(values[0], free[0], hint)) == expected(values, free, n // 2)


def test_model_threshold_stays_exact_while_training():
    """The hint the model keeps between steps never changes the masks."""
    inputs = keras.Input((20,))
    h = keras.layers.Dense(64, activation="relu")(inputs)
    outputs = keras.layers.Dense(3)(h)
    model = keras_slt.supermaskify(keras.Model(inputs, outputs), sparsity=0.6, freeze_ratio=0.3, seed=4)
    model.compile(keras.optimizers.SGD(0.5, momentum=0.9), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(12)
    x = rng.standard_normal((64, 20)).astype("float32")
    y = rng.integers(0, 3, 64)
    layers = model.supermask_layers
    n = sum(layer.num_weights for layer in layers)
    hints = set()
    for _ in range(4):
        model.train_on_batch(x, y)
        scores = [full_scores(layer) for layer in layers]
        freezes = [layer.freeze_pattern() for layer in layers]
        masks = model.masks()
        reference = selection.global_masks(scores, freezes, 0.6)
        assert all(np.array_equal(m, r) for m, r in zip(masks, reference))
        assert sum(int(m.sum()) for m in masks) == n - floor_count(n, 0.6)
        hints.add(int(ops.convert_to_numpy(model.threshold_hint)))
    assert 0 not in hints  # training steps record the threshold
    # A stale or absurd hint still gives the exact threshold.
    want = float(ops.convert_to_numpy(model.global_threshold()))
    model.threshold_hint.assign(bits(1e-20))
    assert float(ops.convert_to_numpy(model.global_threshold())) == want
    assert math.isfinite(want)


def test_unknown_counting_is_refused():
    with pytest.raises(ValueError, match="counting must be one of variadic, generic; got 'fast'"):
        select([np.ones(3, np.float32)], [np.ones(3, bool)], 1, counting="fast")
