"""`--strategy=data_parallel` on JAX: each batch split over every device of every process.

The model's variables are replicated on all devices
(`keras.distribution.DataParallel`); each batch is one global `jax.Array`
whose rows are split over the devices, so XLA runs the step on every
device's rows and all-reduces the gradients. The scores are replicated, so
the global threshold is that of the whole score vector, as on one device,
and BatchNorm's statistics are those of the whole batch. A batch whose rows
do not divide among the devices (an epoch's last, smaller one) is
replicated instead: every device computes all of it, with the same result.

Several processes (one per machine) join through `jax.distributed`: the
coordinator address, process count and process id come from the run's
settings or from Keras's environment variables
(`keras_slt.experiments.processes`). Each process reads only its own rows
of every batch (`HostShard.rows`), all from the same epoch plan (ImageNet:
from the same shuffled stream of records, decoding only its own rows), so
together they read the batch one process alone would read. Process 0
writes the run folder.

This module imports JAX: `keras_slt.experiments.strategies` imports it
only for a data-parallel run, on the JAX backend.
"""

import atexit
import importlib.util
import os
import re
import socket
import sys
import time

import jax
import keras
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from keras_slt.experiments.processes import DEFAULT_TIMEOUT_S, Processes, split_address


def initialize(run_processes, timeout_s=DEFAULT_TIMEOUT_S):
    """Joins the run's processes through `jax.distributed` (nothing for one process).

    Must come before anything else uses JAX. JAX itself ends the process,
    with a fatal log rather than an exception, when its coordinator does not
    answer; so the coordinator's port is checked first: process 0 must be
    able to bind it, the others must reach it within `timeout_s`.

    Args:
        run_processes: `Processes`.
        timeout_s: seconds to wait for the coordinator and the other
            processes.

    Raises:
        ValueError: the coordinator's port is taken (process 0) or does not
            answer within `timeout_s` (the others).
    """
    if run_processes.num_processes == 1:
        return
    address = run_processes.coordinator_address
    host, port = split_address(address)
    if run_processes.process_id == 0:
        try:
            with socket.create_server(("", port)):
                pass
        except OSError as error:
            raise ValueError(
                f"coordinator_address {address}: process 0 cannot listen on port {port} ({error.strerror or error})"
            ) from None
    else:
        _wait_for(host, port, address, timeout_s)
    jax.distributed.initialize(
        coordinator_address=address,
        num_processes=run_processes.num_processes,
        process_id=run_processes.process_id,
        initialization_timeout=int(timeout_s),
    )


