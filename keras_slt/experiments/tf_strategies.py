"""The tf.distribute strategies of the search runner (TensorFlow backend only).

`keras_slt.experiments.distribution` imports this module only when a run
asks for a strategy other than the default, so the runner works without
TensorFlow.
"""

import re

import tensorflow as tf


def strategy(name):
    """The `tf.distribute` strategy of `--strategy=name` ("mirrored" or "multi_worker")."""
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return MultiWorkerStrategy()


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy, reducing the way Keras 3's `fit` asks it to.

    Keras 3's `fit` reduces a whole (x, y) batch at once to learn its shapes,
    and each step's scalar logs along axis 0 (keras-team/keras#20585); the
    parent reduces single values, along an axis they have.
    """

    def reduce(self, reduce_op, value, axis):
        parent = super()

        def reduce_one(v):
            rank = self.experimental_local_results(v)[0].shape.rank
            return parent.reduce(reduce_op, v, None if rank == 0 else axis)

        return tf.nest.map_structure(reduce_one, value)


def lost_worker_message(error):
    """The one-line message of the `tf.errors.UnavailableError` of a lost worker.

    In a multi-worker run TensorFlow's coordination service notices a worker
    that stops sending heartbeats (for 10 s by default) and aborts the
    others' collectives with an UnavailableError naming it, rather than
    leaving them waiting for it forever.
    """
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    cluster = resolver.cluster_spec().as_dict()
    tasks = re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", error.message)
    lost = sorted({(job, int(task)) for job, task in tasks if job in cluster}
                  - {(resolver.task_type, resolver.task_id)})
    names = ", ".join(f"{job} {task} ({cluster[job][task]})" for job, task in lost)
    reason = re.sub(r"\{\{.*?\}\}", "", error.message).strip().splitlines()[0].rstrip(":")
    return (f"lost {names or 'contact with another worker'}: {reason}; start the same command "
            "on every worker to resume the run from its last complete epoch")


