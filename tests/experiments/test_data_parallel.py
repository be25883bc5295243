"""`--strategy=data_parallel`: the same batches, steps, checkpoints and results as one device.

The settings and the host shards of the NumPy pipeline are checked in this
process on any backend. What needs several JAX devices runs in processes of
its own, on virtual CPU devices (XLA_FLAGS must be set before JAX starts):
those tests need the JAX backend and skip on the others.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from helpers import ROOT, assert_one_line, one_error_line, run_tool, tiny_config

from keras_slt.data.batching import numpy_batches
from keras_slt.experiments import run_files, strategies
from keras_slt.experiments.config import ConfigError
from keras_slt.experiments.jax_parallel import HostShard
from keras_slt.experiments.processes import Processes, processes

needs_jax = pytest.mark.skipif(keras.backend.backend() != "jax", reason="data_parallel needs the JAX backend")
TOLERANCE = 1e-5
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
# One epoch of the FC recipe on Fashion-MNIST, one device, seeds 0, 1, 2:
# test accuracy 84.64, 84.47, 84.49% (range 0.17 points, std 0.09;
# benchmarks/README.md). The same seed on 2 devices sums each gradient in
# another order, and 375 steps carry that as far as another seed would:
# 84.73% against 84.64%. Two such runs differ with a std of about
# sqrt(2) * 0.09 = 0.13 points; 0.5 points is about 4 of them, while a
# broken split (devices training on the wrong rows) costs several points.
SEED_NOISE = 0.005


def jax_env(devices):
    return {
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "PYTHONPATH": ROOT,
    }


def run_script(script, *args, devices=1, timeout=600):
    result = run_tool(os.path.join("tests", "experiments", script), *args, env=jax_env(devices), timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith(("{", "[", "null"))]


# Settings and environment.


def test_processes_come_from_settings_then_keras_environment():
    environ = {
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:1234",
        "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
        "KERAS_DISTRIBUTION_PROCESS_ID": "1",
    }
    assert processes(environ=environ) == Processes(2, 1, "10.0.0.1:1234")
    assert processes("h:9", 3, 2, environ=environ) == Processes(3, 2, "h:9")
    assert processes(environ={}) == Processes(1, 0, None)
    assert processes(num_processes=1, environ={}) == Processes(1, 0, None)


@pytest.mark.parametrize(
    "settings, environ, fragments",
    [
        (dict(coordinator_address="h:9", num_processes=2, process_id=2), {}, ["process_id 2", "ids 0 to 1"]),
        (dict(num_processes=2, process_id=-1), {}, ["process_id -1"]),
        (dict(num_processes=0), {}, ["num_processes", "got 0"]),
        (dict(num_processes=2, process_id=1), {}, ["coordinator_address is required"]),
        (dict(coordinator_address="nohost", num_processes=2), {}, ["coordinator_address 'nohost'", "host:port"]),
        ({}, {"KERAS_DISTRIBUTION_NUM_PROCESSES": "two"}, ["num_processes", "KERAS_DISTRIBUTION_NUM_PROCESSES"]),
    ],
)
def test_bad_process_settings_are_refused_in_one_line(settings, environ, fragments):
    with pytest.raises(ValueError) as error:
        processes(**settings, environ=environ)
    assert_one_line(error.value, *fragments)


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (
            dict(strategy="data_parallel", num_processes=2, process_id=5, coordinator_address="h:9"),
            ["process_id 5 is out of range"],
        ),
        (dict(coordinator_address="h:9"), ["coordinator_address=h:9 does not apply to strategy default"]),
        (dict(process_id=0), ["process_id=0 does not apply to strategy default"]),
        (
            dict(strategy="data_parallel", model="gin", dataset="cora", batch_size=128),
            ["strategy=data_parallel does not apply to dataset cora"],
        ),
    ],
)
def test_config_refuses_bad_data_parallel_settings(tmp_path, overrides, fragments):
    config = tiny_config(None, tmp_path, **overrides)
    with pytest.raises(ConfigError) as error:
        config.validate()
    assert_one_line(error.value, *fragments)


def test_strategies_name_the_backend_they_need():
    other = "mirrored" if keras.backend.backend() == "jax" else "data_parallel"
    with pytest.raises(ValueError) as error:
        strategies.strategy(other)
    assert_one_line(
        error.value,
        f"strategy {other} needs the {strategies.BACKENDS[other]} backend",
        f"the {keras.backend.backend()} backend runs --strategy=default",
    )


# The host shards of the NumPy pipeline.


class Placement:
    """A stand-in for `jax_parallel.DataParallel`: keeps a process's rows as they are."""

    def __init__(self, num_devices, num_processes):
        self.num_devices, self.num_processes = num_devices, num_processes

    def place(self, arrays, rows):
        return arrays


