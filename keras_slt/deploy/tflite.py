"""TFLite export of a ticket, with sparse weight encoding, and LiteRT runs.

`to_tflite` converts the materialized model with TFLite's
`EXPERIMENTAL_SPARSITY` optimization, which stores each sparse constant
tensor in a compressed (CSR-like) layout. LiteRT's built-in kernels have no
random-sparsity path: the converter inserts a DENSIFY op that expands each
weight once, when the interpreter is prepared, so random sparsity shrinks the
file, not the inference time. Fully connected weights whose zeros come in
1x4 (float) or 1x16 (int8) blocks, the masks of blocked tickets, are stored
block-sparse instead and run on LiteRT's block kernels (see
`keras_slt.deploy.block_sparse`). With `int8=True` weights and activations are
quantized to int8 (per-channel kernel scales); inputs and outputs stay
float32, with QUANTIZE/DEQUANTIZE ops at the edges. Int8 or int4 weights with
float32 activations come from `keras_slt.deploy.quantize.weight_only`.
"""

import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from keras_slt.search.supermask_model import SupermaskModel
from keras_slt.ticket.materialize import materialize


def to_tflite(model, int8=False, representative_data=None, sparse=True):
    """Converts a ticket to a TFLite flatbuffer.

    Args:
        model: a `SupermaskModel` (materialized first) or a plain Keras
            model, with any number of inputs and outputs.
        int8: full-integer quantization of weights and activations.
        representative_data: input samples (first axis) for calibrating the
            int8 activation ranges, one array per model input (a list, or
            one array for a one-input model); required when `int8`. A few
            hundred real inputs are enough.
        sparse: encode sparse weights compactly (`EXPERIMENTAL_SPARSITY`).

    Returns:
        The `.tflite` model as bytes. Its signature's inputs are input_0,
        input_1, ... and its outputs output_0, output_1, ..., in the
        model's input and output order.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> x = np.random.default_rng(0).random((16, 4, 4, 1), "float32")
    >>> content = to_tflite(model)
    >>> quantized = to_tflite(model, int8=True, representative_data=x)
    >>> content[4:8], quantized[4:8]  # the flatbuffer's file identifier
    (b'TFL3', b'TFL3')
    """
    if isinstance(model, SupermaskModel):
        model = materialize(model)
    if int8 and representative_data is None:
        raise ValueError("int8 conversion needs representative_data to calibrate activations")
    specs = input_specs(model)
    # Keras's `model.export(format="litert")` takes the same path and gives
    # the same file on TensorFlow, but refuses the JAX backend, allows Flex
    # ops LiteRT's default interpreter cannot run, and names the signature's
    # inputs after the model's (this order-preserving input_0, input_1...
    # is what `predict` relies on): the path is kept (docs/DEPLOY.md, "TFLite").
    with tempfile.TemporaryDirectory() as saved_model:
        # A SavedModel of the inference call: the converter freezes its
        # variables into constants (a traced tf.function would keep them as
        # resource variables).
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", lambda *x: model(_structured(model, x), training=False), specs)
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
        if int8:
            samples = [
                np.asarray(x, dtype=spec.dtype.as_numpy_dtype)
                for x, spec in zip(keras.tree.flatten(representative_data), specs)
            ]
            converter.representative_dataset = lambda: (
                {spec.name: x[i : i + 1] for spec, x in zip(specs, samples)} for i in range(len(samples[0]))
            )
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.optimizations.append(tf.lite.Optimize.DEFAULT)
        return converter.convert()


def _structured(model, flat):
    """The flat inputs in the model's own input structure (one tensor, a list
    or a dict of named inputs; a model with several inputs is functional)."""
    if len(flat) == 1:
        return flat[0]
    return keras.tree.pack_sequence_as(model.input, list(flat))


def input_specs(model):
    """One named `tf.TensorSpec` per model input (the names become the signature's)."""
    return [tf.TensorSpec(x.shape, x.dtype, name=f"input_{i}") for i, x in enumerate(model.inputs)]


