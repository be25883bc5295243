"""Supermask versions of the Keras convolution layers."""

import keras
from keras import ops

from keras_slt.layers.base import SupermaskLayer
from keras_slt.utils import defaults
from keras_slt.utils.validation import check_one_of, check_positive_int


def _tuple(value, rank, name):
    if isinstance(value, int):
        value = (value,) * rank
    value = tuple(value)
    if len(value) != rank or not all(isinstance(v, int) and v >= 1 for v in value):
        raise ValueError(f"{name} must be a positive int or {rank} positive ints, got {value!r}")
    return value


class SupermaskConv(SupermaskLayer):
    """N-D convolution whose random kernel is masked, never trained.

    The base of the convolutions, as Keras's `BaseConv`: a subclass fixes
    `rank`. Arguments are checked as Keras's convolutions check them, at
    construction.

    Args:
        rank: number of spatial dimensions.
        filters: number of output channels.
        kernel_size: int or tuple of `rank` ints.
        strides: int or tuple of `rank` ints; strides > 1 do not combine
            with dilation_rate > 1.
        padding: "valid" or "same".
        data_format: "channels_last" or "channels_first"; None takes Keras's
            image data format.
        dilation_rate: int or tuple of `rank` ints.
        activation: activation function applied to the output.
        use_bias: whether to add a trainable bias, initialized at zero.
        sparsity, prune_rate, lock_rate, weight_init, score_init, scale,
            seed, layer_index, selection: the supermask arguments of
            `SupermaskLayer`.
        **kwargs: base layer arguments (name, dtype, trainable).
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
        activation=None,
        use_bias=False,
        sparsity=None,
        prune_rate=0.0,
        lock_rate=0.0,
        weight_init=defaults.WEIGHT_INIT,
        score_init=defaults.SCORE_INIT,
        scale=defaults.SCALE,
        seed=defaults.SEED,
        layer_index=0,
        selection="layerwise",
        **kwargs,
    ):
        super().__init__(
            activation=activation,
            use_bias=use_bias,
            sparsity=sparsity,
            prune_rate=prune_rate,
            lock_rate=lock_rate,
            weight_init=weight_init,
            score_init=score_init,
            scale=scale,
            seed=seed,
            layer_index=layer_index,
            selection=selection,
            **kwargs,
        )
        check_positive_int("filters", filters)
        self.rank = rank
        self.filters = filters
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size")
        self.strides = _tuple(strides, rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            # As Keras's convolutions: the backends' ops do not combine them.
            raise ValueError(
                f"strides > 1 and dilation_rate > 1 do not combine; got strides={self.strides}, "
                f"dilation_rate={self.dilation_rate}"
            )
        self.padding = check_one_of(
            "padding", padding.lower() if isinstance(padding, str) else padding, ("valid", "same")
        )
        self.data_format = check_one_of(
            "data_format", data_format or keras.config.image_data_format(), ("channels_last", "channels_first")
        )
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
            inputs,
            kernel,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
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

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=False,
        sparsity=None,
        prune_rate=0.0,
        lock_rate=0.0,
        weight_init=defaults.WEIGHT_INIT,
        score_init=defaults.SCORE_INIT,
        scale=defaults.SCALE,
        seed=defaults.SEED,
        layer_index=0,
        selection="layerwise",
        **kwargs,
    ):
        super().__init__(
            1,
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            sparsity=sparsity,
            prune_rate=prune_rate,
            lock_rate=lock_rate,
            weight_init=weight_init,
            score_init=score_init,
            scale=scale,
            seed=seed,
            layer_index=layer_index,
            selection=selection,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="keras_slt")
class SupermaskConv2D(SupermaskConv):
    """2-D supermask convolution. Args as `SupermaskConv`, without `rank`.

    Example:

    >>> import numpy as np
    >>> layer = SupermaskConv2D(8, 3, padding="same", sparsity=0.5)
    >>> tuple(layer(np.ones((2, 16, 16, 3), "float32")).shape)
    (2, 16, 16, 8)
    >>> frames = keras.layers.TimeDistributed(SupermaskConv2D(4, 3, sparsity=0.5))
    >>> frames.compute_output_shape((None, 5, 16, 16, 3))  # 5 frames
    (None, 5, 14, 14, 4)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=False,
        sparsity=None,
        prune_rate=0.0,
        lock_rate=0.0,
        weight_init=defaults.WEIGHT_INIT,
        score_init=defaults.SCORE_INIT,
        scale=defaults.SCALE,
        seed=defaults.SEED,
        layer_index=0,
        selection="layerwise",
        **kwargs,
    ):
        super().__init__(
            2,
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            sparsity=sparsity,
            prune_rate=prune_rate,
            lock_rate=lock_rate,
            weight_init=weight_init,
            score_init=score_init,
            scale=scale,
            seed=seed,
            layer_index=layer_index,
            selection=selection,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="keras_slt")
class SupermaskDepthwiseConv2D(SupermaskConv):
    """Depthwise 2-D supermask convolution.

    The kernel has shape (kh, kw, in_channels, depth_multiplier); each output
    sees kh*kw inputs, which is its fan-in.

    Args:
        kernel_size: int or tuple of 2 ints.
        strides, padding: as `SupermaskConv`.
        depth_multiplier: output channels per input channel.
        data_format, dilation_rate, activation, use_bias: as `SupermaskConv`.
        sparsity, prune_rate, lock_rate, weight_init, score_init, scale,
            seed, layer_index, selection: the supermask arguments of
            `SupermaskLayer`.
        **kwargs: base layer arguments (name, dtype, trainable).

    Example:

    >>> import numpy as np
    >>> layer = SupermaskDepthwiseConv2D(3, padding="same", sparsity=0.5)
    >>> tuple(layer(np.ones((2, 8, 8, 4), "float32")).shape)
    (2, 8, 8, 4)
    """

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=False,
        sparsity=None,
        prune_rate=0.0,
        lock_rate=0.0,
        weight_init=defaults.WEIGHT_INIT,
        score_init=defaults.SCORE_INIT,
        scale=defaults.SCALE,
        seed=defaults.SEED,
        layer_index=0,
        selection="layerwise",
        **kwargs,
    ):
        check_positive_int("depth_multiplier", depth_multiplier)
        # The kernel's last axis, `filters` of SupermaskConv, is the multiplier.
        super().__init__(
            2,
            depth_multiplier,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            sparsity=sparsity,
            prune_rate=prune_rate,
            lock_rate=lock_rate,
            weight_init=weight_init,
            score_init=score_init,
            scale=scale,
            seed=seed,
            layer_index=layer_index,
            selection=selection,
            **kwargs,
        )
        self.depth_multiplier = depth_multiplier

    def fan_in(self, kernel_shape):
        return int(kernel_shape[0] * kernel_shape[1])

    def bias_shape(self, kernel_shape):
        return super().bias_shape((kernel_shape[-2] * kernel_shape[-1],))

    def apply_kernel(self, inputs, kernel):
        return ops.depthwise_conv(
            inputs,
            kernel,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def get_config(self):
        config = super().get_config()
        del config["filters"]
        config["depth_multiplier"] = self.depth_multiplier
        return config
