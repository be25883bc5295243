"""The search tool and the ticket files without TensorFlow (the `.[jax]` install).

Each tool runs in a subprocess on the JAX backend with TensorFlow, TFDS and
LiteRT made unimportable, as in an install without them; its files are then
read here, on TensorFlow. In the install without TensorFlow the whole suite
runs on JAX instead, so this module needs TensorFlow.
"""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from helpers import ROOT, WITHOUT_TENSORFLOW, tool_lines

import keras_slt
from keras_slt import ticket
from keras_slt.experiments import run_files

pytestmark = [pytest.mark.slow, pytest.mark.requires_tensorflow]

TESTS = os.path.join(ROOT, "tests")


def jax_tool(script, *args, wait=True):
    """Starts `python <script> <args>` on JAX without TensorFlow; the CompletedProcess or Popen."""
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    command = [sys.executable, "-c", WITHOUT_TENSORFLOW, os.path.join(ROOT, script), *args]
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def search_flags(data_dir, output_dir, epochs):
    return [
        "--model=fc",
        "--dataset=fashion_mnist",
        f"--data_dir={data_dir}",
        "--width=16",
        "--batch_size=32",
        "--sparsity=0.5",
        f"--epochs={epochs}",
        f"--output_dir={output_dir}",
    ]


def outcome(folder):
    with open(os.path.join(folder, run_files.RESULTS)) as f:
        results = json.load(f)
    history = [(epoch["accuracy"], epoch["val_accuracy"]) for epoch in results["history"]]
    return results["test_accuracy"], results["best_epoch"], history


@pytest.fixture(scope="module")
def straight_run(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("jax_run")
    done = jax_tool("tools/search.py", *search_flags(data_dir, folder, epochs=6))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return folder, done


def test_search_runs_without_tensorflow(straight_run):
    folder, done = straight_run
    summary = [line for line in done.stdout.splitlines() if line.startswith("fc on fashion_mnist")]
    assert len(summary) == 1 and "test accuracy" in summary[0]
    test_accuracy, _, history = outcome(folder)
    assert test_accuracy > 0.3  # 10 classes; the fake data is easy
    # No TensorBoard writer without TensorFlow: the CSV log holds every epoch.
    with open(os.path.join(folder, run_files.LOGS_DIR, run_files.HISTORY_CSV)) as f:
        assert len(f.read().splitlines()) == 1 + len(history)


def test_image_folder_search_runs_without_tensorflow(image_dir, tmp_path):
    done = jax_tool(
        "tools/search.py",
        "--model=fc",
        "--dataset=image_folder",
        f"--data_dir={image_dir}",
        "--image_size=12,10",
        "--augment=crop_flip",
        "--width=16",
        "--batch_size=8",
        "--epochs=1",
        f"--output_dir={tmp_path}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = [line for line in done.stdout.splitlines() if line.startswith("fc on image_folder")]
    assert len(summary) == 1 and "test accuracy" in summary[0]
    with open(tmp_path / run_files.RESULTS) as f:
        assert len(json.load(f)["history"]) == 1


def test_killed_search_resumes_to_the_same_result(straight_run, data_dir, tmp_path):
    running = jax_tool("tools/search.py", *search_flags(data_dir, tmp_path, epochs=6), wait=False)
    deadline = time.monotonic() + 300
    while not os.path.exists(tmp_path / run_files.checkpoint(1)):
        assert running.poll() is None, running.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no epoch done in time"
        time.sleep(0.01)
    running.send_signal(signal.SIGKILL)
    running.communicate()
    assert running.returncode == -signal.SIGKILL
    assert not os.path.exists(tmp_path / run_files.RESULTS)
    resumed = jax_tool("tools/search.py", *search_flags(data_dir, tmp_path, epochs=6))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert outcome(tmp_path) == outcome(straight_run[0])


def test_files_written_without_tensorflow_load_on_tensorflow(straight_run):
    folder, _ = straight_run
    done = jax_tool("deploy/export.py", f"--output_dir={folder}", "--format=slt,keras")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not [line for line in tool_lines(done.stderr) if line.startswith("error")]
    best = keras.saving.load_model(os.path.join(folder, run_files.BEST_MODEL))
    loaded = ticket.load_ticket(os.path.join(folder, "ticket.slt"), supermask=True)
    for found, expected in zip(loaded.masks(), best.masks(), strict=True):
        np.testing.assert_array_equal(found, expected)
    plain = keras.saving.load_model(os.path.join(folder, "ticket.keras"))
    x = np.random.default_rng(0).standard_normal((4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(
        plain.predict(x, verbose=0), ticket.materialize(best).predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


def first_step_masks(path=None):
    """The masks of a small FC ticket after one SGD step on fixed data (saved to `path`)."""
    network = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(64, activation="relu", use_bias=False),
            keras.layers.Dense(10, use_bias=False),
        ]
    )
    model = keras_slt.supermaskify(network, sparsity=0.5, freeze_ratio=0.5, seed=3)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(1)
    model.train_on_batch(rng.standard_normal((32, 20)).astype("float32"), rng.integers(0, 10, 32))
    masks = model.masks()
    if path:
        np.savez(path, *masks)
    return masks


def test_first_step_gives_the_same_masks_on_jax(tmp_path):
    path = tmp_path / "jax_masks.npz"
    done = subprocess.run(
        [sys.executable, "-c", f"import test_jax_install as t; t.first_step_masks({str(path)!r})"],
        # Run from tests/, so that `conftest` is the tests' and not the root's.
        cwd=TESTS,
        env=dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=os.pathsep.join([ROOT, TESTS, os.path.dirname(__file__)])),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    on_jax = np.load(path)
    for i, mask in enumerate(first_step_masks()):
        np.testing.assert_array_equal(mask, on_jax[f"arr_{i}"])
