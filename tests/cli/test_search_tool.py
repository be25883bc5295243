"""The search command line, `tools/search.py`: what it writes and prints, and its refusals."""

import importlib.util
import json
import os

import keras
import pytest
from helpers import one_error_line, run_tool

import keras_slt  # noqa: F401  (registers the classes best.keras names, for load_model below)

pytestmark = pytest.mark.slow  # every test starts the tool

REQUIRED_KEYS = {
    "test_accuracy",
    "val_accuracy",
    "best_epoch",
    "model_size_bits",
    "dense_float32_bits",
    "actual_sparsity",
    "layer_sparsity",
    "flags",
    "seed",
    "wall_time_s",
    "history",
}


def test_cli_writes_results_and_ends_with_a_summary(data_dir, tmp_path):
    out = tmp_path / "run"
    result = run_tool(
        "tools/search.py",
        "--model=fc",
        "--width=16",
        "--dataset=fashion_mnist",
        f"--data_dir={data_dir}",
        "--epochs=2",
        "--batch_size=32",
        "--freeze_ratio=0.5",
        f"--output_dir={out}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Off a terminal: one line per epoch, no progress-bar redraws or escape codes.
    assert "\x1b" not in result.stdout and "\r" not in result.stdout and "\b" not in result.stdout
    lines = result.stdout.splitlines()
    tensorboard = []  # TensorBoard's logs are written where TensorFlow is installed
    if importlib.util.find_spec("tensorflow"):
        tensorboard = [f"TensorBoard logs: {out / 'logs'} (view them: tensorboard --logdir={out / 'logs'})"]
    assert lines[0:4:2] == ["Epoch 1/2", "Epoch 2/2"] and len(lines) == 13 + len(tensorboard)
    assert all(line.startswith("5/5 - ") and "val_accuracy" in line for line in lines[1:4:2])
    # The ticket's masks layer by layer (keras_slt.mask_summary), then one summary line.
    assert [line.split()[0] for line in lines[4:9]] == ["layer", "fc1", "fc2", "logits", "total"]
    assert lines[9].startswith(
        "fc on fashion_mnist, ep (sparsity s=0.5, prune ratio p=0.25, lock ratio r=0.25): test accuracy"
    )
    assert lines[10:] == [
        f"results: {out / 'results.json'}",
        f"best model: {out / 'best.keras'}",
        f"epoch log: {out / 'logs' / 'history.csv'}",
        *tensorboard,
    ]
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


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--sparsity=0.2", "--prune_ratio=0.3"], "error: --sparsity must be in [--prune_ratio, 1 - --lock_ratio]"),
        (["--model=vgg"], "error: --model must be one of"),
        (["--data_dir=EMPTY"], "error: --data_dir: fashion_mnist: missing train-images-idx3-ubyte.gz"),
        (["--epochs=0"], "error: --epochs must be a positive integer"),
    ],
)
def test_invalid_flags_exit_at_once_with_one_line(data_dir, tmp_path, flags, message):
    flags = [flag.replace("EMPTY", str(tmp_path)) for flag in flags]
    base = [
        "--model=fc",
        "--width=8",
        "--dataset=fashion_mnist",
        f"--data_dir={data_dir}",
        f"--output_dir={tmp_path / 'out'}",
    ]
    result = run_tool("tools/search.py", *base, *flags, timeout=120)
    assert one_error_line(result, 2).startswith(message)
    assert not (tmp_path / "out" / "results.json").exists()


def test_unparsable_flag_exits_without_traceback(tmp_path):
    result = run_tool("tools/search.py", "--epochs=many", f"--output_dir={tmp_path}", timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--epochs" in result.stderr