def _wait_for(host, port, address, timeout_s):
    """Waits until something listens on (host, port), or raises ValueError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(5.0, timeout_s))):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise ValueError(
                    f"coordinator_address {address}: no coordinator answered within "
                    f"{timeout_s:g} s ({error.strerror or error}); start process 0 "
                    "there first, or check the address"
                ) from None
            time.sleep(0.5)


class DataParallel:
    """The data-parallel placement of one run, over every device of every process.

    Args:
        run_processes: the run's `Processes` (joined by `initialize`).

    Attributes:
        distribution: the `keras.distribution.DataParallel` the model is
            built in (its variables are replicated).
        num_devices: devices in all processes together.
        process_id, num_processes: this process and the process count.
        shard: this process's `HostShard` of every batch.
    """

    def __init__(self, run_processes=Processes()):
        _keep_tensorflow_off_the_gpus()
        self.process_id = run_processes.process_id
        self.num_processes = run_processes.num_processes
        devices = jax.devices()
        self.num_devices = len(devices)
        self.distribution = keras.distribution.DataParallel(devices=devices)
        mesh = self.distribution.device_mesh.backend_mesh
        self._split = NamedSharding(mesh, PartitionSpec(self.distribution.batch_dim_name))
        self._replicated = NamedSharding(mesh, PartitionSpec())
        self.shard = HostShard(self, self._host_block())

    def _host_block(self):
        """Which block of every split batch this process's devices hold, in process order.

        `jax.devices()` lists each process's devices together, so the mesh
        gives process p the p-th of `num_processes` equal blocks of rows;
        checked, since each process reads only that block.
        """
        rows = self._split.addressable_devices_indices_map((self.num_devices,))
        held = sorted(index[0].start for index in rows.values())
        per_process = self.num_devices // self.num_processes
        first = self.process_id * per_process
        if held != list(range(first, first + per_process)):
            raise ValueError(
                f"process {self.process_id} holds the rows {held} of a batch, not one "
                f"block of {per_process}: every process needs the same device count"
            )
        return self.process_id

    def scope(self):
        """The context a run builds, compiles and restores its model in."""
        return self.distribution.scope()

    def wait_for_all(self, name):
        """Returns once every process has called this with `name` (at once for one process)."""
        if self.num_processes > 1:
            multihost_utils.sync_global_devices(name)

    def check_batch_size(self, batch_size):
        """Raises ValueError unless a batch of `batch_size` rows divides among the devices."""
        if batch_size % self.num_devices:
            raise ValueError(
                f"batch_size {batch_size} does not divide among the {self.num_devices} "
                f"devices of data_parallel; use a multiple of {self.num_devices}"
            )

    def place(self, arrays, rows):
        """This process's part of a batch of `rows` rows, as the batch's global arrays.

        Args:
            arrays: a structure of NumPy arrays, this process's rows
                (`HostShard.rows(rows)`) of each.
            rows: the batch's row count in all processes together.
        """
        split = rows % self.num_devices == 0
        sharding = self._split if split else self._replicated
        return jax.tree.map(
            lambda part: jax.make_array_from_process_local_data(sharding, part, (rows,) + part.shape[1:]), arrays
        )


def _keep_tensorflow_off_the_gpus():
    """Hides the GPUs from TensorFlow, where it is installed: it only reads data and writes logs here.

    TensorFlow would otherwise take most of every GPU's memory at its first
    operation (ImageNet's `tf.data` pipeline), leaving too little to JAX.
    """
    if importlib.util.find_spec("tensorflow") is None:
        return
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")


class HostShard:
    """One process's rows of every batch, for the NumPy pipeline and ImageNet's `tf.data` one.

    A batch whose rows divide among all devices is split: process p reads
    the p-th of `num_processes` equal blocks. Any other batch (an epoch's
    last) is read whole by every process and replicated.

    Example:

    >>> class Placement:  # what DataParallel provides
    ...     num_devices, num_processes = 4, 2
    >>> shard = HostShard(Placement(), index=1)
    >>> shard.rows(8), shard.rows(6)
    (slice(4, 8, None), slice(0, 6, None))
    """

    def __init__(self, placement, index):
        self.placement, self.index = placement, index

    def rows(self, rows):
        """The slice of a batch of `rows` rows that this process reads."""
        if rows % self.placement.num_devices:
            return slice(0, rows)
        block = rows // self.placement.num_processes
        return slice(self.index * block, (self.index + 1) * block)

    def place(self, arrays, rows):
        """This process's `arrays` of a batch of `rows` rows as the model's input (global arrays)."""
        return self.placement.place(arrays, rows)


def lost_process_message(error):
    """The one line of a run that lost contact with another process."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"lost contact with another process: {reason}; start the same command in every process "
        "to resume the run from its last complete epoch"
    )


def end_at_exit_without_shutdown():
    """Makes this process, which lost another, end with status 1 without JAX's distributed shutdown.

    JAX shuts its distributed runtime down at exit (an `atexit` handler
    registered when JAX is imported): a barrier of every process, which
    the lost one never reaches, so it waits out the heartbeat timeout
    (100 s) and then aborts the process with a fatal log (status 134) after
    the run's own one line. A handler registered later runs first: this
    one flushes the output and ends the process at once, with status 1, as
    a tool ends on a run error. Handlers registered before it do not run;
    the run's files are already complete (every one is written atomically).
    """
    atexit.register(_end_now)


def _end_now():
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def is_lost_process(error):
    """Whether `error`, raised by a step of a several-process run, means a process was lost.

    A collective whose peer is gone fails with an XLA status ("UNKNOWN: Gloo
    all-reduce failed: ... Connection reset by peer" on CPU), raised as a
    `JaxRuntimeError` or, when a result is fetched, a ValueError.
    """
    return (
        jax.process_count() > 1
        and isinstance(error, (jax.errors.JaxRuntimeError, ValueError))
        and re.match(r"[A-Z_]+: ", str(error)) is not None
    )
