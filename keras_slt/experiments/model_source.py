"""What `--model` names, turned into the run's Keras model.

Three kinds of names:

- a built-in network (`keras_slt.models.NAMES`: fc, conv6, resnet18, ...);
- `PATH.keras`, a user's Keras 3 model file: only its architecture is used.
  It is cloned with fresh random weights (Keras's global seed, which the run
  sets from `--seed`), so weights stored in the file never reach the run;
- `keras.applications.NAME` (MobileNetV2, EfficientNetB0, ResNet50V2, ...),
  built with `weights=None`, the dataset's input shape and class count and
  no classifier activation (logits). Inputs smaller than the architecture
  accepts go through a `Resizing` layer up to its minimum size.

With `algo="ep"` the architecture is then converted by
`keras_slt.supermaskify` with the run's supermask settings; layers it cannot
convert are an error, or kept as ordinary trained layers with
`keep_unsupported`.
"""

import inspect
import os
import re

import keras

from keras_slt import models
from keras_slt.convert import supermaskify
from keras_slt.layers import SupermaskDense
from keras_slt.supermask_model import SupermaskModel
from keras_slt.validation import check_one_of

APPLICATIONS_PREFIX = "keras.applications."
# Settings handed to `supermaskify` / `models.get` when algo is "ep".
SUPERMASK_SETTINGS = ("sparsity", "selection", "distribution", "weight_init", "score_init", "scale", "seed",
                      "block_size")
FREEZE_SETTINGS = ("freeze_ratio", "prune_ratio", "lock_ratio")
ARCHITECTURE_SETTINGS = ("width", "width_factor", "stem")
# How keras.applications words a too small input; the numbers are the minimum.
_MINIMUM_SIZE = re.compile(r"at least (\d+)x(\d+)")


def applications():
    """Names of the `keras.applications` architectures (classes=, weights=None)."""
    return tuple(
        name for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
        and "classes" in inspect.signature(getattr(keras.applications, name)).parameters
    )


def check(name):
    """Raises ValueError (one line) unless `name` is a model `build` can make."""
    if name.endswith(".keras"):
        if not os.path.isfile(name):
            raise ValueError(f"model file {name} does not exist")
    elif name.startswith(APPLICATIONS_PREFIX):
        application = name[len(APPLICATIONS_PREFIX):]
        if application not in applications():
            raise ValueError(
                f"model {name} is not a keras.applications architecture; "
                f"one of {', '.join(applications())}"
            )
    else:
        check_one_of("model", name, models.NAMES, forms=("a PATH.keras model file", "keras.applications.NAME"))


def build(config, input_shape, num_classes):
    """The run's model: a `SupermaskModel` for algo "ep", else a plain one.

    Args:
        config: a validated `SearchConfig`.
        input_shape: the dataset's image shape, (height, width, channels).
        num_classes: the dataset's class count.

    Raises:
        ValueError: one line, naming the setting, for an option that does not
            apply to the model, a file that does not load, inputs or outputs
            that do not fit the dataset, or a layer supermaskify cannot
            convert (without keep_unsupported).

    Example:

    >>> from keras_slt.experiments.config import SearchConfig
    >>> config = SearchConfig(model="keras.applications.MobileNetV2", dataset="cifar10",
    ...                       width_factor=0.35, output_dir="unused")
    >>> model = build(config, (32, 32, 3), 10)
    >>> type(model).__name__, len(model.supermask_layers)
    ('SupermaskModel', ...)
    """
    supermask = {}
    if config.algo == "ep":
        supermask = {name: getattr(config, name) for name in SUPERMASK_SETTINGS}
        supermask.update({name: getattr(config, name) for name in FREEZE_SETTINGS
                          if getattr(config, name) is not None})
    architecture = {name: getattr(config, name) for name in ARCHITECTURE_SETTINGS
                    if getattr(config, name) is not None}
    if config.model in models.NAMES:
        return models.get(config.model, input_shape, num_classes, supermask=config.algo == "ep",
                          **architecture, **supermask)
    if config.model.endswith(".keras"):
        network = fresh_copy(config.model)
    else:
        network = application(config.model[len(APPLICATIONS_PREFIX):], input_shape, num_classes,
                              architecture.get("width_factor"))
    check_fits(network, config.model, input_shape, num_classes)
    if config.algo != "ep":
        return network
    model = supermaskify(network, **supermask, unsupported="keep" if config.keep_unsupported else "error")
    if config.block_size != 1 and not any(isinstance(layer, SupermaskDense) for layer in model.supermask_layers):
        raise ValueError(f"block_size={config.block_size} blocks Dense masks, and {config.model} has no Dense "
                         "layer to convert; leave it out")
    return model


