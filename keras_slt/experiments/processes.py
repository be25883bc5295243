"""The processes of a data-parallel run: how many, which one this is, and where they meet.

Read from the run's settings or, for those not given, from the environment
variables of `keras.distribution.initialize`, so a cluster launcher that
sets those needs no flags. Nothing here needs JAX:
`keras_slt.experiments.jax_parallel` joins the processes.
"""

import dataclasses
import os

# Keras's own variables for `keras.distribution.initialize`, read when the
# setting is not given: the coordinator ("host:port"; a comma-separated list
# of every process's address names it first), the process count and this
# process's id.
ENVIRONMENT = {
    "coordinator_address": "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "num_processes": "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "process_id": "KERAS_DISTRIBUTION_PROCESS_ID",
}
# How long a process tries to reach the coordinator before it gives up.
DEFAULT_TIMEOUT_S = 300


@dataclasses.dataclass(frozen=True)
class Processes:
    """The processes of a run: how many, this one's id, and their coordinator.

    Attributes:
        num_processes: the number of processes, 1 for a single-process run.
        process_id: this process's id, in [0, num_processes).
        coordinator_address: "host:port" of process 0's coordinator, or None
            for a single-process run.
    """

    num_processes: int = 1
    process_id: int = 0
    coordinator_address: str | None = None


def processes(coordinator_address=None, num_processes=None, process_id=None, environ=None):
    """The `Processes` of a run, from the arguments or else `ENVIRONMENT`.

    Args:
        coordinator_address: "host:port", or None to read the environment.
        num_processes: the process count, or None to read the environment
            (default 1).
        process_id: this process's id, or None to read the environment
            (default 0).
        environ: the environment (default `os.environ`).

    Raises:
        ValueError: a missing or malformed setting, or a process id out of
            range; the message names the setting.

    Example:

    >>> processes(environ={})
    Processes(num_processes=1, process_id=0, coordinator_address=None)
    >>> processes("10.0.0.1:1234", 2, 2, environ={})
    Traceback (most recent call last):
    ...
    ValueError: process_id 2 is out of range: a run of 2 processes has ids 0 to 1
    """
    environ = os.environ if environ is None else environ
    given = {"coordinator_address": coordinator_address, "num_processes": num_processes, "process_id": process_id}
    for name, variable in ENVIRONMENT.items():
        if given[name] is None and environ.get(variable):
            value = environ[variable].split(",")[0].strip()
            if name != "coordinator_address":
                try:
                    value = int(value)
                except ValueError:
                    raise ValueError(f"{name}: {variable}={environ[variable]!r} is not an integer") from None
            given[name] = value
    count = 1 if given["num_processes"] is None else given["num_processes"]
    index = 0 if given["process_id"] is None else given["process_id"]
    address = given["coordinator_address"]
    if count < 1:
        raise ValueError(f"num_processes must be >= 1, got {count}")
    if not 0 <= index < count:
        raise ValueError(
            f"process_id {index} is out of range: a run of {count} process"
            f"{'es' if count > 1 else ''} has ids 0 to {count - 1}"
        )
    if count > 1:
        if not address:
            raise ValueError(
                f"coordinator_address is required for {count} processes "
                f"(host:port of process 0; or {ENVIRONMENT['coordinator_address']})"
            )
        split_address(address)
    return Processes(count, index, address if count > 1 else None)


def split_address(address):
    """(host, port) of a \"host:port\" address; ValueError naming coordinator_address if malformed."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"coordinator_address {address!r} is not host:port")
    return host.strip("[]"), int(port)
