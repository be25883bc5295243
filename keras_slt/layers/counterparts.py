"""Which supermask layer stands for which Keras layer.

`keras_slt.supermaskify` replaces each layer of a registered Keras class by
its supermask counterpart, and `keras_slt.ticket.materialize` turns a
supermask layer back into that Keras class: both read this one registry.
Dense, Conv1D, Conv2D and DepthwiseConv2D come registered;
`register_supermask_layer` adds a user's own pair.
"""

import inspect

import keras

from keras_slt.layers.base import SUPERMASK_ARGUMENTS, SupermaskLayer
from keras_slt.layers.conv import SupermaskConv1D, SupermaskConv2D, SupermaskDepthwiseConv2D
from keras_slt.layers.dense import SupermaskDense

# The base layer arguments a supermask layer takes over from the layer it
# replaces (`trainable` is not: the supermask layer's scores are what trains).
_BASE_ARGUMENTS = ("name", "dtype")

_SUPERMASK_CLASS = {}  # Keras class -> (supermask class, accepts)
_PLAIN_CLASS = {}  # supermask class -> Keras class


def register_supermask_layer(plain_class, supermask_class, accepts=None):
    """Makes `supermask_class` the supermask counterpart of `plain_class`.

    The pair must compute the same function of the kernel:
    `supermask_class` (a `SupermaskLayer` subclass) takes the architecture
    arguments of `plain_class` under the same names (units, filters,
    kernel_size, activation, ...) and its `kernel_shape` is the shape of
    the Keras layer's `kernel`; the supermask layer's config without the
    supermask arguments (`keras_slt.layers.base.SUPERMASK_ARGUMENTS`)
    rebuilds the Keras layer, whose weights are [kernel] or [kernel, bias].
    Classes match exactly: a subclass of a registered class, which may
    compute something else, is converted only once registered itself.

    Args:
        plain_class: a `keras.layers.Layer` subclass with a `kernel`.
        supermask_class: its supermask version, a `SupermaskLayer` subclass
            (registered with `keras.saving` for its models to load).
        accepts: optional function of a Keras layer's config returning False
            for configurations the supermask class does not compute (e.g.
            grouped convolutions); None accepts every layer of the class.

    Raises:
        ValueError: when a class is not a layer class of its kind, or when
            either is already registered with another counterpart.

    Example: a 3-D convolution, which keras-slt does not convert itself.

    >>> from keras_slt.layers import SupermaskConv
    >>> @keras.saving.register_keras_serializable(package="example")
    ... class SupermaskConv3D(SupermaskConv):
    ...     def __init__(self, filters, kernel_size, **kwargs):
    ...         super().__init__(3, filters, kernel_size, **kwargs)
    >>> register_supermask_layer(keras.layers.Conv3D, SupermaskConv3D)
    >>> import keras_slt
    >>> base = keras.Sequential([keras.Input((4, 8, 8, 1)), keras.layers.Conv3D(2, 3, strides=2),
    ...                          keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> model = keras_slt.supermaskify(base, sparsity=0.5)
    >>> conv = model.supermask_layers[0]
    >>> type(conv).__name__, conv.strides
    ('SupermaskConv3D', (2, 2, 2))
    >>> type(keras_slt.ticket.materialize(model).layers[0]).__name__
    'Conv3D'
    """
    if not (inspect.isclass(plain_class) and issubclass(plain_class, keras.layers.Layer)) or issubclass(
        plain_class, SupermaskLayer
    ):
        raise ValueError(f"plain_class must be a Keras layer class that is no supermask layer, got {plain_class!r}")
    if not (inspect.isclass(supermask_class) and issubclass(supermask_class, SupermaskLayer)):
        raise ValueError(
            f"supermask_class must be a subclass of keras_slt.layers.SupermaskLayer, got {supermask_class!r}"
        )
    if accepts is not None and not callable(accepts):
        raise ValueError(f"accepts must be a function of a layer config or None, got {accepts!r}")
    # One counterpart each way: materialize must know which Keras class to build.
    registered = _SUPERMASK_CLASS.get(plain_class, (supermask_class,))[0]
    if registered is not supermask_class:
        raise ValueError(f"{plain_class.__name__} is already registered with {registered.__name__}")
    registered = _PLAIN_CLASS.get(supermask_class, plain_class)
    if registered is not plain_class:
        raise ValueError(f"{supermask_class.__name__} is already registered with {registered.__name__}")
    _SUPERMASK_CLASS[plain_class] = (supermask_class, accepts)
    _PLAIN_CLASS[supermask_class] = plain_class


def supermask_class_of(layer):
    """The supermask class that replaces Keras layer `layer`, or None."""
    supermask_class, accepts = _SUPERMASK_CLASS.get(type(layer), (None, None))
    if supermask_class is None or (accepts is not None and not accepts(layer.get_config())):
        return None
    return supermask_class


def plain_class_of(layer):
    """The Keras class that supermask layer `layer` stands for, or None."""
    return _PLAIN_CLASS.get(type(layer))


def arguments(supermask_class):
    """The names the constructor of `supermask_class` takes, its bases' included.

    A subclass's `**kwargs` passes arguments on to its bases, so theirs
    count as its own.
    """
    names = set()
    for cls in supermask_class.__mro__:
        if issubclass(cls, SupermaskLayer):
            names.update(
                name
                for name, parameter in inspect.signature(cls.__init__).parameters.items()
                if parameter.kind is not parameter.VAR_KEYWORD and name != "self"
            )
    return names


def architecture(layer, supermask_class):
    """The arguments `supermask_class` takes over from Keras layer `layer`.

    Those of the Keras layer's config that `arguments(supermask_class)`
    names, and its name and dtype; initializers, regularizers, constraints,
    the bias setting (`supermaskify` decides it) and the supermask arguments
    are left out.
    """
    takes = arguments(supermask_class) | set(_BASE_ARGUMENTS)
    return {
        key: value
        for key, value in layer.get_config().items()
        if key in takes and key != "use_bias" and key not in SUPERMASK_ARGUMENTS
    }


def plain_config(layer):
    """The config of the Keras layer that supermask layer `layer` stands for."""
    return {key: value for key, value in layer.get_config().items() if key not in SUPERMASK_ARGUMENTS}


def _ungrouped(config):
    return config.get("groups", 1) == 1


register_supermask_layer(keras.layers.Dense, SupermaskDense)
# Grouped and causal convolutions compute something the supermask ones do not.
register_supermask_layer(
    keras.layers.Conv1D, SupermaskConv1D, accepts=lambda config: _ungrouped(config) and config["padding"] != "causal"
)
register_supermask_layer(keras.layers.Conv2D, SupermaskConv2D, accepts=_ungrouped)
register_supermask_layer(keras.layers.DepthwiseConv2D, SupermaskDepthwiseConv2D)
