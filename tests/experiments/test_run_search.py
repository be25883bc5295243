"""A run: `keras_slt.experiments.runner.run_search` on a tiny fake Fashion-MNIST."""

import json
import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from helpers import ROOT, StopAfterEpoch, checkpoint_floats, tiny_config

from keras_slt.experiments import runner, schedules


def test_dense_algo_counts_32_bits_per_parameter(data_dir, tmp_path):
    results = runner.run_search(tiny_config(data_dir, tmp_path, algo="dense", epochs=1))
    parameters = 784 * 16 + 16 * 16 + 16 * 10
    assert results["model_size_bits"] == results["dense_float32_bits"] == 32 * parameters
    assert results["actual_sparsity"] == 0.0 and results["layer_sparsity"] == {}


@pytest.mark.slow
def test_resumed_run_ends_like_an_uninterrupted_one(data_dir, tmp_path):
    straight = runner.run_search(tiny_config(data_dir, tmp_path / "straight", epochs=3))
    with pytest.raises(KeyboardInterrupt):
        runner.run_search(tiny_config(data_dir, tmp_path / "resumed", epochs=3), callbacks=[StopAfterEpoch(1)])
    assert json.loads((tmp_path / "resumed" / "state.json").read_text())["epoch"] == 1
    resumed = runner.run_search(tiny_config(data_dir, tmp_path / "resumed", epochs=3))
    for key in ("test_accuracy", "val_accuracy", "best_epoch", "model_size_bits", "actual_sparsity"):
        assert resumed[key] == straight[key], key
    for a, b in zip(straight["history"], resumed["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    assert checkpoint_floats(tmp_path / "straight" / "ckpt-3.weights.h5") == pytest.approx(
        checkpoint_floats(tmp_path / "resumed" / "ckpt-3.weights.h5"), rel=1e-6
    )
    masks = [keras.saving.load_model(tmp_path / run / "best.keras").masks() for run in ("straight", "resumed")]
    assert all(np.array_equal(a, b) for a, b in zip(*masks))


class LearningRates(keras.callbacks.Callback):
    """The learning rate of every training batch."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))


def test_per_epoch_schedule_steps_like_pytorch(data_dir, tmp_path):
    # PyTorch's CosineAnnealingLR(T_max=3) stepped after each epoch: epoch e
    # trains at 0.05 * (1 + cos(pi * e / 3)), all 4 of its batches (160
    # images in batches of 48: the last, partial batch is kept, as PyTorch's
    # DataLoader(drop_last=False) keeps it).
    rates = LearningRates()
    results = runner.run_search(
        tiny_config(data_dir, tmp_path, epochs=3, batch_size=48, schedule_unit="epoch"), callbacks=[rates]
    )
    expected = [0.05 * (1 + math.cos(math.pi * e / 3)) for e in range(3) for _ in range(4)]
    np.testing.assert_allclose(rates.rates, expected, rtol=1e-6)
    # The official best-epoch rule: the first epoch of highest validation accuracy.
    val = [epoch["val_accuracy"] for epoch in results["history"]]
    assert results["best_epoch"] == 1 + val.index(max(val)) and results["val_accuracy"] == max(val)


@pytest.mark.parametrize(
    "schedule, unit, expected",
    [
        # MultiStepLR(milestones=[int(0.5 E), int(0.75 E)], gamma=0.1), once per epoch.
        ("step", "epoch", [0.1, 0.1, 0.01, 0.001, 0.001]),
        # Per batch: the cosine moves inside epoch 0 already (3 batches an epoch).
        ("cosine", "batch", [0.05 * (1 + math.cos(math.pi * i / 15)) for i in range(0, 15, 3)]),
    ],
)
def test_schedules(schedule, unit, expected):
    rate = schedules.learning_rate(0.1, schedule, unit, epochs=5, steps_per_epoch=3)
    np.testing.assert_allclose([float(rate(3 * e)) for e in range(5)], expected, rtol=1e-6)
    if unit == "epoch":
        # Epoch 1's last batch (step 5) still trains at its rate, epoch 2's first does not.
        assert float(rate(5)) == float(rate(3)) != float(rate(6))
    else:
        assert float(rate(1)) < float(rate(0))


def test_resume_refuses_other_flags(data_dir, tmp_path):
    runner.run_search(tiny_config(data_dir, tmp_path, epochs=1))
    with pytest.raises(runner.ConfigError, match="holds a run with sparsity=0.5, not 0.7"):
        runner.run_search(tiny_config(data_dir, tmp_path, epochs=1, sparsity=0.7))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"sparsity": 1.0}, "sparsity must be in [0, 1)"),
        ({"sparsity": 0.2, "prune_ratio": 0.3}, "sparsity must be in [prune_ratio, 1 - lock_ratio]"),
        ({"sparsity": 0.9, "lock_ratio": 0.2}, "sparsity must be in [prune_ratio, 1 - lock_ratio]"),
        ({"prune_ratio": 0.6, "lock_ratio": 0.5}, "prune_ratio + lock_ratio must be <= 1"),
        ({"freeze_ratio": 0.5, "prune_ratio": 0.1}, "either freeze_ratio or prune_ratio/lock_ratio"),
        ({"freeze_ratio": 1.5}, "freeze_ratio must be in [0, 1]"),
        ({"model": "vgg"}, "model must be one of fc, conv2"),
        ({"dataset": "svhn"}, "dataset must be one of mnist, fashion_mnist"),
        ({"algo": "sgd"}, "algo must be one of ep, dense"),
        ({"selection": "local"}, "selection must be one of global, layerwise"),
        ({"distribution": "gaussian"}, "distribution must be one of uniform, erk, epl, igq"),
        ({"weight_init": "zeros"}, "weight_init must be one of"),
        ({"score_init": "zeros"}, "score_init must be one of"),
        ({"scale": "huge"}, "scale must be one of none, static, dynamic"),
        ({"schedule": "linear"}, "schedule must be one of cosine, step"),
        ({"schedule_unit": "step"}, "schedule_unit must be one of batch, epoch"),
        ({"strategy": "tpu"}, "strategy must be one of default, mirrored, multi_worker"),
        ({"stem": "tiny"}, "stem must be one of cifar, imagenet"),
        ({"data_dir": "/nonexistent/fashion"}, "data_dir /nonexistent/fashion is not a directory"),
        ({"data_dir": "EMPTY"}, "data_dir: fashion_mnist: missing train-images-idx3-ubyte.gz"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"seed": -1}, "seed must be in [0, 2**64)"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"momentum": 1.0}, "momentum must be in [0, 1)"),
        ({"weight_decay": -1e-4}, "weight_decay must be >= 0"),
        ({"output_dir": ""}, "output_dir is required"),
        ({"width_factor": 2.0}, "width_factor=2.0 does not apply to model fc"),
    ],
)
def test_invalid_settings_raise_config_error_naming_them(data_dir, tmp_path, settings, message):
    settings = {k: str(tmp_path) if v == "EMPTY" else v for k, v in settings.items()}
    with pytest.raises(runner.ConfigError) as error:
        runner.run_search(
            tiny_config(settings.pop("data_dir", data_dir), settings.pop("output_dir", tmp_path / "out"), **settings)
        )
    assert message in str(error.value) and "\n" not in str(error.value)


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_slt.experiments import runner, strategies
    data_dir, out = sys.argv[1], sys.argv[2]
    report = {}
    for strategy in ("default", "mirrored"):
        config = runner.SearchConfig(model="fc", dataset="fashion_mnist", data_dir=data_dir,
                                     width=16, epochs=2, batch_size=32, strategy=strategy,
                                     output_dir=f"{out}/{strategy}")
        results = runner.run_search(config)
        model = keras.saving.load_model(f"{out}/{strategy}/best.keras")
        report[strategy] = {"test_accuracy": results["test_accuracy"],
                            "masks": [m.tolist() for m in model.masks()],
                            "replicas": getattr(strategies.strategy(strategy), "num_replicas_in_sync", 1)}
    print("REPORT " + json.dumps(report))
""")


@pytest.mark.slow
@pytest.mark.requires_tensorflow
def test_mirrored_on_two_logical_cpus_matches_one_device(data_dir, tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, str(script), data_dir, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("REPORT "))
    report = json.loads(line[len("REPORT ") :])
    assert report["default"]["replicas"] == 1 and report["mirrored"]["replicas"] == 2
    one, two = report["default"], report["mirrored"]
    assert abs(one["test_accuracy"] - two["test_accuracy"]) <= 0.02
    differing = sum(int(np.sum(np.array(a) != np.array(b))) for a, b in zip(one["masks"], two["masks"]))
    total = sum(np.array(a).size for a in one["masks"])
    assert differing / total <= 0.001
