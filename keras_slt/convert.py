"""`supermaskify`: turn any Keras model into a supermask model.

Every Dense, Conv1D, Conv2D and DepthwiseConv2D layer becomes its supermask
counterpart (random kernel from the seed, learned mask, no bias by default)
and BatchNormalization becomes non-affine. The architecture is cloned with
`keras.models.clone_model`, so Sequential and functional models, nested ones
and `keras.applications` architectures built with `weights=None` convert
alike. The original model's weights are not used.
"""

import warnings

import keras

from keras_slt import defaults, distributions, freezing, initializers
from keras_slt.layers import (
    SCALES,
    SELECTIONS,
    SupermaskConv1D,
    SupermaskConv2D,
    SupermaskDense,
    SupermaskDepthwiseConv2D,
    blocks,
)
from keras_slt.supermask_model import SupermaskModel
from keras_slt.validation import check_one_of
from keras_slt.walk import walk

UNSUPPORTED_CHOICES = ("error", "keep")

# The configuration a supermask layer takes over from the layer it replaces;
# initializers, regularizers, constraints and bias settings do not apply.
_ARCHITECTURE_KEYS = frozenset({
    "name", "dtype", "units", "filters", "kernel_size", "strides", "padding",
    "data_format", "dilation_rate", "depth_multiplier", "activation",
})


def _supermask_class(layer):
    """The supermask class replacing `layer`, or None if it has none."""
    # Exact type checks: a subclass (Conv2DTranspose derives from Conv2D in
    # some versions, SeparableConv has extra kernels) computes something else.
    config = layer.get_config()
    if type(layer) is keras.layers.Dense:
        return SupermaskDense
    if type(layer) is keras.layers.Conv2D and config.get("groups", 1) == 1:
        return SupermaskConv2D
    if type(layer) is keras.layers.Conv1D and config.get("groups", 1) == 1 and config["padding"] != "causal":
        return SupermaskConv1D
    if type(layer) is keras.layers.DepthwiseConv2D:
        return SupermaskDepthwiseConv2D
    return None


def supermaskify(
    model,
    sparsity,
    freeze_ratio=None,
    prune_ratio=None,
    lock_ratio=None,
    distribution=defaults.DISTRIBUTION,
    selection=defaults.SELECTION,
    weight_init=defaults.WEIGHT_INIT,
    score_init=defaults.SCORE_INIT,
    scale=defaults.SCALE,
    seed=defaults.SEED,
    block_size=defaults.BLOCK_SIZE,
    affine_batchnorm=False,
    use_bias=False,
    unsupported="error",
):
    """A supermask copy of `model`, ready for `compile` and `fit`.

    Args:
        model: a built Keras Sequential or functional model.
        sparsity: target ticket sparsity s in [0, 1).
        freeze_ratio: f in [0, 1]; split into p = f*s pruned and r = f*(1-s)
            locked. Give this or `prune_ratio`/`lock_ratio`.
        prune_ratio: global fraction of weights permanently pruned.
        lock_ratio: global fraction of weights permanently locked.
        distribution: how ratios spread over layers: "uniform", "erk", "epl"
            or "igq".
        selection: "global" (one threshold for all layers) or "layerwise".
        weight_init: "signed_kaiming_constant", "kaiming_normal" or
            "kaiming_uniform".
        score_init: initializer of the scores (same names).
        scale: "none", "static" or "dynamic".
        seed: the model seed; weights, freeze pattern and scores derive from it.
        block_size: B in (1, 4, 16) for every Dense layer: its mask comes in
            blocks of B consecutive inputs of one output (see
            `keras_slt.layers.blocks`); a Dense layer whose input size B does not
            divide is refused, naming it. Convolutions stay unblocked.
        affine_batchnorm: keep BatchNorm's trainable gamma/beta (default off).
        use_bias: give supermask layers a trainable bias (default off).
        unsupported: what to do with a layer that has trainable weights but
            no supermask counterpart: "error" (default) or "keep" it as an
            ordinary trained layer, with a warning.

    Returns:
        A `SupermaskModel`.

    Example:

    >>> base = keras.Sequential([keras.Input((8, 8, 3)),  # or keras.applications.ResNet50(...)
    ...     keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(),
    ...     keras.layers.ReLU(), keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> model = supermaskify(base, sparsity=0.7, freeze_ratio=0.5, seed=1)
    >>> [type(layer).__name__ for layer in model.supermask_layers]
    ['SupermaskConv2D', 'SupermaskDense']
    >>> round(model.mask_statistics()["actual_sparsity"], 4)  # of 108 + 1440 weights
    0.7
    """
    prune, lock = freezing.resolve_ratios(sparsity, freeze_ratio, prune_ratio, lock_ratio)
    blocks.check_block_size(block_size)
    distributions.check_method(distribution)
    initializers.check_name(weight_init, "weight_init")
    initializers.check_name(score_init, "score_init")
    check_one_of("selection", selection, SELECTIONS)
    check_one_of("scale", scale, SCALES)
    check_one_of("unsupported", unsupported, UNSUPPORTED_CHOICES)
    if not model.built:
        raise ValueError("model must be built (give it an Input) before supermaskify")

    convertible = []
    for layer in walk(model):
        if layer is model or isinstance(layer, keras.Model):
            continue
        if _supermask_class(layer) is not None:
            convertible.append(layer)
        elif layer.trainable_weights and not isinstance(layer, keras.layers.BatchNormalization):
            message = (
                f"layer {layer.name!r} ({type(layer).__name__}) has trainable weights "
                "but no supermask counterpart"
            )
            if unsupported == "error":
                raise ValueError(message + "; pass unsupported='keep' to keep it dense")
            warnings.warn(message + "; kept as an ordinary trained layer", stacklevel=2)
    if not convertible:
        raise ValueError("model has no Dense or Conv layer to convert")

    shapes = [tuple(layer.kernel.shape) for layer in convertible]
    rates = freezing.layer_ratios(shapes, prune, lock, distribution)
    plan = {id(layer): (index, rate) for index, (layer, rate) in enumerate(zip(convertible, rates))}

    def clone_layer(layer):
        if id(layer) in plan:
            index, (prune_rate, lock_rate) = plan[id(layer)]
            config = {
                key: value for key, value in layer.get_config().items()
                if key in _ARCHITECTURE_KEYS
            }
            supermask_class = _supermask_class(layer)
            if supermask_class is SupermaskDense:
                config["block_size"] = block_size
            return supermask_class(
                **config,
                sparsity=sparsity,
                prune_rate=prune_rate,
                lock_rate=lock_rate,
                weight_init=weight_init,
                score_init=score_init,
                scale=scale,
                seed=seed,
                layer_index=index,
                use_bias=use_bias,
            )
        if isinstance(layer, keras.layers.BatchNormalization):
            config = layer.get_config()
            config["center"] = config["scale"] = affine_batchnorm
            return keras.layers.BatchNormalization.from_config(config)
        return layer.__class__.from_config(layer.get_config())

    network = keras.models.clone_model(model, clone_function=clone_layer, recursive=True)
    metadata = {
        "prune_ratio": prune,
        "lock_ratio": lock,
        "distribution": distribution,
        "weight_init": weight_init,
        "score_init": score_init,
        "scale": scale,
        "seed": seed,
        "block_size": block_size,
        "affine_batchnorm": affine_batchnorm,
    }
    return SupermaskModel(network, sparsity=sparsity, selection=selection, metadata=metadata,
                          name=f"supermask_{model.name}")
