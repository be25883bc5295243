"""Reader for the gzip-compressed IDX files of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by raw data: a 32-bit magic
number whose low byte is the number of dimensions and whose second-lowest
byte is the element type (0x08 = unsigned byte), one 32-bit size per
dimension, then the elements in row-major order.
"""

import gzip
import os
import struct
import zlib

import numpy as np

from keras_slt.data.errors import DataError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions.
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension.

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def read_idx(path, magic):
    """Reads one gzip-compressed unsigned-byte IDX file.

    Args:
        path: Path of the `.gz` file.
        magic: Expected magic number: `IMAGES_MAGIC` (2051) for an
            `(N, rows, cols)` image file, `LABELS_MAGIC` (2049) for an
            `(N,)` label file.

    Returns:
        A read-only `uint8` numpy array with the dimensions stored in the
        header.

    Raises:
        DataError: If the file is missing, not gzip, has another magic
            number, or holds more or fewer bytes than its header announces.

    Example:

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), TRAIN_LABELS)
    >>> with gzip.open(path, "wb") as f:
    ...     _ = f.write(struct.pack(">II", LABELS_MAGIC, 3) + bytes([7, 2, 1]))
    >>> read_idx(path, LABELS_MAGIC).tolist()
    [7, 2, 1]
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a valid gzip file ({e})") from e
    ndim = magic & 0xFF
    header_size = 4 * (1 + ndim)
    if len(raw) < header_size:
        raise DataError(
            f"{path} is truncated: {len(raw)} bytes, "
            f"shorter than its {header_size}-byte IDX header"
        )
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DataError(
            f"{path} has IDX magic number {found}, expected {magic}"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = int(np.prod(dims))
    if len(raw) - header_size != expected:
        raise DataError(
            f"{path} holds {len(raw) - header_size} data bytes, "
            f"expected {expected} for dimensions {dims}"
        )
    return np.frombuffer(raw, np.uint8, offset=header_size).reshape(dims)


def read_idx_pair(images_path, labels_path, image_size=(28, 28)):
    """Reads matching IDX image and label files.

    Args:
        images_path: Path of the images file (magic 2051).
        labels_path: Path of the labels file (magic 2049).
        image_size: Expected `(rows, cols)` of each image.

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
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[1:] != tuple(image_size):
        raise DataError(
            f"{images_path} holds {images.shape[1]}x{images.shape[2]} "
            f"images, expected {image_size[0]}x{image_size[1]}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} "
            f"holds {len(labels)} labels"
        )
    return images[..., np.newaxis].copy(), labels.astype(np.int32)


def load_dir(data_dir, image_size=(28, 28)):
    """Reads the four standard MNIST-style IDX files from a directory.

    Args:
        data_dir: Directory holding `train-images-idx3-ubyte.gz`,
            `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz` and
            `t10k-labels-idx1-ubyte.gz`.
        image_size: Expected `(rows, cols)` of each image.

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
