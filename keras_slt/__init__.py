"""keras-slt: strong lottery tickets in partially frozen random networks.

The flow: data -> model (supermask layers, `supermaskify`) -> search
(`model.fit` with Edge-Popup selection) -> ticket (`model_size`, export) ->
deploy.

`import keras_slt` alone loads neither Keras nor TensorFlow: the command-line
tools (`keras_slt.cli`) parse and check their flags first, in well under a
second. The first use of a name below loads the library; so does
`import keras_slt` once Keras is already imported. Loading it registers the
supermask layers, `SupermaskModel` and `CoupledSGD` with keras.saving, so
that a `.keras` file holding them loads.
"""

import importlib
import sys

__version__ = "0.1.0"

# Public name -> the module defining it.
_EXPORTS = {
    "ModelSize": "keras_slt.ticket",
    "SupermaskConv1D": "keras_slt.layers",
    "SupermaskConv2D": "keras_slt.layers",
    "SupermaskDense": "keras_slt.layers",
    "SupermaskDepthwiseConv2D": "keras_slt.layers",
    "SupermaskLayer": "keras_slt.layers",
    "SupermaskModel": "keras_slt.search.supermask_model",
    "data": "keras_slt.data",
    "deploy": "keras_slt.deploy",
    "mask_summary": "keras_slt.ticket",
    "layers": "keras_slt.layers",
    "model_size": "keras_slt.ticket",
    "models": "keras_slt.models",
    "register_supermask_layer": "keras_slt.layers",
    # Registers `CoupledSGD` with keras.saving.
    "optimizers": "keras_slt.search.optimizers",
    "supermaskify": "keras_slt.models.convert",
    "ticket": "keras_slt.ticket",
}

__all__ = sorted(name for name in _EXPORTS if name != "optimizers")


def _load():
    """Imports every public name's module (and so registers its Keras objects)."""
    for name, module in _EXPORTS.items():
        loaded = importlib.import_module(module)
        globals()[name] = loaded if module.endswith(f".{name}") else getattr(loaded, name)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_slt' has no attribute {name!r}")
    if _EXPORTS[name] == f"keras_slt.{name}":
        # A sub-package: `from keras_slt import data` asks for it by name,
        # and loads only it (the data readers need no Keras).
        return importlib.import_module(_EXPORTS[name])
    _load()
    return globals()[name]


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


if "keras" in sys.modules:  # loading costs nothing more then
    _load()
