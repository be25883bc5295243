"""Supermask version of `keras.layers.Dense`."""

import keras
from keras import ops

from keras_slt.layers.base import SupermaskLayer


@keras.saving.register_keras_serializable(package="keras_slt")
class SupermaskDense(SupermaskLayer):
    """Densely connected layer whose random kernel is masked, never trained.

    Args:
        units: dimensionality of the output.
        **kwargs: the supermask arguments of `SupermaskLayer` (sparsity,
            prune_rate, lock_rate, weight_init, score_init, scale, seed,
            layer_index, use_bias, activation) and base layer arguments.

    Example:

    >>> layer = SupermaskDense(10, sparsity=0.5, seed=1)
    >>> layer(np.ones((2, 784), "float32")).shape
    (2, 10)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        self.units = units
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def kernel_shape(self, input_shape):
        return (input_shape[-1], self.units)

    def apply_kernel(self, inputs, kernel):
        return ops.matmul(inputs, kernel)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config
