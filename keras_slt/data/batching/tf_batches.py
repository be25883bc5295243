"""The `tf.data` pipelines of the three splits.

Training streams follow the epoch plan (`keras_slt.data.batching.plan`): epoch `e`
of seed `s` visits the examples in the order of `(s, e)` and augments them
with the draws of `(s, e)`, exactly as the NumPy pipeline
(`keras_slt.data.batching.numpy_batches`) does. ImageNet, read as a stream of JPEG
records, is shuffled through a buffer instead (`shuffled_stream`).

Given `rows` (one process of a data-parallel run over several, see
`keras_slt.experiments.jax_parallel.HostShard`), the record pipelines keep
only that process's rows of every batch, dropped before they are decoded,
and `HostBatches` places them as the batch's global arrays.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_slt.data.batching import plan, transforms

AUTOTUNE = tf.data.AUTOTUNE
# The epoch count at which a training stream ends: never, in practice.
_LAST_EPOCH = 2**62


def normalize(images, mean, std):
    """Scales [0, 255] images to [0, 1], then standardizes each channel.

    Args:
        images: tensor of shape `(..., channels)`, any real dtype, with
            values in [0, 255].
        mean: per-channel mean of the [0, 1]-scaled data (sequence of
            `channels` floats).
        std: per-channel standard deviation of the [0, 1]-scaled data.

    Returns:
        `float32` tensor `(images / 255 - mean) / std`.

    Example:

    >>> normalize(tf.fill((2, 2, 1), 255), mean=[0.5], std=[0.25])[0, 0]
    <tf.Tensor: shape=(1,), dtype=float32, numpy=array([2.], dtype=float32)>
    """
    images = tf.cast(images, tf.float32) / 255.0
    return (images - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def training_stream(images, labels, mean, std, batch_size, seed, augment, first_epoch=0):
    """The training batches of every epoch from `first_epoch` on, as the epoch plan says.

    Args:
        images: uint8 array `(N, height, width, channels)`.
        labels: int32 array `(N,)`.
        mean, std: per-channel normalization (see `normalize`).
        batch_size: number of examples per batch; each epoch ends with its
            own, possibly smaller, batch.
        seed: the run's seed.
        augment: whether to crop and flip (`keras_slt.data.batching.plan`).
        first_epoch: the epoch the stream starts at.

    Returns:
        An endless, prefetched `tf.data.Dataset` of `(float32 images, int32
        labels)` batches.

    Example:

    >>> images = np.zeros((10, 4, 4, 1), np.uint8)
    >>> stream = training_stream(images, np.arange(10, dtype=np.int32), [0.], [1.],
    ...                          batch_size=4, seed=0, augment=True)
    >>> [int(y.shape[0]) for _, y in stream.take(4)]
    [4, 4, 2, 4]
    """
    num_examples = len(images)
    images, labels = tf.constant(images), tf.constant(labels, tf.int32)

    def one_epoch(epoch):
        order, rows, cols, flips = tf.numpy_function(
            lambda e: plan.epoch_plan(seed, int(e), num_examples),
            [epoch],
            (tf.int64, tf.int32, tf.int32, tf.bool),
            stateful=False,
        )
        visits = tf.data.Dataset.from_tensor_slices(
            (
                tf.ensure_shape(order, [num_examples]),
                tf.ensure_shape(rows, [num_examples]),
                tf.ensure_shape(cols, [num_examples]),
                tf.ensure_shape(flips, [num_examples]),
            )
        )
        return visits.batch(batch_size).map(visit, num_parallel_calls=AUTOTUNE)

    def visit(indices, rows, cols, flips):
        batch = tf.gather(images, indices)
        if augment:
            batch = transforms.crop_flip(batch, rows, cols, flips, plan.PADDING)
        return normalize(batch, mean, std), tf.gather(labels, indices)

    epochs = tf.data.Dataset.range(first_epoch, _LAST_EPOCH)
    return epochs.flat_map(one_epoch).prefetch(AUTOTUNE)


def shuffled_stream(ds, transform, batch_size, seed, shuffle_buffer, first_epoch=0, rows=None):
    """The training batches of a stream of records, shuffled through a buffer, every epoch anew.

    For datasets too large for memory (ImageNet), which cannot follow the
    epoch plan's random access. The stream is fixed by `(seed,
    first_epoch)`: an uninterrupted run sees the same data every time, but a
    run resumed at epoch e draws its later orders and augmentations anew
    from `(seed, e)` (`tf.data.Dataset.shuffle` takes its seed when the
    pipeline is built, not per epoch).

    Args:
        ds: `tf.data.Dataset` of `(record, label)`.
        transform: `fn(record, seed) -> float32 image`, where `seed` is a shape
            `(2,)` `int64` tensor for stateless random ops.
        batch_size: number of examples per batch.
        seed: non-negative integer.
        shuffle_buffer: size of the shuffle buffer.
        first_epoch: the epoch the stream starts at.
        rows: None, or `rows(n)`, the slice of a batch of `n` rows that this
            process keeps (see `batch_rows`); `ds` must then have a known
            cardinality.

    Returns:
        An endless, prefetched `tf.data.Dataset` of `(images, int32 labels)`,
        with `rows` of `(images, labels, n)` (see `batch_rows`).

    Example:

    >>> ds = tf.data.Dataset.from_tensor_slices((tf.zeros((6, 2, 2, 1)), tf.range(6)))
    >>> stream = shuffled_stream(ds, lambda x, s: x, 4, seed=0, shuffle_buffer=6)
    >>> [int(y.shape[0]) for _, y in stream.take(3)]
    [4, 2, 4]
    """
    shuffle_seed, augment_seed = (int(s) for s in np.random.SeedSequence([seed, first_epoch]).generate_state(2))
    shuffled = ds.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=augment_seed, rerandomize_each_iteration=True).batch(2)
    one_epoch = batch_rows(
        tf.data.Dataset.zip(shuffled, seeds),
        lambda example, s: (transform(example[0], s), tf.cast(example[1], tf.int32)),
        batch_size,
        rows,
    )
    return one_epoch.repeat().prefetch(AUTOTUNE)


def evaluation_pipeline(ds, transform, batch_size, rows=None):
    """Transforms and batches evaluation examples, keeping their order.

    Args:
        ds: `tf.data.Dataset` of `(image, label)`.
        transform: `fn(image) -> float32 image`.
        batch_size: number of examples per batch.
        rows: as `shuffled_stream`'s.

    Returns:
        Batched and prefetched `tf.data.Dataset` of `(images, int32 labels)`,
        with `rows` of `(images, labels, n)` (see `batch_rows`).

    Example:

    >>> ds = tf.data.Dataset.from_tensor_slices((tf.zeros((5, 2, 2, 1)), tf.range(5)))
    >>> test = evaluation_pipeline(ds, lambda x: tf.cast(x, "float32"), 4)
    >>> [int(y.shape[0]) for _, y in test]
    [4, 1]
    """
    batches = batch_rows(ds, lambda image, label: (transform(image), tf.cast(label, tf.int32)), batch_size, rows)
    return batches.prefetch(AUTOTUNE)


def batch_rows(examples, fn, batch_size, rows=None):
    """`examples.map(fn).batch(batch_size)`, or with `rows` one process's rows of each batch.

    A process keeps the rows `rows(n)` of each batch of `n` rows (the last
    may be smaller) and drops the others' examples before `fn`, so each
    process decodes only its own images. The processes together keep every
    batch whole, as one process alone would batch it, when each builds
    `examples` in the same order.

    Args:
        examples: `tf.data.Dataset`, one epoch; of known cardinality when
            `rows` is given.
        fn: `fn(*element) -> (image, label)`.
        batch_size: Number of examples per batch.
        rows: None, or `rows(n)`, the slice of a batch of `n` rows to keep.

    Returns:
        `tf.data.Dataset` of `(images, labels)` batches; with `rows`, of
        `(images, labels, n)`: this process's rows of each batch and the
        batch's row count in all processes together.

    Example:

    >>> examples = tf.data.Dataset.from_tensor_slices((tf.zeros(11), tf.range(11)))
    >>> second_half = lambda n: slice(n // 2, n) if n % 2 == 0 else slice(0, n)
    >>> batches = batch_rows(examples, lambda x, y: (x, y), 4, second_half)
    >>> [(y.numpy().tolist(), int(n)) for _, y, n in batches]
    [([2, 3], 4), ([6, 7], 4), ([8, 9, 10], 3)]
    """
    if rows is None:
        return examples.map(fn, num_parallel_calls=AUTOTUNE).batch(batch_size)
    num_examples = int(examples.cardinality())
    if num_examples < 0:
        raise ValueError("examples must have a known cardinality when rows is given")
    keep = np.zeros(num_examples, bool)
    kept, sizes = [], []  # per batch: this process's rows, all rows
    for first in range(0, num_examples, batch_size):
        size = min(batch_size, num_examples - first)
        part = rows(size)
        keep[first + part.start : first + part.stop] = True
        kept.append(part.stop - part.start)
        sizes.append(size)
    keep, kept, sizes = tf.constant(keep), tf.constant(kept, tf.int64), tf.constant(sizes, tf.int32)

    def batch(key, window):  # one batch's kept rows, with its whole row count
        return window.batch(batch_size).map(lambda _, example: (*example, sizes[key]))

    own = examples.enumerate().filter(lambda i, _: keep[i])
    own = own.map(lambda i, element: (i // batch_size, fn(*element)), num_parallel_calls=AUTOTUNE)
    # A batch's rows arrive together and in order: each window closes as its last one arrives.
    return own.group_by_window(key_func=lambda key, _: key, reduce_func=batch, window_size_func=lambda key: kept[key])


class HostBatches(keras.utils.PyDataset):
    """The batches of a `batch_rows` pipeline with `rows`, placed as global arrays by `shard`.

    Reads the pipeline in order. Batch 0 starts a new pass over `dataset`,
    as Keras starts a new iteration of a `tf.data.Dataset` it is given (a
    training stream shuffles each iteration anew, so both give the same
    batches).

    Args:
        dataset: `tf.data.Dataset` of `(images, labels, n)`.
        shard: an object with `place(batch, n)`, the model's input for this
            process's rows of a batch of `n` rows
            (`keras_slt.experiments.jax_parallel.HostShard`).
        num_batches: batches per pass, or None for an endless stream.
    """

    def __init__(self, dataset, shard, num_batches=None):
        super().__init__()
        self.dataset, self.shard, self._num_batches = dataset, shard, num_batches
        self._batches, self._next = None, 0

    @property
    def num_batches(self):
        return self._num_batches

    def __getitem__(self, k):
        if k == 0:
            self._batches = self.dataset.as_numpy_iterator()
        elif k != self._next:
            raise IndexError(f"batch {k} asked for after batch {self._next - 1}: the batches are read in order")
        images, labels, size = next(self._batches)
        self._next = k + 1
        return self.shard.place((images, labels), int(size))


def select(ds, indices, num_examples):
    """Keeps the examples of a dataset whose positions are in `indices`.

    Args:
        ds: `tf.data.Dataset` with a deterministic order.
        indices: positions to keep (numpy integer array).
        num_examples: number of elements of `ds`.

    Returns:
        The selected elements, in their original order, with known
        cardinality.

    Example:

    >>> [int(x) for x in select(tf.data.Dataset.range(10), np.array([2, 5]), 10)]
    [2, 5]
    """
    mask = np.zeros(num_examples, bool)
    mask[indices] = True
    mask = tf.constant(mask)
    ds = ds.enumerate().filter(lambda i, _: mask[i]).map(lambda _, x: x)
    return ds.apply(tf.data.experimental.assert_cardinality(len(indices)))
