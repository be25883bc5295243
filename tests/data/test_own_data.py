"""A user's own data: --dataset=tfds:NAME and --dataset=image_folder (keras_slt.data)."""

import os

import numpy as np
import PIL.Image
import pytest
from fakes import CLASSES, write_folder
from helpers import collect

from keras_slt import data
from keras_slt.data.batching.plan import normalize
from keras_slt.data.readers import image_folder
from keras_slt.experiments import runner


def test_image_folder_with_train_and_test(tmp_path):
    train = write_folder(tmp_path / "train", per_class=5)
    test = write_folder(tmp_path / "test", per_class=2, seed=1)
    x_train, y_train, x_test, y_test, classes = image_folder.load_dir(str(tmp_path))
    assert classes == list(CLASSES)
    assert x_train.shape == (15, 6, 5, 3) and x_test.shape == (6, 6, 5, 3) and x_train.dtype == np.uint8
    # PNG is lossless: the pixels and labels come back exactly, in class-folder order.
    np.testing.assert_array_equal(x_train, np.stack([image for name in CLASSES for image in train[name]]))
    np.testing.assert_array_equal(x_test, np.stack([image for name in CLASSES for image in test[name]]))
    np.testing.assert_array_equal(y_train, np.repeat(np.arange(3), 5))

    ds = data.load("image_folder", data_dir=str(tmp_path), batch_size=4, seed=3, augment="crop_flip")
    assert (ds.num_train, ds.num_validation, ds.num_test, ds.num_classes) == (12, 3, 6, 3)
    assert ds.input_shape == (6, 5, 3)
    # Same seed-determined split as the built-in datasets.
    _, validation = data.split_indices(15, 0.2, 3)
    mean, std = data.custom.channel_statistics(x_train)
    x_validation, y_validation = collect(ds.validation)
    np.testing.assert_allclose(x_validation, normalize(x_train[validation], mean, std), rtol=1e-6)
    np.testing.assert_array_equal(y_validation, y_train[validation])
    again = data.load("image_folder", data_dir=str(tmp_path), batch_size=4, seed=3, augment="crop_flip")
    np.testing.assert_array_equal(collect(ds.train, 3)[0], collect(again.train, 3)[0])


def test_image_folder_single_pool_resized_grayscale(tmp_path):
    write_folder(tmp_path, per_class=10, size=(8, 8), channels=1)
    x_train, y_train, x_test, y_test, _ = image_folder.load_dir(str(tmp_path), image_size=(4, 6))
    assert x_train.shape == (24, 4, 6, 1) and x_test.shape == (6, 4, 6, 1)
    # A fixed 20% is the test set, whatever the run's seed.
    _, test = data.split_indices(30, 0.2, image_folder.TEST_SPLIT_KEY)
    np.testing.assert_array_equal(y_test, np.repeat(np.arange(3), 10)[test])


