"""The CIFAR-10 JPEG folder reader on generated folders (see test_cifar10_jpeg for the real one)."""

import os

import numpy as np
import PIL.Image
import pytest

from keras_slt import data
from keras_slt.data.loader import arrays_and_spec
from keras_slt.data.readers import cifar_folder


def write_jpeg(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path, "JPEG", quality=100)


def write_folder(root, per_class=2):
    """A CIFAR-10 JPEG folder of flat-colored images; each class has its own gray level."""
    for split in cifar_folder.SPLITS:
        for label, name in enumerate(cifar_folder.CLASSES):
            for i in range(per_class):
                write_jpeg(root / split / name / f"{i:04d}.jpg", np.full((32, 32, 3), 20 * label + i, np.uint8))
    return root


def test_labels_follow_cifar10_order(tmp_path):
    root = write_folder(tmp_path / "cifar")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")  # only JPEGs count
    x_train, y_train, x_test, y_test = data.load_arrays("cifar10", root)
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(y_train, np.repeat(np.arange(10), 2))
    # a flat image survives JPEG at quality 100 within a gray level
    np.testing.assert_allclose(x_train[:, 0, 0, 0], 20 * y_train + np.tile([0, 1], 10), atol=1)
    assert list(cifar_folder.CLASSES) == sorted(cifar_folder.CLASSES)  # official order = sorted order


def test_load_gives_the_recipe_split(tmp_path):
    root = write_folder(tmp_path / "cifar", per_class=5)
    dataset = data.load("cifar10", root, batch_size=8)
    assert (dataset.num_train, dataset.num_validation, dataset.num_test) == (40, 10, 50)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda root: os.rename(root / "train" / "cat", root / "train" / "kitten"),
            "train has class folders airplane, automobile, bird, deer, dog, frog, horse, kitten",
        ),
        (lambda root: (root / "test" / "lion").mkdir(), "test has class folders"),
        (lambda root: os.rename(root / "test", root / "tests"), "has no test/ folder"),
        (lambda root: [p.unlink() for p in (root / "test" / "dog").iterdir()], "dog holds no .jpg/.jpeg images"),
        (
            lambda root: write_jpeg(root / "train" / "frog" / "0000.jpg", np.zeros((28, 28, 3), np.uint8)),
            "frog/0000.jpg is 28x28x3; CIFAR-10 images are 32x32x3",
        ),
        (
            lambda root: write_jpeg(root / "test" / "ship" / "0001.jpg", np.zeros((32, 32, 1), np.uint8)),
            "ship/0001.jpg is 32x32x1",
        ),
        (
            lambda root: (root / "test" / "truck" / "0001.jpg").write_bytes(b"\xff\xd8 not a jpeg"),
            "cannot read image .*truck/0001.jpg: it is not a JPEG file",
        ),
    ],
)
def test_refuses_a_folder_that_is_not_cifar10(tmp_path, change, message):
    root = write_folder(tmp_path / "cifar", per_class=2)
    change(root)
    with pytest.raises(data.DataError, match=message) as error:
        data.load_arrays("cifar10", root)
    assert str(root) in str(error.value) and "\n" not in str(error.value)


def test_image_folder_still_reads_it_as_any_folder(tmp_path):
    root = write_folder(tmp_path / "cifar")
    (x_train, y_train, x_test, y_test), spec = arrays_and_spec("image_folder", root)
    assert spec.num_classes == 10 and spec.input_shape == (32, 32, 3)
    np.testing.assert_array_equal(y_train, np.repeat(np.arange(10), 2))
