"""Interrupted and repeated runs: Ctrl-C, resuming, rerunning a finished run."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import ROOT, StopAfterEpoch, tiny_config, tool_lines

from keras_slt.experiments import run_files, runner


def test_interrupted_run_says_where_resumes_saying_so_and_is_not_rerun(data_dir, tmp_path, capsys):
    config = tiny_config(data_dir, tmp_path, epochs=3)
    with pytest.raises(runner.RunInterrupted) as interrupted:
        runner.run_search(config, callbacks=[StopAfterEpoch(2)], verbose=0)
    assert str(interrupted.value) == "interrupted at epoch 3 of 3; rerun the same command to resume"
    assert isinstance(interrupted.value, KeyboardInterrupt)
    assert not (tmp_path / run_files.RESULTS).exists()

    results = runner.run_search(config, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"resuming {tmp_path} at epoch 3 of 3"
    assert [entry["epoch"] for entry in results["history"]] == [1, 2, 3]
    with open(tmp_path / run_files.LOGS_DIR / run_files.HISTORY_CSV) as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [1, 2, 3]  # as history and state.json

    stored = (tmp_path / run_files.RESULTS).read_bytes()
    modified = os.stat(tmp_path / run_files.RESULTS).st_mtime_ns
    again = runner.run_search(config, verbose=2)
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path} already finished its 3 epochs; results: {tmp_path / run_files.RESULTS}"
    ]
    assert again == json.loads(stored)  # wall_time_s included: nothing ran again
    assert (tmp_path / run_files.RESULTS).read_bytes() == stored
    assert os.stat(tmp_path / run_files.RESULTS).st_mtime_ns == modified


def test_refused_run_leaves_no_folder(data_dir, tmp_path):
    out = tmp_path / "new"
    with pytest.raises(runner.ConfigError, match="batch_size 1000 is larger than the 160 training examples"):
        runner.run_search(tiny_config(data_dir, out, batch_size=1000), verbose=0)
    assert not out.exists()
    out.mkdir()  # a folder the user made is kept, lock and all
    with pytest.raises(runner.ConfigError):
        runner.run_search(tiny_config(data_dir, out, batch_size=1000), verbose=0)
    assert os.listdir(out) == [run_files.LOCK]


def search_command(data_dir, out, epochs):
    return [
        sys.executable,
        os.path.join(ROOT, "tools/search.py"),
        "--model=fc",
        "--width=16",
        "--dataset=fashion_mnist",
        f"--data_dir={data_dir}",
        "--batch_size=32",
        f"--epochs={epochs}",
        f"--output_dir={out}",
    ]


@pytest.mark.slow
def test_ctrl_c_ends_with_one_line_and_status_130(data_dir, tmp_path):
    out, epochs = tmp_path / "run", 40
    state = out / run_files.STATE
    process = subprocess.Popen(
        search_command(data_dir, out, epochs), cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    # A fresh run writes its state.json before its first epoch: wait for an epoch done.
    while (
        not (state.exists() and json.loads(state.read_text())["epoch"] >= 1)
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < epochs
    assert tool_lines(stderr) == [f"interrupted at epoch {done + 1} of {epochs}; rerun the same command to resume"]
    assert (out / run_files.checkpoint(done)).is_file() and not (out / run_files.RESULTS).exists()

    # The checkpoint it kept loads: the same run resumes from it (stopped again one epoch later).
    config = tiny_config(data_dir, out, epochs=epochs)
    with pytest.raises(runner.RunInterrupted, match=f"^interrupted at epoch {done + 2} of {epochs};"):
        runner.run_search(config, callbacks=[StopAfterEpoch(done + 1)], verbose=0)
