"""Any TFDS image-classification dataset, by name (`--dataset=tfds:NAME`).

The dataset must have an `image` feature and a `label` feature with a fixed
number of classes (`tfds.features.ClassLabel`). The test split is TFDS's
"test" split, else its "validation" split, else a fixed 20% of "train".
Images are kept in memory as uint8, resized to `image_size` when given (and
required when the dataset's images vary in size).
"""

import tensorflow as tf

from keras_slt.data.catalog import TFDS_PREFIX as PREFIX
from keras_slt.data.dataset import split_indices
from keras_slt.data.errors import DataError
from keras_slt.data.readers.image_folder import TEST_FRACTION, TEST_SPLIT_KEY
from keras_slt.data.readers.tfds_builtin import describe_error, require_prepared, to_numpy

TEST_SPLITS = ("test", "validation")


def _features(tfds, name, data_dir):
    try:
        features = tfds.builder(name, data_dir=data_dir).info.features
    except Exception as error:  # DatasetNotFoundError and friends vary.
        raise DataError(f"{PREFIX}{name}: TFDS cannot open it ({describe_error(error)})") from None
    image, label = (features[key] if key in features else None for key in ("image", "label"))
    if not isinstance(image, tfds.features.Image) or not isinstance(label, tfds.features.ClassLabel):
        raise DataError(
            f"{PREFIX}{name} has features {', '.join(features)}; an image classification dataset "
            "needs an Image feature 'image' and a ClassLabel feature 'label'"
        )
    return image, label


def _load_split(tfds, name, split, data_dir, image_size):
    ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False)
    ds = ds.map(lambda example: (example["image"], example["label"]))
    if image_size is not None:
        ds = ds.map(
            lambda image, label: (
                tf.cast(tf.clip_by_value(tf.round(tf.image.resize(image, image_size)), 0, 255), tf.uint8),
                label,
            )
        )
    return to_numpy(ds)


def load(name, data_dir=None, image_size=None):
    """Reads a TFDS image-classification dataset into memory.

    Args:
        name: the TFDS name (without "tfds:"), e.g. "beans" or "mnist".
        data_dir: TFDS's data directory (default: TFDS's own).
        image_size: `(height, width)` to resize to; needed when the
            dataset's images have no fixed size.

    Returns:
        `(x_train, y_train, x_test, y_test, num_classes)`: uint8 NHWC images
        and int32 labels.

    Raises:
        DataError: one line, when TFDS has no such dataset, when it is not
            prepared in `data_dir` or cannot be downloaded (see
            `tfds_builtin.require_prepared`), when it lacks image/label
            features, or when its images vary in size and no `image_size`
            is given.

    Example:

    >>> import tensorflow_datasets as tfds
    >>> with tfds.testing.mock_data(num_examples=4):  # random stand-in data
    ...     x_train, y_train, x_test, y_test, num_classes = load("beans", image_size=(8, 8))
    >>> x_train.shape, x_test.shape, num_classes
    ((4, 8, 8, 3), (4, 8, 8, 3), 3)
    """
    import tensorflow_datasets as tfds

    image, label = _features(tfds, name, data_dir)
    if image_size is None and None in image.shape[:2]:
        raise DataError(f"{PREFIX}{name} has images of varying size; give image_size (--image_size=H,W)")
    try:
        require_prepared(
            tfds,
            name,
            f"{PREFIX}{name}",
            data_dir,
            advice=f"`tfds build {name} --data_dir=DIR` downloads and prepares it in DIR on a "
            f"machine with network; then pass data_dir=DIR, the folder holding {name}/",
        )
        x_train, y_train = _load_split(tfds, name, "train", data_dir, image_size)
        for split in TEST_SPLITS:
            try:
                x_test, y_test = _load_split(tfds, name, split, data_dir, image_size)
                break
            except ValueError as error:
                if "Unknown split" not in str(error):
                    raise
        else:
            train, test = split_indices(len(x_train), TEST_FRACTION, TEST_SPLIT_KEY)
            x_train, y_train, x_test, y_test = x_train[train], y_train[train], x_train[test], y_train[test]
    except DataError:
        raise
    except Exception as error:  # TFDS and download failures vary widely.
        raise DataError(f"{PREFIX}{name}: TFDS could not load it ({describe_error(error)})") from None
    return x_train, y_train, x_test, y_test, label.num_classes
