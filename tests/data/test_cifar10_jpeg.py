"""CIFAR-10 on real images: the JPEG folder reader, the recipe's batches, a search that learns.

Reads a subset (the first 200 training and 100 test images of each class) of
the CIFAR-10 JPEG folder that $CIFAR10_JPEG_DIR names; skips where it names
none.
"""

import hashlib
import json
import os

import numpy as np
import pytest
from helpers import collect, run_tool

from keras_slt import data
from keras_slt.data.readers import cifar_folder

FOLDER = os.environ.get("CIFAR10_JPEG_DIR", "")
PER_CLASS = {"train": 200, "test": 100}

pytestmark = pytest.mark.skipif(
    not (FOLDER and os.path.isdir(FOLDER)),
    reason=f"CIFAR10_JPEG_DIR names no CIFAR-10 JPEG folder ({FOLDER or 'unset'})",
)


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """A CIFAR-10 JPEG folder of links to the first files of each class."""
    root = tmp_path_factory.mktemp("cifar10_jpeg")
    for split, count in PER_CLASS.items():
        for name in cifar_folder.CLASSES:
            (root / split / name).mkdir(parents=True)
            for image in sorted(os.listdir(os.path.join(FOLDER, split, name)))[:count]:
                (root / split / name / image).symlink_to(os.path.join(FOLDER, split, name, image))
    return str(root)


def pixels(images):
    """uint8 pixels back from images normalized with CIFAR-10's constants."""
    spec = data.SPECS["cifar10"]
    return np.round((images * np.float32(spec.std) + np.float32(spec.mean)) * 255).astype(np.int64)


def test_reads_official_labels_and_pil_pixels(subset):
    x_train, y_train, x_test, y_test = data.load_arrays("cifar10", subset)
    assert x_train.shape == (2000, 32, 32, 3) and x_test.shape == (1000, 32, 32, 3)
    assert x_train.dtype == np.uint8
    np.testing.assert_array_equal(y_train, np.repeat(np.arange(10), 200))
    np.testing.assert_array_equal(y_test, np.repeat(np.arange(10), 100))
    image = pytest.importorskip("PIL.Image")
    cat = os.path.join(subset, "test", "cat", sorted(os.listdir(os.path.join(subset, "test", "cat")))[0])
    with image.open(cat) as decoded:  # torchvision's loader
        np.testing.assert_array_equal(x_test[300], np.asarray(decoded.convert("RGB")))


def test_batches_follow_the_recipe(subset):
    x_train, y_train, x_test, y_test = data.load_arrays("cifar10", subset)
    dataset = data.load("cifar10", subset, batch_size=250, seed=0)
    assert (dataset.num_train, dataset.num_validation, dataset.num_test) == (int(2000 * 0.8), 400, 1000)

    test_images, test_labels = collect(dataset.test)
    again, _ = collect(dataset.test)
    np.testing.assert_array_equal(test_images, again)
    # Normalized with the official constants: about zero mean, unit std per channel.
    channels = test_images.reshape(-1, 3)
    assert np.all(np.abs(channels.mean(axis=0)) < 0.1), channels.mean(axis=0)
    assert np.all(np.abs(channels.std(axis=0) - 1) < 0.05), channels.std(axis=0)
    # Evaluation splits are not augmented: their pixels come back exactly.
    np.testing.assert_array_equal(pixels(test_images), x_test)
    np.testing.assert_array_equal(test_labels, y_test)
    train_idx, val_idx = data.split_indices(2000, 0.2, 0)
    val_images, val_labels = collect(dataset.validation)
    np.testing.assert_array_equal(pixels(val_images), x_train[val_idx])
    np.testing.assert_array_equal(val_labels, y_train[val_idx])

    # Training batches: the training part only, reshuffled and re-augmented each epoch.
    epochs = [collect(dataset.train_from(epoch), dataset.steps_per_epoch) for epoch in range(2)]
    raw = {hashlib.sha1(image.tobytes()).digest() for image in x_train.astype(np.int64)}
    for images, labels in epochs:
        assert np.bincount(labels, minlength=10).tolist() == np.bincount(y_train[train_idx], minlength=10).tolist()
        recovered = pixels(images)
        assert recovered.min() >= 0 and recovered.max() <= 255
        unchanged = np.mean([hashlib.sha1(image.tobytes()).digest() in raw for image in recovered])
        # A pad-4 crop keeps the image with chance 1/81 (and no flip 1/2).
        assert unchanged < 0.05, unchanged
        # Zero padding shows as black rows or columns at some image's border.
        black = np.all(recovered == 0, axis=-1)
        assert np.any(black[:, 0, :].all(axis=1) | black[:, :, 0].all(axis=1))
    assert not np.array_equal(epochs[0][1], epochs[1][1])
    assert not np.array_equal(epochs[0][0], epochs[1][0])


@pytest.mark.slow
def test_paper_flagfile_learns(subset, tmp_path):
    result = run_tool(
        "tools/search.py",
        "--flagfile=configs/cifar10_conv6_frozen_source.flags",
        f"--data_dir={subset}",
        "--epochs=8",
        "--width_factor=0.5",
        "--batch_size=32",
        f"--output_dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "results.json") as f:
        results = json.load(f)
    assert results["flags"]["sparsity"] == 0.5 and results["flags"]["model"] == "conv6"
    # Chance is 10%; the calibration runs reached about 30%.
    assert results["test_accuracy"] > 0.2, results["test_accuracy"]
