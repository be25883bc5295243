"""Where a run's steps execute: one device by default, or a tf.distribute strategy.

"mirrored" (all local GPUs, or all logical CPUs when there is no GPU) and
"multi_worker" (`TF_CONFIG`) need the TensorFlow backend
(`keras_slt.experiments.tf_strategies`); the default strategy runs on any
backend. In a multi-worker run only the chief writes to the run folder;
worker i writes to its `worker-i` sub-folder.
"""

import contextlib
import os

import keras

from keras_slt import run_files

STRATEGIES = ("default", "mirrored", "multi_worker")


class WorkerLostError(RuntimeError):
    """A multi-worker run lost contact with a worker and stopped.

    The message names the lost worker(s). Starting the same command on every
    worker again resumes the run from its last complete epoch.
    """


def strategy(name):
    """The strategy of `--strategy=name`: `None` for "default", else a `tf.distribute` strategy.

    Raises:
        ValueError: a strategy other than "default" on a backend other than
            TensorFlow; for "multi_worker", a missing or malformed
            `TF_CONFIG` (`tf_strategies.strategy`).
        WorkerLostError: a worker of `TF_CONFIG` did not start in time.

    Example:

    >>> strategy("default") is None
    True
    """
    if name == "default":
        return None
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"strategy {name} needs the TensorFlow backend (pip install tensorflow, "
                         f"KERAS_BACKEND=tensorflow); the {keras.backend.backend()} backend runs "
                         "--strategy=default only")
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
    if name != "multi_worker" or keras.backend.backend() != "tensorflow":  # `strategy` refuses the latter
        yield
        return
    import tensorflow as tf  # only a multi-worker run, which needs TensorFlow, gets here

    from keras_slt.experiments import tf_strategies

    try:
        yield
    except tf.errors.UnavailableError as error:
        raise WorkerLostError(tf_strategies.lost_worker_message(error)) from None


def is_chief(strategy):
    """Whether this process writes the run folder: always, except on a multi-worker run's workers."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    if resolver.task_type == "chief":
        return True
    return (resolver.task_type == "worker" and resolver.task_id == 0
            and "chief" not in resolver.cluster_spec().as_dict())


def worker_dir(output_dir, strategy):
    """The folder this process writes: the run folder, or a worker's own sub-folder."""
    if is_chief(strategy):
        return output_dir
    return os.path.join(output_dir, run_files.worker_dir(strategy.cluster_resolver.task_id))