def interpreter(content, batch_size=1, num_threads=1):
    """A LiteRT interpreter for `content`, ready for batches of `batch_size`.

    The default XNNPACK delegate is used where it accepts the model. It
    rejects int8 FULLY_CONNECTED ops fed by DENSIFY (sparse int8 models),
    when the tensors are allocated or at the first invocation; those models
    then run on the built-in kernels.

    Args:
        content: a `.tflite` flatbuffer.
        batch_size: the batch size of the input tensors.
        num_threads: CPU threads.

    Returns:
        `(interpreter, input details, output details)`: an
        `ai_edge_litert.interpreter.Interpreter` with tensors allocated, and
        the signature's input and output tensor details, in model order.
    """
    try:
        return _prepared(content, batch_size, num_threads, OpResolverType.AUTO)
    except RuntimeError:
        return _prepared(content, batch_size, num_threads, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def _ordered(details):
    """Signature tensor details by name -> a list in model order.

    Inputs are named input_0, input_1, ... (`input_specs`); outputs
    output_0, output_1, ... by the converter, in the model's output order.
    Sorted by their number, not as text (output_10 after output_9).
    """

    def number(name):
        digits = name.rsplit("_", 1)[-1]
        return (int(digits), name) if digits.isdigit() else (-1, name)

    return [details[name] for name in sorted(details, key=number)]


def _prepared(content, batch_size, num_threads, resolver):
    """An interpreter with tensors allocated and one invocation done."""
    runner = Interpreter(model_content=content, num_threads=num_threads, experimental_op_resolver_type=resolver)
    signature = runner.get_signature_runner()
    inputs, outputs = _ordered(signature.get_input_details()), _ordered(signature.get_output_details())
    del signature  # it holds views of the tensors, which would forbid resizing them
    for detail in inputs:
        runner.resize_tensor_input(detail["index"], [batch_size] + list(detail["shape"][1:]))
    runner.allocate_tensors()
    runner.invoke()  # a delegate may fail only here
    return runner, inputs, outputs


def predict(content, inputs, batch_size=256):
    """Runs a `.tflite` model on `inputs` with LiteRT.

    Args:
        content: a `.tflite` flatbuffer.
        inputs: input samples (first axis): one array, or a list with one
            array per model input.
        batch_size: samples per invocation (the last batch is zero-padded).

    Returns:
        The outputs: one NumPy array, or a list of them for a model with
        several outputs.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> x = np.random.default_rng(0).random((3, 4, 4, 1), "float32")
    >>> y = predict(to_tflite(model), x)
    >>> y.shape, np.allclose(y, model.predict(x, verbose=0), atol=1e-5)
    ((3, 3), True)
    """
    runner, input_details, output_details = interpreter(content, batch_size)
    inputs = [np.asarray(x, dtype=d["dtype"]) for x, d in zip(keras.tree.flatten(inputs), input_details)]
    outputs = [[] for _ in output_details]
    for start in range(0, len(inputs[0]), batch_size):
        for x, detail in zip(inputs, input_details):
            batch = x[start : start + batch_size]
            padded = np.zeros((batch_size,) + x.shape[1:], x.dtype)
            padded[: len(batch)] = batch
            runner.set_tensor(detail["index"], padded)
        runner.invoke()
        count = min(batch_size, len(inputs[0]) - start)
        for found, detail in zip(outputs, output_details):
            found.append(runner.get_tensor(detail["index"])[:count])
    outputs = [np.concatenate(found) for found in outputs]
    return outputs[0] if len(outputs) == 1 else outputs


def latency(content, sample, runs=200, warmup=20, num_threads=1):
    """Median LiteRT inference time of one sample (batch 1), in seconds.

    Args:
        content: a `.tflite` flatbuffer.
        sample: one input without the batch axis, or a list of them (one
            per model input).
        runs: timed invocations.
        warmup: untimed invocations first.
        num_threads: CPU threads.

    Returns:
        The median wall time of `runs` invocations.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> seconds = latency(to_tflite(model), np.zeros((4, 4, 1), "float32"), runs=5)
    >>> 0 < seconds < 1
    True
    """
    runner, input_details, _ = interpreter(content, 1, num_threads)
    for x, detail in zip(keras.tree.flatten(sample), input_details):
        runner.set_tensor(detail["index"], np.asarray(x, dtype=detail["dtype"])[np.newaxis])
    times = []
    for step in range(warmup + runs):
        start = time.perf_counter()
        runner.invoke()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def dense_sparse_latency(model, sample, int8=False, representative_data=None, **timing):
    """LiteRT latency of `model` converted without and with sparse encoding.

    Args:
        model: a `SupermaskModel` or plain Keras model (as `to_tflite`).
        sample: one input without the batch axis (a list for several inputs).
        int8: time the int8 conversions instead of the float ones.
        representative_data: calibration inputs, for `int8`.
        **timing: `runs`, `warmup`, `num_threads` of `latency`.

    Returns:
        (dense seconds, sparse seconds), medians at batch 1.

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> dense, sparse = dense_sparse_latency(model, np.zeros((4, 4, 1), "float32"), runs=5)
    >>> 0 < dense < 1 and 0 < sparse < 1
    True
    """
    if isinstance(model, SupermaskModel):
        model = materialize(model)
    return tuple(
        latency(to_tflite(model, int8, representative_data, sparse), sample, **timing) for sparse in (False, True)
    )
