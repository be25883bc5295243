"""Reader for CIFAR-10 as a folder of JPEG images.

Layout: `data_dir/train/<class>/*.jpg` and `data_dir/test/<class>/*.jpg`,
the class folders named after CIFAR-10's ten classes (`CLASSES`), every
image 32x32 RGB. Labels follow `CLASSES`, CIFAR-10's official label order
(which is also the sorted order of the names), so a folder gives the same
labels as the official python batches.

The JPEGs are decoded once, in a parallel `tf.data` map, with libjpeg's
accurate integer DCT: the pixels equal those PIL (and so torchvision's
`ImageFolder`) decodes from the same files.
"""

import os

import numpy as np
import tensorflow as tf

from keras_slt.data.errors import DataError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
SHAPE = (32, 32, 3)
EXTENSIONS = (".jpg", ".jpeg")
_DECODE_BATCH = 1024


def is_folder(data_dir):
    """Whether `data_dir` is laid out as image folders (has `train/` or `test/`)."""
    return any(os.path.isdir(os.path.join(data_dir, split)) for split in SPLITS)


def list_split(folder):
    """The JPEG paths and labels of one split folder.

    Args:
        folder: `data_dir/train` or `data_dir/test`.

    Returns:
        `(paths, labels)`: sorted paths per class, classes in `CLASSES`
        order, and their `int32` labels.

    Raises:
        DataError: If the class folders are not CIFAR-10's ten, or one holds
            no JPEG images.

    Example:

    >>> paths, labels = list_split("cifar10-jpeg/test")
    >>> len(paths), labels[:3]
    (10000, array([0, 0, 0], dtype=int32))
    """
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if tuple(classes) != tuple(sorted(CLASSES)):
        found = ", ".join(classes) if classes else "none"
        raise DataError(f"{folder} has class folders {found}; expected CIFAR-10's {', '.join(CLASSES)}")
    paths, labels = [], []
    for label, name in enumerate(CLASSES):
        class_dir = os.path.join(folder, name)
        images = sorted(
            entry.name for entry in os.scandir(class_dir)
            if entry.name.lower().endswith(EXTENSIONS) and not entry.name.startswith(".") and entry.is_file()
        )
        if not images:
            raise DataError(f"{class_dir} holds no {'/'.join(EXTENSIONS)} images")
        paths += [os.path.join(class_dir, image) for image in images]
        labels += [label] * len(images)
    return paths, np.asarray(labels, np.int32)


def _decode(path):
    """`(image, shape)`: the image when it is 32x32x3 (zeros otherwise) and its decoded shape."""
    image = tf.io.decode_jpeg(tf.io.read_file(path), dct_method="INTEGER_ACCURATE")
    shape = tf.shape(image)
    fits = tf.reduce_all(tf.equal(shape, SHAPE))
    image = tf.cond(fits, lambda: tf.reshape(image, SHAPE), lambda: tf.zeros(SHAPE, tf.uint8))
    return image, shape


def _first_unreadable(paths):
    """(path, reason) of the first file that cannot be decoded, or None."""
    for path in paths:
        try:
            _decode(tf.constant(path))
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
            lines = str(error).strip().splitlines()
            return path, lines[0] if lines else type(error).__name__
    return None


def decode(paths):
    """Decodes JPEG files into one `uint8` array of 32x32 RGB images.

    Args:
        paths: Sequence of JPEG file paths.

    Returns:
        `uint8` array of shape `(len(paths), 32, 32, 3)`.

    Raises:
        DataError: Naming the first file that cannot be decoded or is not
            32x32x3.

    Example:

    >>> decode(["cifar10-jpeg/test/cat/0001.jpg"]).shape
    (1, 32, 32, 3)
    """
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(paths), tf.string))
    ds = ds.map(_decode, num_parallel_calls=tf.data.AUTOTUNE).batch(_DECODE_BATCH)
    images, shapes = [], []
    try:
        for image, shape in ds.as_numpy_iterator():
            images.append(image)
            shapes.append(shape)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError):
        # The map does not say which file failed: decode one by one to find it.
        bad = _first_unreadable(paths)
        if bad is None:
            raise
        raise DataError(f"cannot decode {bad[0]} ({bad[1]})") from None
    if not images:
        return np.zeros((0,) + SHAPE, np.uint8)
    shapes = np.concatenate(shapes)
    wrong = np.flatnonzero(np.any(shapes != SHAPE, axis=1))
    if wrong.size:
        shape = "x".join(str(n) for n in shapes[wrong[0]])
        raise DataError(f"{paths[wrong[0]]} is {shape}; CIFAR-10 images are 32x32x3")
    return np.concatenate(images)


def load_dir(data_dir):
    """Reads CIFAR-10's training and test images from JPEG folders.

    Args:
        data_dir: Folder holding `train/<class>/` and `test/<class>/`.

    Returns:
        `(x_train, y_train, x_test, y_test)`: `uint8` images of shape
        `(N, 32, 32, 3)` and `int32` labels in CIFAR-10's order.

    Raises:
        DataError: One line naming the folder or file, when a split is
            missing, the class folders are not CIFAR-10's, or an image
            cannot be decoded or is not 32x32 RGB.

    Example:

    >>> x_train, y_train, x_test, y_test = load_dir("cifar10-jpeg")
    >>> x_train.shape, x_test.shape
    ((50000, 32, 32, 3), (10000, 32, 32, 3))
    """
    folders = [os.path.join(data_dir, split) for split in SPLITS]
    for split, folder in zip(SPLITS, folders):
        if not os.path.isdir(folder):
            raise DataError(
                f"{data_dir} has no {split}/ folder; expected {data_dir}/train/<class>/*.jpg and "
                f"{data_dir}/test/<class>/*.jpg"
            )
    (train_paths, y_train), (test_paths, y_test) = (list_split(folder) for folder in folders)
    return decode(train_paths), y_train, decode(test_paths), y_test
