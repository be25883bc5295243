"""Reader for the python-pickle batches of CIFAR-10 and CIFAR-100.

Each batch file is a pickled dict with `b"data"`, a `uint8` array of shape
`(N, 3072)` holding each image as 1024 red, then 1024 green, then 1024 blue
values in row-major order, and a list of `N` integer labels under
`b"labels"` (CIFAR-10) or `b"fine_labels"` (CIFAR-100).

The batches are read with `keras_slt.data.readers.safe_pickle`, which admits only
what they hold (dicts, strings, lists of integers and uint8 NumPy arrays)
and refuses, in one line naming the file, any pickle that names another
global, before anything in it is built: a batch cannot run code.
"""

import collections
import os

import numpy as np

from keras_slt.data.errors import DataError
from keras_slt.data.readers import safe_pickle

Layout = collections.namedtuple("Layout", ["folder", "train_files", "test_files", "label_key"])

LAYOUTS = {
    "cifar10": Layout(
        folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        label_key=b"labels",
    ),
    "cifar100": Layout(
        folder="cifar-100-python",
        train_files=("train",),
        test_files=("test",),
        label_key=b"fine_labels",
    ),
}

# What a CIFAR batch may name: NumPy's array globals, and `_codecs.encode`
# with which Python 3 writes bytes at protocol 2.
ALLOWED = {**safe_pickle.NUMPY_ARRAYS, **safe_pickle.PYTHON3_BYTES}


def read_batch(path, label_key):
    """Reads one CIFAR pickle batch.

    Args:
        path: path of the batch file.
        label_key: key of the labels: `b"labels"` for CIFAR-10,
            `b"fine_labels"` for CIFAR-100.

    Returns:
        `(images, labels)`: `uint8` images of shape `(N, 32, 32, 3)` and
        `int32` labels of shape `(N,)`.

    Raises:
        DataError: If the file is missing, not a pickle, names a global
            other than those of `ALLOWED`, or does not hold `b"data"` and
            `label_key` of matching lengths, or a label is negative or
            past int32.

    Example:

    >>> import pickle, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "test_batch")
    >>> with open(path, "wb") as f:
    ...     pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 8]}, f, protocol=2)
    >>> x, y = read_batch(path, b"labels")
    >>> x.shape, y.tolist()
    ((2, 32, 32, 3), [3, 8])
    """
    if not os.path.exists(path):
        raise DataError(f"{path} does not exist")
    # encoding="bytes": the official batches are Python 2 pickles whose
    # keys, b"data" and the rest, are read as bytes.
    batch = safe_pickle.load(path, ALLOWED, encoding="bytes")
    if not isinstance(batch, dict) or b"data" not in batch or (label_key not in batch):
        raise DataError(f"{path} is not a CIFAR batch: expected a dict with b'data' and {label_key!r}")
    try:
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[label_key])
    except ValueError as error:  # ragged lists
        raise DataError(f"{path}: b'data' or {label_key!r} is not an array ({error})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(
            f"{path}: b'data' has dtype {data.dtype} and shape {data.shape}, expected uint8 of shape (N, 3072)"
        )
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{path}: {label_key!r} holds {labels.shape} values of {labels.dtype}, expected {len(data)} integers"
        )
    # Checked before the cast to int32, which would read 2**32 + 3 as 3.
    outside = labels[(labels < 0) | (labels > np.iinfo(np.int32).max)]
    if outside.size:
        raise DataError(f"{path}: {label_key!r} holds the label {outside[0]}, not a class index")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int32)


def find_folder(data_dir, name):
    """Locates the extracted CIFAR folder.

    Args:
        data_dir: the extracted folder (`cifar-10-batches-py` or
            `cifar-100-python`) or its parent directory.
        name: `"cifar10"` or `"cifar100"`.

    Returns:
        The directory that holds the batch files.

    Raises:
        DataError: If neither `data_dir` nor its subfolder holds all files.

    Example:

    >>> import tempfile
    >>> data_dir = tempfile.mkdtemp()
    >>> folder = os.path.join(data_dir, "cifar-10-batches-py")
    >>> os.mkdir(folder)
    >>> for name in LAYOUTS["cifar10"].train_files + LAYOUTS["cifar10"].test_files:
    ...     open(os.path.join(folder, name), "wb").close()
    >>> find_folder(data_dir, "cifar10") == folder
    True
    """
    layout = LAYOUTS[name]
    files = layout.train_files + layout.test_files
    candidates = (os.path.join(data_dir, layout.folder), data_dir)
    for folder in candidates:
        if all(os.path.isfile(os.path.join(folder, f)) for f in files):
            return folder
    raise DataError(f"missing {', '.join(files)} in {candidates[0]} or {candidates[1]}")


def load_dir(data_dir, name):
    """Reads the CIFAR-10 or CIFAR-100 training and test batches.

    Args:
        data_dir: the extracted folder or its parent (see `find_folder`).
        name: `"cifar10"` or `"cifar100"`.

    Returns:
        `(x_train, y_train, x_test, y_test)`: `uint8` images of shape
        `(N, 32, 32, 3)` and `int32` labels.

    Raises:
        DataError: If any batch file is missing or malformed.

    Example:

    >>> import pickle, tempfile
    >>> data_dir = tempfile.mkdtemp()
    >>> for name, n in (("train", 4), ("test", 2)):
    ...     with open(os.path.join(data_dir, name), "wb") as f:
    ...         pickle.dump({b"data": np.zeros((n, 3072), np.uint8),
    ...                      b"fine_labels": list(range(n))}, f, protocol=2)
    >>> x_train, y_train, x_test, y_test = load_dir(data_dir, "cifar100")
    >>> x_train.shape, y_test.tolist()
    ((4, 32, 32, 3), [0, 1])
    """
    layout = LAYOUTS[name]
    folder = find_folder(data_dir, name)

    def read_all(files):
        parts = [read_batch(os.path.join(folder, f), layout.label_key) for f in files]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    x_train, y_train = read_all(layout.train_files)
    x_test, y_test = read_all(layout.test_files)
    return x_train, y_train, x_test, y_test
