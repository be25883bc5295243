"""The reference networks by name: their families, depths and architecture options.

This module needs no Keras: the command-line tools check `--model` and the
options it takes before Keras is imported. `keras_slt.models.get` builds a
network from its entry here.

Example:

>>> NETWORKS["resnet18"]
('basic_resnet', 18, ('stem', 'width_factor'))
"""

from keras_slt.utils.validation import check_one_of

CONV_DEPTHS = (2, 4, 6, 8)
STEMS = ("cifar", "imagenet")
# ResNet depth -> blocks per stage (torchvision's layouts).
BASIC_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
BOTTLENECK_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}

# name -> (builder family, depth or None, the architecture options it takes)
NETWORKS = {
    "fc": ("fc", None, ("width",)),
    **{f"conv{depth}": ("conv", depth, ("width_factor",)) for depth in CONV_DEPTHS},
    **{f"resnet{depth}": ("basic_resnet", depth, ("stem", "width_factor")) for depth in BASIC_BLOCKS},
    **{f"resnet{depth}": ("bottleneck_resnet", depth, ("width_factor",)) for depth in BOTTLENECK_BLOCKS},
    "wide_resnet50_2": ("wide_resnet50_2", None, ("width_factor",)),
    "gin": ("gin", None, ("width",)),
}
NAMES = tuple(NETWORKS)


def architecture_options(name):
    """The architecture options (width, width_factor, stem) model `name` takes.

    Example:

    >>> architecture_options("resnet18")
    ('stem', 'width_factor')
    """
    return NETWORKS[check_one_of("model", name, NAMES)][2]
