"""`tools/search.py --strategy=multi_worker` as two worker processes on 127.0.0.1.

A two-worker run must end as the one-process run with the same global batch
does; a killed worker must stop the other with a one-line error, not a hang;
the same command must then resume the run to that same result.

Tolerances: masks, accuracies, best epoch and sizes must be equal. Scores
and momenta may differ in their last float32 bits: one process sums a
batch's gradient in one reduction, two workers each sum their half and then
add the halves (all-reduce). The network's output depends on the scores only
through the masks, so such differences reach no accuracy unless they flip a
mask bit, which the exact mask comparison catches.
"""

import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from helpers import ROOT, checkpoint_floats, tiny_config, tool_lines

from keras_slt.experiments import run_files, runner

pytestmark = [pytest.mark.slow, pytest.mark.requires_tensorflow]  # tf.distribute

EPOCHS = 3
# Bounds against a hang, generous for a loaded machine; a lost worker is
# noticed after TensorFlow's 10 s heartbeat timeout.
RUN_TIMEOUT_S = 300
LOST_WORKER_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def one_process(data_dir, tmp_path_factory):
    """The one-process run with the same flags (global batch 32): its outcome."""
    out = tmp_path_factory.mktemp("one_process")
    runner.run_search(tiny_config(data_dir, out, epochs=EPOCHS))
    return _outcome(out)


def _outcome(out):
    """A finished run's results, best model's masks and last checkpoint's floats."""
    with open(os.path.join(out, run_files.RESULTS)) as f:
        results = json.load(f)
    masks = keras.saving.load_model(os.path.join(out, run_files.BEST_MODEL)).masks()
    return results, masks, checkpoint_floats(os.path.join(out, run_files.checkpoint(EPOCHS)))


def _assert_same_run(out, one_process):
    results, masks, floats = _outcome(out)
    expected_results, expected_masks, expected_floats = one_process
    print("two workers:", results["history"], "\none process:", expected_results["history"])
    for key in (
        "test_accuracy",
        "val_accuracy",
        "best_epoch",
        "epochs_done",
        "actual_sparsity",
        "model_size_bits",
        "num_train",
        "num_test",
    ):
        assert results[key] == expected_results[key], key
    for epoch, expected in zip(results["history"], expected_results["history"], strict=True):
        assert epoch["accuracy"] == expected["accuracy"]
        assert epoch["val_accuracy"] == expected["val_accuracy"]
        assert epoch["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(masks, expected_masks, strict=True))
    assert floats == pytest.approx(expected_floats, abs=1e-6)


def _epochs_done(folder):
    """The epochs of the state stored in `folder` (0 if none yet)."""
    try:
        with open(folder / run_files.STATE) as f:
            return json.load(f)["epoch"]
    except FileNotFoundError:
        return 0


def _free_ports(n):
    """n distinct free TCP ports of 127.0.0.1 (bound to port 0 together, then released)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Cluster:
    """A two-worker `TF_CONFIG` cluster on 127.0.0.1 running one search command."""

    def __init__(self, data_dir, folder):
        self.folder = folder
        self.output_dir = folder / "run"
        self.ports = _free_ports(2)
        self.flags = [
            "--model=fc",
            "--width=16",
            "--dataset=fashion_mnist",
            f"--data_dir={data_dir}",
            f"--epochs={EPOCHS}",
            "--batch_size=32",
            "--sparsity=0.5",
            "--strategy=multi_worker",
            f"--output_dir={self.output_dir}",
        ]
        self.workers = []

    def start(self, session):
        """Starts the command on both workers (output in `<folder>/<session>-<i>.out/err`)."""
        addresses = [f"127.0.0.1:{port}" for port in self.ports]
        self.session, self.workers = session, []
        for index in range(2):
            tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
            env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), PYTHONPATH=ROOT)
            with open(self._log(index, "out"), "w") as out, open(self._log(index, "err"), "w") as err:
                self.workers.append(
                    subprocess.Popen(
                        [sys.executable, os.path.join(ROOT, "tools", "search.py"), *self.flags],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=err,
                    )
                )

    def wait(self, index, timeout):
        """Worker `index`'s exit status; fails the test if it still runs after `timeout` s."""
        try:
            return self.workers[index].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {index} of session {self.session} still runs after {timeout} s")

    def output(self, index, stream):
        with open(self._log(index, stream)) as f:
            return f.read()

    def kill_all(self):
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait()

    def _log(self, index, stream):
        return self.folder / f"{self.session}-{index}.{stream}"


@pytest.fixture
def cluster(data_dir, tmp_path):
    cluster = Cluster(data_dir, tmp_path)
    try:
        yield cluster
    finally:
        cluster.kill_all()  # whatever the test's outcome, no worker outlives it


def test_two_workers_end_as_one_process(cluster, one_process):
    cluster.start("straight")
    for index in (0, 1):
        assert cluster.wait(index, RUN_TIMEOUT_S) == 0, cluster.output(index, "err")[-3000:]
    _assert_same_run(cluster.output_dir, one_process)
    # The chief writes the run folder; worker 1 its own sub-folder.
    assert (cluster.output_dir / run_files.LOGS_DIR).is_dir()
    assert (cluster.output_dir / run_files.worker_dir(1) / run_files.RESULTS).is_file()


def test_killed_worker_stops_the_run_and_the_same_command_resumes_it(cluster, one_process):
    cluster.start("killed")
    worker_1 = cluster.output_dir / run_files.worker_dir(1)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while _epochs_done(worker_1) < 1:
        assert all(worker.poll() is None for worker in cluster.workers), cluster.output(0, "err")[-3000:]
        assert time.monotonic() < deadline, "no epoch done in time"
        time.sleep(0.05)
    cluster.workers[1].kill()  # SIGKILL: as a machine that goes away
    assert cluster.wait(0, LOST_WORKER_TIMEOUT_S) == 1
    stderr = cluster.output(0, "err")
    assert "Traceback" not in stderr
    errors = [line for line in tool_lines(stderr) if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    assert errors[0].startswith(f"error: lost worker 1 (127.0.0.1:{cluster.ports[1]}): ")
    assert errors[0].endswith("start the same command on every worker to resume the run from its last complete epoch")
    stopped_at = _epochs_done(cluster.output_dir)
    assert 1 <= stopped_at < EPOCHS

    cluster.start("resumed")
    for index in (0, 1):
        assert cluster.wait(index, RUN_TIMEOUT_S) == 0, cluster.output(index, "err")[-3000:]
    assert f"Epoch {stopped_at}/{EPOCHS}" not in cluster.output(0, "out")  # resumed, not redone
    assert f"Epoch {stopped_at + 1}/{EPOCHS}" in cluster.output(0, "out")
    _assert_same_run(cluster.output_dir, one_process)
