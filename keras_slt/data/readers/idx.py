"""Reader for the gzip-compressed IDX files of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by raw data: a 32-bit magic
number whose low byte is the number of dimensions and whose second-lowest
byte is the element type (0x08 = unsigned byte), one 32-bit size per
dimension, then the elements in row-major order.
"""

import gzip
import math
import os
import struct
import zlib

import numpy as np

from keras_slt.data.errors import DataError
from keras_slt.utils import budget

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions.
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension.

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def read_idx(path, magic, shape=None):
    """Reads one gzip-compressed unsigned-byte IDX file.

    Args:
        path: path of the `.gz` file.
        magic: expected magic number: `IMAGES_MAGIC` (2051) for an
            `(N, rows, cols)` image file, `LABELS_MAGIC` (2049) for an
            `(N,)` label file.
        shape: the dimensions the header must declare, None standing for
            any size (`(None, 28, 28)`); None accepts any dimensions.

    Returns:
        A read-only `uint8` numpy array with the dimensions stored in the
        header.

    Raises:
        DataError: If the file is missing, not gzip, has another magic
            number or dimensions, declares more data than the memory budget
            (`keras_slt.utils.budget`), or holds more or fewer bytes than its
            header announces (the stream is read no further than that).

    Example:

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), TRAIN_LABELS)
    >>> with gzip.open(path, "wb") as f:
    ...     _ = f.write(struct.pack(">II", LABELS_MAGIC, 3) + bytes([7, 2, 1]))
    >>> read_idx(path, LABELS_MAGIC).tolist()
    [7, 2, 1]
    """
    ndim = magic & 0xFF
    header_size = 4 * (1 + ndim)
    try:
        with gzip.open(path, "rb") as f:
            header = f.read(header_size)
            dims = _check_header(path, header, header_size, magic, shape)
            expected = math.prod(dims)
            # Read only as far as the header says: a stream of gigabytes
            # behind a small header is refused, never inflated whole.
            raw = f.read(expected)
            extra = f.read(1)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a valid gzip file ({e})") from e
    if extra:
        raise DataError(f"{path} holds more data than the {expected} bytes its header declares for dimensions {dims}")
    if len(raw) != expected:
        raise DataError(f"{path} holds {len(raw)} data bytes, expected {expected} for dimensions {dims}")
    return np.frombuffer(raw, np.uint8).reshape(dims)


def _check_header(path, header, header_size, magic, shape):
    """The dimensions of an IDX header; DataError unless it has `magic` and `shape` and fits the budget."""
    if len(header) < header_size:
        raise DataError(f"{path} is truncated: {len(header)} bytes, shorter than its {header_size}-byte IDX header")
    (found,) = struct.unpack(">I", header[:4])
    if found != magic:
        raise DataError(f"{path} has IDX magic number {found}, expected {magic}")
    dims = struct.unpack(f">{header_size // 4 - 1}I", header[4:])
    if shape is not None and any(want not in (None, have) for want, have in zip(shape, dims)):
        expected = "x".join("N" if want is None else str(want) for want in shape)
        raise DataError(f"{path} declares dimensions {'x'.join(map(str, dims))}, expected {expected}")
    budget.check(f"{path} declares {'x'.join(map(str, dims))} bytes of data", math.prod(dims), DataError)
    return dims


def read_idx_pair(images_path, labels_path, image_size=(28, 28)):
    """Reads matching IDX image and label files.

    Args:
        images_path: path of the images file (magic 2051).
        labels_path: path of the labels file (magic 2049).
        image_size: expected `(rows, cols)` of each image.

    Returns:
        `(images, labels)`: `uint8` images of shape `(N, rows, cols, 1)` and
        `int32` labels of shape `(N,)`.

    Raises:
        DataError: If a file is malformed, the images are not `image_size`,
            or the two files hold different numbers of examples.

    Example:

    >>> import tempfile
    >>> images, labels = (os.path.join(tempfile.mkdtemp(), name) for name in (TEST_IMAGES, TEST_LABELS))
    >>> with gzip.open(images, "wb") as f:
    ...     _ = f.write(struct.pack(">IIII", IMAGES_MAGIC, 2, 28, 28) + bytes(2 * 28 * 28))
    >>> with gzip.open(labels, "wb") as f:
    ...     _ = f.write(struct.pack(">II", LABELS_MAGIC, 2) + bytes([3, 9]))
    >>> x, y = read_idx_pair(images, labels)
    >>> x.shape, y.tolist()
    ((2, 28, 28, 1), [3, 9])
    """
    images = read_idx(images_path, IMAGES_MAGIC, (None, *image_size))
    labels = read_idx(labels_path, LABELS_MAGIC, (len(images),))
    return images[..., np.newaxis].copy(), labels.astype(np.int32)


def load_dir(data_dir, image_size=(28, 28)):
    """Reads the four standard MNIST-style IDX files from a directory.

    Args:
        data_dir: directory holding `train-images-idx3-ubyte.gz`,
            `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz` and
            `t10k-labels-idx1-ubyte.gz`.
        image_size: expected `(rows, cols)` of each image.

    Returns:
        `(x_train, y_train, x_test, y_test)`, as returned by `read_idx_pair`.

    Raises:
        DataError: If any of the files is missing or malformed.

    Example:

    >>> x_train, y_train, x_test, y_test = load_dir(
    ...     "/usr/share/datasets/fashion-mnist")
    """
    paths = [os.path.join(data_dir, f) for f in FILES]
    missing = [f for f, p in zip(FILES, paths) if not os.path.isfile(p)]
    if missing:
        raise DataError(f"missing {', '.join(missing)} in {data_dir}")
    x_train, y_train = read_idx_pair(paths[0], paths[1], image_size)
    x_test, y_test = read_idx_pair(paths[2], paths[3], image_size)
    return x_train, y_train, x_test, y_test
