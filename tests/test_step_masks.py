"""The lean search state selects the same masks, step for step, as before.

`tests/data/step_masks.npz` was written by `record()` below at commit
2e8d792, when every supermask layer still held a float32 weight, a
kernel-shaped score and a freeze pattern for every weight. The search of
today (scores only for free weights, signs instead of signed-constant
weights) must reproduce it bit for bit: every mask after every step, every
loss and every free score at the end.

Regenerate (only to change the cases; it must then be run on that older
commit): `python tests/test_step_masks.py`.
"""

import os

import keras
import numpy as np
import pytest

import keras_slt

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "step_masks.npz")
STEPS = 6

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
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(8, 3, activation="relu", use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu", use_bias=False),
        keras.layers.Dense(10, use_bias=False),
    ])


def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((STEPS, 16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 10, (STEPS, 16)).astype("int32")
    return x, y


def run(case):
    """Trains one case STEPS batches; returns its masks, losses and final free scores."""
    model = keras_slt.supermaskify(network(), sparsity=0.6, seed=11, **CASES[case])
    model.compile(keras.optimizers.SGD(0.5, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data()
    result = {}
    for step in range(STEPS):
        result[f"{case}/loss{step}"] = np.float32(model.train_on_batch(x[step], y[step]))
        for i, mask in enumerate(model.masks()):
            result[f"{case}/mask{step}_{i}"] = np.packbits(mask.ravel())
    for i, layer in enumerate(model.supermask_layers):
        # Scores of free weights, in row-major order (recorded at 2e8d792
        # as the full scores where the freeze pattern was 0).
        result[f"{case}/free_scores{i}"] = keras.ops.convert_to_numpy(layer.scores)
    return result


def record():
    result = {}
    for case in CASES:
        result.update(run(case))
    np.savez_compressed(DATA, **result)


@pytest.fixture(scope="module")
def recorded():
    return dict(np.load(DATA))


@pytest.mark.parametrize("case", sorted(CASES))
def test_search_reproduces_the_former_layout(recorded, case):
    result = run(case)
    assert sorted(result) == sorted(k for k in recorded if k.startswith(case + "/"))
    for key, value in result.items():
        np.testing.assert_array_equal(value, recorded[key], err_msg=key)


if __name__ == "__main__":
    record()
