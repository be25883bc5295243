"""Tests for keras_slt.data: file readers, split, transforms and pipelines."""

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
from fakes import write_cifar_dir, write_idx
from helpers import assert_one_line, collect

from keras_slt import data
from keras_slt.data.batching import plan
from keras_slt.data.readers import cifar, idx
from keras_slt.utils import seeding

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


# --- helpers writing tiny files in the real formats -------------------------


def write_mnist_dir(directory, num_train=10, num_test=4, size=28, seed=0):
    rng = np.random.default_rng(seed)
    arrays = (
        rng.integers(0, 256, (num_train, size, size), np.uint8),
        rng.integers(0, 10, num_train).astype(np.uint8),
        rng.integers(0, 256, (num_test, size, size), np.uint8),
        rng.integers(0, 10, num_test).astype(np.uint8),
    )
    os.makedirs(directory, exist_ok=True)
    for name, array in zip(idx.FILES, arrays):
        write_idx(os.path.join(directory, name), array)
    return arrays


# --- IDX -------------------------------------------------------------------


def test_idx_round_trip(tmp_path):
    arrays = write_mnist_dir(tmp_path)
    loaded = data.load_arrays("mnist", tmp_path)
    for got, expected in zip(loaded, arrays):
        np.testing.assert_array_equal(got.reshape(expected.shape), expected)
    x_train, y_train, x_test, y_test = loaded
    assert x_train.shape == (10, 28, 28, 1) and x_train.dtype == np.uint8
    assert x_test.shape == (4, 28, 28, 1)
    assert y_train.dtype == np.int32 and y_test.shape == (4,)


def test_read_idx_returns_header_dims(tmp_path):
    path = tmp_path / "x.gz"
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(path, array)
    np.testing.assert_array_equal(idx.read_idx(path, idx.IMAGES_MAGIC), array)


def test_idx_bad_magic(tmp_path):
    write_mnist_dir(tmp_path)
    path = tmp_path / idx.TRAIN_LABELS
    write_idx(path, np.zeros(10), magic=2051)
    with pytest.raises(data.DataError) as e:
        data.load_arrays("mnist", tmp_path)
    assert_one_line(e.value, path, "2051", "2049")


def test_idx_truncated(tmp_path):
    write_mnist_dir(tmp_path)
    path = tmp_path / idx.TEST_IMAGES
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">IIII", 2051, 4, 28, 28) + bytes(100))
    with pytest.raises(data.DataError) as e:
        data.load_arrays("mnist", tmp_path)
    assert_one_line(e.value, path, "100", "3136")


def test_idx_truncated_header_and_bad_gzip(tmp_path):
    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00")
    with pytest.raises(data.DataError) as e:
        idx.read_idx(path, idx.LABELS_MAGIC)
    assert_one_line(e.value, path, "truncated")
    path = tmp_path / "plain.gz"
    path.write_bytes(struct.pack(">II", 2049, 0))
    with pytest.raises(data.DataError) as e:
        idx.read_idx(path, idx.LABELS_MAGIC)
    assert_one_line(e.value, path, "gzip")


def test_idx_wrong_image_size_and_count(tmp_path):
    write_mnist_dir(tmp_path, size=20)
    with pytest.raises(data.DataError) as e:
        data.load_arrays("mnist", tmp_path)
    assert_one_line(e.value, tmp_path / idx.TRAIN_IMAGES, "20x20", "28x28")
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / idx.TRAIN_LABELS, np.zeros(9))
    with pytest.raises(data.DataError) as e:
        data.load_arrays("mnist", tmp_path)
    assert_one_line(e.value, tmp_path / idx.TRAIN_LABELS, "declares dimensions 9, expected 10")


def test_idx_missing_files(tmp_path):
    write_mnist_dir(tmp_path)
    os.remove(tmp_path / idx.TEST_LABELS)
    with pytest.raises(data.DataError) as e:
        data.load_arrays("fashion_mnist", tmp_path)
    assert isinstance(e.value, ValueError)
    assert_one_line(e.value, idx.TEST_LABELS, tmp_path, "apt-get install dataset-fashion-mnist")
    with pytest.raises(data.DataError) as e:
        data.load("mnist", data_dir=tmp_path / "nowhere")
    assert_one_line(
        e.value,
        tmp_path / "nowhere",
        *idx.FILES,
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )


