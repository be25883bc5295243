"""The construction-time argument checks of the supermask layers.

Where Keras's own layers check the same argument (`keras.layers.Dense`,
`keras.layers.Conv2D`, ...), the check and its message are Keras's, so a
supermask layer refuses what its Keras counterpart refuses, in the same
words; the supermask arguments (sparsity, rates, ...) are checked by
`SupermaskLayer`.
"""

import numbers

import keras

PADDINGS = ("valid", "same")
DATA_FORMATS = ("channels_first", "channels_last")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_units(units):
    """Raises ValueError, as `keras.layers.Dense`, unless `units` is a positive int.

    Returns:
        `units`.

    Example:

    >>> check_units(0)
    Traceback (most recent call last):
    ValueError: Received an invalid value for `units`, expected a positive integer. Received: units=0
    """
    if not _is_int(units) or units <= 0:
        raise ValueError(f"Received an invalid value for `units`, expected a positive integer. Received: units={units}")
    return units


def check_positive(name, value):
    """Raises ValueError, as Keras's convolutions, unless `value` is a positive int.

    For `filters` and `depth_multiplier`.

    Returns:
        `value`.

    Example:

    >>> check_positive("filters", 0)
    Traceback (most recent call last):
    ValueError: Invalid value for argument `filters`. Expected a strictly positive value. Received filters=0.
    """
    if not _is_int(value) or value <= 0:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a strictly positive value. Received {name}={value}."
        )
    return value


def standardize_tuple(value, rank, name):
    """`rank` positive ints from an int or a sequence, as Keras's convolutions read them.

    For `kernel_size`, `strides` and `dilation_rate`.

    Args:
        value: an int (the same along every axis) or `rank` ints.
        rank: the number of spatial axes.
        name: the argument's name, for the message.

    Returns:
        A tuple of `rank` ints.

    Example:

    >>> standardize_tuple(3, 2, "kernel_size")
    (3, 3)
    >>> standardize_tuple((3, 0), 2, "kernel_size")
    Traceback (most recent call last):
    ValueError: The `kernel_size` argument must be a tuple of 2 integers. Received kernel_size=(3, 0), including values {0} that do not satisfy `value > 0`
    """
    message = f"The `{name}` argument must be a tuple of {rank} integers. Received {name}={value}"
    if _is_int(value):
        values = (int(value),) * rank
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != rank:
            raise ValueError(message)
        for single in values:
            # Keras takes what int() takes; a float kernel size would only
            # fail later, at build.
            if not _is_int(single):
                raise ValueError(f"{message}, including element {single} of type {type(single)}")
        values = tuple(int(single) for single in values)
    bad = {single for single in values if single <= 0}
    if bad:
        raise ValueError(f"{message}, including values {bad} that do not satisfy `value > 0`")
    return values


def check_strides_and_dilation(strides, dilation_rate):
    """Raises ValueError, as Keras's convolutions, for strides > 1 with dilation_rate > 1.

    The backends' convolutions do not combine them.

    Example:

    >>> check_strides_and_dilation((2, 2), (1, 1))
    >>> check_strides_and_dilation((2, 2), (2, 1))
    Traceback (most recent call last):
    ValueError: `strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: strides=(2, 2) and dilation_rate=(2, 1)
    """
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
            f"Received: strides={strides} and dilation_rate={dilation_rate}"
        )


def standardize_padding(padding):
    """ "valid" or "same", in any case.

    Keras's convolutions also take explicit paddings and (Conv1D) "causal";
    the supermask convolutions apply `keras.ops.conv`, which takes neither.

    Example:

    >>> standardize_padding("SAME")
    'same'
    >>> standardize_padding("causal")
    Traceback (most recent call last):
    ValueError: The `padding` argument must be one of 'valid', 'same'. Received: padding=causal
    """
    lowered = padding.lower() if isinstance(padding, str) else padding
    if lowered not in PADDINGS:
        raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. Received: padding={padding}")
    return lowered


def standardize_data_format(data_format):
    """ "channels_last" or "channels_first"; None is Keras's image data format.

    Example:

    >>> standardize_data_format("Channels_Last")
    'channels_last'
    >>> standardize_data_format("nhwc")
    Traceback (most recent call last):
    ValueError: The `data_format` argument must be one of {'channels_first', 'channels_last'}. Received: data_format=nhwc
    """
    if data_format is None:
        return keras.config.image_data_format()
    data_format = str(data_format).lower()
    if data_format not in DATA_FORMATS:
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format}"
        )
    return data_format
