"""The search selects the recorded masks, step for step.

`tests/fixtures/step_masks.npz` holds, for each case below, the masks after each
of 6 SGD-momentum steps (bit-packed), the loss of each step and the free
scores at the end, as written by `record()`. The search must reproduce every
mask exactly, on every backend. Losses and scores went through compiled float
arithmetic (XLA, oneDNN), which rounds differently on another CPU or backend,
so they are compared with a relative tolerance; `test_tolerance_catches_one_step`
shows that the tolerance is still far tighter than the change one step makes.

Regenerate (only to change the cases): `python tests/layers/test_step_masks.py`.
"""

import os

import keras
import numpy as np
import pytest

import keras_slt

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "step_masks.npz")
STEPS = 6
# Compiled float32 arithmetic differs by a few ulp between CPUs; one step
# changes scores and losses by many orders of magnitude more.
RTOL, ATOL = 1e-5, 1e-6

# name: (supermaskify arguments, network)
CASES = {
    "conv_f0": dict(freeze_ratio=0.0),
    "conv_f05": dict(freeze_ratio=0.5),
    "conv_p05_r02": dict(prune_ratio=0.5, lock_ratio=0.2),
    "conv_f05_layerwise": dict(freeze_ratio=0.5, selection="layerwise"),
    "conv_f05_kaiming_normal": dict(freeze_ratio=0.5, weight_init="kaiming_normal", scale="dynamic"),
    "dense_b4_f05": dict(freeze_ratio=0.5, block_size=4),
}


def network():
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(8, 3, activation="relu", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu", use_bias=False),
            keras.layers.Dense(10, use_bias=False),
        ]
    )


def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((STEPS, 16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 10, (STEPS, 16)).astype("int32")
    return x, y


def free_scores(model, case):
    """The free scores of every layer, in row-major order of the free positions."""
    return {
        f"{case}/free_scores{i}": keras.ops.convert_to_numpy(layer.scores)
        for i, layer in enumerate(model.supermask_layers)
    }


def run(case):
    """Trains one case STEPS batches.

    Returns its masks, losses and final free scores, and (second) the free
    scores one step before the end.
    """
    model = keras_slt.supermaskify(network(), sparsity=0.6, seed=11, **CASES[case])
    model.compile(keras.optimizers.SGD(0.5, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data()
    result = {}
    for step in range(STEPS):
        if step == STEPS - 1:
            one_step_before = free_scores(model, case)
        result[f"{case}/loss{step}"] = np.float32(model.train_on_batch(x[step], y[step]))
        for i, mask in enumerate(model.masks()):
            result[f"{case}/mask{step}_{i}"] = np.packbits(mask.ravel())
    result.update(free_scores(model, case))
    return result, one_step_before


def record():
    result = {}
    for case in CASES:
        result.update(run(case)[0])
    np.savez_compressed(DATA, **result)


def close(actual, expected):
    return np.allclose(actual, expected, rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def recorded():
    return dict(np.load(DATA))


@pytest.fixture(scope="module")
def runs():
    """Every case run once, shared by the tests below."""
    return {case: run(case) for case in CASES}


@pytest.mark.parametrize("case", sorted(CASES))
def test_search_reproduces_the_recorded_steps(recorded, runs, case):
    result, _ = runs[case]
    assert sorted(result) == sorted(k for k in recorded if k.startswith(case + "/"))
    for key, value in result.items():
        if "/mask" in key:
            np.testing.assert_array_equal(value, recorded[key], err_msg=key)
        else:
            np.testing.assert_allclose(value, recorded[key], rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("case", sorted(CASES))
def test_tolerance_catches_one_step(recorded, runs, case):
    _, one_step_before = runs[case]
    for key, value in one_step_before.items():
        assert not close(value, recorded[key]), key
    for step in range(1, STEPS):
        assert not close(recorded[f"{case}/loss{step - 1}"], recorded[f"{case}/loss{step}"])


if __name__ == "__main__":
    record()
