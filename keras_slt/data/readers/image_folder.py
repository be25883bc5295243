"""Reader for a folder of images with one subfolder per class.

Layouts (class folders hold .bmp, .gif, .jpeg, .jpg or .png files, directly
or in nested folders):

    data_dir/<class>/...                  one pool; a fixed 20% is the test set
    data_dir/train/<class>/..., data_dir/test/<class>/...

Each file is opened as the format its first bytes name, and only when that
format is one the caller accepts (`image_formats`: JPEG and PNG unless BMP
or GIF are asked for): Pillow alone picks a decoder by content among all it
has, and would hand an EPS file named `x.png` to Ghostscript. Images are
decoded once by Pillow (a GIF's first frame, a 16-bit PNG's high byte), in
grayscale when the first image has one channel and RGB otherwise,
resized with Pillow's bilinear filter to `image_size` (default: the size of
the first image), and kept in memory as uint8: the same arrays with or
without TensorFlow, so both pipelines batch the same pixels. Class labels
follow the sorted class folder names (hidden ones skipped), images the
sorted paths within their class folder, as in
`keras.utils.image_dataset_from_directory`.
"""

import functools
import os
from concurrent import futures

import numpy as np
import PIL.Image

from keras_slt.data.dataset import split_indices
from keras_slt.data.errors import DataError
from keras_slt.utils import budget

EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# The formats a folder may hold, by the bytes their files start with.
MAGIC = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "BMP": (b"BM",),
    "GIF": (b"GIF87a", b"GIF89a"),
}
FORMATS = tuple(MAGIC)
# Read unless asked otherwise: BMP and GIF are read by Pillow's pure-Python
# plugins, more code for a crafted file to reach.
DEFAULT_FORMATS = ("JPEG", "PNG")
# Share of a single pool held out as the test set. Its key is fixed, so every
# run seed is tested on the same images (the seed still picks validation).
TEST_FRACTION = 0.2
TEST_SPLIT_KEY = 0
# The decoded images may take at most this share of the machine's memory:
# the splits and the batches copy part of them again.
MEMORY_SHARE = 0.5
_DECODE_THREADS = 4
# What PIL raises for damaged or oversized files.
PIL_ERRORS = (OSError, SyntaxError, ValueError, PIL.Image.DecompressionBombError)


def class_folders(folder):
    """Sorted names of the subfolders of `folder`, hidden ones left out."""
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir() and not entry.name.startswith("."))


def _class_images(folder):
    """Sorted paths of the images under `folder`: by folder, then by name.

    Raises DataError for an entry named like an image that is not a regular
    file: a named pipe would block the reader, a device (a link to
    /dev/zero) be read without end, a broken link fail.
    """
    paths = []
    for root, _, names in sorted(os.walk(folder), key=lambda walked: walked[0]):
        for name in sorted(names):
            path = os.path.join(root, name)
            if name.lower().endswith(EXTENSIONS):
                if not os.path.isfile(path):
                    raise DataError(f"image folder: {path} is not a regular file (a pipe, device or broken link)")
                paths.append(path)
    return paths


def _index(folder):
    """`(classes, paths, int32 labels)` of one folder of class folders.

    Raises DataError for a folder that is not one subfolder of images per class.
    """
    classes = class_folders(folder)
    if not classes:
        raise DataError(f"image folder {folder} has no class subfolders (expected {folder}/<class>/<image>)")
    per_class = [_class_images(os.path.join(folder, name)) for name in classes]
    for name, paths in zip(classes, per_class):
        if not paths:
            raise DataError(f"image folder {folder}: class folder {name} holds no {', '.join(EXTENSIONS)} images")
    if len(classes) < 2:
        raise DataError(f"image folder {folder} has a single class ({classes[0]}); a classifier needs two or more")
    labels = np.repeat(np.arange(len(classes), dtype=np.int32), [len(paths) for paths in per_class])
    return classes, [path for paths in per_class for path in paths], labels


