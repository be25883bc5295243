"""The tf.distribute strategies of the search runner (TensorFlow backend only).

`keras_slt.experiments.distribution` imports this module only when a run
asks for a strategy other than the default, so the runner works without
TensorFlow.
"""

import contextlib
import re

import tensorflow as tf

from keras_slt.experiments.distribution import WorkerLostError


def strategy(name):
    """The `tf.distribute` strategy of `--strategy=name` ("mirrored" or "multi_worker")."""
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return MultiWorkerStrategy()


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
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
def reporting_lost_workers():
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


