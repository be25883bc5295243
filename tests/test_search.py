"""`keras_slt.experiments.search.run_search` and `tools/search.py` on a tiny fake Fashion-MNIST."""

import json
import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from conftest import ROOT, checkpoint_floats, run_tool, tiny_config, tool_lines
from keras_slt.experiments import schedules, search

REQUIRED_KEYS = {
    "test_accuracy", "val_accuracy", "best_epoch", "model_size_bits", "dense_float32_bits",
    "actual_sparsity", "layer_sparsity", "flags", "seed", "wall_time_s", "history",
}


def test_cli_writes_results_and_ends_with_a_summary(data_dir, tmp_path):
    out = tmp_path / "run"
    result = run_tool("tools/search.py", "--model=fc", "--width=16", "--dataset=fashion_mnist",
                      f"--data_dir={data_dir}", "--epochs=2", "--batch_size=32",
                      "--freeze_ratio=0.5", f"--output_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    # Off a terminal: one line per epoch, no progress-bar redraws or escape codes.
    assert "\x1b" not in result.stdout and "\r" not in result.stdout and "\b" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0:4:2] == ["Epoch 1/2", "Epoch 2/2"] and len(lines) == 9
    assert all(line.startswith("5/5 - ") and "val_accuracy" in line for line in lines[1:4:2])
    assert lines[4].startswith("fc on fashion_mnist, ep (s=0.5, p=0.25, r=0.25): test accuracy")
    assert lines[5:] == [f"results: {out / 'results.json'}", f"best model: {out / 'best.keras'}",
                         f"epoch log: {out / 'logs' / 'history.csv'}",
                         f"TensorBoard logs: {out / 'logs'} (view them: tensorboard --logdir={out / 'logs'})"]
    results = json.loads((out / "results.json").read_text())
    assert REQUIRED_KEYS <= set(results)
    assert 0.0 <= results["test_accuracy"] <= 1.0
    assert results["flags"]["freeze_ratio"] == 0.5 and results["flags"]["width"] == 16
    assert results["actual_sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert set(results["layer_sparsity"]) == {"fc1", "fc2", "logits"}
    # Half the weights are frozen: the mask covers only the free half.
    weights = results["size"]["supermask_weights"]
    assert results["size"]["mask_bits"] == results["size"]["free"] == pytest.approx(weights / 2, abs=3)
    assert results["history"][-1]["actual_sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert "threshold" in results["history"][-1]
    assert (out / "best.keras").is_file() and os.listdir(out / "logs")
    assert keras.saving.load_model(out / "best.keras").sparsity == 0.5


def test_dense_algo_counts_32_bits_per_parameter(data_dir, tmp_path):
    results = search.run_search(tiny_config(data_dir, tmp_path, algo="dense", epochs=1))
    parameters = 784 * 16 + 16 * 16 + 16 * 10
    assert results["model_size_bits"] == results["dense_float32_bits"] == 32 * parameters
    assert results["actual_sparsity"] == 0.0 and results["layer_sparsity"] == {}


class Interrupt(keras.callbacks.Callback):
    """Stops a run after its first epoch, as a kill would."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


def test_resumed_run_ends_like_an_uninterrupted_one(data_dir, tmp_path):
    straight = search.run_search(tiny_config(data_dir, tmp_path / "straight", epochs=3))
    with pytest.raises(KeyboardInterrupt):
        search.run_search(tiny_config(data_dir, tmp_path / "resumed", epochs=3),
                          callbacks=[Interrupt()])
    assert json.loads((tmp_path / "resumed" / "state.json").read_text())["epoch"] == 1
    resumed = search.run_search(tiny_config(data_dir, tmp_path / "resumed", epochs=3))
    for key in ("test_accuracy", "val_accuracy", "best_epoch", "model_size_bits", "actual_sparsity"):
        assert resumed[key] == straight[key], key
    for a, b in zip(straight["history"], resumed["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    assert checkpoint_floats(tmp_path / "straight" / "ckpt-3.weights.h5") == pytest.approx(
        checkpoint_floats(tmp_path / "resumed" / "ckpt-3.weights.h5"), rel=1e-6)
    masks = [keras.saving.load_model(tmp_path / run / "best.keras").masks()
             for run in ("straight", "resumed")]
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
    results = search.run_search(tiny_config(data_dir, tmp_path, epochs=3, batch_size=48,
                                            schedule_unit="epoch"), callbacks=[rates])
    expected = [0.05 * (1 + math.cos(math.pi * e / 3)) for e in range(3) for _ in range(4)]
    np.testing.assert_allclose(rates.rates, expected, rtol=1e-6)
    # The official best-epoch rule: the first epoch of highest validation accuracy.
    val = [epoch["val_accuracy"] for epoch in results["history"]]
    assert results["best_epoch"] == 1 + val.index(max(val)) and results["val_accuracy"] == max(val)


@pytest.mark.parametrize("schedule, unit, expected", [
    # MultiStepLR(milestones=[int(0.5 E), int(0.75 E)], gamma=0.1), once per epoch.
    ("step", "epoch", [0.1, 0.1, 0.01, 0.001, 0.001]),
    # Per batch: the cosine moves inside epoch 0 already (3 batches an epoch).
    ("cosine", "batch", [0.05 * (1 + math.cos(math.pi * i / 15)) for i in range(0, 15, 3)]),
])
def test_schedules(schedule, unit, expected):
    rate = schedules.learning_rate(0.1, schedule, unit, epochs=5, steps_per_epoch=3)
    np.testing.assert_allclose([float(rate(3 * e)) for e in range(5)], expected, rtol=1e-6)
    if unit == "epoch":
        # Epoch 1's last batch (step 5) still trains at its rate, epoch 2's first does not.
        assert float(rate(5)) == float(rate(3)) != float(rate(6))
    else:
        assert float(rate(1)) < float(rate(0))


def test_resume_refuses_other_flags(data_dir, tmp_path):
    search.run_search(tiny_config(data_dir, tmp_path, epochs=1))
    with pytest.raises(search.ConfigError, match="holds a run with sparsity=0.5, not 0.7"):
        search.run_search(tiny_config(data_dir, tmp_path, epochs=1, sparsity=0.7))


@pytest.mark.parametrize("settings, message", [
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
])
def test_invalid_settings_raise_config_error_naming_them(data_dir, tmp_path, settings, message):
    settings = {k: str(tmp_path) if v == "EMPTY" else v for k, v in settings.items()}
    with pytest.raises(search.ConfigError) as error:
        search.run_search(tiny_config(settings.pop("data_dir", data_dir),
                                      settings.pop("output_dir", tmp_path / "out"), **settings))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("flags, message", [
    (["--sparsity=0.2", "--prune_ratio=0.3"], "error: sparsity must be in [prune_ratio, 1 - lock_ratio]"),
    (["--model=vgg"], "error: model must be one of"),
    (["--data_dir=EMPTY"], "error: data_dir: fashion_mnist: missing train-images-idx3-ubyte.gz"),
    (["--epochs=0"], "error: epochs must be a positive integer"),
])
def test_invalid_flags_exit_at_once_with_one_line(data_dir, tmp_path, flags, message):
    flags = [flag.replace("EMPTY", str(tmp_path)) for flag in flags]
    base = ["--model=fc", "--width=8", "--dataset=fashion_mnist", f"--data_dir={data_dir}",
            f"--output_dir={tmp_path / 'out'}"]
    result = run_tool("tools/search.py", *base, *flags, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = tool_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert not (tmp_path / "out" / "results.json").exists()


def test_unparsable_flag_exits_without_traceback(tmp_path):
    result = run_tool("tools/search.py", "--epochs=many", f"--output_dir={tmp_path}", timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--epochs" in result.stderr


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_slt.experiments import distribution, search
    data_dir, out = sys.argv[1], sys.argv[2]
    report = {}
    for strategy in ("default", "mirrored"):
        config = search.SearchConfig(model="fc", dataset="fashion_mnist", data_dir=data_dir,
                                     width=16, epochs=2, batch_size=32, strategy=strategy,
                                     output_dir=f"{out}/{strategy}")
        results = search.run_search(config)
        model = keras.saving.load_model(f"{out}/{strategy}/best.keras")
        report[strategy] = {"test_accuracy": results["test_accuracy"],
                            "masks": [m.tolist() for m in model.masks()],
                            "replicas": getattr(distribution.strategy(strategy), "num_replicas_in_sync", 1)}
    print("REPORT " + json.dumps(report))
""")


def test_mirrored_on_two_logical_cpus_matches_one_device(data_dir, tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, str(script), data_dir, str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("REPORT "))
    report = json.loads(line[len("REPORT "):])
    assert report["default"]["replicas"] == 1 and report["mirrored"]["replicas"] == 2
    one, two = report["default"], report["mirrored"]
    assert abs(one["test_accuracy"] - two["test_accuracy"]) <= 0.02
    differing = sum(int(np.sum(np.array(a) != np.array(b))) for a, b in zip(one["masks"], two["masks"]))
    total = sum(np.array(a).size for a in one["masks"])
    assert differing / total <= 0.001


CONFIGS_SCRIPT = textwrap.dedent("""
    import dataclasses, glob, json, sys
    sys.argv = ["search"]
    from keras_slt.cli import search as tool
    runs = {}
    for path in sorted(glob.glob("configs/*.flags")):
        if path.startswith("configs/sweep_"):  # tools/sweep.py's flagfiles
            continue
        tool.FLAGS.unparse_flags()
        tool.FLAGS(["search", f"--flagfile={path}"])
        config = tool.config_from_flags()
        prune, lock = config.validate(tool.given_flags())  # as the tool does
        runs[path] = {**dataclasses.asdict(config), "p": prune, "r": lock}
    print(json.dumps(runs))
""")

# The official code's recipes (configs/*.yaml of image_classification/).
OFFICIAL_TRAINING = {"epochs": 100, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
                     "schedule": "cosine", "schedule_unit": "epoch", "mixed_precision": False,
                     "seed": 0}
OFFICIAL_CIFAR10 = {**OFFICIAL_TRAINING, "dataset": "cifar10", "batch_size": 128}
OFFICIAL_CIFAR10_EP = {**OFFICIAL_CIFAR10, "algo": "ep", "selection": "global",
                       "weight_init": "kaiming_uniform", "score_init": "kaiming_normal",
                       "scale": "none", "distribution": "erk"}
OFFICIAL_IMAGENET_EP = {**OFFICIAL_TRAINING, "model": "resnet50", "dataset": "imagenet2012",
                        "batch_size": 256, "algo": "ep", "selection": "global", "sparsity": 0.7,
                        "weight_init": "signed_kaiming_constant", "score_init": "kaiming_normal",
                        "scale": "dynamic", "distribution": "epl"}
OFFICIAL_GIN = {"model": "gin", "dataset": "ogbn_arxiv", "width": 386, "optimizer": "adam", "lr": 0.01,
                "weight_decay": 0.0, "schedule": "cosine", "epochs": 400, "seed": 0}
OFFICIAL_GIN_EP = {"algo": "ep", "selection": "global", "sparsity": 0.7, "weight_init": "kaiming_uniform",
                   "score_init": "kaiming_normal", "scale": "none"}
PAPER_FLAGFILES = {
    **{f"configs/cifar10_{model}_{name}.flags": {**values, "model": model}
       for model in ("conv6", "resnet18") for name, values in {
           "dense_source": {**OFFICIAL_CIFAR10_EP, "sparsity": 0.7, "p": 0.0, "r": 0.0},
           "pruned_source": {**OFFICIAL_CIFAR10_EP, "sparsity": 0.9, "p": 0.8, "r": 0.0},
           "frozen_source": {**OFFICIAL_CIFAR10_EP, "sparsity": 0.5, "p": 0.25, "r": 0.25},
           "frozen_source_epl": {**OFFICIAL_CIFAR10_EP, "sparsity": 0.5, "p": 0.25, "r": 0.25,
                                 "distribution": "epl"},
           "dense_weights": {**OFFICIAL_CIFAR10, "algo": "dense"},
       }.items()},
    "configs/imagenet2012_resnet50_dense_source.flags": {**OFFICIAL_IMAGENET_EP, "p": 0.0, "r": 0.0},
    "configs/imagenet2012_resnet50_pruned_source.flags": {**OFFICIAL_IMAGENET_EP, "p": 0.5, "r": 0.0},
    "configs/imagenet2012_resnet50_frozen_source.flags": {**OFFICIAL_IMAGENET_EP, "p": 0.49, "r": 0.21},
    # node_classification/configs/*.yaml: AdamW lr 0.01, no weight decay,
    # cosine over 400 epochs (one full-batch step each), hidden width 386.
    **{f"configs/ogbn_arxiv_gin_{name}.flags": {**OFFICIAL_GIN, **values} for name, values in {
        "dense_weights": {"algo": "dense"},
        "dense_source": {**OFFICIAL_GIN_EP, "p": 0.0, "r": 0.0},
        # The official "p = 0.8 at s = 0.7" can only give sparsity 0.8 (see the flagfile).
        "pruned_source": {**OFFICIAL_GIN_EP, "sparsity": 0.8, "p": 0.8, "r": 0.0, "distribution": "epl"},
        "frozen_source": {**OFFICIAL_GIN_EP, "p": 0.49, "r": 0.21, "distribution": "epl"},
    }.items()},
}


@pytest.fixture(scope="module")
def flagfiles():
    """Every search flagfile, read by the search tool's own flag parser."""
    result = subprocess.run([sys.executable, "-c", CONFIGS_SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_configs_are_valid_flagfiles(flagfiles):
    assert flagfiles["configs/fashion_mnist_fc.flags"]["model"] == "fc"
    assert (flagfiles["configs/fashion_mnist_fc.flags"]["p"], flagfiles["configs/fashion_mnist_fc.flags"]["r"]) == (0, 0)
    assert set(flagfiles) == set(PAPER_FLAGFILES) | {"configs/fashion_mnist_fc.flags",
                                                      "configs/fashion_mnist_conv4.flags",
                                                      "configs/cora_gin.flags",
                                                      "configs/cifar10_conv6_short.flags"}
    assert flagfiles["configs/cora_gin.flags"]["model"] == "gin"
    # The shortened CIFAR-10 Conv6 study: the official recipe but for epochs and width.
    short, official = flagfiles["configs/cifar10_conv6_short.flags"], flagfiles["configs/cifar10_conv6_dense_source.flags"]
    assert {k for k in short if short[k] != official[k]} == {"epochs", "width_factor", "output_dir"}
    assert (short["epochs"], short["width_factor"]) == (5, 0.5)


@pytest.mark.parametrize("path", sorted(PAPER_FLAGFILES))
def test_paper_flagfiles_hold_the_official_values(flagfiles, path):
    config = flagfiles[path]
    for name, value in PAPER_FLAGFILES[path].items():
        assert config[name] == pytest.approx(value), (path, name)
    assert search.VALIDATION_FRACTION == 0.2  # the official train_val_ratio 0.8
