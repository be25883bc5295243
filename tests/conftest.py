"""Shared test helpers.

Tests marked `agnostic` run on every Keras backend; README's test command runs
them a second time with KERAS_BACKEND=jax.
"""

import gzip
import importlib.util
import os
import re
import struct

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest


# Test modules that import TensorFlow, TFDS, LiteRT or keras-slt's modules
# built on them at the top, themselves or through another test module: skipped
# whole in the JAX install, where that import would fail at collection.
_TENSORFLOW_IMPORT = re.compile(
    r"^((import|from) (tensorflow|tensorflow_datasets|ai_edge_litert)\b"
    r"|from keras_slt\.data import .*\b(tfds_any|pipeline|transforms)\b"
    r"|from keras_slt\.data\.(tfds_any|pipeline|transforms) import"
    r"|from keras_slt\.export import .*\b(tflite|block_sparse)\b)",
    re.MULTILINE)
_TEST_MODULE_IMPORT = re.compile(r"^from (test_\w+) import", re.MULTILINE)


def _needs_tensorflow(path):
    source = path.read_text(encoding="utf-8")
    return bool(_TENSORFLOW_IMPORT.search(source)) or any(
        _needs_tensorflow(path.with_name(name + ".py")) for name in _TEST_MODULE_IMPORT.findall(source))


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix == ".py" and importlib.util.find_spec("tensorflow") is None:
        return _needs_tensorflow(collection_path)
    return None


def pytest_collection_modifyitems(config, items):
    # On a non-TensorFlow backend only the backend-agnostic tests make sense.
    if keras.backend.backend() != "tensorflow":
        skip = pytest.mark.skip(reason=f"TensorFlow-only test ({keras.backend.backend()} backend)")
        for item in items:
            if "agnostic" not in item.keywords:
                item.add_marker(skip)


def kernel_weights(layer):
    """A supermask layer's random kernel W as NumPy."""
    return keras.ops.convert_to_numpy(layer.kernel_weights())


def full_scores(layer):
    """A layer's scores at their mask positions (0 at frozen ones), NumPy.

    The NumPy reference selection reads scores and freeze pattern of full
    shape; it never reads a frozen position's score.
    """
    freeze = layer.freeze_pattern()
    scores = np.zeros(freeze.shape, "float32")
    scores[freeze == 0] = keras.ops.convert_to_numpy(layer.scores)
    return scores


def numpy(tensor):
    """A backend tensor as NumPy."""
    return keras.ops.convert_to_numpy(tensor)


def reference_masks(model):
    """The NumPy reference selection of a `SupermaskModel`'s current scores."""
    from keras_slt import selection

    layers = model.supermask_layers
    select = selection.global_masks if model.selection == "global" else selection.layerwise_masks
    return select([full_scores(l) for l in layers], [l.freeze_pattern() for l in layers], model.sparsity)


def free_part(layer, array):
    """The entries of a mask-shaped array at the layer's free positions."""
    return np.asarray(array)[layer.freeze_pattern() == 0]


def gradient(function, variable):
    """d function() / d variable, on the current backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = function()
        return np.asarray(tape.gradient(value, variable.value))
    if backend == "jax":
        import jax

        def wrapped(v):
            with keras.StatelessScope(state_mapping=[(variable, v)]):
                return function()

        return np.asarray(jax.grad(wrapped)(variable.value))
    raise NotImplementedError(backend)


def assert_one_line(error, *fragments):
    """`error`'s message is one line and holds every fragment (str() of each)."""
    message = str(error)
    assert "\n" not in message
    for fragment in fragments:
        assert str(fragment) in message, (fragment, message)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(script, *args, timeout=600, env=None):
    """Runs `python <script> <args>` from the repository root on this checkout.

    `env` changes the inherited environment; a None value removes a variable.
    Returns the CompletedProcess (text output captured).
    """
    import subprocess
    import sys

    changes = dict(env or {}, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env = {key: value for key, value in dict(os.environ, **changes).items() if value is not None}
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def tool_lines(stderr):
    """stderr without TensorFlow's import-time C++ log lines (glog format)."""
    return [line for line in stderr.splitlines() if line.strip()
            and not re.match(r"[IWEF]\d{4} \d\d:\d\d:\d\d", line)
            and not line.startswith("WARNING: All log messages before absl::InitializeLog()")]


def one_error_line(result, status):
    """The single `error: ...` line of a tool that exited with `status`."""
    assert result.returncode == status, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = tool_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# The fake Fashion-MNIST of `data_dir`: 160 train / 40 validation examples,
# 5 batches of 32.
NUM_TRAIN, NUM_TEST = 200, 100


def write_idx(path, array, magic=None):
    """Writes `array` as a gzipped IDX file of unsigned bytes (magic 0x0800 | ndim unless given)."""
    array = np.asarray(array, np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def collect(dataset):
    """All batches of a `tf.data` dataset of (x, y), concatenated as NumPy."""
    xs, ys = zip(*dataset.as_numpy_iterator())
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Fashion-MNIST-shaped IDX files: a class template plus noise per image."""
    folder = tmp_path_factory.mktemp("fashion_mnist")
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 256, (10, 28, 28))
    for prefix, n in (("train", NUM_TRAIN), ("t10k", NUM_TEST)):
        labels = rng.integers(0, 10, n)
        images = np.clip(templates[labels] + rng.normal(0, 60, (n, 28, 28)), 0, 255)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, 2051)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels, 2049)
    return str(folder)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """An image folder of 3 classes x 12 images: RGB PNGs and JPEGs of mixed sizes, resized on reading."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    for name in ("ant", "bee", "fly"):
        os.makedirs(folder / name)
        for i in range(12):
            size = (10 + i % 3 * 7, 14 - i % 2 * 4)  # smaller and larger than the 12x10 read
            image = Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8))
            image.save(folder / name / f"{i:02d}.{'png' if i % 2 else 'jpg'}")
    return str(folder)


def tiny_config(data_dir, output_dir, **overrides):
    """A `SearchConfig` of a 2-epoch FC-16 search on `data_dir`."""
    from keras_slt.experiments import runner

    settings = dict(model="fc", dataset="fashion_mnist", data_dir=data_dir, width=16,
                    epochs=2, batch_size=32, output_dir=str(output_dir), sparsity=0.5)
    settings.update(overrides)
    return runner.SearchConfig(**settings)


class StopAfterEpoch(keras.callbacks.Callback):
    """Stops a run after its `epochs`-th epoch, as a kill would."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise KeyboardInterrupt


def checkpoint_floats(path):
    """Every float array of a weights file, concatenated (optimizer state included)."""
    import h5py

    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.append(np.ravel(item[()]))
                     if isinstance(item, h5py.Dataset) and item.dtype.kind == "f" else None)
    return np.concatenate(arrays).tolist()
