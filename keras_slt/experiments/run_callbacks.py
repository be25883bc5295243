"""Callbacks of a ticket search: mask statistics, the epoch log and a resumable checkpoint."""

import math
import os
import time

import keras

from keras_slt.experiments import run_files
from keras_slt.utils import files

# How to get past a damaged file of a run folder.
START_OVER = "delete the run folder, or use another output folder, to start the run over"


class MaskStatistics(keras.callbacks.Callback):
    """Adds the ticket's actual sparsity and threshold to the epoch logs.

    The values land in `History`, the progress bar and TensorBoard like any
    metric: `actual_sparsity`, and `threshold` under global selection (with
    layer-wise selection each layer has its own threshold; none is logged).
    Place it before the callbacks that should see them.

    Example:

    >>> import numpy as np
    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> statistics = MaskStatistics()
    >>> statistics.set_model(model)  # as fit does
    >>> logs = {"loss": 1.1}
    >>> statistics.on_epoch_end(0, logs)
    >>> sorted(logs), logs["actual_sparsity"]  # 108 of 216 weights pruned
    (['actual_sparsity', 'loss', 'threshold'], 0.5)
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        statistics = self.model.mask_statistics()
        logs["actual_sparsity"] = statistics["actual_sparsity"]
        if not isinstance(statistics["threshold"], list):
            logs["threshold"] = statistics["threshold"]


class EpochLog(keras.callbacks.CSVLogger):
    """`keras.callbacks.CSVLogger` counting epochs from 1.

    As the progress bar, `state.json` and `results.json` count them: row
    "epoch" 3 is the third epoch (CSVLogger writes Keras's 0-based index).

    Example:

    >>> import tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "history.csv")
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> _ = model.fit(np.zeros((2, 1)), np.zeros(2), epochs=2, callbacks=[EpochLog(path)], verbose=0)
    >>> [line.split(",")[0] for line in open(path).read().splitlines()]
    ['epoch', '1', '2']
    """

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class RunCheckpoint(keras.callbacks.Callback):
    """Keeps a training run's best model and makes the run resumable.

    At the end of every epoch it writes to `directory`:
    - `best.keras`, when the monitored metric improves on every earlier
      epoch (ties keep the earlier one);
    - `ckpt-<epochs done>.weights.h5`: the model's weights and the
      optimizer's state (iteration count included);
    - `state.json`: epochs done, that checkpoint's file name, the
      checkpoints this run wrote and has not deleted yet, the best epoch
      and value, every epoch's logs, the elapsed wall time and `metadata`.
      It is replaced atomically, last, so a run killed at any moment resumes
      from its last complete epoch; this run's older checkpoints are then
      deleted (other files, a user's own `ckpt-*.weights.h5` included, never).

    `restore` reads it back before `fit`; for a run with no epoch done it
    writes the state at once, before any other file of the run, so that a
    folder's run files without a `state.json` are never this run's. The
    run ends exactly as an
    uninterrupted one only if the data order depends on nothing but the
    seed and the epoch (see `keras_slt.experiments.runner`).

    Args:
        directory: where the files go (created if needed).
        metadata: JSON-serializable dict stored with the state (the run's
            configuration).
        monitor: the epoch log to maximize, "val_accuracy" by default.
        read_from: the directory whose stored run `saved_state` and
            `restore` read, `directory` by default. The workers of a
            multi-worker run all read the chief's, so that they resume
            from the same epoch even if one was stopped while writing.

    Example:

    >>> import tempfile
    >>> import numpy as np
    >>> import keras_slt
    >>> def compiled_model():
    ...     model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    ...     model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...                   metrics=["accuracy"])
    ...     return model
    >>> directory = tempfile.mkdtemp()
    >>> model, checkpoint = compiled_model(), RunCheckpoint(directory, metadata={"lr": 0.01})
    >>> checkpoint.restore(model)  # a fresh run: no epoch done
    0
    >>> x, y = np.ones((8, 4, 4, 1)), np.zeros(8)
    >>> _ = model.fit(x, y, epochs=2, validation_data=(x, y), callbacks=[checkpoint], verbose=0)
    >>> sorted(os.listdir(directory))
    ['best.keras', 'ckpt-2.weights.h5', 'state.json']
    >>> RunCheckpoint(directory, metadata={"lr": 0.01}).restore(compiled_model())  # resumes
    2
    """

    def __init__(self, directory, metadata=None, monitor="val_accuracy", read_from=None):
        super().__init__()
        self.directory = os.fspath(directory)
        self.read_from = os.fspath(read_from or directory)
        self.monitor = monitor
        self.state = {
            "epoch": 0,
            "weights": None,
            "checkpoints": [],
            "best_epoch": None,
            "best_value": None,
            "history": [],
            "elapsed_s": 0.0,
            "metadata": metadata or {},
        }
        self._started = time.monotonic()
        self._elapsed_before = 0.0

    @property
    def best_path(self):
        return os.path.join(self.directory, run_files.BEST_MODEL)

    def saved_state(self):
        """The state stored in `read_from`, or None if there is none.

        Raises:
            DamagedFileError: `state.json` is not JSON or not this
                checkpoint's state (fields, types, checkpoint name); the
                message names it and says how to start over.
        """
        path = os.path.join(self.read_from, run_files.STATE)
        if not os.path.exists(path):
            return None
        state = files.read_json(path, START_OVER)
        if isinstance(state, dict) and "checkpoints" not in state and "weights" in state:
            state["checkpoints"] = [state["weights"]]  # written before the list was kept
        if not self._well_formed(state):
            raise files.damaged(path, "not the state of a run", START_OVER)
        return state

    def _well_formed(self, state):
        """Whether a stored `state` has this checkpoint's fields, types and file name."""

        def number(value):
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        if not isinstance(state, dict) or set(state) != set(self.state):
            return False
        epoch, metadata = state["epoch"], state["metadata"]
        return (
            isinstance(epoch, int)
            and not isinstance(epoch, bool)
            and epoch >= 0
            # A plain file name: never a path out of the folder.
            and state["weights"] == (run_files.checkpoint(epoch) if epoch else None)
            and isinstance(state["checkpoints"], list)
            and (not epoch or state["weights"] in state["checkpoints"])
            and all(isinstance(name, str) and run_files.is_checkpoint(name) for name in state["checkpoints"])
            and isinstance(state["history"], list)
            and number(state["elapsed_s"])
            and (state["best_value"] is None or number(state["best_value"]))
            and isinstance(metadata, dict)
            and set(metadata) == set(self.state["metadata"])
            and all(isinstance(metadata[k], type(v)) for k, v in self.state["metadata"].items())
        )

    def restore(self, model):
        """Loads the stored state into `model` and returns the epochs done.

        The model must be compiled; its optimizer is built first so that its
        state can be loaded. Returns 0 when `read_from` holds no state, or
        one of no epoch done, and then writes this run's, of no epoch done.
        """
        state = self.saved_state()
        if state is None or state["epoch"] == 0:
            os.makedirs(self.directory, exist_ok=True)
            write_json(os.path.join(self.directory, run_files.STATE), self.state)
            return 0
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        path = os.path.join(self.read_from, state["weights"])
        try:
            model.load_weights(path)
        except Exception as error:  # h5py and Keras fail in many ways on a damaged file
            raise files.damaged(path, f"{type(error).__name__}: {error}", START_OVER) from None
        self.state = state
        self._elapsed_before = state["elapsed_s"]
        return state["epoch"]

    def elapsed(self):
        """Wall time of the run so far in seconds, earlier sessions included."""
        return self._elapsed_before + time.monotonic() - self._started

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        state = self.state
        state["history"].append({"epoch": epoch + 1, **jsonable(logs)})
        value = logs.get(self.monitor)
        improved = value is not None and (state["best_value"] is None or value > state["best_value"])
        if improved:
            state["best_epoch"], state["best_value"] = epoch + 1, float(value)
        weights = run_files.checkpoint(epoch + 1)
        older = [name for name in state["checkpoints"] if name != weights]
        state.update(epoch=epoch + 1, weights=weights, checkpoints=older + [weights], elapsed_s=self.elapsed())
        os.makedirs(self.directory, exist_ok=True)
        if improved:
            with files.atomic_path(self.best_path) as temp:
                self.model.save(temp)
        with files.atomic_path(os.path.join(self.directory, weights)) as temp:
            self.model.save_weights(temp)
        write_json(os.path.join(self.directory, run_files.STATE), state)
        if older:
            # Only the checkpoints this run wrote: a kill before they are gone
            # leaves them listed in state.json, and the next epoch deletes them;
            # once gone, they leave the list (a file of that name is no longer
            # this run's).
            for name in older:
                path = os.path.join(self.directory, name)
                if os.path.lexists(path):
                    os.remove(path)
            state["checkpoints"] = [weights]
            write_json(os.path.join(self.directory, run_files.STATE), state)


def jsonable(value):
    """`value` with NumPy scalars as Python numbers and inf/nan as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path, value):
    """Writes `value` as JSON to `path` atomically (see `keras_slt.utils.files`)."""
    files.write_json(path, jsonable(value))
