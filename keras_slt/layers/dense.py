"""Supermask version of `keras.layers.Dense`."""

import keras
from keras import ops

from keras_slt.layers import arguments, blocks
from keras_slt.layers.base import SupermaskLayer
from keras_slt.utils import defaults


@keras.saving.register_keras_serializable(package="keras_slt")
class SupermaskDense(SupermaskLayer):
    """Densely connected layer whose random kernel is masked, never trained.

    Args:
        units: dimensionality of the output.
        activation: activation function applied to the output.
        use_bias: whether to add a trainable bias, initialized at zero.
        block_size: B in (1, 4, 16): the mask comes in blocks of B
            consecutive input units for one output unit (one score, one
            freeze state and one ticket bit per block; see
            `keras_slt.layers.blocks`). The input size must be a multiple of B.
            1 (default) masks weights one by one.
        sparsity, prune_rate, lock_rate, weight_init, score_init, scale,
            seed, layer_index, selection: the supermask arguments of
            `SupermaskLayer`.
        **kwargs: base layer arguments (name, dtype, trainable).

    Example:

    >>> import numpy as np
    >>> layer = SupermaskDense(10, sparsity=0.5, seed=1)
    >>> tuple(layer(np.ones((2, 784), "float32")).shape)
    (2, 10)
    >>> blocked = SupermaskDense(10, block_size=4, sparsity=0.9)
    >>> tuple(blocked(np.ones((2, 784), "float32")).shape)
    (2, 10)
    >>> blocked.freeze_pattern().shape  # one freeze state per block of 4 inputs
    (196, 10)
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=False,
        block_size=defaults.BLOCK_SIZE,
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
        self.units = arguments.check_units(units)
        blocks.check_block_size(block_size)
        self.block_size = block_size
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def kernel_shape(self, input_shape):
        return (input_shape[-1], self.units)

    def apply_kernel(self, inputs, kernel):
        return ops.matmul(inputs, kernel)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        config["block_size"] = self.block_size
        return config
