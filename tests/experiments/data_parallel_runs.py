"""Runs (or resumes) tiny searches in one process: `python data_parallel_runs.py JSON`.

Run by tests/experiments/test_data_parallel.py with KERAS_BACKEND=jax and a virtual
device count in XLA_FLAGS. JSON is a list of runs, each the keyword
arguments of `conftest.tiny_config` plus "stop_after" (stop after that
many epochs, as a kill would; 0: run to the end). Prints each run's
history as JSON, one line per run.
"""

import json
import os
import sys

# The tests' helpers, as pytest finds them (pyproject.toml's `pythonpath`).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


from helpers import StopAfterEpoch, tiny_config

from keras_slt.experiments import runner  # noqa: E402


def main(runs):
    for run in runs:
        stop_after = run.pop("stop_after", 0)
        config = tiny_config(run.pop("data_dir"), run.pop("output_dir"), **run)
        try:
            results = runner.run_search(config, callbacks=[StopAfterEpoch(stop_after)] if stop_after else [], verbose=0)
        except KeyboardInterrupt:
            print(json.dumps(None))
        else:
            print(json.dumps(results["history"]))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