def architecture_options(name):
    """The architecture settings (width, width_factor, stem) model `name` takes.

    A `.keras` file takes none; a keras.applications architecture takes
    width_factor when it has an `alpha` (the MobileNet family).

    Example:

    >>> architecture_options("keras.applications.MobileNetV2")
    ('width_factor',)
    """
    if name in models.NAMES:
        return models.architecture_options(name)
    if name.startswith(APPLICATIONS_PREFIX) and _has_alpha(name[len(APPLICATIONS_PREFIX):]):
        return ("width_factor",)
    return ()


def _has_alpha(application_name):
    builder = getattr(keras.applications, application_name, None)
    return builder is not None and "alpha" in inspect.signature(builder).parameters


def load_file(path):
    """The built Keras model of a `.keras` file (not compiled).

    Raises:
        ValueError: one line naming the file when it does not load (not a
            Keras archive, a class Keras does not know, ...) or holds no
            built model.

    Example:

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "net.keras")
    >>> keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    >>> load_file(path).output_shape
    (None, 2)
    >>> load_file(os.path.join(os.path.dirname(path), "missing.keras"))
    Traceback (most recent call last):
    ...
    ValueError: model file .../missing.keras cannot be loaded (ValueError: File not found: ...)
    """
    try:
        saved = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Loading fails in many ways (format, custom objects).
        lines = str(error).strip().splitlines()
        raise ValueError(f"model file {path} cannot be loaded ({type(error).__name__}: "
                         f"{lines[0] if lines else ''})") from None
    if not isinstance(saved, keras.Model) or not saved.built:
        raise ValueError(f"model file {path} holds no built Keras model")
    return saved


def fresh_copy(path):
    """The architecture of a `.keras` file, with new randomly initialized weights."""
    saved = load_file(path)
    if isinstance(saved, SupermaskModel):
        raise ValueError(f"model file {path} holds a searched ticket (a SupermaskModel, as a search's "
                         "best.keras); give the Keras model it was searched in, or export the ticket "
                         "with deploy/export.py --format=keras and give that file")
    # clone_model makes new layers from their configs: weights come from the
    # initializers, never from the file.
    return keras.models.clone_model(saved)


def application(name, input_shape, num_classes, width_factor=None):
    """A `keras.applications` architecture for these inputs and classes, weights=None.

    `width_factor` is the architecture's `alpha` (MobileNet family).
    """
    builder = getattr(keras.applications, name)
    options = {"weights": None, "include_top": True, "classes": num_classes, "classifier_activation": None}
    if width_factor is not None:
        if not _has_alpha(name):
            raise ValueError(f"width_factor (alpha) applies to keras.applications with alpha, not to {name}")
        options["alpha"] = width_factor
    inputs = keras.Input(tuple(input_shape))
    try:
        return builder(input_tensor=inputs, input_shape=tuple(input_shape), **options)
    except ValueError as error:
        minimum = _MINIMUM_SIZE.search(str(error))
        if minimum is None:
            raise ValueError(f"keras.applications.{name}: {str(error).splitlines()[0]}") from None
    size = (int(minimum[1]), int(minimum[2]))
    resized = keras.layers.Resizing(*size, name="resize_to_minimum")(inputs)
    return builder(input_tensor=resized, input_shape=size + tuple(input_shape[-1:]), **options)


def check_fits(model, name, input_shape, num_classes):
    """Raises ValueError (one line) unless `model` maps dataset images to `num_classes` scores."""
    if len(model.inputs) != 1:
        raise ValueError(f"model {name} takes {len(model.inputs)} inputs; a search feeds it one image batch")
    expected = tuple(model.inputs[0].shape[1:])
    if len(expected) != len(input_shape) or any(
        want is not None and want != have for want, have in zip(expected, input_shape)
    ):
        raise ValueError(
            f"model {name} takes inputs of shape {expected} but the dataset's images are {tuple(input_shape)}"
        )
    if len(model.outputs) != 1:
        raise ValueError(f"model {name} has {len(model.outputs)} outputs; a search trains one classifier output")
    output = tuple(model.outputs[0].shape)
    if len(output) != 2 or output[-1] != num_classes:
        raise ValueError(
            f"model {name} outputs shape {output[1:]} but the dataset has {num_classes} classes "
            f"(expected ({num_classes},))"
        )


def ends_in_softmax(model):
    """Whether the (single) output of `model`, or of its network, is a softmax.

    A nested model's own output counts: TensorFlow's loss would find the
    softmax's logits behind it anyway, JAX's would not.
    """
    layer = getattr(model, "network", model)
    while isinstance(layer, keras.Model) and getattr(layer, "outputs", None):
        layer = layer.outputs[0]._keras_history.operation
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.softmax or isinstance(layer, keras.layers.Softmax)
