"""`load` and `load_arrays`: the entry points of `keras_slt.data`."""

import importlib.util
import inspect
import os

from keras_slt.data import custom, graphs
from keras_slt.data.catalog import DEFAULT_DIRS, NAMES, SPECS
from keras_slt.data.dataset import Dataset, split_indices
from keras_slt.data.errors import DataError, require_tensorflow
from keras_slt.data.readers import cifar, cifar_folder, idx, image_folder, tfds_builtin
from keras_slt.utils import seeding
from keras_slt.utils.validation import check_fraction, check_one_of, check_positive_int

# ImageNet examples are shuffled through a buffer; the other datasets are
# fully shuffled in memory.
IMAGENET_SHUFFLE_BUFFER = 10_000
# Training augmentation: "auto" is each dataset's usual one (see `load`).
AUGMENTATIONS = ("auto", "none", "crop_flip")
# Who assembles the batches: "tf.data" (`keras_slt.data.batching.tf_batches`), "numpy"
# (`keras_slt.data.batching.numpy_batches`, no TensorFlow needed; the same batches),
# or "auto": tf.data where TensorFlow is installed.
PIPELINES = ("auto", "tf.data", "numpy")

_READERS = {
    "mnist": idx.load_dir,
    "fashion_mnist": idx.load_dir,
    "cifar10": lambda data_dir: (
        cifar_folder.load_dir(data_dir) if cifar_folder.is_folder(data_dir) else cifar.load_dir(data_dir, "cifar10")
    ),
    "cifar100": lambda data_dir: cifar.load_dir(data_dir, "cifar100"),
}


# What `load` takes for a graph besides its defaults: a graph is one batch
# (the whole graph), with its published split and its features as they are.
_GRAPH_CHOICES = {"augment": ("auto", "none"), "pipeline": ("auto", "numpy")}


def _check_name(name):
    if not custom.is_custom(name):
        check_one_of("dataset", name, NAMES + graphs.NAMES, forms=custom.FORMS)


def arrays_and_spec(name, data_dir=None, image_size=None, image_formats=image_folder.DEFAULT_FORMATS):
    """`load_arrays` and the dataset's `DatasetSpec` (derived, for custom ones).

    Args:
        name, data_dir, image_size, image_formats: as `load_arrays`.

    Returns:
        `((x_train, y_train, x_test, y_test), spec)`.

    Example:

    >>> (x_train, y_train, x_test, y_test), spec = arrays_and_spec("fashion_mnist")
    >>> spec.input_shape, spec.num_classes
    ((28, 28, 1), 10)
    """
    _check_name(name)
    if custom.is_custom(name):
        return custom.load(name, data_dir, image_size, image_formats)
    return load_arrays(name, data_dir), SPECS[name]


