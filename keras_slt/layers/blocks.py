"""Block-structured masks: one mask bit for B consecutive inputs of an output.

A Dense kernel has shape [in, out]. With block size B its mask comes in
blocks of B consecutive input units for one output unit, the 1xB blocks of
TFLite's block-sparse FULLY_CONNECTED kernels (whose weights are [out, in]).
Scores and the freeze pattern then have one entry per block, shape
[in / B, out]; block i of column j covers kernel rows i*B .. i*B + B - 1.

A blocked layer behaves exactly as if each of its weights carried its
block's score and freeze state: selection counts weights (a block counts as
B), and the straight-through gradient of a block score is the sum of the
per-weight gradients over the block. B = 1 is the unblocked layer.
"""

import numpy as np
from keras import ops

from keras_slt.utils.defaults import BLOCK_SIZES
from keras_slt.utils.validation import check_one_of


def check_block_size(block_size):
    """Raises ValueError unless `block_size` is one of `BLOCK_SIZES`."""
    check_one_of("block_size", block_size, BLOCK_SIZES)


def block_shape(kernel_shape, block_size, name="layer"):
    """The shape of a kernel's scores and freeze pattern: axis 0 divided by B.

    Args:
        kernel_shape: the kernel shape, blocks running along axis 0.
        block_size: B.
        name: the layer's name, for the error message.

    Returns:
        The block shape, a tuple.

    Raises:
        ValueError: naming the layer, when axis 0 is not a multiple of B.

    Example:

    >>> block_shape((784, 1024), 16)
    (49, 1024)
    """
    kernel_shape = tuple(int(d) for d in kernel_shape)
    if kernel_shape[0] % block_size:
        raise ValueError(
            f"layer {name!r}: block_size {block_size} does not divide its {kernel_shape[0]} input units; "
            "use a block size that does (1 always does)"
        )
    return (kernel_shape[0] // block_size,) + kernel_shape[1:]


def expand(blocked, block_size):
    """Per-block values repeated to per-weight values (keras.ops or NumPy).

    Example:

    >>> ops.convert_to_numpy(expand(np.array([[1], [0]]), 2)).ravel().tolist()
    [1, 1, 0, 0]
    """
    if block_size == 1:
        return blocked
    return ops.repeat(blocked, block_size, axis=0)


def block_sum(values, block_size):
    """Per-weight values summed over each block (keras.ops): the inverse shape of `expand`.

    Example:

    >>> ops.convert_to_numpy(block_sum(np.arange(4.0).reshape(4, 1), 2)).ravel().tolist()
    [1.0, 5.0]
    """
    if block_size == 1:
        return values
    shape = tuple(values.shape)
    blocks = ops.reshape(values, (shape[0] // block_size, block_size) + shape[1:])
    return ops.sum(blocks, axis=1)


def to_blocks(mask, block_size):
    """A kernel-shaped NumPy mask as one value per block (its first weight's).

    Masks of blocked layers are constant over each block, so this is exact;
    `ValueError` otherwise.

    Example:

    >>> to_blocks(np.array([[1], [1], [0], [0]]), 2).ravel().tolist()
    [1, 0]
    """
    mask = np.asarray(mask)
    if block_size == 1:
        return mask
    blocks = mask.reshape((mask.shape[0] // block_size, block_size) + mask.shape[1:])
    if not (blocks == blocks[:, :1]).all():
        raise ValueError(f"mask is not constant over blocks of {block_size}")
    return blocks[:, 0]
