"""The epoch plan: which examples each training epoch visits, in which order, and how each is augmented.

Both training pipelines, `tf.data` (`keras_slt.data.batching.tf_batches`) and NumPy
(`keras_slt.data.batching.numpy_batches`, for Keras backends without TensorFlow),
follow this plan, so they yield the same batches for the same seed, and a
resumed run sees the same data as an uninterrupted one: epoch `e` of a run
with seed `s` is fixed by `(s, e)` alone. The draws come from the project's
own Philox streams (`keras_slt.utils.seeding`, kinds DATA_ORDER and AUGMENT with
the epoch in place of a layer index), so no NumPy or TensorFlow release can
change them.

The augmentation is the CIFAR one: zero-pad by `padding`, crop back to size
at an offset uniform over the `2 * padding + 1` positions of each axis, and
flip left-right with probability 1/2.
"""

import numpy as np

from keras_slt.utils import seeding

PADDING = 4


def epoch_order(seed, epoch, num_examples):
    """The order in which epoch `epoch` visits `range(num_examples)`.

    Args:
        seed: the run's seed, an integer in [0, 2**64).
        epoch: the epoch, from 0.
        num_examples: the number of training examples.

    Returns:
        A permutation of `range(num_examples)` (int64).

    Example:

    >>> epoch_order(0, 0, 5).tolist() == epoch_order(0, 0, 5).tolist()
    True
    >>> sorted(epoch_order(0, 1, 5).tolist())
    [0, 1, 2, 3, 4]
    """
    return seeding.permutation(seeding.stream(seed, epoch, seeding.DATA_ORDER), num_examples)


def crop_flip_draws(seed, epoch, num_examples, padding=PADDING):
    """The crop offsets and flips of the `num_examples` visits of one epoch.

    Visit `i` is the `i`-th example of the epoch's order (`epoch_order`).

    Args:
        seed: the run's seed.
        epoch: the epoch, from 0.
        num_examples: the number of visits.
        padding: the zero padding of each side before cropping.

    Returns:
        `(rows, cols, flips)`: int32 offsets in [0, 2 * padding] into the
        padded image, and a bool array, `True` where the visit is flipped.

    Example:

    >>> rows, cols, flips = crop_flip_draws(0, 0, 1000)
    >>> int(rows.min()), int(rows.max()), flips.dtype
    (0, 8, dtype('bool'))
    """
    raw = seeding.stream(seed, epoch, seeding.AUGMENT).random_raw(num_examples)
    positions = np.uint64(2 * padding + 1)
    # Two 31-bit fields for the offsets (their modulo bias is below 1e-8)
    # and the top bit for the flip.
    rows = ((raw & np.uint64(0x7FFFFFFF)) % positions).astype(np.int32)
    cols = (((raw >> np.uint64(31)) & np.uint64(0x7FFFFFFF)) % positions).astype(np.int32)
    flips = (raw >> np.uint64(63)).astype(bool)
    return rows, cols, flips


def epoch_plan(seed, epoch, num_examples):
    """The whole plan of one epoch: its order and the draws of its visits.

    Args:
        seed: the run's seed.
        epoch: the epoch, from 0.
        num_examples: the number of training examples.

    Returns:
        `(order, rows, cols, flips)`: `epoch_order`, then `crop_flip_draws`.

    Example:

    >>> order, rows, cols, flips = epoch_plan(0, 0, 5)
    >>> sorted(order.tolist()), rows.shape, flips.dtype
    ([0, 1, 2, 3, 4], (5,), dtype('bool'))
    """
    return (epoch_order(seed, epoch, num_examples), *crop_flip_draws(seed, epoch, num_examples))


def crop_flip(images, rows, cols, flips, padding=PADDING):
    """Applies the crops and flips of `crop_flip_draws` to a batch, in NumPy.

    Args:
        images: `(batch, height, width, channels)` array of any dtype.
        rows, cols, flips: one draw per image (see `crop_flip_draws`).
        padding: the zero padding of each side before cropping.

    Returns:
        The augmented images, same shape and dtype.

    Example:

    >>> images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1)
    >>> out = crop_flip(images, np.array([1, 1]), np.array([1, 1]),
    ...                 np.array([False, True]), padding=1)
    >>> bool((out[0] == images[0]).all()), bool((out[1] == images[1, :, ::-1]).all())
    (True, True)
    """
    height, width = images.shape[1:3]
    padded = np.pad(images, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
    # Windows of every offset: (batch, 2p + 1, 2p + 1, channels, height, width).
    windows = np.lib.stride_tricks.sliding_window_view(padded, (height, width), axis=(1, 2))
    out = windows[np.arange(len(images)), rows, cols].transpose(0, 2, 3, 1)
    return np.where(flips[:, None, None, None], out[:, :, ::-1], out)


def normalize(images, mean, std):
    """Scales [0, 255] images to [0, 1] and standardizes each channel, in float32.

    The same float32 operations, in the same order, as the `tf.data`
    pipeline's `keras_slt.data.batching.tf_batches.normalize`, so both give the same
    bits.

    Args:
        images: uint8 array `(..., channels)`.
        mean, std: per-channel mean and standard deviation of the [0, 1]-scaled images.

    Example:

    >>> normalize(np.full((1, 1, 1), 255, np.uint8), mean=[0.5], std=[0.25])
    array([[[2.]]], dtype=float32)
    """
    # In place on the one float32 copy: fresh arrays for each step would
    # take three times as long on a training batch.
    images = images.astype(np.float32)
    images /= np.float32(255.0)
    images -= np.asarray(mean, np.float32)
    images /= np.asarray(std, np.float32)
    return images
