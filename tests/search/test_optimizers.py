"""`CoupledSGD` against PyTorch's SGD update, restated in NumPy."""

import keras
import numpy as np

from keras_slt.search.optimizers import CoupledSGD


def torch_sgd(value, gradients, lr, momentum, weight_decay):
    """torch.optim.SGD(lr, momentum, weight_decay), dampening 0, no Nesterov."""
    buffer = None
    for g in gradients:
        g = g + weight_decay * value  # coupled: into the gradient, before momentum
        buffer = g if buffer is None else momentum * buffer + g
        value = value - lr * buffer
    return value


def test_coupled_sgd_matches_pytorch_at_constant_rate():
    rng = np.random.default_rng(0)
    start = rng.standard_normal(6).astype("float32")
    gradients = [rng.standard_normal(6).astype("float32") for _ in range(4)]
    variable = keras.Variable(start)
    optimizer = CoupledSGD(0.1, momentum=0.9, coupled_weight_decay=1e-2)
    for g in gradients:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    expected = torch_sgd(start.astype("float64"), gradients, 0.1, 0.9, 1e-2)
    np.testing.assert_allclose(np.asarray(variable.value), expected, rtol=1e-5, atol=1e-6)
    # The decay is large enough here for the comparison to see it.
    undecayed = torch_sgd(start.astype("float64"), gradients, 0.1, 0.9, 0.0)
    assert not np.allclose(expected, undecayed, rtol=1e-4)
