"""Saving and loading tickets, the compact `.slt` files.

One of the deployment forms of docs/METHOD.md, section 9 (Deployment forms).
`save_ticket` writes a `SupermaskModel` in the format of
`keras_slt.ticket.slt_format`; `load_ticket` rebuilds it from the seeds, the
decoded masks and the stored floats.

Nothing in a ticket is trusted, checksum or not (`slt_format` checks the
bytes). Before any weight is generated, each supermask layer's kernel is
sized from the config (its class, arguments and `build_config` input
shape), the layers together may hold at most `MAX_WEIGHTS` weights, and each
layer's free count, which follows from its size and freeze rates, must be
the `num_free` the ticket codes; no layer's declared input may hold more
than `MAX_WEIGHTS` values per example; layer indices are integers. Once
the masks are loaded, the model's own selection (its sparsity and selection
mode, from the config) must give back every stored mask: a config whose
sparsity or selection was changed would otherwise select other masks (all
zero, for a higher sparsity) and pass every later check. Every failure is a
`TicketError`, one line naming the file.
"""

import collections
import math
import zlib

import keras
import numpy as np

from keras_slt.freezing.pattern import FREE
from keras_slt.layers import SupermaskLayer, blocks
from keras_slt.ticket import coding, slt_format
from keras_slt.ticket.materialize import check_supermask_model, materialize
from keras_slt.ticket.size import stored_variables
from keras_slt.ticket.slt_format import CodedMask, TicketError
from keras_slt.utils import budget, files
from keras_slt.utils.counting import floor_count
from keras_slt.utils.errors import first_line

# Most weights the supermask layers of a ticket may have in all. They are
# regenerated from the seeds, so the file's size does not bound them: a few
# bytes could declare a layer of terabytes. 2**28 float32 weights are 1 GiB;
# all of VGG-16 has 138M.
MAX_WEIGHTS = 1 << 28

# Scores that make a model's own selection reproduce a stored mask: kept free
# weights get the larger magnitude. Neither is 0, so sign(score) and with it
# the straight-through gradient stay nonzero if the search goes on.
KEPT_SCORE = 1.0
DROPPED_SCORE = 0.5


def save_ticket(model, path):
    """Writes a `SupermaskModel` as a compact `.slt` ticket, atomically.

    Args:
        model: a built `SupermaskModel` with a Sequential or functional
            network.
        path: the file to write; replaced only once it is complete.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "fc.slt")
    >>> save_ticket(model, path)
    >>> os.path.getsize(path) < 216 // 8 + 1000  # 216 mask bits and the config
    True
    """
    check_supermask_model(model)
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    coded_masks = []
    for layer, mask in zip(model.supermask_layers, model.masks()):
        freeze = layer.freeze_pattern()
        free_bits = _free_bits(layer, mask)
        fingerprint = _fingerprint(layer, freeze)
        coded_masks.append(CodedMask(free_bits.size, int(free_bits.sum()), fingerprint, coding.encode_bits(free_bits)))
    floats = [_numpy(v).astype("<f4").ravel() for v in stored_variables(model)]
    floats = np.concatenate(floats) if floats else np.zeros(0, "<f4")
    files.write_bytes(path, slt_format.to_bytes(config, coded_masks, floats))


