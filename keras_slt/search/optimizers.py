"""SGD with coupled weight decay, as PyTorch's `torch.optim.SGD` applies it.

Keras's `weight_decay` is decoupled: it shrinks each variable by
`lr * weight_decay * variable` outside the momentum buffer. The paper's
recipe (SGD, momentum 0.9, weight decay 1e-4, scores included) comes from
PyTorch, whose weight decay is an L2 term added to the gradient *before*
momentum: g <- g + weight_decay * variable. With momentum m the coupled form
decays about 1/(1-m) = 10 times harder at steady state, so the two are not
interchangeable; `CoupledSGD` reproduces the reference numbers.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_slt")
class CoupledSGD(keras.optimizers.SGD):
    """SGD whose weight decay is added to the gradient (coupled L2).

    Every trainable variable the optimizer updates (supermask scores, and
    kernels and BatchNorm parameters of weight-trained models) is decayed.

    Args:
        learning_rate: float or `keras.optimizers.schedules` schedule.
        momentum: momentum factor in [0, 1].
        nesterov: whether to use Nesterov momentum.
        coupled_weight_decay: L2 factor added to the gradient, >= 0.
        **kwargs: other `keras.optimizers.SGD` arguments, except
            `weight_decay` (the decoupled kind).

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((1,)),
    ...     keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    >>> model.compile(CoupledSGD(0.1, coupled_weight_decay=0.5), "mse")
    >>> _ = model.fit(np.zeros((1, 1)), np.zeros((1, 1)), verbose=0)
    >>> model.get_weights()[0].round(4).tolist()  # no loss gradient: 1 - 0.1 * 0.5 * 1
    [[0.95]]
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, coupled_weight_decay=0.0, **kwargs):
        if kwargs.get("weight_decay") is not None:
            raise ValueError("CoupledSGD takes coupled_weight_decay, not weight_decay")
        if coupled_weight_decay < 0:
            raise ValueError(f"coupled_weight_decay must be >= 0, got {coupled_weight_decay}")
        super().__init__(learning_rate=learning_rate, momentum=float(momentum), nesterov=nesterov, **kwargs)
        self.coupled_weight_decay = float(coupled_weight_decay)

    def update_step(self, gradient, variable, learning_rate):
        if self.coupled_weight_decay:
            gradient = ops.add(
                ops.cast(gradient, variable.dtype),
                ops.multiply(ops.cast(self.coupled_weight_decay, variable.dtype), variable),
            )
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["coupled_weight_decay"] = self.coupled_weight_decay
        return config
