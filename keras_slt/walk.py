"""The walk over a model's layers, nested models included."""

from keras_slt.layers import SupermaskLayer


def walk(layer):
    """`layer` and every layer nested in it, depth first, in model order.

    Example:

    >>> [l.name for l in walk(model)]
    """
    yield layer
    for child in getattr(layer, "layers", ()):
        yield from walk(child)


def supermask_layers(model):
    """The supermask layers of a model (nested models included), by index.

    Example:

    >>> [layer.layer_index for layer in supermask_layers(model)]
    [0, 1, 2]
    """
    found = [layer for layer in walk(model) if isinstance(layer, SupermaskLayer)]
    return sorted(found, key=lambda layer: layer.layer_index)