@pytest.mark.parametrize("num_devices, num_processes", [(4, 2), (8, 4), (2, 2)])
def test_the_hosts_read_together_the_batches_of_one_host(num_devices, num_processes):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (45, 6, 6, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 45).astype(np.int32)
    arguments = (images, labels, [0.4] * 3, [0.2] * 3, 8)
    placement = Placement(num_devices, num_processes)
    for make in (
        lambda shard: numpy_batches.TrainingBatches(*arguments, seed=3, augment=True, first_epoch=1, shard=shard),
        lambda shard: numpy_batches.EvaluationBatches(*arguments, shard=shard),
    ):
        whole = make(None)
        hosts = [make(HostShard(placement, index)) for index in range(num_processes)]
        for k in range(12 if isinstance(whole, numpy_batches.TrainingBatches) else len(whole)):
            x, y = whole[k]
            parts = [host[k] for host in hosts]
            if len(y) % num_devices:  # an epoch's last batch (45 = 5 * 8 + 5): every host reads it whole
                assert all(np.array_equal(px, x) and np.array_equal(py, y) for px, py in parts)
            else:
                assert [len(py) for _, py in parts] == [len(y) // num_processes] * num_processes
                np.testing.assert_array_equal(np.concatenate([px for px, _ in parts]), x)
                np.testing.assert_array_equal(np.concatenate([py for _, py in parts]), y)


# Several devices (virtual CPU devices, processes of their own).


@needs_jax
@pytest.mark.slow
@pytest.mark.parametrize("devices", [2, 4])
def test_steps_on_several_devices_match_one_device(devices):
    (report,) = run_script("data_parallel_steps.py", devices=devices)
    assert report["devices"] == devices
    assert report["refusal"] == (
        f"batch_size 9 does not divide among the {devices} devices of data_parallel; use a multiple of {devices}"
    )
    for model in ("fc", "conv6"):
        result = report[model]
        assert f"'batch': {devices}" in result["sharding"] and "P('batch',)" in result["sharding"]
        assert result["first_masks_equal"], model
        assert result["loss_gap"] < TOLERANCE and result["score_gap"] < TOLERANCE, result
        assert result["flips_far_from_threshold"] == 0, result


@needs_jax
@pytest.mark.slow
def test_checkpoints_move_between_device_counts(data_dir, tmp_path):
    """Stopped after epoch 1 on 2 devices and resumed on 1, or on 1 and resumed on 4: as uninterrupted."""

    def run(folder, strategy, stop_after=0):
        return dict(
            data_dir=data_dir,
            output_dir=str(tmp_path / folder),
            strategy=strategy,
            stop_after=stop_after,
            batch_size=8,
            epochs=2,
        )

    assert run_script("data_parallel_runs.py", json.dumps([run("a", "data_parallel", 1)]), devices=2) == [None]
    reference, resumed, stopped = run_script(
        "data_parallel_runs.py", json.dumps([run("ref", "default"), run("a", "default"), run("b", "default", 1)])
    )
    assert stopped is None
    (resumed_on_4,) = run_script("data_parallel_runs.py", json.dumps([run("b", "data_parallel")]), devices=4)
    for history in (resumed, resumed_on_4):
        assert [entry["epoch"] for entry in history] == [1, 2]
        for entry, expected in zip(history, reference):
            for key in ("loss", "accuracy", "val_loss", "threshold"):
                assert entry[key] == pytest.approx(expected[key], abs=TOLERANCE), key


@needs_jax
@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST), reason=f"Debian's dataset-fashion-mnist not in {FASHION_MNIST}")
def test_one_epoch_of_the_fc_recipe_on_two_devices_is_within_seed_noise_of_one(tmp_path):
    flags = ["--flagfile=configs/fashion_mnist_fc.flags", f"--data_dir={FASHION_MNIST}", "--epochs=1"]
    accuracies = {}
    for devices, strategy in ((1, "default"), (2, "data_parallel")):
        folder = tmp_path / strategy
        result = run_tool(
            "tools/search.py",
            *flags,
            f"--strategy={strategy}",
            f"--output_dir={folder}",
            env=jax_env(devices),
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        with open(folder / run_files.RESULTS) as f:
            accuracies[strategy] = json.load(f)["test_accuracy"]
    assert accuracies["data_parallel"] == pytest.approx(accuracies["default"], abs=SEED_NOISE)
    assert accuracies["default"] > 0.8  # it learned: the recipe's epoch reaches about 84.5%


@needs_jax
@pytest.mark.slow
def test_bad_settings_end_the_tool_in_one_line(data_dir, tmp_path):
    base = [
        "--model=fc",
        "--width=16",
        "--dataset=fashion_mnist",
        f"--data_dir={data_dir}",
        "--epochs=1",
        "--strategy=data_parallel",
        f"--output_dir={tmp_path}",
    ]
    line = one_error_line(run_tool("tools/search.py", *base, "--batch_size=7", env=jax_env(2), timeout=300), 2)
    assert line == "error: --batch_size 7 does not divide among the 2 devices of data_parallel; use a multiple of 2"
    port = free_port()
    line = one_error_line(
        run_tool(
            "tools/search.py",
            *base,
            "--num_processes=2",
            "--process_id=1",
            f"--coordinator_address=127.0.0.1:{port}",
            "--coordinator_timeout=1",
            env=jax_env(1),
            timeout=300,
        ),
        2,
    )
    assert line.startswith(f"error: --coordinator_address 127.0.0.1:{port}: no coordinator answered within 1 s")
    line = one_error_line(
        run_tool(
            "tools/search.py",
            *base,
            "--num_processes=2",
            "--process_id=2",
            "--coordinator_address=127.0.0.1:1",
            env=jax_env(1),
            timeout=300,
        ),
        2,
    )
    assert line == "error: --process_id 2 is out of range: a run of 2 processes has ids 0 to 1"


@needs_jax
@pytest.mark.slow
def test_two_processes_on_localhost_run_as_one(data_dir, tmp_path):
    flags = [
        "--model=fc",
        "--width=16",
        "--dataset=fashion_mnist",
        f"--data_dir={data_dir}",
        "--epochs=1",
        "--batch_size=8",
        "--sparsity=0.5",
    ]
    several = start_processes(flags, tmp_path / "two", tmp_path / "log")
    for index, process in enumerate(several):
        assert process.wait(timeout=600) == 0, read(tmp_path / f"log{index}.err")[-3000:]
    single = run_tool("tools/search.py", *flags, f"--output_dir={tmp_path / 'one'}", env=jax_env(1), timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]

    def results(folder):
        with open(folder / "results.json") as f:
            return json.load(f)

    two, one = results(tmp_path / "two"), results(tmp_path / "one")
    assert sorted(os.listdir(tmp_path / "two" / "worker-1")) == [
        ".lock",
        "best.keras",
        "ckpt-1.weights.h5",
        "results.json",
        "state.json",
    ]
    assert not os.path.exists(tmp_path / "two" / "worker-1" / "logs")  # process 0 alone logs
    assert two["num_train"] == one["num_train"]
    for key in ("loss", "accuracy", "val_loss", "threshold"):
        assert two["history"][0][key] == pytest.approx(one["history"][0][key], abs=TOLERANCE), key
    assert two["test_accuracy"] == pytest.approx(one["test_accuracy"], abs=TOLERANCE)


@needs_jax
@pytest.mark.slow
def test_a_lost_process_ends_the_other_in_one_line_and_the_same_commands_resume(data_dir, tmp_path):
    """Process 1 killed after its first epoch: process 0 ends at once with our line alone, status 1."""
    epochs = 4
    flags = [
        "--model=fc",
        "--width=16",
        "--dataset=fashion_mnist",
        f"--data_dir={data_dir}",
        f"--epochs={epochs}",
        "--batch_size=8",
        "--sparsity=0.5",
    ]
    run = tmp_path / "run"
    survivor, lost = started = start_processes(flags, run, tmp_path / "killed")
    try:
        deadline = time.monotonic() + 300
        while epochs_done(run / "worker-1") < 1:
            assert survivor.poll() is None and lost.poll() is None, read(tmp_path / "killed0.err")[-3000:]
            assert time.monotonic() < deadline, "no epoch done in time"
            time.sleep(0.05)
        lost.kill()  # SIGKILL: as a machine that goes away
        assert survivor.wait(timeout=120) == 1, read(tmp_path / "killed0.err")[-3000:]
    finally:
        for process in started:
            process.kill()
            process.wait()
    stderr = read(tmp_path / "killed0.err")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    # Ours is the last line: no fatal log of JAX's coordination service (glog "F1203 ...") after it.
    assert lines[-1].startswith("error: lost contact with another process: "), stderr[-3000:]
    assert lines[-1].endswith("start the same command in every process to resume the run from its last complete epoch")
    assert not [line for line in lines if re.match(r"F\d{4} ", line)], stderr[-3000:]
    stopped_at = epochs_done(run)
    assert 1 <= stopped_at < epochs

    resumed = start_processes(flags, run, tmp_path / "resumed")
    for index, process in enumerate(resumed):
        assert process.wait(timeout=600) == 0, read(tmp_path / f"resumed{index}.err")[-3000:]
    assert f"resuming {run} at epoch {stopped_at + 1} of {epochs}" in read(tmp_path / "resumed0.out")
    assert epochs_done(run) == epochs


def start_processes(flags, output_dir, logs):
    """`tools/search.py FLAGS` as the 2 processes of a data_parallel run on 127.0.0.1, started.

    Process i writes its stdout and stderr to `<logs>i.out` and `<logs>i.err`.
    """
    port = free_port()
    env = dict(os.environ, **jax_env(1))
    started = []
    for index in (0, 1):
        with open(f"{logs}{index}.out", "w") as out, open(f"{logs}{index}.err", "w") as err:
            started.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "tools/search.py",
                        *flags,
                        "--strategy=data_parallel",
                        "--num_processes=2",
                        f"--process_id={index}",
                        f"--coordinator_address=127.0.0.1:{port}",
                        "--coordinator_timeout=120",
                        f"--output_dir={output_dir}",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=err,
                    text=True,
                )
            )
    return started


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on (bound to port 0, then released)."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return free.getsockname()[1]


def epochs_done(folder):
    """The epochs of the run state stored in `folder` (0 if none yet)."""
    try:
        with open(folder / run_files.STATE) as f:
            return json.load(f)["epoch"]
    except FileNotFoundError:
        return 0


def read(path):
    with open(path) as f:
        return f.read()
