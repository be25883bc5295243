"""Reference networks of the paper, by name: `keras_slt.models.get`."""

from keras_slt.models.convnets import conv, fc
from keras_slt.models.registry import NAMES, SUPERMASK_OPTIONS, architecture_options, get
from keras_slt.models.resnet import basic_resnet, bottleneck_resnet, wide_resnet50_2
from keras_slt.models.gin import GINAggregation, gin