def test_labels_out_of_range(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / idx.TEST_LABELS, [0, 1, 10, 2])
    with pytest.raises(data.DataError) as e:
        data.load_arrays("mnist", tmp_path)
    assert_one_line(e.value, "10", "0 to 9")


# --- CIFAR -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_round_trip(tmp_path, name):
    expected = write_cifar_dir(tmp_path, name)
    folder = tmp_path / cifar.LAYOUTS[name].folder
    for data_dir in (tmp_path, folder):  # The parent or the folder itself.
        loaded = data.load_arrays(name, data_dir)
        for got, want in zip(loaded, expected):
            np.testing.assert_array_equal(got, want)
    x_train, y_train, x_test, _ = loaded
    per_file = 3
    assert x_train.shape == (per_file * len(cifar.LAYOUTS[name].train_files), 32, 32, 3)
    assert x_test.shape == (per_file, 32, 32, 3)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int32


def test_cifar_channel_layout(tmp_path):
    # One red pixel at row 1, column 2: index 1 * 32 + 2 of the red plane.
    flat = np.zeros((1, 3072), np.uint8)
    flat[0, 34] = 255
    path = tmp_path / "batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": flat, b"labels": [7]}, f)
    images, labels = cifar.read_batch(path, b"labels")
    assert images[0, 1, 2, 0] == 255 and images.sum() == 255
    assert labels.tolist() == [7]


def test_cifar_malformed(tmp_path):
    write_cifar_dir(tmp_path, "cifar10")
    folder = tmp_path / "cifar-10-batches-py"
    bad = folder / "data_batch_3"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(data.DataError) as e:
        data.load_arrays("cifar10", tmp_path)
    assert_one_line(e.value, bad, "cifar-10-python.tar.gz")
    with open(bad, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, f)
    with pytest.raises(data.DataError) as e:
        data.load_arrays("cifar10", tmp_path)
    assert_one_line(e.value, bad, "b'labels'")
    with open(bad, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(data.DataError) as e:
        data.load_arrays("cifar10", tmp_path)
    assert_one_line(e.value, bad, "(N, 3072)")
    os.remove(folder / "test_batch")
    with pytest.raises(data.DataError) as e:
        data.load_arrays("cifar10", tmp_path)
    assert_one_line(e.value, "test_batch", folder, "cifar-10-python.tar.gz")


# --- split, normalization, transforms --------------------------------------


def test_split_deterministic():
    train, val = data.split_indices(60000, 0.2, seed=3)
    assert (len(train), len(val)) == (48000, 12000)
    assert len(np.intersect1d(train, val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(60000))
    again_train, again_val = data.split_indices(60000, 0.2, seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    _, other_val = data.split_indices(60000, 0.2, seed=4)
    assert not np.array_equal(val, other_val)
    # The last 20% of the project's own permutation of the seed's
    # DATA_SPLIT stream: the argsort of its raw 64-bit outputs.
    raw = np.random.Philox(key=np.array([3, seeding.DATA_SPLIT], np.uint64)).random_raw(60000)
    np.testing.assert_array_equal(val, np.sort(np.argsort(raw, kind="stable")[48000:]))
    assert [len(s) for s in data.split_indices(50000, 0.2, 0)] == [40000, 10000]
    assert [len(s) for s in data.split_indices(10, 0.0, 0)] == [10, 0]
    # The official int(n * 0.8) training images, on ImageNet's 1,281,167.
    assert [len(s) for s in data.split_indices(1_281_167, 0.2, 0)] == [1_024_933, 256_234]


def test_cifar_normalization_is_the_official_codes():
    # utils/dataset.py of the paper's code.
    assert data.SPECS["cifar10"][2:4] == ((0.491, 0.482, 0.447), (0.247, 0.243, 0.262))
    assert data.SPECS["cifar100"][2:4] == ((0.507, 0.487, 0.441), (0.267, 0.256, 0.276))
    assert data.SPECS["imagenet2012"][2:4] == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_normalize():
    images = np.array([[[0, 255, 51]]], np.uint8)
    out = plan.normalize(images, mean=(0.0, 0.5, 0.2), std=(1.0, 0.5, 0.1))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[[0.0, 1.0, 0.0]]], atol=1e-6)


@pytest.mark.requires_tensorflow
def test_crop_flip_windows():
    import tensorflow as tf

    from keras_slt.data.batching import transforms

    image = tf.constant(np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8))
    rows, cols, flips = plan.crop_flip_draws(seed=5, epoch=0, num_examples=8)
    outputs = transforms.crop_flip(tf.stack([image] * 8), rows, cols, flips).numpy()
    assert all(o.shape == (32, 32, 3) and o.dtype == np.uint8 for o in outputs)
    assert len({o.tobytes() for o in outputs}) > 1
    # Each output is the 32x32 window of the zero-padded image at its
    # offset, flipped where its draw says so.
    padded = np.pad(image.numpy(), [(4, 4), (4, 4), (0, 0)])
    for o, r, c, f in zip(outputs, rows, cols, flips):
        window = padded[r : r + 32, c : c + 32]
        np.testing.assert_array_equal(o, window[:, ::-1] if f else window)


