"""The memory budget: how much what a file declares may make keras-slt allocate.

A few bytes can declare gigabytes: an IDX header's dimensions, a graph's
feature matrix shape, an image's width and height, a model config's layer
sizes, an archive member's uncompressed size. Readers compare such a
declared size with the budget before they allocate it, and refuse what does
not fit in one line naming the file and how to raise the budget.

The budget is `KERAS_SLT_MEMORY_BUDGET` bytes (a number, or one with a K, M,
G or T suffix: `8G`), 1 GiB by default: the decoded arrays of a dataset
file, a graph's dense feature matrix, the float weights a model file
declares, the uncompressed members of a `.keras` archive, and the images
decoded at once by the image readers must each fit in it. Fashion-MNIST's
largest file takes 47 MB, Cora's features 15 MB, VGG-16's weights 553 MB.
"""

import copy
import math
import os
import re

import numpy as np

VARIABLE = "KERAS_SLT_MEMORY_BUDGET"
DEFAULT = 1 << 30
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def limit():
    """The budget in bytes: `KERAS_SLT_MEMORY_BUDGET`, or 1 GiB.

    Raises:
        ValueError: the variable is not a size (digits, then K, M, G or T).

    Example:

    >>> os.environ[VARIABLE] = "512M"
    >>> limit()
    536870912
    >>> del os.environ[VARIABLE]
    >>> limit() == DEFAULT
    True
    """
    text = os.environ.get(VARIABLE, "").strip()
    if not text:
        return DEFAULT
    match = re.fullmatch(r"(\d+)\s*([KMGT]?)i?B?", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"{VARIABLE} must be a size in bytes such as 4G or 500M, got {text!r}")
    return int(match[1]) * _UNITS[match[2].upper()]


def size_text(num_bytes):
    """`num_bytes` for people: "1.5 GiB", "12.0 MiB", "300 bytes".

    Example:

    >>> size_text(3 << 29), size_text(300)
    ('1.5 GiB', '300 bytes')
    """
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.1f} {unit}"
    return f"{num_bytes} bytes"


def check(what, num_bytes, error=ValueError):
    """Raises `error` unless `num_bytes` fit in the budget.

    Args:
        what: what would take the memory, naming its file ("x.gz declares
            70000x28x28 bytes of data"); the size follows in parentheses.
        num_bytes: the memory it would take.
        error: the exception class raised (a `ValueError` subclass).

    Example:

    >>> check("x.gz declares 4294967295x28x28 bytes of data", 4294967295 * 784)
    Traceback (most recent call last):
    ...
    ValueError: x.gz declares 4294967295x28x28 bytes of data (3.1 TiB), more than the memory budget of 1.0 GiB; ...
    """
    budget = limit()
    if num_bytes > budget:
        raise error(
            f"{what} ({size_text(num_bytes)}), more than the memory budget of {size_text(budget)}; "
            f"set {VARIABLE} (e.g. {VARIABLE}=16G) to raise it"
        )


def declared_variables(config, select=None):
    """`(shape, dtype)` of each variable a serialized Keras object declares, none allocated.

    The object is rebuilt from `config` with its variables left
    uninitialized (Keras defers a variable created in a stateless scope), so
    a config declaring a layer of gigabytes allocates nothing; nothing of
    the rebuilt object is kept, and `config` is left as it was. Layers that compute their initial values in
    `build` (the supermask layers generate their random weights) do that
    work: bound their sizes first.

    Args:
        config: what `keras.saving.serialize_keras_object` returns.
        select: function of the rebuilt object returning the variables to
            describe; default: its `weights`.

    Returns:
        A list of `(shape, dtype name)`.

    Raises:
        Whatever Keras raises for a config it cannot rebuild.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])
    >>> config = keras.saving.serialize_keras_object(model)
    >>> config["config"]["layers"][1]["config"]["units"] = 500_000  # 1.5 GB of weights
    >>> declared_variables(config)
    [((784, 500000), 'float32'), ((500000,), 'float32')]
    """
    # Imported here: the data readers and the tools' flag checks use this
    # module before Keras is loaded.
    import keras
    from keras.src.backend.common import global_state

    # Keras collects deferred variables in a global list and initializes
    # them when a later stateless scope closes: the list is put back.
    pending = global_state.get_global_attribute("uninitialized_variables")
    try:
        with keras.StatelessScope(initialize_variables=False):
            # A copy: from_config methods may take the config apart.
            rebuilt = keras.saving.deserialize_keras_object(copy.deepcopy(config))
        variables = select(rebuilt) if select is not None else getattr(rebuilt, "weights", ())
        return [(tuple(variable.shape), variable.dtype) for variable in variables]
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)


def variables_bytes(variables):
    """The bytes of `(shape, dtype)` variables (`declared_variables`).

    Example:

    >>> variables_bytes([((784, 500000), "float32"), ((500000,), "float32")])
    1570000000
    """
    return sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in variables)