def check_formats(formats):
    """`formats` as a tuple of upper-case names; ValueError naming image_formats unless some of `FORMATS`.

    Example:

    >>> check_formats(["png", "GIF"]), check_formats("jpeg,png")
    (('PNG', 'GIF'), ('JPEG', 'PNG'))
    """
    # A flag's "jpeg,png", or a sequence of names.
    names = formats.split(",") if isinstance(formats, str) else formats
    names = tuple(str(name).strip().upper() for name in names) if isinstance(names, (list, tuple)) else ()
    if not names or any(name not in MAGIC for name in names):
        raise ValueError(f"image_formats must be some of {', '.join(FORMATS)}; got {formats!r}")
    return names


def image_format(path, formats, setting=None):
    """The format of the image file `path`, from its first bytes.

    Args:
        path: the file.
        formats: the formats accepted (names from `FORMATS`).
        setting: the name of the setting that accepts more formats, which
            the error names for a file of another known format; None where
            there is none.

    Returns:
        The name, one of `formats`, to open the file with:
        `PIL.Image.open(path, formats=[name])`.

    Raises:
        DataError: naming the file, when it starts as none of `formats`
            (another format, or no image at all) or cannot be read.

    Example:

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> with open(path, "w") as file:
    ...     _ = file.write("%!PS-Adobe-3.0 EPSF-3.0")
    >>> image_format(path, DEFAULT_FORMATS)
    Traceback (most recent call last):
    ...
    keras_slt.data.errors.DataError: cannot read image .../x.png: it is not a JPEG or PNG file (it starts with b'%!PS-Ado')...
    """
    try:
        with open(path, "rb") as file:
            head = file.read(max(len(magic) for magics in MAGIC.values() for magic in magics))
    except OSError as error:
        raise DataError(f"cannot read image {path} ({error.strerror or error})") from None
    found = next((name for name, magics in MAGIC.items() if head.startswith(magics)), None)
    if found in formats:
        return found
    if found is None:
        raise DataError(
            f"cannot read image {path}: it is not a {' or '.join(formats)} file "
            f"(it starts with {head!r}) and is not opened"
        )
    remedy = f"; add {found} to {setting} to read it" if setting else ""
    raise DataError(
        f"cannot read image {path}: it is a {found} file, and only {', '.join(formats)} images are read{remedy}"
    )


def _cannot_read(path, error):
    return DataError(f"image folder: cannot read image {path} ({type(error).__name__}: {error})")


def _format(path, formats):
    """`(Pillow mode, (height, width))` of an image, from its header."""
    kind = image_format(path, formats, "image_formats")
    try:
        with PIL.Image.open(path, formats=[kind]) as image:
            bands, (width, height) = image.getbands(), image.size
    except PIL_ERRORS as error:
        raise _cannot_read(path, error) from None
    return ("L" if len(bands) == 1 and bands != ("P",) else "RGB"), (height, width)


def _read(path, mode, size, formats):
    """One image as a uint8 `size + (channels,)` array; DataError naming the file when it cannot be read."""
    height, width = size
    kind = image_format(path, formats, "image_formats")
    try:
        with PIL.Image.open(path, formats=[kind]) as image:
            check_pixels(path, image.size)
            if image.mode.startswith("I;16"):  # Pillow's convert would clip 16-bit values at 255.
                image = PIL.Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
            image = image.convert(mode)
            if image.size != (width, height):
                image = image.resize((width, height), PIL.Image.Resampling.BILINEAR)
            array = np.asarray(image)
    except DataError:  # check_pixels's, naming the file
        raise
    except PIL_ERRORS as error:
        raise _cannot_read(path, error) from None
    return array.reshape(height, width, -1)


def check_pixels(path, size):
    """Raises DataError unless images of `size` (width, height) fit the memory budget as `decode_all` decodes them.

    Checked from the header, before decoding: `decode_all` decodes four at
    a time, at up to 4 bytes a pixel (`keras_slt.utils.budget`).
    """
    width, height = size
    budget.check(
        f"image {path} of {width}x{height} pixels, decoded {_DECODE_THREADS} at a time at up to 4 bytes a pixel",
        4 * _DECODE_THREADS * width * height,
        DataError,
    )


