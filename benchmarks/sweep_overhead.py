"""Sweep overhead: a sweep's wall time against the sum of its runs' own times.

Runs `tools/sweep.py` on the same 7 tiny searches (FC, hidden width 64, one
epoch on Fashion-MNIST: the dense, frozen and pruned sources at two sizes
and the weight-trained network) twice, each time into a fresh folder:

- a process per run (`--noin_process`): every search pays the
  interpreter's and TensorFlow's start-up, as the sweep did before it ran
  searches in its own process;
- one process (the default): the start-up is paid once.

For each it prints the sweep tool's wall time (from its start to its exit,
start-up included), the sum of the runs' `wall_time_s` (each search's own
time, from its results.json) and their ratio (target: <= 1.3x in one
process), then the ratio of the two sweeps' wall times.

Usage:
    python benchmarks/sweep_overhead.py
    python benchmarks/sweep_overhead.py --epochs=2 --data_dir=<Fashion-MNIST IDX folder>

Timings are wall-clock on whatever machine runs this (a shared machine
moves them); never assert on them.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS = (
    "dense:s0.5:w64,frozen:f0.5:s0.5:w64,pruned:f0.5:s0.7:w64,frozen:f0.7:s0.7:w64,pruned:f0.7:s0.9:w64,"
    "dense:s0.7:w64,weights:w64"
)


def sweep(output_dir, in_process, args):
    """Runs the sweep tool; returns (its wall time, the sum of its runs' wall_time_s, runs)."""
    command = [
        sys.executable,
        str(ROOT / "tools" / "sweep.py"),
        f"--output_dir={output_dir}",
        "--models=fc",
        f"--runs={RUNS}",
        "--seeds=0",
        "--search_flagfile=configs/fashion_mnist_fc.flags",
        f"--epochs={args.epochs}",
        "--parallel=1",
        f"--in_process={str(in_process).lower()}",
    ]
    if args.data_dir:
        command.append(f"--data_dir={args.data_dir}")
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # this checkout's code, not an installed copy
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"the sweep failed:\n{result.stdout}{result.stderr}")
    times = [json.loads(path.read_text())["wall_time_s"] for path in pathlib.Path(output_dir).glob("*/results.json")]
    return wall, sum(times), len(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data_dir", default=None, help="Fashion-MNIST IDX folder (default: the loader's)")
    args = parser.parse_args()
    walls = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, in_process in (("a process per run", False), ("one process", True)):
            wall, runs_time, count = sweep(os.path.join(folder, name.replace(" ", "_")), in_process, args)
            walls[name] = wall
            print(
                f"{name:18s}: {count} runs, sweep {wall:6.1f} s, runs {runs_time:6.1f} s, "
                f"sweep / runs {wall / runs_time:.2f}x"
            )
    print(
        f"one process against a process per run: {walls['one process'] / walls['a process per run']:.2f}x "
        "the wall time (target for one process: sweep / runs <= 1.3x)"
    )


if __name__ == "__main__":
    main()
