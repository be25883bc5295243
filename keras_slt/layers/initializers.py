"""The weight and score initializers, as NumPy arrays.

docs/METHOD.md, section 1 (Objects), names them.

fan_in is kh*kw*in_channels for a conv kernel and in_features for a dense one;
in Keras kernel layout that is the product of every dimension but the last.
A depthwise kernel's last dimension is its depth multiplier and each output
sees one input channel, so its layer passes kh*kw as `fan_in_value`.
"""

import math

import numpy as np

from keras_slt.utils import defaults, seeding
from keras_slt.utils.validation import check_one_of

GAIN = math.sqrt(2.0)  # Kaiming gain for ReLU
NAMES = defaults.INITIALIZERS


def fan_in(shape):
    """Fan-in of a Keras kernel shape (all dimensions but the last)."""
    if len(shape) < 2:
        raise ValueError(f"kernel shape must have at least 2 dimensions, got {shape}")
    return int(np.prod(shape[:-1]))


def check_name(name, argument="weight_init"):
    return check_one_of(argument, name, NAMES)


def generate(name, shape, bits, fan_in_value=None):
    """Random kernel values drawn from the named initializer.

    Args:
        name: one of `NAMES`.
        shape: the Keras kernel shape.
        bits: a bit generator from `seeding.stream`.
        fan_in_value: overrides `fan_in(shape)` (depthwise kernels).

    Returns:
        A float32 array of `shape`.

    Example:

    >>> w = generate("signed_kaiming_constant", (4, 2), seeding.stream(0, 0, 1))
    >>> w.shape, w.dtype
    ((4, 2), dtype('float32'))
    >>> np.unique(np.abs(w)).round(4).tolist()  # sqrt(2 / fan_in), fan_in 4
    [0.7071]
    """
    check_name(name)
    n = int(np.prod(shape))
    fan = fan_in(shape) if fan_in_value is None else fan_in_value
    std = GAIN / math.sqrt(fan)
    if name == "signed_kaiming_constant":
        values = std * seeding.signs(bits, n)
    elif name == "kaiming_normal":
        values = std * seeding.normal(bits, n)
    else:
        bound = GAIN * math.sqrt(3.0 / fan)
        values = bound * (2.0 * seeding.uniform(bits, n) - 1.0)
    return values.astype(np.float32).reshape(shape)
