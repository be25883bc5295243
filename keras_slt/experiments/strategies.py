"""Where a run's steps execute: one device by default, or several.

"mirrored" (all local GPUs, or all logical CPUs when there is no GPU) and
"multi_worker" (`TF_CONFIG`) are tf.distribute strategies and need the
TensorFlow backend (`keras_slt.experiments.tf_strategies`);
"data_parallel" (every device of one or several processes, through
`keras.distribution`) needs the JAX backend
(`keras_slt.experiments.jax_parallel`); the default strategy runs on any
backend. In a multi-worker or several-process run only the chief (process
0) writes to the run folder; worker i writes to its `worker-i` sub-folder.
"""

import contextlib
import os

from keras_slt.experiments import run_files

STRATEGIES = ("default", "mirrored", "multi_worker", "data_parallel")
# The backend each strategy other than "default" needs.
BACKENDS = {"mirrored": "tensorflow", "multi_worker": "tensorflow", "data_parallel": "jax"}


class WorkerLostError(RuntimeError):
    """A multi-worker run lost contact with a worker and stopped.

    The message names the lost worker(s). Starting the same command on every
    worker again resumes the run from its last complete epoch.
    """


def strategy(name, processes=None, timeout_s=None):
    """The strategy of `--strategy=name`.

    Args:
        name: one of `STRATEGIES`.
        processes: for "data_parallel", the run's
            `keras_slt.experiments.processes.Processes` (default: one process).
        timeout_s: for "data_parallel" over several processes, how long to
            wait for the coordinator (default `processes.DEFAULT_TIMEOUT_S`).

    Returns:
        `None` for "default", a `tf.distribute` strategy for "mirrored" and
        "multi_worker", a `jax_parallel.DataParallel` for "data_parallel".

    Raises:
        ValueError: a strategy on a backend it does not run on, a
            coordinator that does not answer, or for "multi_worker" a
            missing or malformed `TF_CONFIG` (`tf_strategies.strategy`).
        WorkerLostError: a worker of `TF_CONFIG` did not start in time.

    Example:

    >>> strategy("default") is None
    True
    """
    if name == "default":
        return None
    # Imported here: the command-line tools check --strategy, and import
    # `WorkerLostError`, before Keras is loaded.
    import keras

    backend = keras.backend.backend()
    if backend != BACKENDS[name]:
        runs = ", ".join(["default"] + [other for other, needs in BACKENDS.items() if needs == backend])
        setup = (
            "pip install tensorflow, KERAS_BACKEND=tensorflow"
            if BACKENDS[name] == "tensorflow"
            else "pip install jax, KERAS_BACKEND=jax"
        )
        raise ValueError(
            f"strategy {name} needs the {BACKENDS[name]} backend ({setup}); the "
            f"{backend} backend runs --strategy={runs.replace(', ', '|')}"
        )
    if name == "data_parallel":
        from keras_slt.experiments import jax_parallel

        processes = processes or jax_parallel.Processes()
        jax_parallel.initialize(processes, timeout_s or jax_parallel.DEFAULT_TIMEOUT_S)
        return jax_parallel.DataParallel(processes)
    from keras_slt.experiments import tf_strategies

    try:
        return tf_strategies.strategy(name)
    except TimeoutError as error:  # a worker of TF_CONFIG never started
        raise WorkerLostError(str(error)) from None


def scope(strategy):
    """The context a run builds and compiles its model in."""
    return contextlib.nullcontext() if strategy is None else strategy.scope()


@contextlib.contextmanager
def reporting_lost_workers(name):
    """A context that turns a lost worker of a multi-worker run into a `WorkerLostError`."""
    if name == "data_parallel":
        with _reporting_lost_processes():
            yield
        return
    import keras  # here: the tools import this module before Keras loads

    if name != "multi_worker" or keras.backend.backend() != "tensorflow":  # `strategy` refuses the latter
        yield
        return
    import tensorflow as tf  # only a multi-worker run, which needs TensorFlow, gets here

    from keras_slt.experiments import tf_strategies

    try:
        yield
    except tf.errors.UnavailableError as error:
        raise WorkerLostError(tf_strategies.lost_worker_message(error)) from None


@contextlib.contextmanager
def _reporting_lost_processes():
    from keras_slt.experiments import jax_parallel  # a data-parallel run, on JAX

    try:
        yield
    except Exception as error:  # whichever JAX raises: checked by is_lost_process
        if not jax_parallel.is_lost_process(error):
            raise
        jax_parallel.end_at_exit_without_shutdown()
        raise WorkerLostError(jax_parallel.lost_process_message(error)) from None


def wait_for_chief(strategy):
    """Returns once the chief has written the files of the epochs done, for the others to read.

    A several-process data_parallel run waits for every process there: a
    process whose `fit` returns first would otherwise read the chief's
    best model before the chief has written it. The others return at once.
    """
    if hasattr(strategy, "wait_for_all"):
        strategy.wait_for_all("the chief's files are written")


def is_chief(strategy):
    """Whether this process writes the run folder: always, except on a multi-worker run's workers
    and a several-process run's processes other than 0."""
    if hasattr(strategy, "process_id"):
        return strategy.process_id == 0
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def worker_dir(output_dir, strategy):
    """The folder this process writes: the run folder, or a worker's own sub-folder."""
    if is_chief(strategy):
        return output_dir
    task_id = getattr(strategy, "process_id", None)
    if task_id is None:
        task_id = strategy.cluster_resolver.task_id
    return os.path.join(output_dir, run_files.worker_dir(task_id))
