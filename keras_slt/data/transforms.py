"""Stateless image transforms for training augmentation and evaluation.

Random transforms take an explicit `seed`, a shape `(2,)` integer tensor as
used by `tf.random.stateless_*` ops: the same image and seed always give the
same output.
"""

import tensorflow as tf


def random_crop_flip(image, seed, padding=4):
    """Zero-pads, randomly crops back to size, and randomly flips an image.

    This is the standard CIFAR augmentation: the crop offset is uniform over
    the `2 * padding + 1` positions on each axis, and the image is flipped
    left-right with probability 1/2.

    Args:
        image: `(height, width, channels)` image tensor of any dtype.
        seed: Shape `(2,)` integer seed.
        padding: Number of zero pixels added on each side before cropping.

    Returns:
        The augmented image, same shape and dtype as `image`.

    Example:

    >>> image = tf.zeros((32, 32, 3), tf.uint8)
    >>> random_crop_flip(image, seed=[1, 2]).shape
    TensorShape([32, 32, 3])
    """
    crop_seed, flip_seed = tf.unstack(tf.random.split(seed, 2))
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    image = tf.image.stateless_random_crop(
        padded, tf.shape(image), seed=crop_seed
    )
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


def random_resized_crop_flip(
    jpeg, seed, size=224, area_range=(0.08, 1.0), ratio_range=(3 / 4, 4 / 3)
):
    """Decodes a random crop of a JPEG, resizes it, and randomly flips it.

    This is the standard ImageNet training augmentation ("Inception-style"
    crop): the crop covers a random fraction `area_range` of the image with an
    aspect ratio in `ratio_range`; only the crop is decoded. When no such crop
    is found in 10 attempts, the whole image is used.

    Args:
        jpeg: Scalar string tensor holding a JPEG-encoded image.
        seed: Shape `(2,)` integer seed.
        size: Side of the square output.
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
        jpeg: Scalar string tensor holding a JPEG-encoded image.
        size: Side of the square output.
        resize: Length of the short side after resizing, before cropping.

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
    image = image[top:top + size, left:left + size]
    return tf.ensure_shape(image, (size, size, 3))
