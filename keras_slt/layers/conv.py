"""Supermask versions of the Keras convolution layers."""

import keras
from keras import ops

from keras_slt.layers import arguments
from keras_slt.layers.base import SupermaskLayer
from keras_slt.utils import defaults


class SupermaskConv(SupermaskLayer):
    """N-D convolution whose random kernel is masked, never trained.

    The base of the convolutions, as Keras's `BaseConv`: a subclass fixes
    `rank`. Arguments are checked as Keras's convolutions check them, at
    construction (`keras_slt.layers.arguments`).

    Args:
        rank: number of spatial dimensions.
        filters: number of output channels.
        kernel_size: int or tuple of `rank` ints.
        strides: int or tuple of `rank` ints; strides > 1 do not combine
            with dilation_rate > 1 (but for depthwise convolutions).
        padding: "valid" or "same" (any case).
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
        self.rank = rank
        self.filters = arguments.check_positive("filters", filters)
        self.kernel_size = arguments.standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = arguments.standardize_tuple(strides, rank, "strides")
        self.dilation_rate = arguments.standardize_tuple(dilation_rate, rank, "dilation_rate")
        if not self.strides_combine_with_dilation:
            arguments.check_strides_and_dilation(self.strides, self.dilation_rate)
        self.padding = arguments.standardize_padding(padding)
        self.data_format = arguments.standardize_data_format(data_format)
        self.input_spec = keras.layers.InputSpec(ndim=rank + 2)

    # As Keras's: `ops.conv` takes strides > 1 or dilation_rate > 1, not
    # both; `ops.depthwise_conv` takes both.
    strides_combine_with_dilation = False

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
        arguments.check_positive("depth_multiplier", depth_multiplier)
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

    strides_combine_with_dilation = True

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
