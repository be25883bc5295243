"""Hostile settings and files that ended in a traceback, a hang or a silent run: one `error:` line each."""

import json
import os
import pickle
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from fakes import write_planetoid
from helpers import ROOT, WITHOUT_TENSORFLOW, assert_one_line, one_error_line, run_tool

from keras_slt.cli import common
from keras_slt.data import DataError
from keras_slt.data.graphs import Graph, planetoid
from keras_slt.experiments import sources, strategies
from keras_slt.utils import files


# --- one line, whatever the message holds -----------------------------------------------
def test_a_newline_in_a_path_stays_on_the_error_line(capsys):
    with pytest.raises(SystemExit) as exit:
        common.fail(ValueError("output_dir runs/a\nb\x1b[2J is not a directory"))
    assert exit.value.code == 2
    assert capsys.readouterr().err == "error: output_dir runs/a\\nb\\x1b[2J is not a directory\n"


def test_flagfiles_are_checked_before_absl_reads_them(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.flags")
    for flagfile, reason in (
        ("/dev/zero", "not a regular file"),
        (tmp_path / "pipe.flags", "not a regular file"),
        (tmp_path / "none.flags", "cannot read it (No such file or directory)"),
    ):
        with pytest.raises(SystemExit) as exit:
            common._parse_flags(["search", f"--flagfile={flagfile}"])
        assert exit.value.code == 2
        lines = capsys.readouterr().err.splitlines()
        assert lines == [f"error: --flagfile={flagfile}: {reason}"]


# --- files of a run folder ----------------------------------------------------------------
@pytest.mark.parametrize(
    "flag, value", [("dataset", 7), ("dataset", ["cifar10"]), ("image_size", [32, 32]), ("data_dir", {"a": 1})]
)
def test_results_json_with_flags_of_the_wrong_type_are_refused(tmp_path, flag, value):
    (tmp_path / "best.keras").write_bytes(b"")
    (tmp_path / "results.json").write_text(json.dumps({"flags": {"dataset": "fashion_mnist", flag: value}}))
    with pytest.raises(
        files.DamagedFileError,
        match=rf"is damaged \(its flag {flag} is .*, not text\); run the "
        "search again",
    ) as error:
        sources.search_run(str(tmp_path))
    assert_one_line(error.value, tmp_path / "results.json", json.dumps(value))


# --- Planetoid ----------------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """The folder of a small random Planetoid graph named "tiny"."""
    monkeypatch.setattr(planetoid, "NAMES", ("tiny",))
    write_planetoid(tmp_path)
    return tmp_path


def test_planetoid_node_ids_past_int64_are_refused(tiny):
    import collections

    graph = collections.defaultdict(list, {0: [1, 2**70], 1: [0]})
    (tiny / "ind.tiny.graph").write_bytes(pickle.dumps(graph, protocol=4))
    with pytest.raises(DataError, match=r"node 1180591620717411303424 is not a node index in \[0, 522\)") as error:
        planetoid.read("tiny", str(tiny))
    assert_one_line(error.value, tiny / "ind.tiny.graph")
    with open(tiny / "ind.tiny.test.index", "a") as f:
        f.write(f"{2**70}\n")
    with pytest.raises(DataError, match="not a list of integers") as error:
        planetoid.read("tiny", str(tiny))
    assert_one_line(error.value, tiny / "ind.tiny.test.index")


def test_planetoid_without_training_nodes_is_refused(tiny):
    sparse = pytest.importorskip("scipy.sparse")
    (tiny / "ind.tiny.x").write_bytes(pickle.dumps(sparse.csr_matrix((0, 12), dtype=np.float32), protocol=4))
    (tiny / "ind.tiny.y").write_bytes(pickle.dumps(np.zeros((0, 3), np.int32), protocol=4))
    with pytest.raises(DataError, match="no training nodes") as error:
        planetoid.read("tiny", str(tiny))
    assert_one_line(error.value, tiny / "ind.tiny.y")
    graph = Graph(
        "empty",
        np.eye(3, dtype="float32"),
        np.zeros((2, 0), "int32"),
        np.zeros(3, "int32"),
        np.zeros(0, "int32"),
        np.array([1], "int32"),
        np.array([2], "int32"),
        num_classes=2,
    )
    with pytest.raises(ValueError, match="graph empty: the train split has no nodes"):
        graph.targets("train")


# --- multi-worker runs --------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tf_config(*addresses, index=0):
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


@pytest.mark.requires_tensorflow
def test_multi_worker_refuses_a_missing_or_malformed_cluster(monkeypatch):
    from keras_slt.experiments import tf_strategies

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="--strategy=multi_worker needs TF_CONFIG"):
        strategies.strategy("multi_worker")
    for config, reason in (
        ("{", "JSONDecodeError"),
        (tf_config("127.0.0.1:1", index=2), "IndexError"),
        (
            json.dumps({"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}),
            "'nohost' is not host:port",
        ),
    ):
        with pytest.raises(ValueError, match=f"TF_CONFIG is not a cluster with this process's task in it .*{reason}"):
            tf_strategies.check_cluster(config)
    with pytest.raises(ValueError, match=r"the host of worker 1 \('nosuchhost.invalid:2222'\) does not resolve"):
        tf_strategies.check_cluster(tf_config("127.0.0.1:1", "nosuchhost.invalid:2222"))


@pytest.mark.requires_tensorflow
def test_a_worker_that_never_starts_is_waited_for_a_bounded_time():
    from keras_slt.experiments import tf_strategies

    mine, silent = free_port(), free_port()
    cluster, task = tf_strategies.check_cluster(tf_config(f"127.0.0.1:{mine}", f"127.0.0.1:{silent}"))
    start = time.monotonic()
    with pytest.raises(
        TimeoutError,
        match=f"worker 1 .127.0.0.1:{silent}. did not answer within "
        "1 s; start the same command on every worker, or set KERAS_SLT_WORKER_TIMEOUT_S",
    ):
        tf_strategies.wait_for_workers(cluster, task, 1.0)
    assert time.monotonic() - start < 10
    # A worker that listens on its port answers; this one's own port is free again afterwards.
    with socket.create_server(("127.0.0.1", silent)):
        tf_strategies.wait_for_workers(cluster, task, 10.0)
    with socket.create_server(("127.0.0.1", mine)):
        with pytest.raises(ValueError, match=f"this worker's port {mine} cannot be opened"):
            tf_strategies.wait_for_workers(cluster, task, 1.0)


# --- the command lines --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.requires_tensorflow
def test_search_with_multi_worker_exits_in_one_line_when_a_worker_never_starts(tmp_path, data_dir):
    silent = free_port()
    args = [
        "--strategy=multi_worker",
        "--model=fc",
        "--width=8",
        f"--data_dir={data_dir}",
        f"--output_dir={tmp_path / 'run'}",
        "--epochs=1",
    ]
    result = run_tool("tools/search.py", *args, env={"TF_CONFIG": None})
    assert "needs TF_CONFIG" in one_error_line(result, 2)
    start = time.monotonic()
    result = run_tool(
        "tools/search.py",
        *args,
        timeout=300,
        env={
            "TF_CONFIG": tf_config(f"127.0.0.1:{free_port()}", f"127.0.0.1:{silent}"),
            "KERAS_SLT_WORKER_TIMEOUT_S": "3",
        },
    )
    assert f"worker 1 (127.0.0.1:{silent}) did not answer within 3 s" in one_error_line(result, 1)
    assert time.monotonic() - start < 120
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "bogus"])
def test_a_backend_keras_cannot_start_is_one_line(tmp_path, backend):
    result = run_tool("tools/search.py", f"--output_dir={tmp_path}", env={"KERAS_BACKEND": backend})
    assert one_error_line(result, 2).startswith(f"error: KERAS_BACKEND={backend} cannot start (")