def decode_all(paths, shape, read):
    """Decodes image files, in a few threads, into one uint8 array.

    Args:
        paths: sequence of image file paths.
        shape: `(height, width, channels)` of every image.
        read: function of a path returning its image as a uint8 array of
            `shape`, raising DataError for a file it cannot read.

    Returns:
        `uint8` array of shape `(len(paths),) + shape`, in `paths` order.

    Example:

    >>> images = decode_all(["a.png", "b.png"], (2, 2, 1),
    ...                     lambda path: np.full((2, 2, 1), len(path), np.uint8))
    >>> images.shape, images.ravel().tolist()[:4]
    ((2, 2, 2, 1), [5, 5, 5, 5])
    """
    images = np.zeros((len(paths),) + tuple(shape), np.uint8)
    # Threads overlap the file reads; PIL decodes without holding the GIL.
    with futures.ThreadPoolExecutor(_DECODE_THREADS) as pool:
        for i, image in enumerate(pool.map(read, paths)):
            images[i] = image
    return images


def _physical_memory():
    """The machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(data_dir, count, shape):
    """Raises DataError when `count` images of `shape` would not fit in memory."""
    needed = count * int(np.prod(shape, dtype=np.int64))
    memory = _physical_memory()
    if memory and needed > MEMORY_SHARE * memory:
        raise DataError(
            f"image folder {data_dir}: {count} images of {'x'.join(map(str, shape))} take "
            f"{needed / 2**30:.1f} GiB, more than {MEMORY_SHARE:.0%} of this machine's {memory / 2**30:.1f} GiB "
            "memory; give a smaller image_size"
        )


def load_dir(data_dir, image_size=None, image_formats=DEFAULT_FORMATS):
    """Reads an image folder into memory.

    Args:
        data_dir: the folder (see the module docstring for its layouts).
        image_size: `(height, width)` every image is resized to; `None` for
            the size of the first image.
        image_formats: the image formats read, some of `FORMATS` (case
            does not matter); a file of another format is an error, whatever
            its name.

    Returns:
        `(x_train, y_train, x_test, y_test, class_names)`: uint8 NHWC images
        (1 or 3 channels), int32 labels and the sorted class folder names.

    Raises:
        DataError: one line, for a folder without class subfolders, a class
            folder without images, an entry named like an image that is
            not a regular file, a single class, train/ and test/ with
            different classes, images too large together for the
            machine's memory (checked before any is decoded), or an image
            that cannot be decoded.

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
    formats = check_formats(image_formats)
    if not os.path.isdir(data_dir):
        raise DataError(f"image folder {data_dir} is not a directory")
    split_dirs = [os.path.join(data_dir, name) for name in ("train", "test")]
    separate = all(os.path.isdir(folder) for folder in split_dirs)
    splits = [_index(folder) for folder in (split_dirs if separate else [data_dir])]
    classes = splits[0][0]
    if separate and splits[1][0] != classes:
        raise DataError(
            f"image folder {data_dir}: train/ has classes {', '.join(classes)} but test/ has {', '.join(splits[1][0])}"
        )
    mode, first_size = _format(splits[0][1][0], formats)
    shape = tuple(image_size or first_size) + ((1,) if mode == "L" else (3,))
    _check_memory(data_dir, sum(len(paths) for _, paths, _ in splits), shape)
    read = functools.partial(_read, mode=mode, size=shape[:2], formats=formats)
    arrays = [(decode_all(paths, shape, read), labels) for _, paths, labels in splits]
    if separate:
        (x_train, y_train), (x_test, y_test) = arrays
    else:
        images, labels = arrays[0]
        train, test = split_indices(len(images), TEST_FRACTION, TEST_SPLIT_KEY)
        x_train, y_train, x_test, y_test = images[train], labels[train], images[test], labels[test]
    return x_train, y_train, x_test, y_test, classes
