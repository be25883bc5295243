"""Weight-only quantization of a TFLite model: int8 or int4 weights, float activations.

`weight_only` applies Google's `ai-edge-quantizer` (the LiteRT project's
own tool) to a densely stored float32 `.tflite` model: each kernel becomes
an int8 or int4 constant with per-channel symmetric scales, followed by a
DEQUANTIZE op, and every op still computes in float32 (XNNPACK folds the
DEQUANTIZE once, when the model is prepared). Activations are never
quantized, so the only change to the answers is the rounding of the
weights; for signed-constant tickets, whose kernels hold one value +-c per
output channel, there is none: q = +-127 (or +-7) with scale c / q, exact
up to the float32 rounding of the scale.

Why this path (measured in docs/DEPLOY.md, "Weight-only int8 and int4"):
the converter's dynamic-range mode (`Optimize.DEFAULT` without calibration
data) writes files of the same size but runs hybrid kernels that quantize
the activations on the fly, so its answers move (no longer within float
tolerance even when the weights are exact); ai-edge-quantizer's own
dynamic recipes do the same. Sparse storage does not survive either
weight-only path: a sparse weight reaches its op through DENSIFY, which
ai-edge-quantizer leaves in float32, so `weight_only` takes the dense
conversion.

LiteRT stores int4 weights for FULLY_CONNECTED and CONV_2D only; a model
with another weighted op (DEPTHWISE_CONV_2D, TRANSPOSE_CONV, ...) is
refused in int4 rather than written half quantized.
"""

import contextlib
import io

import numpy as np
from ai_edge_litert.interpreter import Interpreter

BITS = (8, 4)
# Ops whose weight (input 1) is a constant kernel.
WEIGHTED_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "CONV_3D", "BATCH_MATMUL")


def weight_only(content, bits=8):
    """Quantizes the kernels of a float `.tflite` model to int8 or int4.

    Args:
        content: a float32 `.tflite` flatbuffer, weights stored densely
            (`to_tflite(model, sparse=False)`).
        bits: 8 or 4.

    Returns:
        The quantized `.tflite` model as bytes.

    Raises:
        ValueError: `bits` is not 8 or 4, or some weighted op of the model
            cannot hold int4 weights in LiteRT (the message names the ops).

    Example:

    >>> import keras_slt
    >>> from keras_slt.deploy.tflite import to_tflite
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> content = to_tflite(model, sparse=False)
    >>> quantized = weight_only(content, bits=4)
    >>> sorted({str(w.dtype) for w in dequantized_weights(quantized).values()})
    ['float32']
    """
    if bits not in BITS:
        raise ValueError(f"bits must be 8 or 4, got {bits!r}")
    from ai_edge_quantizer import quantizer, recipe  # TensorFlow-side tool: imported where used

    tool = quantizer.Quantizer(bytes(content))
    tool.load_quantization_recipe(recipe.weight_only_wi8_afp32() if bits == 8 else recipe.weight_only_wi4_afp32())
    with contextlib.redirect_stdout(io.StringIO()):  # its size report, printed on every call
        quantized = bytes(tool.quantize().quantized_model)
    left = float_weighted_ops(quantized)
    if left:
        names = ", ".join(sorted({op for op, _ in left}))
        raise ValueError(
            f"weight_int4: LiteRT has no int4 weights for {names} (weights {', '.join(w for _, w in left)}); "
            "use int8 weights (weight_int8)"
        )
    return quantized


def float_weighted_ops(content):
    """(op name, weight name) of each weighted op whose kernel is a float constant.

    A quantized kernel reaches its op through DEQUANTIZE (or is an integer
    tensor itself); a float32 constant kernel was left unquantized.
    """
    runner = Interpreter(model_content=content)
    tensors = {detail["index"]: detail for detail in runner.get_tensor_details()}
    ops = runner._get_ops_details()  # the only API that lists ops and their tensors
    produced = {int(index) for op in ops for index in op["outputs"]}
    found = []
    for op in ops:
        if op["op_name"] not in WEIGHTED_OPS or len(op["inputs"]) < 2:
            continue
        weight = tensors[int(op["inputs"][1])]
        if int(op["inputs"][1]) not in produced and weight["dtype"] == np.float32:
            found.append((op["op_name"], weight["name"]))
    return found


def dequantized_weights(content):
    """Every constant integer weight of a `.tflite` model, dequantized.

    Args:
        content: a `.tflite` flatbuffer.

    Returns:
        A dict from tensor name to a float32 array in TFLite's layout
        ((q - zero point) * scale, per channel along the quantized
        dimension), for each int8 or int4 tensor with quantization scales.

    Example:

    >>> import keras_slt
    >>> from keras_slt.deploy.tflite import to_tflite
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> weights = dequantized_weights(weight_only(to_tflite(model, sparse=False)))
    >>> sorted(w.shape for w in weights.values())  # Dense kernels, (units, inputs)
    [(3, 8), (8, 8), (8, 16)]
    """
    runner = Interpreter(model_content=content)
    found = {}
    for detail in runner.get_tensor_details():
        parameters = detail["quantization_parameters"]
        if detail["dtype"] != np.int8 or not len(parameters["scales"]):
            continue
        try:
            values = runner.get_tensor(detail["index"])
        except ValueError:  # an activation (no data before allocation): not a weight
            continue
        shape = [1] * values.ndim
        if len(parameters["scales"]) > 1:
            shape[parameters["quantized_dimension"]] = -1
        scales = np.reshape(parameters["scales"], shape).astype(np.float32)
        zero_points = np.reshape(parameters["zero_points"], shape).astype(np.float32)
        found[detail["name"]] = (values.astype(np.float32) - zero_points) * scales
    return found


def constant_weights(content):
    """Every constant float32 tensor of a `.tflite` model, by name."""
    runner = Interpreter(model_content=content)
    found = {}
    for detail in runner.get_tensor_details():
        if detail["dtype"] != np.float32:
            continue
        try:
            found[detail["name"]] = runner.get_tensor(detail["index"])
        except ValueError:
            continue
    return found


def weight_error(quantized, reference):
    """Largest relative error of `quantized`'s dequantized weights.

    Args:
        quantized: a weight-only `.tflite` model (`weight_only`).
        reference: the float `.tflite` model it was quantized from; its
            tensors of the same names are the reference.

    Returns:
        max |dequantized - float| / max |float| over every quantized weight
        (0.0 if none): at most the float32 rounding of the scales (~1e-7)
        for two-valued (signed-constant) kernels.
    """
    floats = constant_weights(reference)
    worst = 0.0
    for name, weight in dequantized_weights(quantized).items():
        expected = floats[name]
        peak = float(np.max(np.abs(expected))) or 1.0
        worst = max(worst, float(np.max(np.abs(weight - expected))) / peak)
    return worst
