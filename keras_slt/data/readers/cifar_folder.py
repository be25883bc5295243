"""Reader for CIFAR-10 as a folder of JPEG images.

Layout: `data_dir/train/<class>/*.jpg` and `data_dir/test/<class>/*.jpg`,
the class folders named after CIFAR-10's ten classes (`CLASSES`), every
image 32x32 RGB. Labels follow `CLASSES`, CIFAR-10's official label order
(which is also the sorted order of the names), so a folder gives the same
labels as the official python batches.

Only JPEG files are read: a file whose first bytes are not a JPEG's is
refused before Pillow sees it (`image_folder.image_format`). The JPEGs are
decoded once, by Pillow (as torchvision's `ImageFolder` does,
libjpeg's accurate integer DCT; TensorFlow's `decode_jpeg` with
`dct_method="INTEGER_ACCURATE"` gives the same pixels), in a few threads:
the same arrays with or without TensorFlow.
"""

import os

import numpy as np
import PIL.Image

from keras_slt.data.errors import DataError
from keras_slt.data.readers import image_folder

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
SHAPE = (32, 32, 3)
EXTENSIONS = (".jpg", ".jpeg")


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

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in CLASSES:
    ...     os.mkdir(os.path.join(folder, name))
    ...     PIL.Image.new("RGB", (32, 32)).save(os.path.join(folder, name, "0.jpg"))
    >>> paths, labels = list_split(folder)
    >>> len(paths), labels[:3].tolist()
    (10, [0, 1, 2])
    """
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if tuple(classes) != tuple(sorted(CLASSES)):
        found = ", ".join(classes) if classes else "none"
        raise DataError(f"{folder} has class folders {found}; expected CIFAR-10's {', '.join(CLASSES)}")
    paths, labels = [], []
    for label, name in enumerate(CLASSES):
        class_dir = os.path.join(folder, name)
        images = sorted(
            entry.name
            for entry in os.scandir(class_dir)
            if entry.name.lower().endswith(EXTENSIONS) and not entry.name.startswith(".") and entry.is_file()
        )
        if not images:
            raise DataError(f"{class_dir} holds no {'/'.join(EXTENSIONS)} images")
        paths += [os.path.join(class_dir, image) for image in images]
        labels += [label] * len(images)
    return paths, np.asarray(labels, np.int32)


def _decode(path):
    """One image as a uint8 array; DataError naming the file when it is not a 32x32 RGB JPEG."""
    image_folder.image_format(path, ("JPEG",))
    try:
        with PIL.Image.open(path, formats=["JPEG"]) as image:
            if image.size != SHAPE[:2]:  # from the header, before decoding
                shape = (image.size[1], image.size[0], len(image.getbands()))
                raise DataError(f"{path} is {'x'.join(map(str, shape))}; CIFAR-10 images are 32x32x3")
            array = np.asarray(image)
    except DataError:  # the size check's, naming the file
        raise
    except image_folder.PIL_ERRORS as error:
        raise DataError(f"cannot decode {path} ({type(error).__name__}: {error})") from None
    shape = array.shape if array.ndim == 3 else array.shape + (1,)  # grayscale: one channel
    if shape != SHAPE:
        raise DataError(f"{path} is {'x'.join(map(str, shape))}; CIFAR-10 images are 32x32x3")
    return array


def decode(paths):
    """Decodes JPEG files into one `uint8` array of 32x32 RGB images.

    Args:
        paths: sequence of JPEG file paths.

    Returns:
        `uint8` array of shape `(len(paths), 32, 32, 3)`.

    Raises:
        DataError: Naming the first file that cannot be decoded or is not
            32x32x3.

    Example:

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "cat.jpg")
    >>> PIL.Image.new("RGB", (32, 32), "white").save(path)
    >>> images = decode([path])
    >>> images.shape, images.dtype, int(images.min())
    ((1, 32, 32, 3), dtype('uint8'), 255)
    """
    return image_folder.decode_all(paths, SHAPE, _decode)


def load_dir(data_dir):
    """Reads CIFAR-10's training and test images from JPEG folders.

    Args:
        data_dir: folder holding `train/<class>/` and `test/<class>/`.

    Returns:
        `(x_train, y_train, x_test, y_test)`: `uint8` images of shape
        `(N, 32, 32, 3)` and `int32` labels in CIFAR-10's order.

    Raises:
        DataError: One line naming the folder or file, when a split is
            missing, the class folders are not CIFAR-10's, or an image
            cannot be decoded or is not 32x32 RGB.

    Example:

    >>> import tempfile
    >>> data_dir = tempfile.mkdtemp()
    >>> for split in SPLITS:
    ...     for name in CLASSES:
    ...         os.makedirs(os.path.join(data_dir, split, name))
    ...         PIL.Image.new("RGB", (32, 32)).save(os.path.join(data_dir, split, name, "0.jpg"))
    >>> x_train, y_train, x_test, y_test = load_dir(data_dir)
    >>> x_train.shape, x_test.shape
    ((10, 32, 32, 3), (10, 32, 32, 3))
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
