"""`load` and `load_arrays`: the entry points of `keras_slt.data`."""

import os

import tensorflow as tf

from keras_slt.data import cifar
from keras_slt.data import cifar_folder
from keras_slt.data import custom
from keras_slt.data import idx
from keras_slt.data import pipeline
from keras_slt.data import tfds_source
from keras_slt.data import transforms
from keras_slt.data.catalog import DEFAULT_DIRS
from keras_slt.data.catalog import NAMES
from keras_slt.data.catalog import SPECS
from keras_slt.data.errors import DataError

# ImageNet examples are shuffled through a buffer; the other datasets are
# fully shuffled in memory.
IMAGENET_SHUFFLE_BUFFER = 10_000
# Training augmentation: "auto" is each dataset's usual one (see `load`).
AUGMENTATIONS = ("auto", "none", "crop_flip")

_READERS = {
    "mnist": idx.load_dir,
    "fashion_mnist": idx.load_dir,
    "cifar10": lambda data_dir: (
        cifar_folder.load_dir(data_dir) if cifar_folder.is_folder(data_dir)
        else cifar.load_dir(data_dir, "cifar10")
    ),
    "cifar100": lambda data_dir: cifar.load_dir(data_dir, "cifar100"),
}


def _check_name(name):
    if name not in SPECS and not custom.is_custom(name):
        raise ValueError(
            f"Unknown dataset {name!r}; expected one of {', '.join(NAMES)}, "
            f"{custom.TFDS_PREFIX}NAME or {custom.IMAGE_FOLDER}"
        )


def arrays_and_spec(name, data_dir=None, image_size=None):
    """`load_arrays` and the dataset's `DatasetSpec` (derived, for custom ones).

    Example:

    >>> (x_train, y_train, x_test, y_test), spec = arrays_and_spec(
    ...     "image_folder", "/data/pets", image_size=(64, 64))
    """
    _check_name(name)
    if custom.is_custom(name):
        return custom.load(name, data_dir, image_size)
    return load_arrays(name, data_dir), SPECS[name]


def load_arrays(name, data_dir=None, image_size=None):
    """Loads a small dataset into numpy arrays.

    Args:
        name: One of `"mnist"`, `"fashion_mnist"`, `"cifar10"`, `"cifar100"`,
            `"tfds:NAME"` (any TFDS image classification dataset) or
            `"image_folder"` (see `keras_slt.data.image_folder`).
        data_dir: Directory of the dataset files: the four IDX `.gz` files
            for (Fashion-)MNIST, the extracted CIFAR python folder or its
            parent for CIFAR, or for CIFAR-10 also a folder of
            `train/<class>/` and `test/<class>/` JPEGs (see
            `keras_slt.data.cifar_folder`), TFDS's data directory for `tfds:NAME`, the
            image folder for `image_folder`. If `None`, a system directory
            is used when it exists (`/usr/share/datasets/fashion-mnist`,
            from Debian's `dataset-fashion-mnist`), otherwise TFDS.
        image_size: `(height, width)` to resize `tfds:` and `image_folder`
            images to (default: their own size).

    Returns:
        `(x_train, y_train, x_test, y_test)`: `uint8` images of shape
        `(N, height, width, channels)` and `int32` labels of shape `(N,)`.

    Raises:
        ValueError: If `name` is unknown or is `"imagenet2012"`.
        DataError: If the files are missing or malformed, or TFDS fails.

    Example:

    >>> x_train, y_train, x_test, y_test = keras_slt.data.load_arrays(
    ...     "fashion_mnist")
    >>> x_train.shape, x_test.shape
    ((60000, 28, 28, 1), (10000, 28, 28, 1))
    """
    _check_name(name)
    if custom.is_custom(name):
        return custom.load(name, data_dir, image_size)[0]
    if name not in _READERS:
        raise ValueError(
            f"Dataset {name!r} is too large for numpy arrays; use load()"
        )
    spec = SPECS[name]
    if data_dir is None and os.path.isdir(DEFAULT_DIRS.get(name, "")):
        data_dir = DEFAULT_DIRS[name]
    try:
        if data_dir is None:
            arrays = tfds_source.load_arrays(name)
        else:
            arrays = _READERS[name](os.fspath(data_dir))
    except DataError as e:
        source = "no data_dir given and " if data_dir is None else ""
        raise DataError(f"{name}: {source}{e}; {spec.obtain}") from e
    for labels in (arrays[1], arrays[3]):
        if labels.size and not 0 <= labels.min() <= labels.max() < (
            spec.num_classes
        ):
            raise DataError(
                f"{name}: labels in {data_dir or 'TFDS'} range from "
                f"{labels.min()} to {labels.max()}, expected 0 to "
                f"{spec.num_classes - 1}; {spec.obtain}"
            )
    return arrays


