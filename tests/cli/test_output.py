"""What the command lines print: readable logs off a terminal, the live bar on one, fast failures."""

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from helpers import ROOT, one_error_line, run_tool, tiny_config

from keras_slt.data import DataError, custom, graphs
from keras_slt.data.graphs import planetoid
from keras_slt.data.readers import downloads, tfds_builtin
from keras_slt.experiments import runner, sources, sweep

SEARCH = ["--model=fc", "--width=16", "--dataset=fashion_mnist", "--batch_size=32"]


@pytest.mark.slow
def test_search_on_a_terminal_keeps_the_live_progress_bar(data_dir, tmp_path):
    controller, terminal = pty.openpty()
    env = dict(os.environ, PYTHONPATH=ROOT)
    process = subprocess.Popen(
        [
            sys.executable,
            "tools/search.py",
            *SEARCH,
            f"--data_dir={data_dir}",
            "--epochs=1",
            f"--output_dir={tmp_path / 'run'}",
        ],
        cwd=ROOT,
        env=env,
        stdout=terminal,
        stderr=subprocess.DEVNULL,
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if select.select([controller], [], [], 1.0)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the tool ended
                break
            if not chunk:
                break
            output += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0
    text = output.decode("utf-8", "replace")
    # Keras's bar: redrawn in place (carriage return), bold step count, green bar.
    assert "\r" in text and "\x1b[1m5/5\x1b[0m" in text and "\x1b[32m" in text
    assert "fc on fashion_mnist, ep" in text and "results: " in text


@pytest.mark.slow
@pytest.mark.requires_tensorflow
def test_tfds_dataset_not_in_data_dir_fails_in_seconds(tmp_path):
    import tensorflow_datasets  # noqa: F401  (its import is not what is timed)

    start = time.monotonic()
    with pytest.raises(DataError, match="^tfds:beans is not prepared in data_dir"):
        custom.load("tfds:beans", str(tmp_path))
    assert time.monotonic() - start < 10
    # TFDS would retry its download for minutes: the timeout catches a regression.
    result = run_tool(
        "tools/search.py",
        "--model=conv4",
        "--dataset=tfds:beans",
        f"--data_dir={tmp_path}",
        f"--output_dir={tmp_path / 'out'}",
        timeout=90,
    )
    assert one_error_line(result, 2) == (
        f"error: --dataset: tfds:beans is not prepared in --data_dir {tmp_path}: a download is needed; "
        "`tfds build beans --data_dir=DIR` downloads and prepares it in DIR on a machine with network; "
        "then pass --data_dir=DIR, the folder holding beans/"
    )


class FakeTfds:
    """The part of `tensorflow_datasets` `require_prepared` uses: `load`, with or without data."""

    def __init__(self, prepared):
        self.prepared = prepared

    def load(self, name, split, data_dir, download):
        assert not download  # the check itself never downloads
        if not self.prepared:
            raise AssertionError(f"Dataset {name}: could not find data in {data_dir}.")


def test_tfds_without_data_dir_needs_its_storage_to_answer(monkeypatch):
    probed = []
    monkeypatch.setattr(downloads, "unreachable", lambda url: probed.append(url) or "storage cannot be reached (x)")
    tfds_builtin.require_prepared(FakeTfds(prepared=True), "beans", "tfds:beans")
    assert probed == []  # prepared data is read without a network
    with pytest.raises(DataError) as error:
        tfds_builtin.require_prepared(FakeTfds(prepared=False), "beans", "tfds:beans", advice="do this")
    assert probed == [tfds_builtin.TFDS_STORAGE]
    assert str(error.value) == (
        "tfds:beans is not prepared in TFDS's data dir (TFDS_DATA_DIR, default "
        "~/tensorflow_datasets) and a download is needed, but storage cannot be "
        "reached (x); do this"
    )
    monkeypatch.setattr(downloads, "unreachable", lambda url: None)
    tfds_builtin.require_prepared(FakeTfds(prepared=False), "beans", "tfds:beans")  # TFDS downloads it


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_unreachable_host_is_named_at_once(no_proxy):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    assert downloads.unreachable(f"http://127.0.0.1:{port}/data.zip") is None
    listener.close()  # nothing listens there now: the connection is refused
    start = time.monotonic()
    reason = downloads.unreachable(f"http://127.0.0.1:{port}/data.zip")
    assert reason.startswith("127.0.0.1 cannot be reached (") and time.monotonic() - start < 5


def test_a_silent_download_gives_up(no_proxy):
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    start = time.monotonic()
    with pytest.raises(OSError), downloads.stall_timeout(0.5):
        urllib.request.urlopen(f"http://127.0.0.1:{listener.getsockname()[1]}/")
    assert time.monotonic() - start < 10
    listener.close()


def test_a_silent_graph_download_fails_in_one_line(no_proxy, monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    monkeypatch.setattr(planetoid, "URL", f"http://127.0.0.1:{listener.getsockname()[1]}/")
    monkeypatch.setattr(downloads, "STALL_TIMEOUT_S", 0.5)
    start = time.monotonic()
    with pytest.raises(DataError, match=r"^citeseer: download failed \(.*timed out.*\); pass data_dir"):
        graphs.load_graph("citeseer")
    assert time.monotonic() - start < 10
    listener.close()


@pytest.mark.slow
def test_export_refuses_an_unfinished_run(tmp_path):
    (tmp_path / "best.keras").write_bytes(b"a model")
    result = run_tool("deploy/export.py", f"--output_dir={tmp_path}", timeout=120)
    assert one_error_line(result, 2) == (
        f"error: --output_dir {tmp_path} holds no results.json: its search has not finished; run the same "
        "search command to finish it, or pass --allow_unfinished to export its best epoch so far"
    )
    assert sorted(os.listdir(tmp_path)) == ["best.keras"]


def test_unfinished_run_exports_with_its_stored_flags(tmp_path):
    (tmp_path / "best.keras").write_bytes(b"a model")
    with pytest.raises(ValueError, match="holds no results.json: its search has not finished"):
        sources.search_run(str(tmp_path))
    assert sources.search_run(str(tmp_path), allow_unfinished=True) == (str(tmp_path / "best.keras"), {})
    flags = {"dataset": "fashion_mnist", "model": "fc"}
    (tmp_path / "state.json").write_text(json.dumps({"epoch": 1, "metadata": {"flags": flags}}))
    assert sources.search_run(str(tmp_path), allow_unfinished=True) == (str(tmp_path / "best.keras"), flags)
    (tmp_path / "results.json").write_text(json.dumps({"flags": {"dataset": "mnist"}}))
    assert sources.search_run(str(tmp_path)) == (str(tmp_path / "best.keras"), {"dataset": "mnist"})


@pytest.mark.parametrize(
    "dataset, data_dir, image_size, message",
    [
        (None, "data", None, "data_dir needs dataset: it applies to the dataset's inputs"),
        (None, None, "32,32", "image_size needs dataset: it applies to the dataset's inputs"),
        (
            "fashion_mnist",
            None,
            "32,32",
            "image_size applies to tfds:NAME and image_folder datasets, not to fashion_mnist",
        ),
    ],
)
def test_export_and_benchmark_refuse_dataset_options_without_use(dataset, data_dir, image_size, message):
    with pytest.raises(ValueError) as error:
        sources.check_dataset_options(dataset, data_dir, image_size)
    assert str(error.value) == message
    sources.check_dataset_options("tfds:beans", "data", "32,32")
    sources.check_dataset_options(None)


def image_folder(root, images_per_class):
    from PIL import Image

    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(images_per_class):
            pixels = np.full((8, 8, 3), 40 * i + (100 if label == "dog" else 0), np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return str(root)


def test_an_empty_split_is_named(tmp_path):
    # Two images: one for the test split, one for training, which validation takes.
    config = tiny_config(image_folder(tmp_path / "images", 1), tmp_path / "out", dataset="image_folder")
    with pytest.raises(runner.ConfigError) as error:
        runner.run_search(config)
    assert str(error.value) == (
        "dataset image_folder: its training split is empty (0 training, 1 validation, 1 test examples; "
        "validation is 20% of the training set); every split needs at least one example"
    )
    assert not (tmp_path / "out" / "results.json").exists()


def test_sweep_line_per_finished_run(tmp_path):
    run = sweep.grid(["fc"], [0.5], [0.5], [0], pruned_source=False, weight_trained=False)[0]
    folder = tmp_path / run.name
    folder.mkdir()
    (folder / "results.json").write_text(
        json.dumps({"test_accuracy": 0.8412, "model_size_bits": 1234567, "wall_time_s": 35.4, "flags": {}})
    )
    assert sweep.finished_line(tmp_path, run, 0) == (
        "done: fc_s0.5_f0.5_frozen_seed0 (model=fc algo=ep sparsity=0.5 prune_ratio=0.25 lock_ratio=0.25 "
        "seed=0): test accuracy 84.12%, 1,234,567 bits, 35 s"
    )
    assert sweep.finished_line(tmp_path, run, 3) == (
        f"FAILED (3): fc_s0.5_f0.5_frozen_seed0; its log: {folder / 'log.txt'}"
    )