@pytest.mark.requires_tensorflow
def test_imagenet_transforms():
    import tensorflow as tf

    from keras_slt.data.batching import transforms

    rng = np.random.default_rng(0)
    for shape in ((300, 400, 3), (500, 260, 3)):
        jpeg = tf.io.encode_jpeg(rng.integers(0, 256, shape, np.uint8))
        seed = tf.constant([1, 2], tf.int64)
        out = transforms.random_resized_crop_flip(jpeg, seed)
        assert out.shape == (224, 224, 3) and out.dtype == tf.float32
        np.testing.assert_array_equal(out, transforms.random_resized_crop_flip(jpeg, seed))
        center = transforms.resize_center_crop(jpeg)
        assert center.shape == (224, 224, 3)
        assert 0 <= float(tf.reduce_min(center))
        assert float(tf.reduce_max(center)) <= 255.5


# --- load ------------------------------------------------------------------


def test_load_arguments():
    with pytest.raises(
        ValueError,
        match="dataset must be one of mnist, .*imagenet2012, cora, .*ogbn_arxiv, tfds:NAME or image_folder; got 'svhn'",
    ):
        data.load("svhn")
    for fraction in (1.0, -0.1):
        with pytest.raises(ValueError, match="validation_fraction"):
            data.load("mnist", validation_fraction=fraction)
    with pytest.raises(ValueError, match="load()"):
        data.load_arrays("imagenet2012")
    assert data.NAMES == ("mnist", "fashion_mnist", "cifar10", "cifar100", "imagenet2012")


def test_load_mnist_pipeline(tmp_path):
    x_train, y_train, x_test, y_test = write_mnist_dir(tmp_path, num_train=20, num_test=6)
    ds = data.load("mnist", data_dir=tmp_path, batch_size=4, seed=2)
    assert (ds.num_train, ds.num_validation, ds.num_test) == (16, 4, 6)
    assert ds.input_shape == (28, 28, 1) and ds.num_classes == 10
    _, val_idx = data.split_indices(20, 0.2, 2)
    mean, std = data.SPECS["mnist"].mean, data.SPECS["mnist"].std
    # Validation and test: unshuffled, normalized.
    x, y = collect(ds.validation)
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert x.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(y, y_train[val_idx])
    np.testing.assert_allclose(x, plan.normalize(x_train[val_idx, ..., None], mean, std), atol=1e-6)
    x, y = collect(ds.test)
    np.testing.assert_array_equal(y, y_test)
    np.testing.assert_array_equal(collect(ds.test)[0], x)
    # Train: the training indices, in a seeded order that changes per epoch.
    assert ds.steps_per_epoch == 4
    x1, y1 = collect(ds.train, 4)
    x2, _ = collect(ds.train_from(1), 4)
    assert x1.shape == (16, 28, 28, 1)
    assert not np.array_equal(x1, x2)
    np.testing.assert_array_equal(collect(ds.train, 8)[0], np.concatenate([x1, x2]))
    again = data.load("mnist", data_dir=tmp_path, batch_size=4, seed=2)
    np.testing.assert_array_equal(collect(again.train, 4)[0], x1)
    np.testing.assert_array_equal(collect(again.train_from(1), 4)[0], x2)
    train_idx = np.setdiff1d(np.arange(20), val_idx)
    raw = data.load("mnist", data_dir=tmp_path, normalize=False, seed=2)
    x, _ = collect(raw.train, raw.steps_per_epoch)
    np.testing.assert_allclose(
        np.sort(x.reshape(16, -1), axis=0), np.sort(x_train[train_idx].reshape(16, -1) / 255.0, axis=0), atol=1e-6
    )


