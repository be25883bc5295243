"""README's quick start, walked as a newcomer does, in a fresh copy of the checkout.

The commands come from README.md's "Quick start" section itself, each run
as printed with only flags that shorten it appended (1 epoch, 16 hidden
units, fewer checks and timings), in the order printed: search, the same
search again (finished: it says so and rewrites nothing), export, the
Python block (the exported `.keras` file loaded by plain Keras, then
evaluated), the LiteRT benchmark, the sweep and its plots. The set-up is
given: this interpreter's folder first on PATH stands for the activated
virtual environment.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from helpers import section

ROOT = pathlib.Path(__file__).resolve().parents[2]
FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")

pytestmark = pytest.mark.slow

# Appended to each tool's commands: the same path, in seconds.
SHORTER = {
    "tools/search.py": ["--epochs=1", "--width=16"],
    "deploy/export.py": ["--max_samples=500", "--num_calibration=20", "--latency_budget_s=0.05"],
    "deploy/benchmark_tflite.py": ["--runs=20", "--warmup=2"],
    "tools/sweep.py": ["--epochs=1"],  # README's --runs fix the width; --widths is for grids
    "tools/plot.py": [],
}


def quick_start():
    """README's quick start: (language, code) of each fenced block, in order."""
    blocks, language, lines = [], None, []
    for line in section((ROOT / "README.md").read_text(), "Quick start"):
        if line.startswith("```") and language is None:
            language, lines = line[3:].strip() or "shell", []
        elif line.startswith("```"):
            blocks.append((language, "\n".join(lines)))
            language = None
        elif language is not None:
            lines.append(line)
    return blocks


def quick_start_steps():
    """Each command or Python block of the quick start, with its shortening flags."""
    steps = []
    for language, code in quick_start():
        if language == "python":
            steps.append(("python", [sys.executable, "-"], code))
            continue
        for command in code.splitlines():
            words = command.split()
            assert words[0] == "python", command  # the activated venv's python, as README says
            steps.append((words[1], [sys.executable, *words[1:], *SHORTER[words[1]]], None))
    return steps


def test_quick_start_is_what_the_walk_runs():
    tools = [tool for tool, _, _ in quick_start_steps()]
    assert tools == [
        "tools/search.py",
        "deploy/export.py",
        "python",
        "deploy/benchmark_tflite.py",
        "tools/sweep.py",
        "tools/plot.py",
    ]


def copy_checkout(destination):
    ignore = shutil.ignore_patterns(".git", ".venv*", "runs", "__pycache__", "*.egg-info", "build", ".pytest_cache")
    for name in ("README.md", "setup.py", "configs", "deploy", "keras_slt", "tools"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        else:
            shutil.copy2(source, destination / name)


@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason=f"Debian's dataset-fashion-mnist not in {FASHION_MNIST}")
def test_newcomer_walks_the_quick_start(tmp_path):
    pytest.importorskip("tensorflow")
    checkout = tmp_path / "keras-slt"
    checkout.mkdir()
    copy_checkout(checkout)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("PYTHONPATH", None)
    env.pop("KERAS_BACKEND", None)

    def run(argv, stdin=None, tool=True):
        done = subprocess.run(
            argv, cwd=checkout, env=env, input=stdin, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, (argv, done.stdout[-3000:], done.stderr[-3000:])
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        output = done.stdout + done.stderr
        # A tool keeps TensorFlow's log lines (glog: "E0000 00:00:..." from its CUDA probe) off the terminal.
        assert not tool or not re.search(r"(?m)^[IWEF]\d{4} \d\d:\d\d:\d\d", output), output[-3000:]
        return output

    steps = iter(quick_start_steps())
    run_dir = checkout / "runs/quickstart"

    # Search: its summary line spells the ratios out and it names what it wrote.
    _, search, _ = next(steps)
    output = run(search)
    assert re.search(r"ep \(sparsity s=0\.5, prune ratio p=0\.25, lock ratio r=0\.25\): test accuracy", output)
    for name in ("results.json", "best.keras", "logs/history.csv"):
        assert (run_dir / name).is_file(), name
        assert f"runs/quickstart/{name}" in output
    assert "tensorboard --logdir=runs/quickstart/logs" in output
    assert shutil.which("tensorboard", path=env["PATH"]), "the printed tensorboard command is not on the path"
    results = (run_dir / "results.json").read_bytes()
    assert json.loads(results)["flags"]["epochs"] == 1
    history = (run_dir / "logs/history.csv").read_text().splitlines()
    assert history[1].startswith("1,") and len(history) == 2

    # The same command again: finished, said so, nothing rewritten.
    output = run(search)
    assert "runs/quickstart already finished" in output
    assert (run_dir / "results.json").read_bytes() == results

    # Export: the three files, checked.
    _, export, _ = next(steps)
    output = run(export)
    for name in ("ticket.keras", "ticket.slt", "ticket.tflite"):
        assert (run_dir / name).is_file(), name
    assert "[FAILED]" not in output and "[ok]" in output

    # Plain Keras loads the exported model without keras_slt; then README's block evaluates it.
    load = (
        "import sys, keras; keras.saving.load_model('runs/quickstart/ticket.keras'); "
        "assert 'keras_slt' not in sys.modules, 'keras_slt imported'"
    )
    run([sys.executable, "-c", load], tool=False)
    _, python, code = next(steps)
    output = run(python, stdin=code, tool=False)
    accuracy = float(re.search(r"'accuracy': ([0-9.]+)", output).group(1))
    stored = json.loads(results)["test_accuracy"]
    assert accuracy == pytest.approx(stored, abs=2e-3)

    # LiteRT benchmark of the .slt ticket.
    _, benchmark, _ = next(steps)
    assert "x faster than dense" in run(benchmark)

    # The sweep: three runs, one table; then its figures.
    _, sweep, _ = next(steps)
    output = run(sweep)
    table = (checkout / "runs/quickstart_sweep/results.csv").read_text().splitlines()
    assert len(table) == 1 + 3
    _, plot, _ = next(steps)
    assert f"figures: python {' '.join(plot[1:])}\n" in output  # the sweep's hint is README's next command
    run(plot)
    assert (checkout / "runs/quickstart_sweep/figures/accuracy_vs_size.png").is_file()
