"""One ticket search (or weight-training baseline) run: `run_search(config)`.

A run loads a dataset (`keras_slt.data`, 80/20 train/validation split),
builds the network `--model` names (`keras_slt.experiments.model_source`),
trains it with the paper's recipe, keeps the epoch of best validation
accuracy, evaluates that epoch on the test set and writes
`<output_dir>/results.json`.

- Algorithms: "ep" searches a ticket with Edge-Popup (random weights, learned
  mask, optional frozen part); "dense" trains the same architecture's
  weights (no bias, non-affine BatchNorm, Kaiming-uniform initial weights, as
  the official code's baselines), whose size is 32 bits per parameter.
- Optimizer: SGD with momentum and *coupled* weight decay (an L2 term in the
  gradient, as PyTorch and the paper do; see `keras_slt.search.optimizers`),
  applied to every trainable variable, scores included; or Adam with
  decoupled weight decay (PyTorch's AdamW), as the paper's GIN runs use.
- Graphs (cora, citeseer, pubmed, ogbn_arxiv) train full batch, one step
  per epoch (`keras_slt.experiments.full_batch`); `batch_size` and `augment`
  do not apply (`SearchConfig.validate` refuses them when given).
- Schedules: "cosine" or "step", stepped every batch or once per epoch
  (`keras_slt.experiments.schedules`).
- Output: `<output_dir>/logs/history.csv` (every epoch's loss, accuracy,
  and for tickets the actual sparsity and the global threshold) and, where
  TensorFlow is installed, TensorBoard logs of the same in `logs/`;
  `best.keras` (the best-validation model), a checkpoint per epoch and
  `results.json`.
- Resuming: running again with the same `output_dir` continues after the
  last complete epoch and ends exactly as an uninterrupted run would (see
  `keras_slt.experiments.run_callbacks.RunCheckpoint`). The flags must be the same, except
  those that do not change the result (`config.RESUMABLE_CHANGES`):
  `data_dir`, `output_dir`, `strategy`, `overwrite` and the process
  settings. A folder holding another run's files (`results.json`,
  `best.keras`, checkpoints, `logs/history.csv` without this run's
  `state.json`) is refused; `overwrite` deletes them and starts over. A
  run stopped by Ctrl-C raises `RunInterrupted`, saying where it stopped;
  its last complete epoch is kept. Running a finished run again returns its
  stored results and rewrites nothing.
- Distribution: "mirrored" (all local GPUs, or all logical CPUs when there
  is no GPU) and "multi_worker" (`TF_CONFIG`) build and compile the model in
  `strategy.scope()`; `batch_size` is the global batch. In a multi-worker run
  only the chief writes to `output_dir`; worker i writes to
  `output_dir/worker-i`. Every worker resumes from the chief's checkpoint,
  so `output_dir` must be on storage that all workers share. A worker that
  dies or stops answering ends the run on the others with a
  `WorkerLostError` (see BUILD.md, "Several devices and machines").
  On JAX, "data_parallel" (`keras_slt.experiments.jax_parallel`) splits
  every batch over all devices of one or several processes; process 0
  writes `output_dir`, process i `output_dir/worker-i`, as above, and each
  process reads its own rows of every batch (the NumPy pipeline's, or
  ImageNet's `tf.data` one, which decodes only those rows).
"""

import contextlib
import dataclasses
import importlib.util
import os
import sys

import keras

