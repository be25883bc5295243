"""Reader for a folder of images with one subfolder per class.

Layouts (class folders hold .bmp, .gif, .jpeg, .jpg or .png files):

    data_dir/<class>/...                  one pool; a fixed 20% is the test set
    data_dir/train/<class>/..., data_dir/test/<class>/...

Images are read with `keras.utils.image_dataset_from_directory`, resized to
`image_size` (default: the size of the first image), in grayscale when the
first image has one channel and RGB otherwise, and kept in memory as uint8.
Class labels follow the sorted class folder names.
"""

import os

import numpy as np
import tensorflow as tf

from keras_slt.data.dataset import split_indices
from keras_slt.data.errors import DataError

EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# Share of a single pool held out as the test set. Its key is fixed, so every
# run seed is tested on the same images (the seed still picks validation).
TEST_FRACTION = 0.2
TEST_SPLIT_KEY = 0


def class_folders(folder):
    """Sorted names of the subfolders of `folder`."""
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())


def _images(folder):
    """Sorted image file names directly in `folder` (a folder named like an image is none)."""
    return sorted(entry.name for entry in os.scandir(folder)
                  if entry.name.lower().endswith(EXTENSIONS) and entry.is_file())


def _check_entries(folder):
    """Raises DataError for an entry named like an image that is not a regular file.

    Keras's reader opens every such entry it finds walking the class folder:
    a named pipe would block it, a device (a link to /dev/zero) be read
    without end, a broken link fail with a traceback.
    """
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            if name.lower().endswith(EXTENSIONS) and not os.path.isfile(path):
                raise DataError(f"image folder: {path} is not a regular file (a pipe, device or broken link)")


def _check_classes(folder):
    """Raises DataError for a folder that is not one subfolder of images per class."""
    classes = class_folders(folder)
    if not classes:
        raise DataError(f"image folder {folder} has no class subfolders (expected {folder}/<class>/<image>)")
    for name in classes:
        _check_entries(os.path.join(folder, name))
    empty = [name for name in classes if not _images(os.path.join(folder, name))]
    if empty:
        raise DataError(
            f"image folder {folder}: class folder {empty[0]} holds no {', '.join(EXTENSIONS)} images"
        )
    if len(classes) < 2:
        raise DataError(f"image folder {folder} has a single class ({classes[0]}); a classifier needs two or more")
    return classes


def _first_image(folder, classes):
    return _decode(os.path.join(folder, classes[0], _images(os.path.join(folder, classes[0]))[0]))


def _decode(path):
    try:
        return tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"image folder: cannot read image {path} ({message})") from None


def _read_split(folder, classes, image_size, color_mode):
    """(uint8 images, int32 labels) of one folder of class folders."""
    ds = tf.keras.utils.image_dataset_from_directory(
        folder, labels="inferred", label_mode="int", class_names=classes, color_mode=color_mode,
        batch_size=None, image_size=image_size, shuffle=False, verbose=False,
    )
    images, labels = [], []
    try:
        for image, label in ds.as_numpy_iterator():
            images.append(np.clip(np.round(image), 0, 255).astype(np.uint8))
            labels.append(label)
    except tf.errors.InvalidArgumentError:
        # The reader does not say which file failed: decode each to find it.
        for path in ds.file_paths:
            _decode(path)
        raise
    return np.stack(images), np.asarray(labels, np.int32)


def load_dir(data_dir, image_size=None):
    """Reads an image folder into memory.

    Args:
        data_dir: the folder (see the module docstring for its layouts).
        image_size: `(height, width)` every image is resized to; `None` for
            the size of the first image.

    Returns:
        `(x_train, y_train, x_test, y_test, class_names)`: uint8 NHWC images
        (1 or 3 channels), int32 labels and the sorted class folder names.

    Raises:
        DataError: one line, for a folder without class subfolders, a class
            folder without images, an entry named like an image that is
            not a regular file, a single class, train/ and test/ with
            different classes, or an image that cannot be decoded.

    Example:

    >>> import tempfile
    >>> import PIL.Image
    >>> data_dir = tempfile.mkdtemp()
    >>> for name in ("cat", "dog"):
    ...     os.mkdir(os.path.join(data_dir, name))
    ...     for i in range(5):
    ...         PIL.Image.new("RGB", (12, 10)).save(os.path.join(data_dir, name, f"{i}.png"))
    >>> x_train, y_train, x_test, y_test, names = load_dir(data_dir, (8, 8))
    >>> x_train.shape, x_test.shape, names
    ((8, 8, 8, 3), (2, 8, 8, 3), ['cat', 'dog'])
    """
    if not os.path.isdir(data_dir):
        raise DataError(f"image folder {data_dir} is not a directory")
    split_dirs = [os.path.join(data_dir, name) for name in ("train", "test")]
    separate = all(os.path.isdir(folder) for folder in split_dirs)
    classes = _check_classes(split_dirs[0] if separate else data_dir)
    test_classes = _check_classes(split_dirs[1]) if separate else classes
    if test_classes != classes:
        raise DataError(
            f"image folder {data_dir}: train/ has classes {', '.join(classes)} but test/ has "
            f"{', '.join(test_classes)}"
        )
    first = _first_image(split_dirs[0] if separate else data_dir, classes)
    if image_size is None:
        image_size = tuple(int(n) for n in first.shape[:2])
    color_mode = "grayscale" if first.shape[-1] == 1 else "rgb"
    if separate:
        x_train, y_train = _read_split(split_dirs[0], classes, image_size, color_mode)
        x_test, y_test = _read_split(split_dirs[1], classes, image_size, color_mode)
    else:
        images, labels = _read_split(data_dir, classes, image_size, color_mode)
        train, test = split_indices(len(images), TEST_FRACTION, TEST_SPLIT_KEY)
        x_train, y_train, x_test, y_test = images[train], labels[train], images[test], labels[test]
    return x_train, y_train, x_test, y_test, classes
