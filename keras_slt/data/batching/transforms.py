"""Stateless image transforms for training augmentation and evaluation.

`crop_flip` takes its random draws from the epoch plan
(`keras_slt.data.batching.plan`); the ImageNet transforms take an explicit `seed`, a
shape `(2,)` integer tensor as used by `tf.random.stateless_*` ops: the same
image and seed always give the same output.
"""

import tensorflow as tf


def crop_flip(images, rows, cols, flips, padding=4):
    """Zero-pads each image of a batch, crops it back to size at its offset, maybe flips it.

    The CIFAR augmentation with its random draws given (see
    `keras_slt.data.batching.plan.crop_flip_draws`): the same draws give the same
    output as the NumPy `keras_slt.data.batching.plan.crop_flip`. It works on whole
    batches, as two gathers, because on a small machine the per-image ops of
    a parallel map preempt the train step's threads.

    Args:
        images: `(batch, height, width, channels)` tensor of any dtype.
        rows, cols: `(batch,)` int32 crop offsets in [0, 2 * padding].
        flips: `(batch,)` booleans, `True` to flip that image left-right.
        padding: number of zero pixels added on each side before cropping.

    Returns:
        The augmented batch, same shape and dtype as `images`.

    Example:

    >>> import numpy as np
    >>> from keras_slt.data.batching import plan
    >>> images = np.arange(32, dtype=np.int32).reshape(2, 4, 4, 1)
    >>> rows, cols, flips = np.array([1, 0]), np.array([1, 2]), np.array([True, False])
    >>> out = crop_flip(tf.constant(images), rows, cols, flips, padding=1)
    >>> bool(np.array_equal(out, plan.crop_flip(images, rows, cols, flips, padding=1)))
    True
    """
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    row_index = rows[:, None] + tf.range(height)[None, :]
    col_index = cols[:, None] + tf.range(width)[None, :]
    # A left-right flip of the crop reads its columns in reverse order.
    col_index = tf.where(flips[:, None], tf.reverse(col_index, [1]), col_index)
    rows_taken = tf.gather(padded, row_index, axis=1, batch_dims=1)
    return tf.gather(rows_taken, col_index, axis=2, batch_dims=1)


def random_resized_crop_flip(jpeg, seed, size=224, area_range=(0.08, 1.0), ratio_range=(3 / 4, 4 / 3)):
    """Decodes a random crop of a JPEG, resizes it, and randomly flips it.

    This is the standard ImageNet training augmentation ("Inception-style"
    crop): the crop covers a random fraction `area_range` of the image with an
    aspect ratio in `ratio_range`; only the crop is decoded. When no such crop
    is found in 10 attempts, the whole image is used.

    Args:
        jpeg: scalar string tensor holding a JPEG-encoded image.
        seed: shape `(2,)` integer seed.
        size: side of the square output.
        area_range: `(min, max)` fraction of the image area to keep.
        ratio_range: `(min, max)` aspect ratio (width / height) of the crop.

    Returns:
        `float32` image of shape `(size, size, 3)` with values in [0, 255].

    Example:

    >>> jpeg = tf.io.encode_jpeg(tf.zeros((300, 400, 3), tf.uint8))
    >>> random_resized_crop_flip(jpeg, seed=[0, 1]).shape
    TensorShape([224, 224, 3])
    """
    box_seed, flip_seed = tf.unstack(tf.random.split(seed, 2))
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.image.extract_jpeg_shape(jpeg),
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=(1, 1, 4)),
        seed=box_seed,
        min_object_covered=0.0,
        aspect_ratio_range=ratio_range,
        area_range=area_range,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    window = tf.stack([begin[0], begin[1], crop_size[0], crop_size[1]])
    image = tf.io.decode_and_crop_jpeg(jpeg, window, channels=3)
    image = tf.image.resize(image, (size, size), antialias=True)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


def resize_center_crop(jpeg, size=224, resize=256):
    """Decodes a JPEG, resizes its short side, and crops the center.

    This is the standard ImageNet evaluation transform.

    Args:
        jpeg: scalar string tensor holding a JPEG-encoded image.
        size: side of the square output.
        resize: length of the short side after resizing, before cropping.

    Returns:
        `float32` image of shape `(size, size, 3)` with values in [0, 255].

    Example:

    >>> jpeg = tf.io.encode_jpeg(tf.zeros((300, 400, 3), tf.uint8))
    >>> resize_center_crop(jpeg).shape
    TensorShape([224, 224, 3])
    """
    image = tf.io.decode_jpeg(jpeg, channels=3)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = resize / tf.reduce_min(shape)
    new_shape = tf.cast(tf.round(shape * scale), tf.int32)
    new_shape = tf.maximum(new_shape, size)
    image = tf.image.resize(image, new_shape, antialias=True)
    top = (new_shape[0] - size) // 2
    left = (new_shape[1] - size) // 2
    image = image[top : top + size, left : left + size]
    return tf.ensure_shape(image, (size, size, 3))
