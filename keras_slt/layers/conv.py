"""Supermask versions of the Keras convolution layers."""

import keras
from keras import ops

from keras_slt.layers.base import SupermaskLayer
from keras_slt.validation import check_one_of, check_positive_int


def _tuple(value, rank, name):
    if isinstance(value, int):
        value = (value,) * rank
    value = tuple(value)
    if len(value) != rank or not all(isinstance(v, int) and v >= 1 for v in value):
        raise ValueError(f"{name} must be a positive int or {rank} positive ints, got {value!r}")
    return value


class SupermaskConv(SupermaskLayer):
    """N-D convolution whose random kernel is masked, never trained.

    Args:
        rank: number of spatial dimensions.
        filters: number of output channels.
        kernel_size: int or tuple of `rank` ints.
        strides: int or tuple of `rank` ints.
        padding: "valid" or "same".
        data_format: "channels_last" or "channels_first"; None takes Keras's
            image data format.
        dilation_rate: int or tuple of `rank` ints.
        **kwargs: the supermask arguments of `SupermaskLayer`.
    """

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("filters", filters)
        padding = check_one_of("padding", padding.lower(), ("valid", "same"))
        self.rank = rank
        self.filters = filters
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size")
        self.strides = _tuple(strides, rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, rank, "dilation_rate")
        self.padding = padding
        self.data_format = check_one_of("data_format", data_format or keras.config.image_data_format(),
                                        ("channels_last", "channels_first"))
        self.input_spec = keras.layers.InputSpec(ndim=rank + 2)

    def input_channels(self, input_shape):
        return input_shape[-1 if self.data_format == "channels_last" else 1]

    def kernel_shape(self, input_shape):
        return self.kernel_size + (self.input_channels(input_shape), self.filters)

    def bias_shape(self, kernel_shape):
        channels = kernel_shape[-1]
        if self.data_format == "channels_last":
            return (channels,)
        return (channels,) + (1,) * self.rank

    def apply_kernel(self, inputs, kernel):
        return ops.conv(
            inputs, kernel, strides=self.strides, padding=self.padding,
            data_format=self.data_format, dilation_rate=self.dilation_rate,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_slt")
class SupermaskConv1D(SupermaskConv):
    """1-D supermask convolution. Args as `SupermaskConv`, without `rank`.

    Example:

    >>> import numpy as np
    >>> layer = SupermaskConv1D(8, 3, padding="same", sparsity=0.5)
    >>> tuple(layer(np.ones((2, 16, 4), "float32")).shape)
    (2, 16, 8)
    """

    def __init__(self, filters, kernel_size, **kwargs):
        kwargs.pop("rank", None)
        super().__init__(1, filters, kernel_size, **kwargs)


@keras.saving.register_keras_serializable(package="keras_slt")
class SupermaskConv2D(SupermaskConv):
    """2-D supermask convolution. Args as `SupermaskConv`, without `rank`.

    Example:

    >>> import numpy as np
    >>> layer = SupermaskConv2D(8, 3, padding="same", sparsity=0.5)
    >>> tuple(layer(np.ones((2, 16, 16, 3), "float32")).shape)
    (2, 16, 16, 8)
    """

    def __init__(self, filters, kernel_size, **kwargs):
        kwargs.pop("rank", None)
        super().__init__(2, filters, kernel_size, **kwargs)


@keras.saving.register_keras_serializable(package="keras_slt")
class SupermaskDepthwiseConv2D(SupermaskConv):
    """Depthwise 2-D supermask convolution.

    The kernel has shape (kh, kw, in_channels, depth_multiplier); each output
    sees kh*kw inputs, which is its fan-in.

    Args:
        kernel_size: int or tuple of 2 ints.
        depth_multiplier: output channels per input channel.
        **kwargs: as `SupermaskConv` (strides, padding, data_format,
            dilation_rate and the supermask arguments).

    Example:

    >>> import numpy as np
    >>> layer = SupermaskDepthwiseConv2D(3, padding="same", sparsity=0.5)
    >>> tuple(layer(np.ones((2, 8, 8, 4), "float32")).shape)
    (2, 8, 8, 4)
    """

    def __init__(self, kernel_size, depth_multiplier=1, **kwargs):
        kwargs.pop("rank", None)
        kwargs.pop("filters", None)
        super().__init__(2, depth_multiplier, kernel_size, **kwargs)
        self.depth_multiplier = depth_multiplier

    def fan_in(self, kernel_shape):
        return int(kernel_shape[0] * kernel_shape[1])

    def bias_shape(self, kernel_shape):
        return super().bias_shape((kernel_shape[-2] * kernel_shape[-1],))

    def apply_kernel(self, inputs, kernel):
        return ops.depthwise_conv(
            inputs, kernel, strides=self.strides, padding=self.padding,
            data_format=self.data_format, dilation_rate=self.dilation_rate,
        )

    def get_config(self):
        config = super().get_config()
        del config["filters"]
        config["depth_multiplier"] = self.depth_multiplier
        return config
