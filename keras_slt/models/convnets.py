"""The small reference networks: FC and Conv2/4/6/8 (docs/METHOD.md, section 10 (Baselines)).

Plain Keras models with Kaiming-uniform initial weights and no biases, as
the official code's weight-trained baselines (`w_init_method:
kaiming_uniform`); `keras_slt.models.get` turns them into supermask models. Every layer is named explicitly, so two
builds of the same architecture agree layer by layer (checkpoints rely on it).
"""

import keras
from keras import layers

from keras_slt.models.catalog import CONV_DEPTHS
from keras_slt.utils.validation import check_one_of, check_positive_int

# Output channels of the conv pairs; ConvN uses the first N/2 pairs.
CONV_PAIRS = (64, 128, 256, 512)
HIDDEN_UNITS = (256, 256)


def kaiming_uniform():
    """A fresh Kaiming-uniform initializer: PyTorch's kaiming_uniform_(nonlinearity="relu").

    U(-b, b), b = sqrt(6 / fan_in). Fresh for each layer: its seed is drawn
    when it is made, after the run seeded Python's generator
    (`keras.utils.set_random_seed`), so the initial weights follow the run's
    seed, in every process of a data-parallel run.
    """
    return keras.initializers.VarianceScaling(2.0, "fan_in", "uniform")


def fc(input_shape, num_classes, width=1024):
    """A fully connected network with two hidden ReLU layers.

    Args:
        input_shape: shape of one example, flattened by the first layer.
        num_classes: number of output logits.
        width: units of each hidden layer.

    Returns:
        A `keras.Model` with logits output.

    Example:

    >>> model = fc((28, 28, 1), 10)
    >>> model.count_params()
    1861632
    """
    check_positive_int("width", width)
    inputs = keras.Input(input_shape, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    for index in range(2):
        x = layers.Dense(
            width, activation="relu", use_bias=False, kernel_initializer=kaiming_uniform(), name=f"fc{index + 1}"
        )(x)
    outputs = layers.Dense(num_classes, use_bias=False, kernel_initializer=kaiming_uniform(), name="logits")(x)
    return keras.Model(inputs, outputs, name="fc")


def conv(input_shape, num_classes, depth, width_factor=1.0):
    """ConvN: pairs of 3x3 ReLU convolutions, each pair followed by a 2x2
    max-pool, then dense layers of 256, 256 and `num_classes` units.

    Args:
        input_shape: (height, width, channels); height and width must survive
            depth/2 halvings.
        num_classes: number of output logits.
        depth: number of conv layers, one of 2, 4, 6, 8.
        width_factor: multiplies every layer's channels and units.

    Returns:
        A `keras.Model` named `conv{depth}` with logits output.

    Example:

    >>> model = conv((32, 32, 3), 10, depth=6)
    >>> model.count_params()
    2261184
    """
    check_one_of("depth", depth, CONV_DEPTHS)
    check_width_factor(width_factor)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for pair, channels in enumerate(CONV_PAIRS[: depth // 2]):
        for half in range(2):
            x = layers.Conv2D(
                scaled(channels, width_factor),
                3,
                padding="same",
                activation="relu",
                use_bias=False,
                kernel_initializer=kaiming_uniform(),
                name=f"conv{2 * pair + half + 1}",
            )(x)
        x = layers.MaxPooling2D(2, name=f"pool{pair + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate(HIDDEN_UNITS):
        x = layers.Dense(
            scaled(units, width_factor),
            activation="relu",
            use_bias=False,
            kernel_initializer=kaiming_uniform(),
            name=f"fc{index + 1}",
        )(x)
    outputs = layers.Dense(num_classes, use_bias=False, kernel_initializer=kaiming_uniform(), name="logits")(x)
    return keras.Model(inputs, outputs, name=f"conv{depth}")


def check_width_factor(width_factor):
    """Raises unless `width_factor` is a positive number."""
    if isinstance(width_factor, bool) or not isinstance(width_factor, (int, float)) or width_factor <= 0:
        raise ValueError(f"width_factor must be a positive number, got {width_factor!r}")


def scaled(channels, width_factor):
    """`channels * width_factor`, rounded, at least 1."""
    return max(1, int(round(channels * width_factor)))