@pytest.mark.slow
def test_the_install_without_tensorflow_refuses_in_one_line(tmp_path, data_dir):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("KERAS_BACKEND", None)  # Keras's default: TensorFlow, which the JAX install lacks
    command = [sys.executable, "-c", WITHOUT_TENSORFLOW, os.path.join(ROOT, "tools", "search.py")]
    result = subprocess.run(
        [*command, f"--output_dir={tmp_path}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert "error: Keras's default backend (KERAS_BACKEND unset: tensorflow) cannot start" in one_error_line(result, 2)
    result = subprocess.run(
        [
            *command,
            "--strategy=multi_worker",
            "--model=fc",
            f"--data_dir={data_dir}",
            f"--output_dir={tmp_path / 'run'}",
        ],
        cwd=ROOT,
        env=dict(env, KERAS_BACKEND="jax"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "strategy multi_worker needs the tensorflow backend" in one_error_line(result, 2)


@pytest.mark.slow
@pytest.mark.parametrize(
    "flag, message",
    [
        ("--seeds=-1", "--seeds must be integers in [0, 2**64), got -1"),
        ("--models=", "--models and --seeds need at least one value each"),
    ],
)
def test_sweep_refuses_seeds_and_models_it_cannot_run(tmp_path, flag, message):
    result = run_tool("tools/sweep.py", f"--output_dir={tmp_path}", flag, "--dry_run")
    assert one_error_line(result, 2) == f"error: {message}"
