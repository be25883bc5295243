"""`keras_slt.experiments.search.run_search` and `tools/search.py` on a tiny fake Fashion-MNIST."""

import gzip
import json
import os
import re
import struct
import subprocess
import sys
import textwrap

import h5py
import keras
import numpy as np
import pytest

from conftest import ROOT, run_tool
from keras_slt.experiments import search

NUM_TRAIN, NUM_TEST = 200, 100  # 160 train / 40 validation: 5 batches of 32


def write_idx(path, array, magic):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Fashion-MNIST-shaped IDX files: a class template plus noise per image."""
    folder = tmp_path_factory.mktemp("fashion_mnist")
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 256, (10, 28, 28))
    for prefix, n in (("train", NUM_TRAIN), ("t10k", NUM_TEST)):
        labels = rng.integers(0, 10, n)
        images = np.clip(templates[labels] + rng.normal(0, 60, (n, 28, 28)), 0, 255)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, 2051)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels, 2049)
    return str(folder)


def tiny_config(data_dir, output_dir, **overrides):
    settings = dict(model="fc", dataset="fashion_mnist", data_dir=data_dir, width=16,
                    epochs=2, batch_size=32, output_dir=str(output_dir), sparsity=0.5)
    settings.update(overrides)
    return search.SearchConfig(**settings)


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
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("fc on fashion_mnist, ep (s=0.5, p=0.25, r=0.25): test accuracy")
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
    assert _weights(tmp_path / "straight" / "ckpt-3.weights.h5") == pytest.approx(
        _weights(tmp_path / "resumed" / "ckpt-3.weights.h5"), rel=1e-6)
    masks = [keras.saving.load_model(tmp_path / run / "best.keras").masks()
             for run in ("straight", "resumed")]
    assert all(np.array_equal(a, b) for a, b in zip(*masks))


def _weights(path):
    """Every float array of a weights file, concatenated (optimizer state included)."""
    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.append(np.ravel(item[()]))
                     if isinstance(item, h5py.Dataset) and item.dtype.kind == "f" else None)
    return np.concatenate(arrays).tolist()


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
    ({"strategy": "tpu"}, "strategy must be one of default, mirrored, multi_worker"),
    ({"stem": "tiny"}, "stem must be one of cifar, imagenet"),
    ({"data_dir": "/nonexistent/fashion"}, "data_dir /nonexistent/fashion is not a directory"),
    ({"data_dir": "EMPTY"}, "data_dir: fashion_mnist: missing train-images-idx3-ubyte.gz"),
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"momentum": 1.0}, "momentum must be in [0, 1)"),
    ({"weight_decay": -1e-4}, "weight_decay must be >= 0"),
    ({"output_dir": ""}, "output_dir is required"),
    ({"width_factor": 2.0}, "model fc: model 'fc' takes no option 'width_factor'"),
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
    (["--epochs=0"], "error: epochs must be an integer >= 1"),
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


def tool_lines(stderr):
    """stderr without TensorFlow's import-time C++ log lines (glog format)."""
    return [line for line in stderr.splitlines() if line.strip()
            and not re.match(r"[IWEF]\d{4} \d\d:\d\d:\d\d", line)
            and not line.startswith("WARNING: All log messages before absl::InitializeLog()")]


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
    from keras_slt.experiments import search
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
                            "replicas": search._strategy(strategy).num_replicas_in_sync}
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
    import glob, sys
    sys.argv = ["search"]
    from keras_slt.cli import search as tool
    for path in sorted(glob.glob("configs/*.flags")):
        if path.startswith("configs/sweep_"):  # tools/sweep.py's flagfiles
            continue
        tool.FLAGS.unparse_flags()
        tool.FLAGS(["search", f"--flagfile={path}"])
        config = tool.config_from_flags()
        prune, lock = config.validate()
        print(path, config.model, config.dataset, config.algo, f"{prune:g}", f"{lock:g}")
""")


def test_configs_are_valid_flagfiles():
    result = subprocess.run([sys.executable, "-c", CONFIGS_SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert runs["configs/fashion_mnist_fc.flags"] == ["fc", "fashion_mnist", "ep", "0", "0"]
    assert runs["configs/cifar10_conv6_frozen_source.flags"] == ["conv6", "cifar10", "ep", "0.25", "0.25"]
    assert runs["configs/cifar10_resnet18_pruned_source.flags"] == ["resnet18", "cifar10", "ep", "0.25", "0"]
    assert runs["configs/cifar10_resnet18_dense_weights.flags"][2] == "dense"
    assert runs["configs/imagenet2012_resnet50_frozen_source.flags"] == [
        "resnet50", "imagenet2012", "ep", "0.49", "0.21"]
    assert runs["configs/ogbn_arxiv_gin_frozen_source.flags"] == ["gin", "ogbn_arxiv", "ep", "0.49", "0.21"]
    assert runs["configs/ogbn_arxiv_gin_pruned_source.flags"] == ["gin", "ogbn_arxiv", "ep", "0.8", "0"]
    assert runs["configs/cora_gin.flags"] == ["gin", "cora", "ep", "0", "0"]
    assert len(runs) == 17  # fashion_mnist fc, conv4; 8 cifar10; 2 imagenet2012; 4 ogbn_arxiv, 1 cora
