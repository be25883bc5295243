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
  gradient, as PyTorch and the paper do; see `keras_slt.optimizers`),
  applied to every trainable variable, scores included; or Adam with
  decoupled weight decay (PyTorch's AdamW), as the paper's GIN runs use.
- Graphs (cora, citeseer, pubmed, ogbn_arxiv) train full batch, one step
  per epoch (`keras_slt.experiments.full_batch`); `batch_size` and `augment`
  do not apply (`SearchConfig.validate` refuses them when given).
- Schedules: "cosine" decays the learning rate from `lr` towards 0 over the
  run; "step" multiplies it by 0.1 after 50% and again after 75% of the
  epochs. They step every batch (`schedule_unit="batch"`) or, as the
  official code's PyTorch schedulers, once per epoch ("epoch": epoch e of E
  trains at lr * (1 + cos(pi * e / E)) / 2).
- Output: TensorBoard logs in `<output_dir>/logs` (loss, accuracy, and for
  tickets the actual sparsity and the global threshold), `best.keras` (the
  best-validation model), a checkpoint per epoch and `results.json`.
- Resuming: running again with the same `output_dir` continues after the
  last complete epoch and ends exactly as an uninterrupted run would (see
  `keras_slt.experiments.callbacks.RunCheckpoint`). The flags must be the same, except
  those that do not change the result: `data_dir`, `output_dir`, `strategy`
  and `jit`.
- Distribution: "mirrored" (all local GPUs, or all logical CPUs when there
  is no GPU) and "multi_worker" (`TF_CONFIG`) build and compile the model in
  `strategy.scope()`; `batch_size` is the global batch. In a multi-worker run
  only the chief writes to `output_dir`; worker i writes to
  `output_dir/worker-i`. Every worker resumes from the chief's checkpoint,
  so `output_dir` must be on storage that all workers share. A worker that
  dies or stops answering ends the run on the others with a
  `WorkerLostError` (see BUILD.md, "Several devices and machines").
"""

import contextlib
import dataclasses
import math
import os
import re
import sys

import keras
import tensorflow as tf

from keras_slt import data as datasets
from keras_slt import run_files
from keras_slt.data import graphs
from keras_slt.experiments import full_batch, model_source
from keras_slt.experiments.callbacks import MaskStatistics, RunCheckpoint, jsonable, write_json
from keras_slt.experiments.config import (  # noqa: F401  (SearchConfig, ConfigError: the API)
    ADAM_EPSILON,
    RESUMABLE_CHANGES,
    STEP_MILESTONES,
    VALIDATION_FRACTION,
    ConfigError,
    SearchConfig,
)
from keras_slt.optimizers import CoupledSGD
from keras_slt.size import model_size


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
        ConfigError: for an invalid setting, missing data files, or a
            different run already in `output_dir`.
        WorkerLostError: a multi-worker run lost a worker.

    Example:

    >>> results = run_search(SearchConfig(model="fc", dataset="fashion_mnist",
    ...                                   epochs=3, output_dir="runs/fc"))
    >>> print(summary(results))
    """
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    if config.strategy != "multi_worker":
        return _run_search(config, callbacks, verbose)
    with _reporting_lost_workers():
        return _run_search(config, callbacks, verbose)


def _run_search(config, callbacks, verbose):
    prune_ratio, lock_ratio = config.validate()
    strategy = _strategy(config.strategy)
    checkpoint = RunCheckpoint(_worker_dir(config.output_dir, strategy),
                               metadata={"flags": dataclasses.asdict(config)},
                               read_from=config.output_dir)
    _check_same_run(config, checkpoint.saved_state())
    keras.utils.set_random_seed(config.seed % 2**32)
    full = config.dataset in graphs.NAMES
    try:
        if full:
            data = full_batch.load(config.dataset, config.data_dir)
        else:
            data = datasets.load(config.dataset, data_dir=config.data_dir,
                                 batch_size=config.batch_size, seed=config.seed,
                                 validation_fraction=VALIDATION_FRACTION, augment=config.augment,
                                 image_size=datasets.parse_image_size(config.image_size))
    except datasets.DataError as error:
        setting = "dataset" if datasets.is_custom(config.dataset) else "data_dir"
        raise ConfigError(f"{setting}: {error}") from None
    _check_splits(config, data)
    steps_per_epoch = data.steps_per_epoch if full else math.ceil(data.num_train / config.batch_size)

    with strategy.scope():
        model = _compiled_model(config, data, steps_per_epoch)
        initial_epoch = checkpoint.restore(model)

    if initial_epoch < config.epochs:
        own = data.callbacks() if full else []
        own += [MaskStatistics()] if config.algo == "ep" else []
        own.append(checkpoint)
        if _is_chief(strategy):
            own.append(keras.callbacks.TensorBoard(os.path.join(config.output_dir, run_files.LOGS_DIR),
                                                   write_graph=False))
        model.fit(
            _training_stream(data, initial_epoch, distributed=config.strategy != "default"),
            steps_per_epoch=steps_per_epoch,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            validation_data=data.validation,
            callbacks=own + list(callbacks),
            shuffle=False,  # data.train is already shuffled, per epoch
            verbose=verbose,
        )
    # The chief's: a worker stopped while writing may hold an older one.
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
    write_json(os.path.join(checkpoint.directory, run_files.RESULTS), results)
    return results


