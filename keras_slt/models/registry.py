"""`get`: build a reference network by name, as a supermask or a dense model."""

import functools

from keras_slt.models import catalog, convnets, gin, resnet
from keras_slt.models.catalog import NAMES, architecture_options  # noqa: F401  (part of this module's API)
from keras_slt.models.convert import SUPERMASK_OPTIONS, supermaskify
from keras_slt.utils import defaults
from keras_slt.utils.validation import check_one_of, check_positive_int

# Builder family (see `catalog.NETWORKS`) -> builder(input_shape, num_classes,
# **architecture options), with depth= for the families that have depths.
_FAMILIES = {
    "fc": convnets.fc,
    "conv": convnets.conv,
    "basic_resnet": resnet.basic_resnet,
    "bottleneck_resnet": resnet.bottleneck_resnet,
    "wide_resnet50_2": resnet.wide_resnet50_2,
    "gin": gin.gin,
}


def get(name, input_shape, num_classes, supermask=True, **options):
    """Builds a reference network by name.

    Names: fc, conv2, conv4, conv6, conv8, resnet18, resnet34, resnet50,
    resnet101, wide_resnet50_2, as in the paper's official code (ResNets in
    torchvision's layout, bottlenecks strided on their 3x3 convolution), and
    gin (node classification on one graph, input_shape = (node features,);
    see `keras_slt.models.gin`). ResNet-18/34 come with a CIFAR stem for
    inputs of at most 64x64 pixels and an ImageNet stem otherwise (`stem`
    overrides); the others are ImageNet networks. For keras.applications
    networks, use `keras_slt.supermaskify`.

    Args:
        name: one of `NAMES`.
        input_shape: shape of one example, (height, width, channels); for
            gin, (node features,).
        num_classes: number of output logits.
        supermask: True for a `SupermaskModel` (random weights, learned mask,
            no bias, non-affine BatchNorm); False for the same architecture
            with ordinary trainable weights (no bias, non-affine BatchNorm,
            Kaiming-uniform initial weights), the official weight-training
            baseline.
        **options: architecture options — `width` (fc: hidden units, default
            1024; gin: hidden width, default 386), `width_factor` (conv and ResNet models:
            channel multiplier, default 1), `stem` (ResNet-18/34: "cifar" or
            "imagenet") — and, with supermask=True, the arguments of
            `keras_slt.supermaskify`: sparsity (default 0.5), freeze_ratio,
            prune_ratio, lock_ratio, distribution, selection, weight_init,
            score_init, scale, seed, block_size (Dense layers' mask blocks).

    Returns:
        A `keras_slt.SupermaskModel`, or a `keras.Model` when supermask=False.
        Outputs are logits.

    Raises:
        ValueError: for an unknown name or option, naming it.

    Example:

    >>> import keras
    >>> import keras_slt
    >>> model = keras_slt.models.get("conv6", (32, 32, 3), 10,
    ...                              sparsity=0.5, freeze_ratio=0.5, seed=1)
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    """
    check_one_of("model", name, NAMES)
    check_positive_int("num_classes", num_classes)
    family, depth, architecture_keys = catalog.NETWORKS[name]
    builder = _FAMILIES[family] if depth is None else functools.partial(_FAMILIES[family], depth=depth)
    unknown = sorted(set(options) - set(architecture_keys) - set(SUPERMASK_OPTIONS))
    if unknown:
        takes = ", ".join(architecture_keys + SUPERMASK_OPTIONS)
        raise ValueError(f"model {name!r} takes no option {unknown[0]!r}; it takes {takes}")
    architecture = {key: options.pop(key) for key in architecture_keys if key in options}
    if not supermask and options:
        raise ValueError(f"{sorted(options)[0]} applies only to supermask models (supermask=True)")
    network = builder(tuple(input_shape), num_classes, **architecture)
    if not supermask:
        return network
    options.setdefault("sparsity", defaults.SPARSITY)
    return supermaskify(network, **options)
