"""Supermask layers: Dense and convolutions with a random, masked kernel."""

from keras_slt.layers.base import SCALES, SELECTIONS, SUPERMASK_ARGUMENTS, SupermaskLayer
from keras_slt.layers.conv import (
    SupermaskConv,
    SupermaskConv1D,
    SupermaskConv2D,
    SupermaskDepthwiseConv2D,
)
from keras_slt.layers.counterparts import register_supermask_layer
from keras_slt.layers.dense import SupermaskDense
