"""The supermask settings' default values and choices, stated once.

`supermaskify`, `SupermaskModel`, the supermask layers, `keras_slt.models.get`
and the search tool's `SearchConfig` take their defaults from here. A layer
on its own selects layer-wise; `SupermaskModel` sets `SELECTION` on its
layers.

Example:

>>> from keras_slt.utils import defaults
>>> defaults.SPARSITY, defaults.SELECTION, defaults.WEIGHT_INIT
(0.5, 'global', 'signed_kaiming_constant')
"""

SPARSITY = 0.5  # where a sparsity may be left out: the search tool, keras_slt.models.get
DISTRIBUTION = "uniform"
SELECTION = "global"
WEIGHT_INIT = "signed_kaiming_constant"
SCORE_INIT = "kaiming_normal"
SCALE = "none"
SEED = 0
BLOCK_SIZE = 1

# The choices of the settings that have a fixed few. Here, beside the
# defaults, because this module needs no Keras: the command-line tools check
# their flags against them before Keras is imported.
SELECTIONS = ("global", "layerwise")
SCALES = ("none", "static", "dynamic")
BLOCK_SIZES = (1, 4, 16)
INITIALIZERS = ("signed_kaiming_constant", "kaiming_normal", "kaiming_uniform")

# The options of `supermaskify` that make the supermask network (ratios, how
# they spread, selection, initialization, seed, mask blocks): what
# `keras_slt.models.get` and a search hand on to it.
SUPERMASK_OPTIONS = (
    "sparsity",
    "freeze_ratio",
    "prune_ratio",
    "lock_ratio",
    "distribution",
    "selection",
    "weight_init",
    "score_init",
    "scale",
    "seed",
    "block_size",
)