from keras_slt import data as datasets
from keras_slt.data import custom, graphs
from keras_slt.experiments import folder_lock, full_batch, model_source, run_files, schedules, strategies, sweep_table
from keras_slt.experiments.config import (  # noqa: F401  (SearchConfig, ConfigError: the API)
    ADAM_EPSILON,
    VALIDATION_FRACTION,
    ConfigError,
    SearchConfig,
)
from keras_slt.experiments.run_callbacks import EpochLog, MaskStatistics, RunCheckpoint, jsonable
from keras_slt.experiments.strategies import WorkerLostError  # noqa: F401  (the API)
from keras_slt.experiments.summary import report, summary  # noqa: F401  (what a run ends with: search.report)
from keras_slt.search.callbacks import NonFiniteTrainingError, StopOnNonFinite
from keras_slt.search.optimizers import CoupledSGD
from keras_slt.ticket.size import model_size
from keras_slt.utils import files


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C; the message says where, and how to resume it."""


def run_search(config, callbacks=(), verbose=None):
    """Runs (or resumes) one search and returns its results.

    Seeds Keras's global random generators (`keras.utils.set_random_seed`)
    with `config.seed`.

    Args:
        config: a `SearchConfig`.
        callbacks: extra Keras callbacks, called after the run's own.
        verbose: `fit`'s verbosity; None is a live progress bar when
            standard output is a terminal and one line per epoch (Keras's
            verbose=2) when it is a file or a pipe, which would otherwise
            collect every redraw of the bar.

    Returns:
        The dict written to `<output_dir>/results.json`: test_accuracy (at
        the best validation epoch, 0..1), test_loss, val_accuracy,
        best_epoch, epochs_done, model_size_bits, dense_float32_bits,
        entropy_model_bits, compression, actual_sparsity, layer_sparsity,
        threshold, prune_ratio, lock_ratio, size (the full
        `keras_slt.ModelSize`, tickets only), num_train, num_validation,
        num_test, history (each epoch's logs), flags (the config), seed and
        wall_time_s (all sessions of the run together).

    Raises:
        ConfigError: for an invalid setting, missing data files, an
            `output_dir` that cannot be written, or a different run
            already in `output_dir`.
        FolderInUseError: another process is running in `output_dir`
            (`keras_slt.experiments.folder_lock`; held for the whole run).
        NonFiniteTrainingError: the loss or a variable became NaN or infinite;
            `output_dir` keeps the checkpoint of the last complete epoch.
        DamagedFileError: a stored state or checkpoint does not read back.
        WorkerLostError: a multi-worker run lost a worker.
        RunInterrupted: Ctrl-C stopped the run; the run folder keeps its
            last complete epoch.

    Example:

    >>> import tempfile
    >>> import PIL.Image
    >>> data_dir = tempfile.mkdtemp()
    >>> for name, color in (("dark", "black"), ("light", "white")):
    ...     os.mkdir(os.path.join(data_dir, name))
    ...     for i in range(10):
    ...         PIL.Image.new("L", (8, 8), color).save(os.path.join(data_dir, name, f"{i}.png"))
    >>> output_dir = tempfile.mkdtemp()
    >>> results = run_search(SearchConfig(
    ...     model="fc", width=16, dataset="image_folder", data_dir=data_dir, epochs=2,
    ...     batch_size=4, output_dir=output_dir), verbose=0)
    >>> print(summary(results))
    fc on image_folder, ep (sparsity s=0.5, prune ratio p=0, lock ratio r=0): test accuracy ...% (best epoch ..., val ...%), size ... bits (...), ... s
    >>> sorted(os.listdir(output_dir))
    ['.lock', 'best.keras', 'ckpt-2.weights.h5', 'logs', 'results.json', 'state.json']
    """
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    with strategies.reporting_lost_workers(config.strategy):
        return _run_search(config, callbacks, verbose)


def _run_search(config, callbacks, verbose):
    ratios = config.validate()
    data_parallel = config.strategy == "data_parallel"
    try:
        strategy = strategies.strategy(
            config.strategy, config.processes() if data_parallel else None, config.coordinator_timeout
        )
        if data_parallel:
            strategy.check_batch_size(config.batch_size)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    directory = strategies.worker_dir(config.output_dir, strategy)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(folder_lock.hold(directory))
        except OSError as error:  # checked before any data is loaded
            raise ConfigError(f"output_dir {directory}: cannot write there ({error.strerror or error})") from None
        try:
            return _search(config, ratios, strategy, directory, callbacks, verbose)
        except KeyboardInterrupt:
            raise _interrupted(config, directory) from None


def _checkpoint(config, directory):
    """The run's `RunCheckpoint`, writing to `directory` (the chief's folder, or a worker's)."""
    return RunCheckpoint(directory, metadata={"flags": dataclasses.asdict(config)}, read_from=config.output_dir)


def _interrupted(config, directory):
    """The `RunInterrupted` of a run stopped by Ctrl-C, from what its folder keeps."""
    state = _checkpoint(config, directory).saved_state()
    done = state["epoch"] if state else 0
    where = (
        f"at epoch {done + 1} of {config.epochs}"
        if done < config.epochs
        else f"after its {config.epochs} epochs, before its results were written"
    )
    return RunInterrupted(f"interrupted {where}; rerun the same command to resume")


def _finished(checkpoint, state, epochs):
    """The stored results of a finished run, or None (not finished, or results.json damaged)."""
    path = os.path.join(checkpoint.directory, run_files.RESULTS)
    if state is None or state["epoch"] < epochs or not os.path.isfile(path):
        return None
    try:
        return sweep_table.read_results(path)
    except files.DamagedFileError:
        return None  # evaluated and written again below


def _search(config, ratios, strategy, directory, callbacks, verbose):
    """`run_search`'s work, in `directory`, whose lock it holds."""
    prune_ratio, lock_ratio = ratios
    checkpoint = _checkpoint(config, directory)
    if config.overwrite:
        run_files.remove_run_files(directory)
    state = checkpoint.saved_state()
    _check_same_run(config, state, directory)
    finished = _finished(checkpoint, state, config.epochs)
    if finished is not None:
        if verbose:
            print(
                f"{config.output_dir} already finished its {config.epochs} epochs; results: "
                f"{os.path.join(checkpoint.directory, run_files.RESULTS)}"
            )
        return finished
    if state is not None and verbose:
        done = state["epoch"]
        print(
            f"resuming {config.output_dir} at epoch {done + 1} of {config.epochs}"
            if done < config.epochs
            else f"resuming {config.output_dir}: its {config.epochs} epochs are done, evaluating"
        )
    keras.utils.set_random_seed(config.seed % 2**32)
    full = config.dataset in graphs.NAMES
    try:
        if full:
            data = datasets.load(config.dataset, data_dir=config.data_dir)
        else:
            data = datasets.load(
                config.dataset,
                data_dir=config.data_dir,
                batch_size=config.batch_size,
                seed=config.seed,
                validation_fraction=VALIDATION_FRACTION,
                augment=config.augment,
                image_size=custom.parse_image_size(config.image_size),
                shard=getattr(strategy, "shard", None),
                image_formats=config.image_formats,
            )
    except datasets.DataError as error:
        setting = "dataset" if custom.is_custom(config.dataset) else "data_dir"
        raise ConfigError(f"{setting}: {error}") from None
    _check_splits(config, data)
    if not full and config.batch_size > data.num_train:
        raise ConfigError(f"batch_size {config.batch_size} is larger than the {data.num_train} training examples")
    steps_per_epoch = data.steps_per_epoch

    with strategies.scope(strategy):
        model = _compiled_model(config, data, steps_per_epoch)
        initial_epoch = checkpoint.restore(model)

    if initial_epoch < config.epochs:
        own = [full_batch.TestAccuracy(data.test)] if full else []
        own += [StopOnNonFinite()]  # before the checkpoint: a NaN epoch is never saved
        own += [MaskStatistics()] if config.algo == "ep" else []
        own.append(checkpoint)
        if strategies.is_chief(strategy):
            own += _logs(os.path.join(config.output_dir, run_files.LOGS_DIR))
        try:
            model.fit(
                # Epoch e has its own order and augmentation, whichever epoch
                # the stream starts at (keras_slt.data.batching.plan): a resumed run
                # sees the data of an uninterrupted one.
                data.train_from(initial_epoch),
                steps_per_epoch=steps_per_epoch,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                validation_data=data.validation,
                callbacks=own + list(callbacks),
                shuffle=False,  # the stream is already shuffled, per epoch
                verbose=verbose,
            )
        except NonFiniteTrainingError as error:
            raise NonFiniteTrainingError(
                f"{error}; {directory} keeps the checkpoint of the last complete epoch ({checkpoint.state['epoch']})"
            ) from None
    # The chief's: a worker stopped while writing may hold an older one.
    strategies.wait_for_chief(strategy)
    model.load_weights(os.path.join(config.output_dir, run_files.BEST_MODEL))
    test = model.evaluate(data.test, return_dict=True, verbose=0)
    state = checkpoint.state
    results = {
        "test_accuracy": float(test["accuracy"]),
        "test_loss": float(test["loss"]),
        "val_accuracy": state["best_value"],
        "best_epoch": state["best_epoch"],
        "epochs_done": state["epoch"],
        **_size_results(model, config.algo),
        "prune_ratio": prune_ratio,
        "lock_ratio": lock_ratio,
        "num_train": data.num_train,
        "num_validation": data.num_validation,
        "num_test": data.num_test,
        "history": state["history"],
        "flags": dataclasses.asdict(config),
        "seed": config.seed,
        "wall_time_s": checkpoint.elapsed(),
    }
    results = jsonable(results)
    files.write_json(os.path.join(checkpoint.directory, run_files.RESULTS), results)
    return results


def _logs(folder):
    """The run's log callbacks: TensorBoard where TensorFlow is installed, and a CSV of every epoch."""
    os.makedirs(folder, exist_ok=True)
    history = os.path.join(folder, run_files.HISTORY_CSV)
    # Keras reads the first line of the log it appends to: a pipe would block it.
    files.check_regular(history, files.MAX_TEXT_BYTES, ConfigError)
    logs = [EpochLog(history, append=True)]
    # Keras's TensorBoard callback writes through tf.summary.
    if importlib.util.find_spec("tensorflow"):
        logs.append(keras.callbacks.TensorBoard(folder, write_graph=False))
    return logs


def _check_splits(config, data):
    """Raises ConfigError naming the first empty split: a run needs all three.

    A tiny image folder can leave one empty (the validation split takes
    `VALIDATION_FRACTION` of the training images), which Keras would only
    report as a failure of its learning-rate schedule or its metrics.
    """
    counts = {"training": data.num_train, "validation": data.num_validation, "test": data.num_test}
    for split, count in counts.items():
        if not count:
            raise ConfigError(
                f"dataset {config.dataset}: its {split} split is empty ("
                + ", ".join(f"{n} {name}" for name, n in counts.items())
                + f" examples; validation is {VALIDATION_FRACTION:.0%} of the training set); "
                "every split needs at least one example"
            )


def _compiled_model(config, data, steps_per_epoch):
    """The run's model, compiled with its optimizer, loss and metrics."""
    policy = keras.config.dtype_policy()
    if config.mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        model = _build_model(config, data)
    finally:
        keras.config.set_dtype_policy(policy)
    learning_rate = schedules.learning_rate(
        config.lr, config.schedule, config.schedule_unit, config.epochs, steps_per_epoch
    )
    model.compile(
        optimizer=_optimizer(config, learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not model_source.ends_in_softmax(model)),
        # Weighted: graph runs mark their split's nodes by sample weight (image
        # runs have none, so this is plain accuracy for them).
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=config.jit,
    )
    return model


def _optimizer(config, learning_rate):
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, epsilon=ADAM_EPSILON, weight_decay=config.weight_decay or None)
    return CoupledSGD(learning_rate, momentum=config.momentum, coupled_weight_decay=config.weight_decay)


