"""Fixtures and collection rules of the tests.

Every test runs on every Keras backend unless it is marked
`requires_tensorflow` (it needs tf.data, tf.distribute, TFLite or the
TensorFlow backend itself). README's test command runs the suite on
TensorFlow, then again with KERAS_BACKEND=jax in an install without
TensorFlow, where those tests are skipped; a module whose `pytestmark`
holds the marker is not even imported there, as its imports need
TensorFlow. Code the tests share is in helpers.py and fakes.py.
"""

import importlib.util
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from fakes import write_idx

_MARKED_MODULE = re.compile(r"^pytestmark = .*\brequires_tensorflow\b", re.MULTILINE)


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix == ".py" and importlib.util.find_spec("tensorflow") is None:
        return bool(_MARKED_MODULE.search(collection_path.read_text(encoding="utf-8"))) or None
    return None


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs TensorFlow ({keras.backend.backend()} backend)")
    for item in items:
        if "requires_tensorflow" in item.keywords:
            item.add_marker(skip)


# The fake Fashion-MNIST of `data_dir`: 160 train / 40 validation examples,
# 5 batches of 32.
NUM_TRAIN, NUM_TEST = 200, 100


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


@pytest.fixture(scope="session")
def ticket_path(tmp_path_factory):
    """The `.slt` file of a small FC ticket on 28x28 inputs (as Fashion-MNIST's)."""
    import keras_slt

    path = tmp_path_factory.mktemp("ticket") / "fc.slt"
    keras_slt.ticket.save_ticket(keras_slt.models.get("fc", (28, 28, 1), 10, width=8, seed=1), str(path))
    return str(path)