def load(
    name,
    data_dir=None,
    batch_size=128,
    seed=0,
    validation_fraction=0.2,
    augment="auto",
    normalize=True,
    image_size=None,
):
    """Builds the training, validation and test pipelines of a dataset.

    The validation split is a seeded random `validation_fraction` of the
    training set (see `split_indices`); the test split is the official test
    set (ImageNet: the official validation set). Training data is reshuffled
    every epoch; shuffling and augmentation are deterministic given `seed`
    (and TensorFlow's global seed, when one is set, e.g. by
    `keras.utils.set_random_seed`).

    Augmentation (training split only):

    - "auto", each dataset's usual one: none for MNIST, Fashion-MNIST,
      `tfds:NAME` and `image_folder`; "crop_flip" for CIFAR-10/100;
      random-resized crop to 224x224 and random horizontal flip for ImageNet,
      whose evaluation splits are resized to a short side of 256 and
      center-cropped to 224x224 (also with "none").
    - "crop_flip": zero-pad by 4, random crop back to size, random horizontal
      flip (not for ImageNet).
    - "none".

    Args:
        name: One of `NAMES`: `"mnist"`, `"fashion_mnist"`, `"cifar10"`,
            `"cifar100"`, `"imagenet2012"`; or `"tfds:NAME"` or
            `"image_folder"` (see `load_arrays`), whose shape, classes and
            normalization come from their training images.
        data_dir: Where the files are. For the small datasets see
            `load_arrays`. For `"imagenet2012"`, the directory holding
            `ILSVRC2012_img_train.tar` and `ILSVRC2012_img_val.tar`, read
            when TFDS first prepares the dataset.
        batch_size: Number of examples per batch.
        seed: Non-negative integer that fixes the split, the shuffling and
            the augmentation.
        validation_fraction: Fraction of the training set held out for
            validation, in [0, 1).
        augment: Augmentation of the training split, one of
            `AUGMENTATIONS` (see above).
        normalize: Whether to standardize images with the dataset's
            per-channel mean and std (see `SPECS`); otherwise images are
            only scaled to [0, 1].
        image_size: `(height, width)` for `tfds:NAME` and `image_folder`
            (see `load_arrays`).

    Returns:
        A `Dataset` with `train`, `validation` and `test` `tf.data.Dataset`s
        of `(float32 images, int32 labels)` batches and their sizes.

    Raises:
        ValueError: If `name` is unknown or an argument is out of range.
        DataError: If the dataset files are missing or malformed.

    Example:

    >>> data = keras_slt.data.load("fashion_mnist", seed=1)
    >>> data.num_train, data.num_validation, data.num_test
    (48000, 12000, 10000)
    >>> model.fit(data.train, validation_data=data.validation, epochs=10)
    """
    _check_name(name)
    if not 0 <= validation_fraction < 1:
        raise ValueError(
            "validation_fraction must be in [0, 1), got "
            f"{validation_fraction}"
        )
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer, got {batch_size}"
        )
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    batch_size, seed = int(batch_size), int(seed)
    if augment not in AUGMENTATIONS or (name == "imagenet2012" and augment == "crop_flip"):
        choices = ("auto", "none") if name == "imagenet2012" else AUGMENTATIONS
        raise ValueError(f"augment for {name} must be one of {', '.join(choices)}; got {augment!r}")

    if name == "imagenet2012":
        spec = SPECS[name]
    else:
        arrays, spec = arrays_and_spec(name, data_dir, image_size)
    channels = spec.input_shape[-1]
    mean, std = (spec.mean, spec.std) if normalize else (
        (0.0,) * channels, (1.0,) * channels
    )

    def scale(image):
        return pipeline.normalize(image, mean, std)

    if name == "imagenet2012":
        try:
            train, test, num_train, num_test = tfds_source.load_imagenet(
                None if data_dir is None else os.fspath(data_dir)
            )
        except DataError as e:
            raise DataError(f"{name}: {e}; {spec.obtain}") from e

        def decode(jpeg):
            return scale(transforms.resize_center_crop(jpeg))

        if augment == "auto":
            def train_transform(jpeg, s):
                return scale(transforms.random_resized_crop_flip(jpeg, s))
        else:
            def train_transform(jpeg, s):
                return decode(jpeg)

        shuffle_buffer = IMAGENET_SHUFFLE_BUFFER
        train_idx, val_idx = pipeline.split_indices(
            num_train, validation_fraction, seed
        )
        train_ds = pipeline.select(train, train_idx, num_train)
        val_ds = pipeline.select(train, val_idx, num_train)
        test_ds = test
    else:
        x_train, y_train, x_test, y_test = arrays
        num_test = len(x_test)
        decode = scale
        if augment == "crop_flip" or (augment == "auto" and name in ("cifar10", "cifar100")):
            def train_transform(image, s):
                return scale(transforms.random_crop_flip(image, s))
        else:
            def train_transform(image, s):
                return scale(image)

        train_idx, val_idx = pipeline.split_indices(
            len(x_train), validation_fraction, seed
        )
        shuffle_buffer = max(len(train_idx), 1)
        train_ds = tf.data.Dataset.from_tensor_slices(
            (x_train[train_idx], y_train[train_idx])
        )
        val_ds = tf.data.Dataset.from_tensor_slices(
            (x_train[val_idx], y_train[val_idx])
        )
        test_ds = tf.data.Dataset.from_tensor_slices((x_test, y_test))

    return pipeline.Dataset(
        train=pipeline.training_pipeline(
            train_ds, train_transform, batch_size, seed, shuffle_buffer
        ),
        validation=(
            pipeline.evaluation_pipeline(val_ds, decode, batch_size)
            if len(val_idx) else None
        ),
        test=pipeline.evaluation_pipeline(test_ds, decode, batch_size),
        input_shape=spec.input_shape,
        num_classes=spec.num_classes,
        num_train=len(train_idx),
        num_validation=len(val_idx),
        num_test=num_test,
    )