def _build_model(config, data):
    try:
        return model_source.build(config, data.input_shape, data.num_classes)
    except ValueError as error:
        raise ConfigError(f"model {config.model}: {error}") from None


def _size_results(model, algo):
    if algo == "dense":
        bits = 32 * model.count_params()
        return {
            "model_size_bits": bits,
            "dense_float32_bits": bits,
            "entropy_model_bits": bits,
            "compression": 1.0,
            "actual_sparsity": 0.0,
            "layer_sparsity": {},
            "threshold": None,
        }
    size = model_size(model)
    statistics = model.mask_statistics()
    return {
        "model_size_bits": size.model_size_bits,
        "dense_float32_bits": size.dense_float32_bits,
        "entropy_model_bits": size.entropy_model_bits,
        "compression": size.compression,
        "actual_sparsity": statistics["actual_sparsity"],
        "layer_sparsity": statistics["layer_sparsity"],
        "threshold": statistics["threshold"],
        "size": size.as_dict(),
    }


def _check_same_run(config, state, directory):
    found = run_files.run_files_in(directory) if state is None else []
    if found:
        listed = ", ".join(" ".join(name.split()) for name in found[:3]) + (
            f" and {len(found) - 3} more" if len(found) > 3 else ""
        )
        raise ConfigError(
            f"output_dir {directory} holds another run's files ({listed}) and no "
            f"{run_files.STATE} to resume from; use another output_dir, or overwrite to delete them and start over"
        )
    change = None if state is None else config.change_from(state["metadata"]["flags"])
    if change is not None:
        name, before, value = change
        raise ConfigError(
            f"output_dir {config.output_dir} holds a run with {name}={before!r}, "
            f"not {value!r}; use the same flags to resume it, another output_dir, or overwrite to start over"
        )
