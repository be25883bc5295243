"""Reference networks of the paper, by name: `keras_slt.models.get`.

`NAMES` and `architecture_options` come from `catalog`, which needs no Keras;
the builders load Keras on first use (the command-line tools check `--model`
before that).
"""

import importlib

from keras_slt.models.catalog import NAMES, architecture_options

# Public name -> the module defining it, imported on first use.
_BUILDERS = {
    "SUPERMASK_OPTIONS": "keras_slt.models.registry",
    "get": "keras_slt.models.registry",
    "conv": "keras_slt.models.convnets",
    "fc": "keras_slt.models.convnets",
    "basic_resnet": "keras_slt.models.resnet",
    "bottleneck_resnet": "keras_slt.models.resnet",
    "wide_resnet50_2": "keras_slt.models.resnet",
    "GINAggregation": "keras_slt.models.gin",
}

__all__ = ["NAMES", "architecture_options", *_BUILDERS]


def __getattr__(name):
    if name not in _BUILDERS:
        raise AttributeError(f"module 'keras_slt.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_BUILDERS[name]), name)
    globals()[name] = value
    return value
