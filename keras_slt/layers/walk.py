"""The walk over a model's layers, nested models included."""

from keras_slt.layers import SupermaskLayer


def walk(layer):
    """`layer` and every layer nested in it, depth first, in model order.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> [l.name for l in walk(model)]
    ['supermask_fc', 'fc', 'image', 'flatten', 'fc1', 'fc2', 'logits']
    """
    yield layer
    for child in getattr(layer, "layers", ()):
        yield from walk(child)


def supermask_layers(model):
    """The supermask layers of a model (nested models included), by index.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> [(layer.name, layer.layer_index) for layer in supermask_layers(model)]
    [('fc1', 0), ('fc2', 1), ('logits', 2)]
    """
    found = [layer for layer in walk(model) if isinstance(layer, SupermaskLayer)]
    return sorted(found, key=lambda layer: layer.layer_index)
