"""Datasets the user names rather than picks: `tfds:NAME` and `image_folder`.

Their facts (`DatasetSpec`) come from the data: the input shape from the
images, the classes from the label feature or the class folders, and the
normalization mean and standard deviation from the training images (all of
them, validation part included, as for the built-in constants).
"""

import numpy as np

from keras_slt.data.catalog import IMAGE_FOLDER, TFDS_PREFIX, DatasetSpec
from keras_slt.data.errors import DataError, require_tensorflow
from keras_slt.data.readers import image_folder

# How error messages name them beside the built-in datasets.
FORMS = (f"{TFDS_PREFIX}NAME", IMAGE_FOLDER)


def is_custom(name):
    """Whether `name` is a user-named dataset (`tfds:NAME` or `image_folder`)."""
    return name == IMAGE_FOLDER or name.startswith(TFDS_PREFIX)


def check(name, data_dir):
    """Raises ValueError (one line) for a malformed custom dataset setting."""
    if name.startswith(TFDS_PREFIX) and not name[len(TFDS_PREFIX) :]:
        raise ValueError("dataset tfds:NAME needs a TFDS dataset name, e.g. tfds:beans")
    if name == IMAGE_FOLDER and not data_dir:
        raise ValueError("dataset image_folder needs data_dir, the folder of class subfolders")


def parse_image_size(text):
    """`"H,W"` -> (H, W); `None` or "" -> None. Raises ValueError naming image_size."""
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 2 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise ValueError(f"image_size must be two positive integers H,W; got {text!r}")
    return int(parts[0]), int(parts[1])


def channel_statistics(images):
    """Per-channel mean and std of uint8 NHWC images scaled to [0, 1]."""
    flat = images.reshape(-1, images.shape[-1])
    mean = flat.mean(axis=0, dtype=np.float64) / 255
    std = flat.std(axis=0, dtype=np.float64) / 255
    return tuple(float(m) for m in mean), tuple(float(max(s, 1e-6)) for s in std)


def load(name, data_dir=None, image_size=None, image_formats=image_folder.DEFAULT_FORMATS):
    """Reads a custom dataset into memory and describes it.

    Args:
        name: "image_folder" or "tfds:NAME".
        data_dir: the image folder, or TFDS's data directory.
        image_size: `(height, width)` to resize to, or None (see
            `image_folder.load_dir` and `tfds_named.load`).
        image_formats: the formats an image folder's files may have (see
            `image_folder.load_dir`); TFDS decodes its own.

    Returns:
        `((x_train, y_train, x_test, y_test), spec)`: uint8 NHWC images,
        int32 labels and the `DatasetSpec` derived from them.

    Raises:
        DataError: one line, when the data cannot be read.

    Example:

    >>> import os, tempfile
    >>> import PIL.Image
    >>> data_dir = tempfile.mkdtemp()
    >>> for name in ("cat", "dog", "fish"):
    ...     os.mkdir(os.path.join(data_dir, name))
    ...     for i in range(5):
    ...         PIL.Image.new("RGB", (12, 10), "white").save(os.path.join(data_dir, name, f"{i}.png"))
    >>> (x_train, y_train, x_test, y_test), spec = load("image_folder", data_dir, (8, 8))
    >>> spec.input_shape, spec.num_classes, spec.mean
    ((8, 8, 3), 3, (1.0, 1.0, 1.0))
    """
    check(name, data_dir)
    if name == IMAGE_FOLDER:
        x_train, y_train, x_test, y_test, classes = image_folder.load_dir(data_dir, image_size, image_formats)
        num_classes = len(classes)
        obtain = "give data_dir, a folder with one subfolder of images per class (or train/ and test/)"
    else:
        require_tensorflow(f"dataset {name}")
        # Imported here: TFDS needs TensorFlow, which the JAX install lacks.
        from keras_slt.data.readers import tfds_named

        tfds_name = name[len(TFDS_PREFIX) :]
        x_train, y_train, x_test, y_test, num_classes = tfds_named.load(tfds_name, data_dir, image_size)
        obtain = f"see https://www.tensorflow.org/datasets/catalog/{tfds_name}"
    if not len(x_train) or not len(x_test):
        raise DataError(f"{name}: {len(x_train)} training and {len(x_test)} test images; both need some")
    mean, std = channel_statistics(x_train)
    spec = DatasetSpec(
        input_shape=tuple(x_train.shape[1:]), num_classes=int(num_classes), mean=mean, std=std, obtain=obtain
    )
    return (x_train, y_train, x_test, y_test), spec
