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

import json
import math
import re
import zipfile

import keras

from keras_slt import models
from keras_slt.experiments.model_names import (  # noqa: F401  (part of this module's API)
    APPLICATIONS_PREFIX,
    architecture_options,
    check,
    has_alpha,
)
from keras_slt.layers import SupermaskDense
from keras_slt.models.convert import SUPERMASK_OPTIONS, supermaskify
from keras_slt.search.supermask_model import SupermaskModel
from keras_slt.utils import budget, files
from keras_slt.utils.errors import first_line

ARCHITECTURE_SETTINGS = ("width", "width_factor", "stem")
# How keras.applications words a too small input; the numbers are the minimum.
_MINIMUM_SIZE = re.compile(r"at least (\d+)x(\d+)")


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
        # The settings named as supermaskify's options; unset ones (the
        # ratios not given) keep its defaults.
        supermask = {name: getattr(config, name) for name in SUPERMASK_OPTIONS if getattr(config, name) is not None}
    architecture = {name: getattr(config, name) for name in ARCHITECTURE_SETTINGS if getattr(config, name) is not None}
    if config.model in models.NAMES:
        return models.get(
            config.model, input_shape, num_classes, supermask=config.algo == "ep", **architecture, **supermask
        )
    if config.model.endswith(".keras"):
        network = fresh_copy(config.model)
    else:
        network = application(
            config.model[len(APPLICATIONS_PREFIX) :], input_shape, num_classes, architecture.get("width_factor")
        )
    check_fits(network, config.model, input_shape, num_classes)
    if config.algo != "ep":
        return network
    try:
        model = supermaskify(network, **supermask, unsupported="keep" if config.keep_unsupported else "error")
    except ValueError as error:
        # The library's hint names its Python argument; the command line's, its flag.
        message = str(error).split("; pass unsupported='keep'")[0]
        if message != str(error):
            message += "; pass --keep_unsupported to keep it as an ordinary trained layer"
        raise ValueError(message) from None
    if config.block_size != 1 and not any(isinstance(layer, SupermaskDense) for layer in model.supermask_layers):
        raise ValueError(
            f"block_size={config.block_size} blocks Dense masks, and {config.model} has no Dense "
            "layer to convert; leave it out"
        )
    return model


def load_file(path):
    """The built Keras model of a `.keras` file (not compiled).

    Raises:
        ValueError: one line naming the file when it does not load (not a
            Keras archive, a class Keras does not know, ...), would take
            more than the memory budget (`keras_slt.utils.budget`: its members'
            uncompressed sizes, the weights its config declares, checked
            before anything is inflated or built) or holds no built model.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "net.keras")
    >>> keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    >>> load_file(path).output_shape
    (None, 2)
    >>> load_file(os.path.join(os.path.dirname(path), "missing.keras"))
    Traceback (most recent call last):
    ...
    ValueError: model file .../missing.keras cannot be loaded (ValueError: File not found: ...)
    """
    _check_archive(path)
    try:
        saved = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Loading fails in many ways (format, custom objects).
        lines = str(error).strip().splitlines()
        raise ValueError(
            f"model file {path} cannot be loaded ({type(error).__name__}: {lines[0] if lines else ''})"
        ) from None
    if not isinstance(saved, keras.Model) or not saved.built:
        raise ValueError(f"model file {path} holds no built Keras model")
    return saved


def _check_archive(path):
    """Raises ValueError (one line) for a `.keras` archive that would not fit the memory budget.

    Checked before anything is inflated or built: the members'
    uncompressed sizes, a `config.json` of at most `files.MAX_TEXT_BYTES`,
    and the variables that config declares (sized with none allocated,
    `budget.declared_variables`). What is no zip archive or holds a config
    Keras cannot rebuild is left to Keras's loader to report.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            inflated = sum(member.file_size for member in members)
            budget.check(f"model file {path}: its {len(members)} archive members inflate", inflated)
            config_size = next((m.file_size for m in members if m.filename == "config.json"), None)
            if config_size is None:
                return
            if config_size > files.MAX_TEXT_BYTES:
                raise ValueError(
                    f"model file {path}: its config.json inflates to {config_size} bytes, more than "
                    f"the {files.MAX_TEXT_BYTES} accepted"
                )
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return
    if isinstance(config, dict):
        config.pop("compile_config", None)  # loaded with compile=False
    try:
        variables = budget.declared_variables(config)
    except Exception:  # the loader reports it, naming the file
        return
    budget.check(
        f"model file {path}: its config declares {sum(math.prod(shape) for shape, _ in variables)} weights",
        budget.variables_bytes(variables),
    )


def fresh_copy(path):
    """The architecture of a `.keras` file, with new randomly initialized weights."""
    saved = load_file(path)
    if isinstance(saved, SupermaskModel):
        raise ValueError(
            f"model file {path} holds a searched ticket (a SupermaskModel, as a search's "
            "best.keras); give the Keras model it was searched in, or export the ticket "
            "with deploy/export.py --format=keras and give that file"
        )
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
        if not has_alpha(name):
            raise ValueError(f"width_factor (alpha) applies to keras.applications with alpha, not to {name}")
        options["alpha"] = width_factor
    inputs = keras.Input(tuple(input_shape))
    try:
        return builder(input_tensor=inputs, input_shape=tuple(input_shape), **options)
    except ValueError as error:
        minimum = _MINIMUM_SIZE.search(str(error))
        if minimum is None:
            raise ValueError(f"keras.applications.{name}: {first_line(error, with_type=False)}") from None
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
