"""keras-slt: strong lottery tickets in partially frozen random networks.

The flow: data -> model (supermask layers, `supermaskify`) -> search
(`model.fit` with Edge-Popup selection) -> ticket (`model_size`, export) ->
deploy.
"""

from keras_slt import distributions, freezing, initializers, models, optimizers, seeding, selection
from keras_slt.convert import supermaskify
from keras_slt.layers import (
    SupermaskConv1D,
    SupermaskConv2D,
    SupermaskDense,
    SupermaskDepthwiseConv2D,
    SupermaskLayer,
)
from keras_slt.model import SupermaskModel, supermask_layers
from keras_slt.size import ModelSize, model_size

__version__ = "0.1.0"