def test_image_folder_reads_every_image_in_the_first_ones_mode(tmp_path):
    gray = np.arange(30, dtype=np.uint8).reshape(6, 5) * 8
    rgb = np.stack([gray, 255 - gray, gray // 2], axis=-1)
    for split in ("train", "test"):
        for name in ("cat", "dog", ".thumbnails"):
            os.makedirs(tmp_path / split / name)
    PIL.Image.fromarray(gray).save(tmp_path / "train" / "cat" / "0.png")  # the first image: grayscale
    PIL.Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "train" / "cat" / "1.png")  # 16-bit
    os.makedirs(tmp_path / "train" / "cat" / "more")
    PIL.Image.fromarray(rgb).save(tmp_path / "train" / "cat" / "more" / "2.jpg")  # nested folders count
    PIL.Image.fromarray(rgb).convert("P").save(tmp_path / "train" / "dog" / "0.gif")
    PIL.Image.fromarray(np.kron(gray, np.ones((2, 2), np.uint8))).save(tmp_path / "train" / "dog" / "1.bmp")
    for name in ("cat", "dog"):
        PIL.Image.fromarray(rgb).save(tmp_path / "test" / name / "0.png")
    x_train, y_train, x_test, y_test, classes = image_folder.load_dir(str(tmp_path), image_formats="png,jpeg,gif,bmp")
    assert classes == ["cat", "dog"] and x_train.shape == (5, 6, 5, 1) and x_test.shape == (2, 6, 5, 1)
    np.testing.assert_array_equal(y_train, [0, 0, 0, 1, 1])
    luma = np.asarray(PIL.Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(x_train[0, ..., 0], gray)
    np.testing.assert_array_equal(x_train[1, ..., 0], gray)  # a 16-bit image keeps its high byte
    # Colour images become Pillow's luma; the double-size one is resized by Pillow's bilinear filter.
    files = ("cat/more/2.jpg", "dog/0.gif", "dog/1.bmp")
    for found, path in zip(x_train[2:, ..., 0], files):
        with PIL.Image.open(tmp_path / "train" / path) as image:
            expected = image.convert("L").resize((5, 6), PIL.Image.Resampling.BILINEAR)
        np.testing.assert_array_equal(found, np.asarray(expected), err_msg=path)
    np.testing.assert_array_equal(x_test[..., 0], [luma, luma])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: None, "has no class subfolders"),
        (lambda root: (root / "cat").mkdir() or (root / "dog").mkdir(), "class folder cat holds no"),
        (lambda root: write_folder(root, 2, classes=("cat",)), "has a single class \\(cat\\)"),
        (
            lambda root: write_folder(root, 2) and (root / "dog" / "001.png").write_bytes(b"not a png"),
            "cannot read image .*dog/001.png",
        ),
        (
            lambda root: write_folder(root / "train", 2) and write_folder(root / "test", 2, classes=("cat", "emu")),
            "train/ has classes cat, dog, owl but test/ has cat, emu",
        ),
    ],
)
def test_bad_image_folders_are_one_line_errors(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(data.DataError, match=message) as error:
        data.load("image_folder", data_dir=str(tmp_path))
    assert "\n" not in str(error.value)


@pytest.mark.requires_tensorflow
def test_tfds_dataset_by_name():
    import tensorflow as tf
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=10):
        ds = data.load("tfds:mnist", batch_size=4, seed=0)
        assert (ds.num_train, ds.num_validation, ds.num_test) == (8, 2, 10)
        assert ds.input_shape == (28, 28, 1) and ds.num_classes == 10
        x, y = next(iter(ds.train))
        assert x.shape == (4, 28, 28, 1) and x.dtype == tf.float32 and y.dtype == tf.int32
        x_train = data.load_arrays("tfds:mnist", image_size=(7, 9))[0]
        assert x_train.shape == (10, 7, 9, 1) and x_train.dtype == np.uint8


@pytest.mark.parametrize(
    "name, message",
    [
        ("tfds:no_such_dataset_here", "tfds:no_such_dataset_here: TFDS cannot open it"),
        ("tfds:imdb_reviews", "needs an Image feature 'image' and a ClassLabel feature 'label'"),
        ("tfds:oxford_flowers102", "has images of varying size; give image_size"),
    ],
)
@pytest.mark.requires_tensorflow
def test_bad_tfds_datasets_are_one_line_errors(name, message):
    with pytest.raises(data.DataError, match=message) as error:
        data.load_arrays(name)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"dataset": "tfds:"}, "dataset tfds:NAME needs a TFDS dataset name"),
        ({"dataset": "image_folder"}, "dataset image_folder needs data_dir"),
        ({"dataset": "svhn"}, "dataset must be one of mnist, .*, tfds:NAME or image_folder; got 'svhn'"),
        ({"dataset": "image_folder", "data_dir": "EMPTY"}, "dataset: image folder .* has no class subfolders"),
        ({"image_size": "32"}, "image_size must be two positive integers H,W; got '32'"),
        ({"image_size": "0,4"}, "image_size must be two positive integers H,W"),
        ({"augment": "mixup"}, "augment must be one of auto, none, crop_flip"),
    ],
)
def test_bad_data_settings_are_one_line_config_errors(tmp_path, settings, message):
    (tmp_path / "empty").mkdir()
    settings = {key: str(tmp_path / "empty") if value == "EMPTY" else value for key, value in settings.items()}
    config = runner.SearchConfig(
        **dict(dict(model="fc", dataset="fashion_mnist", output_dir=str(tmp_path / "o")), **settings)
    )
    with pytest.raises(runner.ConfigError, match=message) as error:
        runner.run_search(config)
    assert "\n" not in str(error.value)
