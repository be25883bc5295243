"""Train/validation split, normalization and `tf.data` assembly."""

import dataclasses

import numpy as np
import tensorflow as tf

from keras_slt import seeding

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class Dataset:
    """The three splits of a dataset, ready for `model.fit`.

    Each split yields batches of `(images, labels)`: `float32` images of shape
    `(batch,) + input_shape` and `int32` labels.

    Attributes:
        train: Training batches, reshuffled (and augmented) each epoch.
        validation: Held-out part of the training set, unshuffled, or `None`
            when `num_validation` is 0.
        test: The official test set, unshuffled.
        input_shape: Shape of one image, e.g. `(28, 28, 1)`.
        num_classes: Number of label values.
        num_train: Number of training examples.
        num_validation: Number of validation examples.
        num_test: Number of test examples.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    input_shape: tuple
    num_classes: int
    num_train: int
    num_validation: int
    num_test: int


def split_indices(num_examples, validation_fraction, seed):
    """Splits `range(num_examples)` into training and validation indices.

    The indices are permuted by the project's own Philox stream of `seed`
    (`keras_slt.seeding`, kind DATA_SPLIT), so a NumPy release cannot change
    a split; the first `int(num_examples * (1 - validation_fraction))` of the permutation
    are the training indices (the official code's `int(n * train_val_ratio)`),
    the rest the validation indices. Both returned arrays are sorted.

    Args:
        num_examples: Size of the full training set.
        validation_fraction: Fraction in [0, 1) held out for validation.
        seed: Non-negative integer key of the permutation.

    Returns:
        `(train_indices, validation_indices)`, disjoint `int64` arrays whose
        union is `range(num_examples)`.

    Example:

    >>> train, val = split_indices(60000, 0.2, seed=0)
    >>> len(train), len(val)
    (48000, 12000)
    """
    permutation = seeding.permutation(seeding.stream(seed, 0, seeding.DATA_SPLIT), num_examples)
    cut = int(num_examples * (1 - validation_fraction))
    return np.sort(permutation[:cut]), np.sort(permutation[cut:])


def normalize(images, mean, std):
    """Scales [0, 255] images to [0, 1], then standardizes each channel.

    Args:
        images: Tensor of shape `(..., channels)`, any real dtype, with
            values in [0, 255].
        mean: Per-channel mean of the [0, 1]-scaled data (sequence of
            `channels` floats).
        std: Per-channel standard deviation of the [0, 1]-scaled data.

    Returns:
        `float32` tensor `(images / 255 - mean) / std`.

    Example:

    >>> normalize(tf.fill((2, 2, 1), 255), mean=[0.5], std=[0.25])[0, 0]
    <tf.Tensor: shape=(1,), dtype=float32, numpy=array([2.], dtype=float32)>
    """
    images = tf.cast(images, tf.float32) / 255.0
    return (images - tf.constant(mean, tf.float32)) / tf.constant(
        std, tf.float32
    )


def derive_seeds(seed):
    """Derives the shuffle and augmentation seeds of the training pipeline.

    Args:
        seed: Non-negative integer.

    Returns:
        `(shuffle_seed, augment_seed)`, two Python ints.

    Example:

    >>> shuffle_seed, augment_seed = derive_seeds(0)
    """
    shuffle_seed, augment_seed = np.random.SeedSequence(seed).generate_state(2)
    return int(shuffle_seed), int(augment_seed)


def training_pipeline(ds, transform, batch_size, seed, shuffle_buffer):
    """Shuffles, transforms and batches training examples.

    The order and the random transforms change every epoch (every new
    iteration over the result) and are the same for the same `seed`.

    Args:
        ds: `tf.data.Dataset` of `(image, label)`.
        transform: `fn(image, seed) -> float32 image`, where `seed` is a shape
            `(2,)` `int64` tensor for stateless random ops.
        batch_size: Number of examples per batch.
        seed: Non-negative integer.
        shuffle_buffer: Size of the shuffle buffer; the number of examples
            for a full shuffle.

    Returns:
        Batched and prefetched `tf.data.Dataset` of `(images, int32 labels)`.

    Example:

    >>> train = training_pipeline(ds, lambda x, s: tf.cast(x, "float32"),
    ...                           batch_size=128, seed=0, shuffle_buffer=1000)
    """
    shuffle_seed, augment_seed = derive_seeds(seed)
    ds = ds.shuffle(shuffle_buffer, seed=shuffle_seed,
                    reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(
        seed=augment_seed, rerandomize_each_iteration=True
    ).batch(2)
    ds = tf.data.Dataset.zip(ds, seeds)
    ds = ds.map(
        lambda example, s: (transform(example[0], s),
                            tf.cast(example[1], tf.int32)),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.batch(batch_size).prefetch(AUTOTUNE)


def evaluation_pipeline(ds, transform, batch_size):
    """Transforms and batches evaluation examples, keeping their order.

    Args:
        ds: `tf.data.Dataset` of `(image, label)`.
        transform: `fn(image) -> float32 image`.
        batch_size: Number of examples per batch.

    Returns:
        Batched and prefetched `tf.data.Dataset` of `(images, int32 labels)`.

    Example:

    >>> test = evaluation_pipeline(ds, lambda x: tf.cast(x, "float32"), 128)
    """
    ds = ds.map(
        lambda image, label: (transform(image), tf.cast(label, tf.int32)),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.batch(batch_size).prefetch(AUTOTUNE)


def select(ds, indices, num_examples):
    """Keeps the examples of a dataset whose positions are in `indices`.

    Args:
        ds: `tf.data.Dataset` with a deterministic order.
        indices: Positions to keep (numpy integer array).
        num_examples: Number of elements of `ds`.

    Returns:
        The selected elements, in their original order, with known
        cardinality.

    Example:

    >>> select(tf.data.Dataset.range(10), np.array([2, 5]), 10)
    """
    mask = np.zeros(num_examples, bool)
    mask[indices] = True
    mask = tf.constant(mask)
    ds = ds.enumerate().filter(lambda i, _: mask[i]).map(lambda _, x: x)
    return ds.apply(tf.data.experimental.assert_cardinality(len(indices)))
