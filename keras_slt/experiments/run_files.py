"""The names of the files in a run folder (`--output_dir` of a search).

One place for them: the search runner and its checkpoint write them, the
sweep collects them, the export tool reads them.

- `results.json`: the run's results and flags, written when it ends;
- `best.keras`: the best-validation model;
- `state.json` and `ckpt-<epochs done>.weights.h5`: the resumable state;
- `logs/`: TensorBoard logs (where TensorFlow is installed) and
  `logs/history.csv`, every epoch's metrics;
- `.lock`: the lock a running tool holds on the folder (`keras_slt.experiments.folder_lock`);
- `worker-<i>/`: a non-chief worker's own folder in a multi-worker run.

A run starts only in a folder without another run's files (`run_files_in`),
or resumes the run whose `state.json` the folder holds (written before any
other file of the run); starting over removes them first (`remove_run_files`).
"""

import glob
import math
import os
import re
import shlex

from keras_slt.utils import files

RESULTS = "results.json"
BEST_MODEL = "best.keras"
STATE = "state.json"
LOGS_DIR = "logs"
HISTORY_CSV = "history.csv"  # inside LOGS_DIR
LOCK = ".lock"
CHECKPOINT_GLOB = "ckpt-*.weights.h5"
_CHECKPOINT = re.compile(r"ckpt-[0-9]+\.weights\.h5")
TENSORBOARD_PREFIX = "events.out.tfevents."
# Model files an export looks for in a run folder, best first.
MODEL_FILES = (BEST_MODEL, "model.keras")


# The values of results.json that tables and plots read, and what each must be.
_FRACTIONS = ("test_accuracy", "val_accuracy", "actual_sparsity", "prune_ratio", "lock_ratio")
_SIZES = ("model_size_bits", "dense_float32_bits")  # entropy_model_bits is a bound, not whole
_REQUIRED = ("test_accuracy", "model_size_bits")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _results_problem(results):
    """What is wrong with the values of a run's results dict, or None."""
    for key in _REQUIRED:
        if key not in results:
            return f"no {key}"
    for key in _FRACTIONS:
        value = results.get(key)
        if value is not None and not (_is_number(value) and 0 <= value <= 1):
            return f"{key} {value!r} is not a fraction in [0, 1]"
    for key in _SIZES:
        value = results.get(key)
        if value is not None and not (_is_number(value) and value >= 0 and float(value).is_integer()):
            return f"{key} {value!r} is not a whole number of bits"
    for key in ("entropy_model_bits", "wall_time_s", "compression"):
        value = results.get(key)
        if value is not None and not (_is_number(value) and value >= 0):
            return f"{key} {value!r} is not a non-negative number"
    seed = results.get("seed")
    if seed is not None and not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        return f"seed {seed!r} is not a non-negative integer"
    layers = results.get("layer_sparsity", {})
    if not (isinstance(layers, dict) and all(_is_number(v) and 0 <= v <= 1 for v in layers.values())):
        return "layer_sparsity is not fractions in [0, 1] by layer"
    return None


def checked_results(path, results, remedy=None):
    """`results`, read from the results file `path`, once its values are what a run writes.

    Accuracies and sparsities are fractions in [0, 1], sizes whole numbers
    of bits, times non-negative: a hand-edited "95%", 7.5 or -3 never
    reaches a table or a plot.

    Raises:
        DamagedFileError: naming `path` and the value; `remedy` ends the message.

    Example:

    >>> checked_results("run/results.json", {"test_accuracy": 7.5, "model_size_bits": 100})
    Traceback (most recent call last):
    ...
    keras_slt.utils.files.DamagedFileError: run/results.json is damaged (test_accuracy 7.5 is not a fraction in [0, 1])
    """
    problem = _results_problem(results)
    if problem is not None:
        raise files.damaged(path, problem, remedy)
    return results


def checkpoint(epochs_done):
    """The weights checkpoint written after `epochs_done` epochs."""
    return f"ckpt-{epochs_done}.weights.h5"


def is_checkpoint(name):
    """Whether the file name `name` is one `checkpoint` gives."""
    return bool(_CHECKPOINT.fullmatch(name))


def run_files_in(folder):
    """The paths, relative to `folder`, of the run files it holds (the lock aside).

    They are the files a run writes: results, best model, state,
    checkpoints, `logs/history.csv` and TensorBoard event files under `logs/`
    (links not followed).

    Example:

    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> for name in (RESULTS, "ckpt-3.weights.h5", "notes.txt", LOCK):
    ...     open(os.path.join(run, name), "w").close()
    >>> run_files_in(run)
    ['ckpt-3.weights.h5', 'results.json']
    """
    if not os.path.isdir(folder):
        return []
    found = [name for name in os.listdir(folder) if name in (RESULTS, BEST_MODEL, STATE) or is_checkpoint(name)]
    logs = os.path.join(folder, LOGS_DIR)
    if os.path.isdir(logs) and not os.path.islink(logs):
        for root, _, names in os.walk(logs):  # links to folders are not followed
            found += [
                os.path.relpath(os.path.join(root, name), folder)
                for name in names
                if name.startswith(TENSORBOARD_PREFIX) or (root == logs and name == HISTORY_CSV)
            ]
    return sorted(found)


def remove_run_files(folder):
    """Removes the run files `folder` holds (`run_files_in`): a run starting over.

    Returns:
        The removed paths, relative to `folder`.
    """
    found = run_files_in(folder)
    for name in found:
        os.remove(os.path.join(folder, name))  # a link itself, never its target
    return found


def worker_dir(task_id):
    """The sub-folder of non-chief worker `task_id`."""
    return f"worker-{task_id}"


def written(output_dir):
    """Lines naming the files a run left in `output_dir`, for a command line to print.

    Example:

    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> for name in (RESULTS, BEST_MODEL):
    ...     open(os.path.join(run, name), "w").close()
    >>> [line.replace(run, "RUN") for line in written(run)]
    ['results: RUN/results.json', 'best model: RUN/best.keras']
    """
    lines = []
    for label, name in (("results", RESULTS), ("best model", BEST_MODEL)):
        path = os.path.join(output_dir, name)
        if os.path.isfile(path):
            lines.append(f"{label}: {path}")
    logs = os.path.join(output_dir, LOGS_DIR)
    if os.path.isfile(os.path.join(logs, HISTORY_CSV)):
        lines.append(f"epoch log: {os.path.join(logs, HISTORY_CSV)}")
    if glob.glob(os.path.join(logs, "**", "events.out.tfevents.*"), recursive=True):
        lines.append(f"TensorBoard logs: {logs} (view them: tensorboard --logdir={shlex.quote(logs)})")
    return lines