class WorkerLostError(RuntimeError):
    """A multi-worker run lost contact with a worker and stopped.

    The message names the lost worker(s). Starting the same command on every
    worker again resumes the run from its last complete epoch.
    """


def summary(results):
    """One line: what ran, its test accuracy and its size.

    Example:

    >>> summary(results)
    'fc on fashion_mnist, ep (s=0.5, p=0.25, r=0.25): test accuracy 84.10% ...'
    """
    flags = results["flags"]
    bits = results["model_size_bits"]
    if flags["algo"] == "ep":
        what = (f"ep (s={flags['sparsity']:g}, p={results['prune_ratio']:g}, "
                f"r={results['lock_ratio']:g})")
        size = (f"{results['compression']:.1f}x smaller than dense float32, "
                f"actual sparsity {results['actual_sparsity']:.4f}")
    else:
        what, size = "dense weights", "float32"
    return (
        f"{flags['model']} on {flags['dataset']}, {what}: "
        f"test accuracy {100 * results['test_accuracy']:.2f}% "
        f"(best epoch {results['best_epoch']}, val {100 * results['val_accuracy']:.2f}%), "
        f"size {bits:,} bits ({bits / 8 / 2**20:.3f} MiB, {size}), "
        f"{results['wall_time_s']:.0f} s"
    )


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
    model.compile(
        optimizer=_optimizer(config, _learning_rate(config, steps_per_epoch)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not model_source.ends_in_softmax(model)),
        # Weighted: graph runs mark their split's nodes by sample weight (image
        # runs have none, so this is plain accuracy for them).
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=config.jit,
    )
    return model


def _optimizer(config, learning_rate):
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, epsilon=ADAM_EPSILON,
                                     weight_decay=config.weight_decay or None)
    return CoupledSGD(learning_rate, momentum=config.momentum,
                      coupled_weight_decay=config.weight_decay)


def _build_model(config, data):
    try:
        return model_source.build(config, data.input_shape, data.num_classes)
    except ValueError as error:
        raise ConfigError(f"model {config.model}: {error}") from None


def _learning_rate(config, steps_per_epoch):
    if config.schedule_unit == "epoch":
        return _per_epoch(_epoch_rates(config), steps_per_epoch)
    total = config.epochs * steps_per_epoch
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=total)
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [int(total * fraction) for fraction in STEP_MILESTONES],
        [config.lr * 0.1**i for i in range(len(STEP_MILESTONES) + 1)],
    )


def _epoch_rates(config):
    """The learning rate of each epoch under a once-per-epoch schedule."""
    if config.schedule == "cosine":  # PyTorch's CosineAnnealingLR(T_max=epochs)
        return [0.5 * config.lr * (1 + math.cos(math.pi * epoch / config.epochs))
                for epoch in range(config.epochs)]
    milestones = [int(config.epochs * fraction) for fraction in STEP_MILESTONES]
    return [config.lr * 0.1 ** sum(epoch >= m for m in milestones)
            for epoch in range(config.epochs)]


def _per_epoch(rates, steps_per_epoch):
    """A schedule holding rates[e] for every batch of epoch e."""
    boundaries, values = [], [rates[0]]
    for epoch, rate in enumerate(rates[1:], start=1):
        if rate != values[-1]:
            # The optimizer's step counter is 0 in the first batch; the
            # decay's value i + 1 starts after boundary i.
            boundaries.append(epoch * steps_per_epoch - 1)
            values.append(rate)
    if not boundaries:
        return rates[0]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def _training_stream(data, initial_epoch, distributed):
    """All remaining training epochs as one stream, epoch e in its own order.

    `data.train` draws a new order (and new augmentation) each time an
    iterator is made from it, the i-th iterator always the same one for a
    given seed; making an iterator reads no data. Epoch e uses iterator
    e + 1: under a tf.distribute strategy Keras's `fit` first makes one
    iterator to build the model, without one it makes none, so we make that
    one ourselves; a resumed run then makes, and drops, one per epoch done.
    Repeating the result inside `fit`'s single iterator continues the count,
    so every epoch gets the same order in a resumed, an uninterrupted, a
    one-device and a mirrored run.
    """
    for _ in range(initial_epoch + (0 if distributed else 1)):
        iter(data.train)
    return data.train.repeat()