def load_ticket(path, supermask=False):
    """Rebuilds a ticket written by `save_ticket`.

    Weights and freeze patterns regenerate from the seeds, the masks are
    decoded and the stored floats restored, so the result is bit-identical
    to `materialize` of the saved model.

    Scores are not stored. With `supermask=True` each score is set to
    `KEPT_SCORE` where the mask keeps the weight and `DROPPED_SCORE` where it
    drops it. The model's own selection then gives back the stored masks:
    its threshold, the k-th smallest free |score|, is `DROPPED_SCORE`
    whenever the saved mask dropped at least one free weight (there are at
    least k dropped ones, since the saved mask came from the same rule).
    The ranking inside each group is lost.

    Args:
        path: a `.slt` file.
        supermask: return the `SupermaskModel` instead of the materialized
            plain Keras model.

    Returns:
        A plain `keras.Model` (default) or a `SupermaskModel`.

    Raises:
        TicketError: one line naming the file, if it is not a ticket, is
            truncated or damaged (behind a valid checksum too), declares
            more weights than `MAX_WEIGHTS` or than its masks code, was
            written by a newer format version, or does not match the
            weights this library regenerates.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "fc.slt")
    >>> save_ticket(model, path)
    >>> x = np.random.default_rng(0).random((2, 4, 4, 1), "float32")
    >>> np.allclose(load_ticket(path).predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    True
    >>> type(load_ticket(path, supermask=True)).__name__
    'SupermaskModel'
    """
    config, coded_masks, floats = slt_format.read(path)
    _check_architecture(path, config, coded_masks)
    _check_stored_floats(path, config, floats.size)
    try:
        model = keras.saving.deserialize_keras_object(config)
        check_supermask_model(model)
    except Exception as error:  # a damaged config fails in many ways inside Keras
        raise TicketError(f"{path}: its network config cannot be rebuilt ({first_line(error)})") from None
    layers, stored = model.supermask_layers, []
    if len(layers) != len(coded_masks):
        raise TicketError(f"{path}: ticket holds {len(coded_masks)} masks for {len(layers)} supermask layers")
    for layer, coded_mask in zip(layers, coded_masks):
        freeze = layer.freeze_pattern()
        num_free = int((freeze == FREE).sum())
        if coded_mask.fingerprint != _fingerprint(layer, freeze) or coded_mask.num_free != num_free:
            raise TicketError(
                f"{path}: layer {layer.name!r} regenerates other weights or freeze pattern than the "
                "ticket was saved with (written by an incompatible keras-slt?)"
            )
        free_bits = _decoded(path, layer, coded_mask)
        layer.scores.assign(np.where(free_bits == 1, KEPT_SCORE, DROPPED_SCORE).astype("float32"))
        stored.append(free_bits)
    _check_selection(path, model, stored)
    variables = stored_variables(model)
    expected = sum(int(np.prod(v.shape)) for v in variables)
    if floats.size != expected:
        raise TicketError(f"{path}: ticket holds {floats.size} floats, the model needs {expected}")
    offset = 0
    for variable in variables:
        size = int(np.prod(variable.shape))
        variable.assign(floats[offset : offset + size].reshape(variable.shape).astype(variable.dtype))
        offset += size
    return model if supermask else materialize(model)


def _free_bits(layer, mask):
    """The entries of a layer's mask at its free positions (blocks of a blocked layer), C order."""
    return blocks.to_blocks(mask, layer.block_size)[layer.freeze_pattern() == FREE]


def _check_selection(path, model, stored):
    """Refuses a ticket whose model does not select the free mask bits it stores (`stored`, per layer)."""
    for layer, mask, free_bits in zip(model.supermask_layers, model.masks(), stored):
        selected = _free_bits(layer, mask)
        if not np.array_equal(selected, free_bits):
            raise TicketError(
                f"{path}: its sparsity {model.sparsity:g} and {model.selection} selection do not select the "
                f"masks it stores (layer {layer.name!r}: {int(selected.sum())} of {selected.size} free entries "
                f"kept, the stored mask keeps {int(free_bits.sum())}); damaged config"
            )


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable)


def _fingerprint(layer, freeze):
    """crc32 of the layer's W (float32) then its freeze pattern `freeze` (int8)."""
    weight = np.ascontiguousarray(_numpy(layer.kernel_weights()), dtype="<f4")
    freeze = np.ascontiguousarray(freeze, dtype=np.int8)
    return zlib.crc32(freeze.tobytes(), zlib.crc32(weight.tobytes()))


def _supermask_classes():
    """Every supermask layer class, by its class name and registered name."""
    classes, pending = {}, [SupermaskLayer]
    while pending:
        cls = pending.pop()
        classes[cls.__name__] = classes[keras.saving.get_registered_name(cls)] = cls
        pending += cls.__subclasses__()
    return classes


def _layer_configs(value):
    """Every layer config (a dict with a class_name and a config) in a config tree, in order."""
    found, pending = [], collections.deque([value])
    while pending:
        value = pending.popleft()
        if isinstance(value, dict):
            if "class_name" in value and isinstance(value.get("config"), dict):
                found.append(value)
            pending += value.values()
        elif isinstance(value, list):
            pending += value
    return found


def _values_per_example(shape):
    """Values per example of a declared input shape (lists or dicts of them for several inputs).

    `None` (a nested model's build_config: its own layers carry the shapes)
    declares nothing.
    """
    if shape is None:
        return 0
    if isinstance(shape, dict):
        return sum(_values_per_example(s) for s in shape.values())
    if isinstance(shape, list) and shape and all(isinstance(s, (list, dict)) for s in shape):
        return sum(_values_per_example(s) for s in shape)
    if isinstance(shape, list) and all(d is None or (type(d) is int and d >= 0) for d in shape):
        return math.prod(d for d in shape if d is not None)
    raise ValueError(f"input shape {shape!r}")


