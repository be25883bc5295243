"""Command-line tool start-up: seconds to an answer, this checkout against a base commit.

For each tool and each command line (`--help`, `--version`, an unknown
flag, a bad value), runs the tool as the README does (`python tools/X.py`,
`python deploy/X.py`) in this checkout and in a temporary `git worktree` of
the base commit (default: 1ddb0b4, where every tool imported TensorFlow
before parsing its flags), alternately, so machine load hits both alike.
Prints the median wall time of each, their ratio (base / this) and the load
average (`uptime`) before and after. The base has no --version: there it is
an unknown flag, answered after the same import.

Usage:
    python benchmarks/startup_time.py
    python benchmarks/startup_time.py --tools search,plot --repeats 5

Timings are wall-clock medians on whatever machine runs this; never assert
on them.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# tool -> (script, a bad value); the bad values fail on the flags alone.
TOOLS = {
    "search": ("tools/search.py", ["--sparsity=2", "--output_dir=unused"]),
    "sweep": ("tools/sweep.py", ["--parallel=0", "--output_dir=unused"]),
    "plot": ("tools/plot.py", ["--table=some", "--output_dir=unused"]),
    "export": ("deploy/export.py", ["--max_samples=0", "--output_dir=unused"]),
    "benchmark_tflite": ("deploy/benchmark_tflite.py", ["--runs=0", "--model_path=unused"]),
}
COMMAND_LINES = {"--help": ["--help"], "--version": ["--version"], "unknown flag": ["--no_such_flag=1"]}


def seconds(root, script, args):
    """Wall time of `python <script> <args>` run in checkout `root` (its exit status is not checked)."""
    env = dict(os.environ, PYTHONPATH=root)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, os.path.join(root, script), *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
    )
    return time.perf_counter() - start


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="1ddb0b4", help="commit to compare with")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated tools")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command line in each tree")
    args = parser.parse_args()
    tools = args.tools.split(",")
    print(f"before: {uptime()}")
    with tempfile.TemporaryDirectory() as temp:
        base = os.path.join(temp, "base")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "--quiet", base, args.base], check=True)
        try:
            print(f"{'tool':18} {'command line':14} {'base s':>8} {'this s':>8} {'base/this':>10}")
            for tool in tools:
                script, bad_value = TOOLS[tool]
                for label, command_line in {**COMMAND_LINES, "bad value": bad_value}.items():
                    times = {base: [], ROOT: []}
                    for _ in range(args.repeats):
                        for root in times:
                            times[root].append(seconds(root, script, command_line))
                    then, now = statistics.median(times[base]), statistics.median(times[ROOT])
                    print(f"{tool:18} {label:14} {then:8.2f} {now:8.2f} {then / now:9.1f}x", flush=True)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base], check=True)
    print(f"after:  {uptime()}")


if __name__ == "__main__":
    main()