def _size_results(model, algo):
    if algo == "dense":
        bits = 32 * model.count_params()
        return {"model_size_bits": bits, "dense_float32_bits": bits,
                "entropy_model_bits": bits, "compression": 1.0,
                "actual_sparsity": 0.0, "layer_sparsity": {}, "threshold": None}
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


def _check_same_run(config, state):
    if state is None:
        return
    stored = state["metadata"]["flags"]
    for field in dataclasses.fields(config):
        name, value = field.name, getattr(config, field.name)
        # A setting added since the run was stored ran with its default.
        before = stored.get(name, field.default)
        if name not in RESUMABLE_CHANGES and before != value:
            raise ConfigError(
                f"output_dir {config.output_dir} holds a run with {name}={before!r}, "
                f"not {value!r}; use the same flags to resume it, or another output_dir"
            )


def _strategy(name):
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        return _MultiWorkerStrategy()
    return tf.distribute.get_strategy()


class _MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy, with two gaps to Keras 3 and keras-slt closed.

    - Keras 3's `fit` reduces a whole (x, y) batch at once to learn its
      shapes, and each step's scalar logs along axis 0
      (keras-team/keras#20585); the parent reduces single values, along an
      axis they have.
    - The strategy gives each new variable worker 0's initial value through
      a collective broadcast, which carries no int8 (the layers' freeze
      patterns). In `scope()` such a value is widened (to int64, or float32)
      above the strategy's variable creator and narrowed back below it: the
      broadcast moves the wide value, the variable keeps its dtype.
    """

    def reduce(self, reduce_op, value, axis):
        parent = super()

        def reduce_one(v):
            rank = self.experimental_local_results(v)[0].shape.rank
            return parent.reduce(reduce_op, v, None if rank == 0 else axis)

        return tf.nest.map_structure(reduce_one, value)

    @contextlib.contextmanager
    def scope(self):
        narrowing = []  # the dtype of the variable being created, while it is widened

        def widen(next_creator, **kwargs):
            dtype = kwargs.get("dtype")  # None: the initial value's (Keras always gives one)
            if dtype is None or tf.as_dtype(dtype) in _BROADCAST_DTYPES:
                return next_creator(**kwargs)
            dtype = tf.as_dtype(dtype)
            wide = tf.int64 if dtype.is_integer else tf.float32
            narrowing.append(dtype)
            try:
                return next_creator(**dict(kwargs, dtype=wide, initial_value=_cast(kwargs["initial_value"], wide)))
            finally:
                narrowing.pop()

        def narrow(next_creator, **kwargs):
            if narrowing:
                kwargs.update(dtype=narrowing[-1], initial_value=_cast(kwargs["initial_value"], narrowing[-1]))
            return next_creator(**kwargs)

        with tf.variable_creator_scope(narrow), super().scope(), tf.variable_creator_scope(widen):
            yield


# The dtypes a collective broadcast carries (CollectiveBcastSend's type list).
_BROADCAST_DTYPES = (tf.bool, tf.float16, tf.float32, tf.float64, tf.int32, tf.int64)


def _cast(value, dtype):
    """A variable's initial value (a value or a function making it) cast to `dtype`, lazily."""
    return lambda: tf.cast(value() if callable(value) else value, dtype)


@contextlib.contextmanager
def _reporting_lost_workers():
    """Turns the UnavailableError of a lost worker into a `WorkerLostError`.

    In a multi-worker run TensorFlow's coordination service notices a worker
    that stops sending heartbeats (for 10 s by default) and aborts the
    others' collectives with an UnavailableError naming it, rather than
    leaving them waiting for it forever.
    """
    try:
        yield
    except tf.errors.UnavailableError as error:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        cluster = resolver.cluster_spec().as_dict()
        tasks = re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", error.message)
        lost = sorted({(job, int(task)) for job, task in tasks if job in cluster}
                      - {(resolver.task_type, resolver.task_id)})
        names = ", ".join(f"{job} {task} ({cluster[job][task]})" for job, task in lost)
        reason = re.sub(r"\{\{.*?\}\}", "", error.message).strip().splitlines()[0].rstrip(":")
        raise WorkerLostError(
            f"lost {names or 'contact with another worker'}: {reason}; start the same command "
            "on every worker to resume the run from its last complete epoch") from None


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    if resolver.task_type == "chief":
        return True
    return (resolver.task_type == "worker" and resolver.task_id == 0
            and "chief" not in resolver.cluster_spec().as_dict())


def _worker_dir(output_dir, strategy):
    if _is_chief(strategy):
        return output_dir
    return os.path.join(output_dir, run_files.worker_dir(strategy.cluster_resolver.task_id))