def test_load_without_validation(tmp_path):
    write_mnist_dir(tmp_path)
    ds = data.load("mnist", data_dir=tmp_path, validation_fraction=0.0)
    assert ds.validation is None
    assert (ds.num_train, ds.num_validation) == (10, 0)


def test_load_cifar_augmentation_deterministic(tmp_path):
    write_cifar_dir(tmp_path, "cifar10", per_file=2)
    first = data.load("cifar10", data_dir=tmp_path, batch_size=8, seed=1)
    assert (first.num_train, first.num_validation, first.num_test) == (8, 2, 2)
    x1, y1 = collect(first.train, 1)
    assert x1.shape == (8, 32, 32, 3) and x1.dtype == np.float32
    second = data.load("cifar10", data_dir=tmp_path, batch_size=8, seed=1)
    x2, y2 = collect(second.train, 1)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    other = data.load("cifar10", data_dir=tmp_path, batch_size=8, seed=5)
    assert not np.array_equal(collect(other.train, 1)[0], x1)


@pytest.mark.requires_tensorflow
def test_tfds_mock_cifar10():
    import tensorflow as tf
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=10):
        ds = data.load("cifar10", batch_size=4, seed=0)
        assert (ds.num_train, ds.num_validation, ds.num_test) == (8, 2, 10)
        x, y = next(iter(ds.train))
        assert x.shape == (4, 32, 32, 3) and x.dtype == tf.float32
        assert y.dtype == tf.int32
        assert collect(ds.test)[0].shape == (10, 32, 32, 3)


@pytest.mark.requires_tensorflow
def test_tfds_mock_imagenet2012(tmp_path):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5):
        ds = data.load("imagenet2012", data_dir=tmp_path, batch_size=2)
        assert (ds.num_train, ds.num_validation, ds.num_test) == (4, 1, 5)
        assert ds.input_shape == (224, 224, 3) and ds.num_classes == 1000
        x, y = next(iter(ds.train))
        assert x.shape == (2, 224, 224, 3) and x.dtype == tf.float32
        assert y.dtype == tf.int32
        x, y = collect(ds.validation)
        assert x.shape == (1, 224, 224, 3)
        assert 0 <= y.min() and y.max() < 1000


@pytest.mark.requires_tensorflow
def test_tfds_failure_is_one_line_data_error(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise ConnectionError("no network\nsecond line")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(data.DataError) as e:
        data.load("mnist")
    assert_one_line(e.value, "ConnectionError: no network", "TFDS", "cvdf-datasets/mnist")
    assert "second line" not in str(e.value)
    with pytest.raises(data.DataError) as e:
        data.load("imagenet2012", data_dir=tmp_path)
    assert_one_line(e.value, "ILSVRC2012_img_train.tar", tmp_path, "https://image-net.org/download-images")


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION_MNIST), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist():
    x_train, y_train, x_test, y_test = data.load_arrays("fashion_mnist")
    assert x_train.shape == (60000, 28, 28, 1)
    assert x_test.shape == (10000, 28, 28, 1)
    for labels in (y_train, y_test):
        assert set(np.unique(labels)) == set(range(10))
    scaled = x_train / 255.0
    np.testing.assert_allclose(scaled.mean(), data.SPECS["fashion_mnist"].mean, atol=1e-4)
    np.testing.assert_allclose(scaled.std(), data.SPECS["fashion_mnist"].std, atol=1e-4)
    ds = data.load("fashion_mnist", batch_size=1000)
    assert (ds.num_train, ds.num_validation, ds.num_test) == (48000, 12000, 10000)
    x, y = collect(ds.validation, 1)
    assert x.shape == (1000, 28, 28, 1)
    assert 0 <= y.min() and y.max() <= 9
