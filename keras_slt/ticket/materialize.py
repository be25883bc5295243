"""`materialize`: a ticket as an ordinary Keras model.

One of the deployment forms of docs/METHOD.md, section 9 (Deployment forms).
Each supermask layer becomes the Keras layer it stands for, with kernel
W_eff = m * W * scale as the supermask model computes it and the bias if it
has one; every other layer (BatchNormalization with its statistics included)
is copied with its weights. The result needs no keras-slt to load or run.
"""

import keras
import numpy as np
from keras import ops

from keras_slt.layers import SupermaskLayer, counterparts
from keras_slt.search.supermask_model import SupermaskModel


def check_supermask_model(model):
    """Raises unless `model` is a built `SupermaskModel`."""
    if not isinstance(model, SupermaskModel):
        raise ValueError(f"expected a keras_slt.SupermaskModel, got {type(model).__name__}")
    if not model.built:
        raise ValueError("the SupermaskModel must be built (call it once or build it)")


def effective_kernels(model):
    """W_eff of every supermask layer, in layer order, as NumPy arrays.

    Each layer computes it for the threshold of the model's own selection
    (`SupermaskModel.layer_thresholds`: one global threshold, or the
    layer-wise ones), so they equal the kernels that `model(x)` uses.

    Args:
        model: a built `SupermaskModel`.

    Returns:
        A list of float arrays shaped like the kernels.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> kernels = effective_kernels(model)
    >>> [k.shape for k in kernels]
    [(16, 8), (8, 8), (8, 3)]
    >>> sum(int((k != 0).sum()) for k in kernels)  # half of the 216 weights
    108
    """
    check_supermask_model(model)
    return [
        ops.convert_to_numpy(layer.effective_kernel(threshold))
        for layer, threshold in zip(model.supermask_layers, model.layer_thresholds())
    ]


def plain_layer(layer):
    """An unbuilt Keras layer computing what supermask `layer` computes.

    Args:
        layer: a supermask layer of a class registered with
            `keras_slt.layers.register_supermask_layer` (the built-in ones
            are).

    Returns:
        The layer of the Keras class it stands for, same name, activation
        and bias setting; its kernel is to be set to W_eff.
    """
    plain_class = counterparts.plain_class_of(layer)
    if plain_class is None:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) has no plain Keras counterpart; "
            "register one with keras_slt.layers.register_supermask_layer"
        )
    return plain_class.from_config(counterparts.plain_config(layer))


def materialize(model):
    """A plain Keras copy of a ticket, with kernels W_eff and no scores.

    Args:
        model: a built `SupermaskModel` whose network is Sequential or
            functional (nested models included).

    Returns:
        A `keras.Model` of ordinary layers giving the same predictions.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> plain = materialize(model)
    >>> x = np.random.default_rng(0).random((2, 4, 4, 1), "float32")
    >>> np.allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    True
    >>> [type(layer).__name__ for layer in plain.layers]
    [...'Dense', 'Dense', 'Dense']
    """
    check_supermask_model(model)
    kernels = dict(zip((id(layer) for layer in model.supermask_layers), effective_kernels(model)))
    pairs = []

    def clone_layer(layer):
        if isinstance(layer, SupermaskLayer):
            clone = plain_layer(layer)
        else:
            clone = layer.__class__.from_config(layer.get_config())
        pairs.append((layer, clone))
        return clone

    plain = keras.models.clone_model(model.network, clone_function=clone_layer, recursive=True)
    for layer, clone in pairs:
        if isinstance(layer, SupermaskLayer):
            weights = [kernels[id(layer)]]
            if layer.use_bias:
                weights.append(np.reshape(ops.convert_to_numpy(layer.bias), clone.bias.shape))
            clone.set_weights(weights)
        else:
            clone.set_weights(layer.get_weights())
    return plain
