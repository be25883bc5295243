"""docs/METHOD.md states what the code does: its sections and its numbers.

Other code and docs cite METHOD.md's sections by number and name, so the
titles are fixed. The numbers and formulas the page states are read from its
text and checked against the code's behaviour, so a change to either side
that the other does not follow fails here.
"""

import math
import pathlib
import re

import keras
import numpy as np
import pytest

import keras_slt
from keras_slt.freezing import pattern as freezing
from keras_slt.layers import SupermaskDense, initializers
from keras_slt.utils import counting, seeding

METHOD = pathlib.Path(__file__).resolve().parents[2] / "docs" / "METHOD.md"
TITLES = [
    "Objects",
    "Counts and flooring",
    "Freezing",
    "Layer-wise distributions",
    "Selection",
    "Gradient and scaling",
    "Model size",
    "Seeds and random streams",
    "Deployment forms",
    "Baselines",
    "Search state",
]


@pytest.fixture(scope="module")
def text():
    return METHOD.read_text(encoding="utf-8")


def stated(text, pattern):
    """The groups of the one place where the page matches `pattern`."""
    found = re.findall(pattern, text)
    assert len(found) == 1, f"METHOD.md should state {pattern!r} exactly once, found {len(found)}"
    return found[0]


def test_sections_are_numbered_and_named_as_cited(text):
    assert text.startswith("# The method\n")
    headings = re.findall(r"^## (.*)$", text, flags=re.MULTILINE)
    assert headings == [f"{i}. {title}" for i, title in enumerate(TITLES, start=1)]


def test_self_contained(text):
    assert "shared/" not in text and "DESIGN.md" not in text


def test_floor_tolerance_and_its_examples(text):
    tolerance = float(stated(text, r"floor_count\(n, x\) = floor\(n · x \+ ([0-9.e-]+)\)"))
    assert tolerance == counting._TOLERANCE
    # The example of why: the float product, and the count floor_count gives.
    product = stated(text, r"100 · \(1 - 0\.9\) evaluates to ([0-9.]+)")
    assert repr(100 * (1 - 0.9)) == product and counting.floor_count(100, 1 - 0.9) == 10
    assert int(stated(text, r"floor_count\(10, 0\.55\) = (\d+)")) == counting.floor_count(10, 0.55)


def test_uniform_freezing_example(text):
    n, p, r, pruned, locked = stated(
        text, r"a layer of (\d+) weights with p = ([0-9.]+), r = ([0-9.]+) gets (\d+) pruned\s+and (\d+) locked"
    )
    ((p_l, r_l),) = freezing.layer_ratios([(int(n), 1)], float(p), float(r), "uniform")
    pattern = freezing.freeze_pattern((int(n), 1), p_l, r_l, seeding.stream(0, 0, seeding.FREEZE))
    assert np.sum(pattern == freezing.PRUNED) == int(pruned)
    assert np.sum(pattern == freezing.LOCKED) == int(locked)


def test_random_stream_keys_and_uniform_values(text):
    shift, weight, freeze, score = map(
        int,
        stated(
            text, r"key = \(seed, layer_index << (\d+) \| kind\),\s+kind: WEIGHT = (\d), FREEZE = (\d), SCORE = (\d)"
        ),
    )
    assert (seeding.WEIGHT, seeding.FREEZE, seeding.SCORE) == (weight, freeze, score)
    seed, index = 2**63 + 5, 7
    for kind in (weight, freeze, score):
        expected = np.random.Philox(key=np.array([seed, index << shift | kind], np.uint64)).random_raw(16)
        assert np.array_equal(seeding.stream(seed, index, kind).random_raw(16), expected)
    drop, bits = map(int, stated(text, r"uniform in \[0, 1\): \(raw >> (\d+)\) · 2\^-(\d+)"))
    raw = seeding.stream(seed, index, weight).random_raw(16)
    expected = (raw >> np.uint64(drop)).astype(np.float64) * 2.0**-bits
    assert np.array_equal(seeding.uniform(seeding.stream(seed, index, weight), 16), expected)


def test_initializer_gain_and_defaults(text):
    assert stated(text, r"gain   = sqrt\((\d+)\)") == "2" and initializers.GAIN == math.sqrt(2)
    weights, scores = stated(text, r"The weights default to `(\w+)`, the scores to\s+`(\w+)`")
    layer = SupermaskDense(3)
    assert (layer.weight_init, layer.score_init) == (weights, scores)


def test_model_size_formula(text):
    float_bits, seed_bits = map(int, stated(text, r"model_size_bits = n_free \+ (\d+) · n_stored_floats \+ (\d+)"))
    base = keras.Sequential(
        [
            keras.Input((4, 4, 2)),
            keras.layers.Conv2D(3, 3),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(5),
        ]
    )
    model = keras_slt.supermaskify(base, sparsity=0.6, freeze_ratio=0.5, seed=3)
    size = keras_slt.model_size(model)
    assert size.stored_floats == 2 * 3  # the non-affine BatchNorm's moving mean and variance
    assert size.model_size_bits == size.free + float_bits * size.stored_floats + seed_bits
    assert size.dense_float32_bits == 32 * (size.supermask_weights + size.stored_floats)


@pytest.mark.parametrize("scale", ["none", "static", "dynamic"])
def test_scale_factors(text, scale):
    formula = stated(text, rf"\| `{scale}` \| ([^|\n]+) \|").strip()
    assert (
        formula
        == {
            "none": "1",
            "static": "1 / sqrt(1 - s), s the model's target sparsity",
            "dynamic": "1 / sqrt(density_l), density_l = max(kept_l / N_l, 1 / N_l)",
        }[scale]
    )
    sparsity = 0.75
    layer = SupermaskDense(8, sparsity=sparsity, prune_rate=0.25, lock_rate=0.125, scale=scale, seed=1)
    # On its own the layer selects layer-wise; fed the identity it outputs W_eff.
    kernel = keras.ops.convert_to_numpy(layer(np.eye(16, dtype="float32")))
    weight = keras.ops.convert_to_numpy(layer.kernel_weights())  # signed constant: no zeros
    mask = (kernel != 0).astype("float32")
    kept, n = mask.sum(), mask.size
    factor = {"none": 1.0, "static": 1 / math.sqrt(1 - sparsity), "dynamic": 1 / math.sqrt(max(kept / n, 1 / n))}[scale]
    np.testing.assert_allclose(kernel, mask * weight * factor, rtol=1e-6)
    assert kept == n - counting.floor_count(n, sparsity)  # Kaiming-normal scores: no ties