def load_arrays(name, data_dir=None, image_size=None, image_formats=image_folder.DEFAULT_FORMATS):
    """Loads a small dataset into numpy arrays.

    Args:
        name: one of `"mnist"`, `"fashion_mnist"`, `"cifar10"`, `"cifar100"`,
            `"tfds:NAME"` (any TFDS image classification dataset) or
            `"image_folder"` (see `keras_slt.data.readers.image_folder`).
        data_dir: directory of the dataset files: the four IDX `.gz` files
            for (Fashion-)MNIST, the extracted CIFAR python folder or its
            parent for CIFAR, or for CIFAR-10 also a folder of
            `train/<class>/` and `test/<class>/` JPEGs (see
            `keras_slt.data.readers.cifar_folder`), TFDS's data directory for `tfds:NAME`, the
            image folder for `image_folder`. If `None`, a system directory
            is used when it exists (`/usr/share/datasets/fashion-mnist`,
            from Debian's `dataset-fashion-mnist`), otherwise TFDS.
        image_size: `(height, width)` to resize `tfds:` and `image_folder`
            images to (default: their own size).
        image_formats: the formats `image_folder` files may have (see
            `keras_slt.data.readers.image_folder.load_dir`): JPEG and PNG unless
            told otherwise.

    Returns:
        `(x_train, y_train, x_test, y_test)`: `uint8` images of shape
        `(N, height, width, channels)` and `int32` labels of shape `(N,)`.

    Raises:
        ValueError: If `name` is unknown, `"imagenet2012"` or a graph (see
            `keras_slt.data.graphs.load_graph`).
        DataError: If the files are missing or malformed, or TFDS fails.

    Example:

    >>> import keras_slt
    >>> x_train, y_train, x_test, y_test = keras_slt.data.load_arrays(
    ...     "fashion_mnist")
    >>> x_train.shape, x_test.shape
    ((60000, 28, 28, 1), (10000, 28, 28, 1))
    """
    _check_name(name)
    if custom.is_custom(name):
        return custom.load(name, data_dir, image_size, image_formats)[0]
    if name in graphs.NAMES:
        raise ValueError(f"dataset {name} is a graph: read it with keras_slt.data.load_graph (or load)")
    if name not in _READERS:
        raise ValueError(f"Dataset {name!r} is too large for numpy arrays; use load()")
    spec = SPECS[name]
    if data_dir is None and os.path.isdir(DEFAULT_DIRS.get(name, "")):
        data_dir = DEFAULT_DIRS[name]
    try:
        if data_dir is None:
            arrays = tfds_builtin.load_arrays(name)
        else:
            arrays = _READERS[name](os.fspath(data_dir))
    except DataError as e:
        source = "no data_dir given and " if data_dir is None else ""
        raise DataError(f"{name}: {source}{e}; {spec.obtain}") from e
    for labels in (arrays[1], arrays[3]):
        if labels.size and not 0 <= labels.min() <= labels.max() < (spec.num_classes):
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
    pipeline="auto",
    shard=None,
    image_formats=image_folder.DEFAULT_FORMATS,
):
    """Builds the training, validation and test pipelines of a dataset.

    For images, the validation split is a seeded random `validation_fraction` of the
    training set (see `split_indices`); the test split is the official test
    set (ImageNet: the official validation set). Each training epoch has its
    own order and augmentation, fixed by `seed` and the epoch alone
    (`keras_slt.data.batching.plan`), so a resumed run sees the same data as an
    uninterrupted one, on any backend.

    Augmentation (training split only):

    - "auto", each dataset's usual one: none for MNIST, Fashion-MNIST,
      `tfds:NAME` and `image_folder`; "crop_flip" for CIFAR-10/100;
      random-resized crop to 224x224 and random horizontal flip for ImageNet,
      whose evaluation splits are resized to a short side of 256 and
      center-cropped to 224x224 (also with "none").
    - "crop_flip": zero-pad by 4, random crop back to size, random horizontal
      flip (not for ImageNet).
    - "none".

    A graph (one of `GRAPH_NAMES`, read by `keras_slt.data.graphs.load_graph`)
    trains full batch: each split is one batch, the whole graph, its loss
    weighted to the split's nodes (`keras_slt.data.batching.graph_batches`),
    and the split is the published one. The options about batches, splits
    and images do not apply to it and are refused unless left as they are.

    Args:
        name: one of `NAMES`: `"mnist"`, `"fashion_mnist"`, `"cifar10"`,
            `"cifar100"`, `"imagenet2012"`; `"tfds:NAME"` or
            `"image_folder"` (see `load_arrays`), whose shape, classes and
            normalization come from their training images; or a graph, one
            of `GRAPH_NAMES`.
        data_dir: where the files are. For the small datasets see
            `load_arrays`. For `"imagenet2012"`, the directory holding
            `ILSVRC2012_img_train.tar` and `ILSVRC2012_img_val.tar`, read
            when TFDS first prepares the dataset. For graphs see
            `keras_slt.data.graphs.load_graph`.
        batch_size: number of examples per batch.
        seed: non-negative integer that fixes the split, the shuffling and
            the augmentation.
        validation_fraction: fraction of the training set held out for
            validation, in [0, 1).
        augment: augmentation of the training split, one of
            `AUGMENTATIONS` (see above).
        normalize: whether to standardize images with the dataset's
            per-channel mean and std (see `SPECS`); otherwise images are
            only scaled to [0, 1].
        image_size: `(height, width)` for `tfds:NAME` and `image_folder`
            (see `load_arrays`).
        pipeline: one of `PIPELINES`: "tf.data", "numpy" (Keras
            `PyDataset`s, no TensorFlow needed; the same batches), or "auto",
            tf.data where TensorFlow is installed. ImageNet is tf.data only.
        shard: for one process of a data-parallel run, its rows of every
            batch and their placement (see `keras_slt.data.batching.numpy_batches.TrainingBatches`);
            the numpy pipeline, or imagenet2012's tf.data one
            (`tf_batches.HostBatches`).
        image_formats: the formats `image_folder` files may have (see
            `load_arrays`).

    Returns:
        A `Dataset` (`keras_slt.data.dataset`): its training stream, from any
        epoch on, its `validation` and `test` batches of `(float32 images,
        int32 labels)` (graphs: `(inputs, labels, sample_weights)`), and
        their sizes.

    Raises:
        ValueError: If `name` is unknown or an argument is out of range.
        DataError: If the dataset files are missing or malformed.

    Example:

    >>> import keras_slt
    >>> data = keras_slt.data.load("fashion_mnist", seed=1)
    >>> data.num_train, data.num_validation, data.num_test
    (48000, 12000, 10000)
    >>> images, labels = next(iter(data.test))
    >>> tuple(images.shape), tuple(labels.shape)
    ((128, 28, 28, 1), (128,))
    """
    _check_name(name)
    if name in graphs.NAMES:
        options = dict(
            batch_size=batch_size,
            validation_fraction=validation_fraction,
            augment=augment,
            normalize=normalize,
            image_size=image_size,
            pipeline=pipeline,
            shard=shard,
            image_formats=image_formats,
        )
        return _graph(name, data_dir, options)
    check_fraction("validation_fraction", validation_fraction, upper_open=True)
    check_positive_int("batch_size", batch_size)
    seed = seeding.check_seed(seed)
    check_one_of(f"augment for {name}", augment, ("auto", "none") if name == "imagenet2012" else AUGMENTATIONS)
    check_one_of("pipeline", pipeline, PIPELINES)
    if name == "imagenet2012":
        if pipeline == "numpy":
            raise ValueError("imagenet2012 is read by tf.data only; use pipeline tf.data or auto")
        require_tensorflow("imagenet2012")
        return _imagenet(data_dir, batch_size, seed, validation_fraction, augment, normalize, shard)
    if shard is not None and pipeline == "tf.data":
        raise ValueError("shard needs pipeline numpy or auto")
    arrays, spec = arrays_and_spec(name, data_dir, image_size, image_formats)
    x_train, y_train, x_test, y_test = arrays
    mean, std = _statistics(spec, normalize)
    crop_flip = augment == "crop_flip" or (augment == "auto" and name in ("cifar10", "cifar100"))
    train_idx, val_idx = split_indices(len(x_train), validation_fraction, seed)
    x_val, y_val = x_train[val_idx], y_train[val_idx]
    x_train, y_train = x_train[train_idx], y_train[train_idx]
    if pipeline == "auto":
        pipeline = "tf.data" if importlib.util.find_spec("tensorflow") and shard is None else "numpy"
    if pipeline == "numpy":
        from keras_slt.data.batching import numpy_batches

        def train_from(epoch):
            return numpy_batches.TrainingBatches(x_train, y_train, mean, std, batch_size, seed, crop_flip, epoch, shard)

        def evaluation(x, y):
            return numpy_batches.EvaluationBatches(x, y, mean, std, batch_size, shard)
    else:
        import tensorflow as tf

        from keras_slt.data.batching import tf_batches

        def train_from(epoch):
            return tf_batches.training_stream(x_train, y_train, mean, std, batch_size, seed, crop_flip, epoch)

        def evaluation(x, y):
            return tf_batches.evaluation_pipeline(
                tf.data.Dataset.from_tensor_slices((x, y)),
                lambda image: tf_batches.normalize(image, mean, std),
                batch_size,
            )

    return Dataset(
        train_from=train_from,
        validation=evaluation(x_val, y_val) if len(val_idx) else None,
        test=evaluation(x_test, y_test),
        input_shape=spec.input_shape,
        num_classes=spec.num_classes,
        num_train=len(train_idx),
        num_validation=len(val_idx),
        num_test=len(x_test),
        batch_size=batch_size,
    )


