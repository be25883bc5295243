"""The tf.distribute strategies of the search runner (TensorFlow backend only).

`keras_slt.experiments.strategies` imports this module only when a run
asks for a strategy other than the default, so the runner works without
TensorFlow.
"""

import json
import os
import re
import socket
import time

import tensorflow as tf

# How long a multi-worker process waits for every worker of TF_CONFIG to
# join, in seconds; KERAS_SLT_WORKER_TIMEOUT_S changes it.
JOIN_TIMEOUT_VARIABLE = "KERAS_SLT_WORKER_TIMEOUT_S"
JOIN_TIMEOUT_S = 300
_POLL_S = 0.2


def strategy(name):
    """The `tf.distribute` strategy of `--strategy=name` ("mirrored" or "multi_worker").

    Raises:
        ValueError: for "multi_worker", a missing or malformed `TF_CONFIG`,
            a host in it that does not resolve, this worker's port in use,
            or a bad `KERAS_SLT_WORKER_TIMEOUT_S`.
        TimeoutError: a worker did not start within
            `KERAS_SLT_WORKER_TIMEOUT_S` seconds (`wait_for_workers`).
    """
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    cluster, task = check_cluster(os.environ.get("TF_CONFIG"))
    wait_for_workers(cluster, task, join_timeout())
    return MultiWorkerStrategy()


def check_cluster(tf_config):
    """`({job: [address, ...]}, (job, index) of this task)` of a `TF_CONFIG` text, every host resolved.

    Raises:
        ValueError: one line, for a missing `TF_CONFIG` (a multi-worker run
            would train alone, unasked), one that is not a cluster of
            "host:port" addresses with this process's task in it, or a host
            that does not resolve (TensorFlow would wait for it without end).

    Example:

    >>> check_cluster('{"cluster": {"worker": ["localhost:2222"]}, "task": {"type": "worker", "index": 0}}')
    ({'worker': ['localhost:2222']}, ('worker', 0))
    >>> check_cluster(None)
    Traceback (most recent call last):
    ...
    ValueError: --strategy=multi_worker needs TF_CONFIG, the JSON naming every worker and this one's task ...
    """
    if not tf_config:
        raise ValueError(
            "--strategy=multi_worker needs TF_CONFIG, the JSON naming every worker and this one's "
            "task (BUILD.md, 'Several devices and machines'); without it, use --strategy=default"
        )
    try:
        config = json.loads(tf_config)
        cluster = {job: list(addresses) for job, addresses in config["cluster"].items()}
        task = (config["task"]["type"], config["task"]["index"])
        cluster[task[0]][task[1]]
        for address in (a for addresses in cluster.values() for a in addresses):
            if not (isinstance(address, str) and address.rpartition(":")[0] and address.rpartition(":")[2].isdigit()):
                raise ValueError(f"{address!r} is not host:port")
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        raise ValueError(
            f"TF_CONFIG is not a cluster with this process's task in it ({type(error).__name__}: {str(error)[:200]})"
        ) from None
    for job, addresses in cluster.items():
        for index, address in enumerate(addresses):
            host, _, port = address.rpartition(":")
            try:
                socket.getaddrinfo(host.strip("[]"), port)
            except (OSError, UnicodeError) as error:
                reason = getattr(error, "strerror", None) or error
                raise ValueError(
                    f"TF_CONFIG: the host of {job} {index} ({address!r}) does not resolve ({reason})"
                ) from None
    return cluster, task


def join_timeout():
    """Seconds to wait for the workers to join: `KERAS_SLT_WORKER_TIMEOUT_S`, or 300."""
    text = os.environ.get(JOIN_TIMEOUT_VARIABLE, "").strip()
    if not text:
        return JOIN_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise ValueError(f"{JOIN_TIMEOUT_VARIABLE} must be a positive number of seconds, got {text!r}")
    return seconds


def wait_for_workers(cluster, task, timeout_s):
    """Returns once every other worker of `cluster` accepts connections on its port.

    TensorFlow's strategy waits in C++, without end and holding Python's
    lock, for every worker to start: no timeout or signal handler could
    interrupt that wait. So before it, each worker listens on its own port
    while it connects to the others', until all answer (a worker already
    past this point answers through TensorFlow's server on the same port).

    Args:
        cluster: `{job: [address, ...]}` (`check_cluster`).
        task: `(job, index)` of this process.
        timeout_s: seconds to wait.

    Raises:
        ValueError: this worker's port cannot be opened (in use).
        TimeoutError: a worker did not answer within `timeout_s`.
    """
    port = int(cluster[task[0]][task[1]].rpartition(":")[2])
    try:
        listener = socket.create_server(("", port))
    except OSError as error:
        raise ValueError(f"TF_CONFIG: this worker's port {port} cannot be opened ({error.strerror})") from None
    others = {
        (job, i): address
        for job in ("chief", "worker")
        for i, address in enumerate(cluster.get(job, ()))
        if (job, i) != task
    }
    deadline = time.monotonic() + timeout_s
    with listener:
        while others:
            for key, address in list(others.items()):
                host, _, port = address.rpartition(":")
                try:
                    socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
                    del others[key]
                except OSError:
                    pass
            if others and time.monotonic() > deadline:
                names = ", ".join(f"{job} {i} ({address})" for (job, i), address in others.items())
                raise TimeoutError(
                    f"{names} did not answer within {timeout_s:g} s; start the same command "
                    f"on every worker, or set {JOIN_TIMEOUT_VARIABLE} to wait longer"
                )
            time.sleep(_POLL_S)


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
    lost = sorted(
        {(job, int(task)) for job, task in tasks if job in cluster} - {(resolver.task_type, resolver.task_id)}
    )
    names = ", ".join(f"{job} {task} ({cluster[job][task]})" for job, task in lost)
    reason = re.sub(r"\{\{.*?\}\}", "", error.message).strip().splitlines()[0].rstrip(":")
    return (
        f"lost {names or 'contact with another worker'}: {reason}; start the same command "
        "on every worker to resume the run from its last complete epoch"
    )
