"""Datasets read through TensorFlow Datasets (TFDS).

TFDS downloads and prepares a dataset on first use (ImageNet from manually
downloaded archives) and stores it in its data directory (`TFDS_DATA_DIR`,
by default `~/tensorflow_datasets`). `tensorflow_datasets` is imported only
when one of these functions is called.
"""

import numpy as np

from keras_slt.data.errors import DataError, require_tensorflow
from keras_slt.data.readers import downloads

IMAGENET_FILES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
# TFDS's storage: a machine that cannot reach it cannot download a dataset
# (checked before TFDS starts, as TFDS retries failed downloads for minutes).
TFDS_STORAGE = "https://storage.googleapis.com/tfds-data/"


def describe_error(error):
    """`Type: first line of the message` of an exception, for one-line errors."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def require_prepared(tfds, name, label, data_dir=None, advice=""):
    """Raises DataError (one line, in seconds) unless TFDS can read `name` or download it.

    Data TFDS has prepared is read as it is. Otherwise TFDS would download
    and prepare it, retrying for minutes without network: with `data_dir`
    given, the data was meant to be there, and its absence is the error;
    without, TFDS's storage must answer a connection first
    (`keras_slt.data.readers.downloads`).

    Args:
        tfds: the `tensorflow_datasets` module.
        name: the TFDS name.
        label: how the error names the dataset, e.g. "tfds:beans".
        data_dir: the TFDS data directory the user gave, or None.
        advice: what to do instead, ending the message when the data can
            neither be read nor downloaded.

    Example:

    >>> import tensorflow_datasets as tfds
    >>> with tfds.testing.mock_data(num_examples=4):  # as if prepared
    ...     require_prepared(tfds, "beans", "tfds:beans")
    """
    try:
        tfds.load(name, split="train", data_dir=data_dir, download=False)  # reads no example yet
        return
    except AssertionError:  # TFDS's "could not find data in ..."
        pass
    advice = f"; {advice}" if advice else ""
    if data_dir is not None:
        raise DataError(f"{label} is not prepared in data_dir {data_dir}: a download is needed{advice}")
    reason = downloads.unreachable(TFDS_STORAGE)
    if reason:
        raise DataError(
            f"{label} is not prepared in TFDS's data dir (TFDS_DATA_DIR, default "
            f"~/tensorflow_datasets) and a download is needed, but {reason}{advice}"
        )


def _num_examples(ds):
    n = int(ds.cardinality())
    if n < 0:
        n = int(ds.reduce(0, lambda count, _: count + 1))
    return n


def to_numpy(ds):
    """(images, int32 labels) of a dataset of (image, label) pairs, in memory."""
    images, labels = [], []
    for x, y in ds.batch(4096).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def load_arrays(name):
    """Loads the train and test splits of a small TFDS dataset into memory.

    Args:
        name: TFDS name, e.g. `"cifar10"`.

    Returns:
        `(x_train, y_train, x_test, y_test)`: `uint8` NHWC images and `int32`
        labels.

    Raises:
        DataError: If TFDS cannot download, prepare or read the dataset.

    Example:

    >>> import tensorflow_datasets as tfds
    >>> with tfds.testing.mock_data(num_examples=4):  # random stand-in data
    ...     x_train, y_train, x_test, y_test = load_arrays("cifar10")
    >>> x_train.shape, y_train.dtype
    ((4, 32, 32, 3), dtype('int32'))
    """
    require_tensorflow(f"{name} without data_dir (TFDS)")
    import tensorflow_datasets as tfds

    try:
        require_prepared(tfds, name, f"TFDS's {name}")
        train, test = tfds.load(name, split=["train", "test"], as_supervised=True)
        return to_numpy(train) + to_numpy(test)
    except DataError:
        raise
    except Exception as e:  # TFDS and download failures vary widely.
        raise DataError(f"TFDS could not load {name} ({describe_error(e)})") from e


def load_imagenet(manual_dir=None):
    """Reads ImageNet (ILSVRC 2012) through TFDS, images left JPEG-encoded.

    Args:
        manual_dir: directory holding `ILSVRC2012_img_train.tar` and
            `ILSVRC2012_img_val.tar`, needed only the first time, while TFDS
            prepares the dataset. `None` means TFDS's default,
            `<data dir>/downloads/manual`.

    Returns:
        `(train, test, num_train, num_test)`: the TFDS `train` and
        `validation` splits as `tf.data.Dataset`s of `(jpeg, label)` in a
        fixed order, and their sizes.

    Raises:
        DataError: If TFDS cannot prepare or read the dataset.

    Example:

    >>> import tensorflow_datasets as tfds
    >>> with tfds.testing.mock_data(num_examples=4):  # random stand-in data
    ...     train, test, num_train, num_test = load_imagenet("/data/imagenet")
    >>> num_train, num_test
    (4, 4)
    """
    import tensorflow_datasets as tfds

    try:
        train, test = tfds.load(
            "imagenet2012",
            split=["train", "validation"],
            as_supervised=True,
            shuffle_files=False,
            decoders={"image": tfds.decode.SkipDecoding()},
            download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(manual_dir=manual_dir)},
        )
        return train, test, _num_examples(train), _num_examples(test)
    except Exception as e:  # TFDS and preparation failures vary widely.
        where = manual_dir or "TFDS's <data dir>/downloads/manual"
        raise DataError(
            f"TFDS could not prepare imagenet2012 from {' and '.join(IMAGENET_FILES)} in {where} ({describe_error(e)})"
        ) from e