def _check_architecture(path, config, coded_masks):
    """Sizes each supermask layer from the config and checks it against the masks coded.

    Runs before the model is built: no weight is generated for a ticket
    that declares more than `MAX_WEIGHTS` weights or inputs of more values
    per example, or other free counts than it codes.
    """
    classes, found = _supermask_classes(), []
    for layer_config in _layer_configs(config):
        name = layer_config["config"].get("name")
        build_config = layer_config.get("build_config") or {}
        try:
            values = sum(_values_per_example(shape) for shape in dict(build_config).values())
        except (TypeError, ValueError) as error:
            raise TicketError(f"{path}: layer {name!r} has a damaged build_config ({first_line(error)})") from None
        if values > MAX_WEIGHTS:
            raise TicketError(
                f"{path}: layer {name!r} declares inputs of {values} values per example, more than {MAX_WEIGHTS}"
            )
        # Keras resolves a class by its registered name, else by its class name.
        names = (layer_config.get("registered_name"), layer_config["class_name"])
        cls = next((classes[n] for n in names if isinstance(n, str) and n in classes), None)
        if cls is not None and cls is not SupermaskLayer:
            found.append((cls, layer_config))
    if len(found) != len(coded_masks):
        raise TicketError(f"{path}: ticket holds {len(coded_masks)} masks for {len(found)} supermask layers")
    total, indices = 0, set()
    for cls, layer_config in found:
        name = layer_config["config"].get("name")
        try:
            layer = cls.from_config(layer_config["config"])  # not built: nothing generated yet
            input_shape = layer_config["build_config"]["input_shape"]
            if not (
                isinstance(input_shape, list)
                and input_shape
                and all(d is None or (type(d) is int and d > 0) for d in input_shape)
            ):
                raise ValueError(f"input shape {input_shape!r}")
            shape = tuple(layer.kernel_shape(tuple(input_shape)))
            if not all(type(d) is int and d > 0 for d in shape):
                raise ValueError(f"kernel shape {shape!r}")
            entries = math.prod(blocks.block_shape(shape, layer.block_size, layer.name))
            index = layer_config["config"].get("layer_index")
            if type(index) is not int:  # the layer itself would take 1.0 or True as 1
                raise ValueError(f"layer_index {index!r} is not an integer")
        except Exception as error:  # any malformed layer config
            raise TicketError(f"{path}: supermask layer {name!r} has a damaged config ({first_line(error)})") from None
        total += math.prod(shape)
        if total > MAX_WEIGHTS:
            raise TicketError(
                f"{path}: the supermask layers declare more than {MAX_WEIGHTS} weights (layer {name!r} "
                f"has a kernel of shape {shape}); refused before generating them"
            )
        if index in indices or not 0 <= index < len(coded_masks):
            raise TicketError(
                f"{path}: supermask layer {name!r} has layer_index {index}, expected 0 to "
                f"{len(coded_masks) - 1} once each"
            )
        indices.add(index)
        free = entries - floor_count(entries, layer.prune_rate) - floor_count(entries, layer.lock_rate)
        coded = coded_masks[index]
        if coded.num_free != free or not 0 <= coded.ones <= coded.num_free:
            raise TicketError(
                f"{path}: supermask layer {name!r} declares {free} free mask entries, the ticket codes "
                f"{coded.num_free} with {coded.ones} kept"
            )


def _check_stored_floats(path, config, num_floats):
    """Checks the floats the config's model stores against the `num_floats` the ticket holds.

    The model is sized from the config with no variable allocated
    (`budget.declared_variables`): layers kept dense (an Embedding, ...)
    are sized by nothing else, and get their values from the stored floats,
    so a few bytes of config could otherwise declare gigabytes of them.
    Runs after `_check_architecture` has bounded the supermask layers.
    """
    try:
        declared = budget.declared_variables(config, select=stored_variables)
    except Exception as error:  # a damaged config fails in many ways inside Keras
        raise TicketError(f"{path}: its network config cannot be rebuilt ({first_line(error)})") from None
    expected = sum(math.prod(shape) for shape, _ in declared)
    if expected != num_floats:
        raise TicketError(
            f"{path}: ticket holds {num_floats} floats, its network config declares {expected}; "
            "refused before building it"
        )


def _decoded(path, layer, coded_mask):
    """The free mask bits of `layer`, or a TicketError for damaged coded bytes."""
    try:
        return coding.decode_bits(coded_mask.coded, coded_mask.num_free, coded_mask.ones)
    except (ValueError, AssertionError) as error:
        raise TicketError(f"{path}: damaged mask of layer {layer.name!r} ({first_line(error)})") from None
