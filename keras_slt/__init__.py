"""keras-slt: strong lottery tickets in partially frozen random networks.

The flow: data -> model (supermask layers, `supermaskify`) -> search
(`model.fit` with Edge-Popup selection) -> ticket (`model_size`, export) ->
deploy.
"""

# `optimizers` registers `CoupledSGD` with keras.saving, so that a `.keras`
# file compiled with it loads after `import keras_slt`.
from keras_slt import data, export, layers, models, optimizers
from keras_slt.convert import supermaskify
from keras_slt.layers import (
    SupermaskConv1D,
    SupermaskConv2D,
    SupermaskDense,
    SupermaskDepthwiseConv2D,
    SupermaskLayer,
    register_supermask_layer,
)
from keras_slt.size import ModelSize, mask_summary, model_size
from keras_slt.supermask_model import SupermaskModel

__version__ = "0.1.0"

__all__ = [
    "ModelSize",
    "SupermaskConv1D",
    "SupermaskConv2D",
    "SupermaskDense",
    "SupermaskDepthwiseConv2D",
    "SupermaskLayer",
    "SupermaskModel",
    "data",
    "export",
    "layers",
    "mask_summary",
    "model_size",
    "models",
    "register_supermask_layer",
    "supermaskify",
]