def _graph(name, data_dir, options):
    """`load` for a graph: one batch, the whole graph (see `load`)."""
    parameters = inspect.signature(load).parameters
    for option, value in options.items():
        if value not in _GRAPH_CHOICES.get(option, (parameters[option].default,)):
            raise ValueError(
                f"{option} does not apply to graph {name}: it trains full batch on its published split, "
                f"its features as they are; got {option}={value!r}"
            )
    # Imported here: it needs Keras, which the command lines load only after their flags are checked.
    from keras_slt.data.batching import graph_batches

    return graph_batches.graph_dataset(graphs.load_graph(name, data_dir))


def _statistics(spec, normalize):
    """The per-channel mean and std the images are standardized with."""
    if normalize:
        return spec.mean, spec.std
    channels = spec.input_shape[-1]
    return (0.0,) * channels, (1.0,) * channels


def _imagenet(data_dir, batch_size, seed, validation_fraction, augment, normalize, shard):
    """`load` for ImageNet: TFDS records, decoded and augmented in `tf.data`.

    With a `shard`, each process decodes only its rows of every batch, from
    the stream every process builds alike, and the shard places them.
    """
    import tensorflow as tf

    from keras_slt.data.batching import tf_batches, transforms
    from keras_slt.data.readers import tfds_builtin

    name = "imagenet2012"
    spec = SPECS[name]
    mean, std = _statistics(spec, normalize)
    try:
        train, test, num_train, num_test = tfds_builtin.load_imagenet(None if data_dir is None else os.fspath(data_dir))
    except DataError as e:
        raise DataError(f"{name}: {e}; {spec.obtain}") from e

    def decode(jpeg):
        return tf_batches.normalize(transforms.resize_center_crop(jpeg), mean, std)

    if augment == "auto":

        def train_transform(jpeg, s):
            return tf_batches.normalize(transforms.random_resized_crop_flip(jpeg, s), mean, std)
    else:

        def train_transform(jpeg, s):
            return decode(jpeg)

    train_idx, val_idx = split_indices(num_train, validation_fraction, seed)
    train_ds = tf_batches.select(train, train_idx, num_train)
    val_ds = tf_batches.select(train, val_idx, num_train)

    rows = None if shard is None else shard.rows

    def placed(batches, num_examples=None):
        if shard is None:
            return batches
        return tf_batches.HostBatches(batches, shard, None if num_examples is None else -(-num_examples // batch_size))

    def train_from(epoch):
        return placed(
            tf_batches.shuffled_stream(
                train_ds, train_transform, batch_size, seed, IMAGENET_SHUFFLE_BUFFER, epoch, rows
            )
        )

    def evaluation(ds, num_examples):
        ds = ds.apply(tf.data.experimental.assert_cardinality(num_examples))
        return placed(tf_batches.evaluation_pipeline(ds, decode, batch_size, rows), num_examples)

    return Dataset(
        train_from=train_from,
        validation=evaluation(val_ds, len(val_idx)) if len(val_idx) else None,
        test=evaluation(test, num_test),
        input_shape=spec.input_shape,
        num_classes=spec.num_classes,
        num_train=len(train_idx),
        num_validation=len(val_idx),
        num_test=num_test,
        batch_size=batch_size,
    )
