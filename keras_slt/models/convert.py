"""`supermaskify`: turn any Keras model into a supermask model.

Every layer of a class with a registered supermask counterpart (Dense,
Conv1D, Conv2D and DepthwiseConv2D, and those added by
`keras_slt.layers.register_supermask_layer`) becomes that counterpart
(random kernel from the seed, learned mask, no bias by default) and
BatchNormalization becomes non-affine. The architecture is cloned with
`keras.models.clone_model`, so Sequential and functional models, nested ones
and `keras.applications` architectures built with `weights=None` convert
alike. The original model's weights are not used.
"""

import warnings

import keras
import numpy as np

from keras_slt.freezing import densities, pattern
from keras_slt.layers import SCALES, SELECTIONS, blocks, counterparts, initializers
from keras_slt.layers.walk import walk
from keras_slt.search.supermask_model import SupermaskModel
from keras_slt.utils import defaults
from keras_slt.utils.defaults import SUPERMASK_OPTIONS  # noqa: F401  (part of this module's API)
from keras_slt.utils.validation import check_one_of

UNSUPPORTED_CHOICES = ("error", "keep")


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
        affine_batchnorm: train BatchNormalization's gamma and beta, from
            their initializers (default off: non-affine, see below).
        use_bias: give every supermask layer a trainable bias, starting at
            zero (default off: no bias, see below).
        unsupported: what to do with a layer that has trainable weights but
            no supermask counterpart: "error" (default) or "keep" it as an
            ordinary trained layer, with a warning.

    Biases and normalization parameters: a search learns masks only, and
    every other parameter of the random network stays at its initial value.
    For Keras's default initializers that needs no variable: a bias starts
    at zero, so the supermask layer has none (and computes the same), and
    BatchNormalization's gamma and beta start at 1 and 0, so it becomes
    non-affine (`center=scale=False`); its moving statistics are updated
    in training as usual. A layer whose initializers give other values
    (`bias_initializer`, `gamma_initializer`, `beta_initializer`) is
    refused, naming it and the argument that trains them instead:
    `use_bias=True` or `affine_batchnorm=True` (the ticket then stores
    them). Other normalization layers (LayerNormalization, ...) have no
    supermask counterpart: see `unsupported`.

    Returns:
        A `SupermaskModel`.

    Raises:
        ValueError: naming the argument, or the layer that cannot be
            converted and the argument that would convert it.

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
    prune, lock = pattern.resolve_ratios(sparsity, freeze_ratio, prune_ratio, lock_ratio)
    blocks.check_block_size(block_size)
    densities.check_method(distribution)
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
        if counterparts.supermask_class_of(layer) is not None:
            if not use_bias:
                _check_initial_value(layer, "bias", 0.0, "use_bias=True to train biases")
            convertible.append(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            if not affine_batchnorm:
                for name, value in (("gamma", 1.0), ("beta", 0.0)):
                    _check_initial_value(layer, name, value, "affine_batchnorm=True to train gamma and beta")
        elif layer.trainable_weights:
            message = (
                f"layer {layer.name!r} ({type(layer).__name__}) has trainable weights but no supermask counterpart"
            )
            if unsupported == "error":
                raise ValueError(
                    message + "; pass unsupported='keep' to keep it as an ordinary trained layer, "
                    "or register a supermask version with keras_slt.layers.register_supermask_layer"
                )
            warnings.warn(message + "; kept as an ordinary trained layer", stacklevel=2)
    if not convertible:
        raise ValueError(
            "model has no layer with a supermask counterpart (Dense, Conv1D, Conv2D, "
            "DepthwiseConv2D or a class given to keras_slt.layers.register_supermask_layer)"
        )

    shapes = [tuple(layer.kernel.shape) for layer in convertible]
    rates = pattern.layer_ratios(shapes, prune, lock, distribution)
    plan = {id(layer): (index, rate) for index, (layer, rate) in enumerate(zip(convertible, rates))}

    def clone_layer(layer):
        if id(layer) in plan:
            index, (prune_rate, lock_rate) = plan[id(layer)]
            supermask_class = counterparts.supermask_class_of(layer)
            config = counterparts.architecture(layer, supermask_class)
            if "block_size" in counterparts.arguments(supermask_class):
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
    return SupermaskModel(
        network, sparsity=sparsity, selection=selection, metadata=metadata, name=f"supermask_{model.name}"
    )


def _check_initial_value(layer, name, value, remedy):
    """Raises ValueError unless weight `name` of `layer` is absent or starts at `value` everywhere."""
    variable = getattr(layer, name, None)
    if variable is None:
        return
    initializer = getattr(layer, f"{name}_initializer", None)
    if initializer is not None and np.all(keras.ops.convert_to_numpy(initializer(tuple(variable.shape))) == value):
        return
    described = type(initializer).__name__ if initializer is not None else "an unknown initializer"
    raise ValueError(
        f"layer {layer.name!r} ({type(layer).__name__}) starts its {name} at values other than {value:g} "
        f"({described}), where a supermask network keeps it at {value:g}: pass {remedy}, "
        f"or give the layer {name}_initializer={'ones' if value == 1 else 'zeros'!r}"
    )
