"""TFLite export of a ticket, with sparse weight encoding, and LiteRT runs.

`to_tflite` converts the materialized model with TFLite's
`EXPERIMENTAL_SPARSITY` optimization, which stores each sparse constant
tensor in a compressed (CSR-like) layout. LiteRT's built-in kernels have no
random-sparsity path: the converter inserts a DENSIFY op that expands each
weight once, when the interpreter is prepared, so random sparsity shrinks the
file, not the inference time. Fully connected weights whose zeros come in
1x4 (float) or 1x16 (int8) blocks, the masks of blocked tickets, are stored
block-sparse instead and run on LiteRT's block kernels (see
`keras_slt.export.block_sparse`). With `int8=True` weights and activations are
quantized to int8 (per-channel kernel scales); inputs and outputs stay
float32, with QUANTIZE/DEQUANTIZE ops at the edges.
"""

import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from keras_slt.export.materialize import materialize
from keras_slt.model import SupermaskModel


def to_tflite(model, int8=False, representative_data=None, sparse=True):
    """Converts a ticket to a TFLite flatbuffer.

    Args:
        model: a `SupermaskModel` (materialized first) or a plain Keras model
            with one input.
        int8: full-integer quantization of weights and activations.
        representative_data: input samples (first axis) for calibrating the
            int8 activation ranges; required when `int8`. A few hundred
            real inputs are enough.
        sparse: encode sparse weights compactly (`EXPERIMENTAL_SPARSITY`).

    Returns:
        The `.tflite` model as bytes.

    Example:

    >>> content = to_tflite(model)
    >>> quantized = to_tflite(model, int8=True, representative_data=x[:200])
    """
    if isinstance(model, SupermaskModel):
        model = materialize(model)
    if len(model.inputs) != 1:
        raise ValueError(f"to_tflite supports models with one input, got {len(model.inputs)}")
    if int8 and representative_data is None:
        raise ValueError("int8 conversion needs representative_data to calibrate activations")
    spec = tf.TensorSpec(model.inputs[0].shape, model.inputs[0].dtype)
    with tempfile.TemporaryDirectory() as saved_model:
        # A SavedModel of the inference call: the converter freezes its
        # variables into constants (a traced tf.function would keep them as
        # resource variables).
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", lambda x: model(x, training=False), [spec])
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
        if int8:
            samples = np.asarray(representative_data, dtype=spec.dtype.as_numpy_dtype)
            converter.representative_dataset = lambda: ([sample[np.newaxis]] for sample in samples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.optimizations.append(tf.lite.Optimize.DEFAULT)
        return converter.convert()


def interpreter(content, batch_size=1, num_threads=1):
    """A LiteRT interpreter for `content`, ready for batches of `batch_size`.

    The default XNNPACK delegate is used where it accepts the model. It
    rejects int8 FULLY_CONNECTED ops fed by DENSIFY (sparse int8 models),
    when the tensors are allocated or at the first invocation; those models
    then run on the built-in kernels.

    Args:
        content: a `.tflite` flatbuffer with one input and one output.
        batch_size: the batch size of the input tensor.
        num_threads: CPU threads.

    Returns:
        An `ai_edge_litert.interpreter.Interpreter`, tensors allocated.
    """
    try:
        return _prepared(content, batch_size, num_threads, OpResolverType.AUTO)
    except RuntimeError:
        return _prepared(content, batch_size, num_threads, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def _prepared(content, batch_size, num_threads, resolver):
    """An interpreter with tensors allocated and one invocation done."""
    runner = Interpreter(model_content=content, num_threads=num_threads,
                         experimental_op_resolver_type=resolver)
    (detail,) = runner.get_input_details()
    runner.resize_tensor_input(detail["index"], [batch_size] + list(detail["shape"][1:]))
    runner.allocate_tensors()
    runner.invoke()  # a delegate may fail only here
    return runner


def predict(content, inputs, batch_size=256):
    """Runs a one-input, one-output `.tflite` model on `inputs` with LiteRT.

    Args:
        content: a `.tflite` flatbuffer.
        inputs: an array of input samples (first axis).
        batch_size: samples per invocation (the last batch is zero-padded).

    Returns:
        The outputs as one NumPy array.

    Example:

    >>> y = predict(to_tflite(model), x_test)
    """
    runner = interpreter(content, batch_size)
    (input_detail,) = runner.get_input_details()
    (output_detail,) = runner.get_output_details()
    inputs = np.asarray(inputs, dtype=input_detail["dtype"])
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start:start + batch_size]
        padded = np.zeros((batch_size,) + inputs.shape[1:], inputs.dtype)
        padded[:len(batch)] = batch
        runner.set_tensor(input_detail["index"], padded)
        runner.invoke()
        outputs.append(runner.get_tensor(output_detail["index"])[:len(batch)])
    return np.concatenate(outputs)


def latency(content, sample, runs=200, warmup=20, num_threads=1):
    """Median LiteRT inference time of one sample (batch 1), in seconds.

    Args:
        content: a `.tflite` flatbuffer.
        sample: one input, without the batch axis.
        runs: timed invocations.
        warmup: untimed invocations first.
        num_threads: CPU threads.

    Returns:
        The median wall time of `runs` invocations.

    Example:

    >>> latency(sparse, x_test[0]) / latency(dense, x_test[0])
    """
    runner = interpreter(content, 1, num_threads)
    (input_detail,) = runner.get_input_details()
    runner.set_tensor(input_detail["index"], np.asarray(sample, dtype=input_detail["dtype"])[np.newaxis])
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
        sample: one input, without the batch axis.
        int8: time the int8 conversions instead of the float ones.
        representative_data: calibration inputs, for `int8`.
        **timing: `runs`, `warmup`, `num_threads` of `latency`.

    Returns:
        (dense seconds, sparse seconds), medians at batch 1.

    Example:

    >>> dense, sparse = dense_sparse_latency(model, x_test[0])
    >>> sparse / dense
    """
    if isinstance(model, SupermaskModel):
        model = materialize(model)
    return tuple(
        latency(to_tflite(model, int8, representative_data, sparse), sample, **timing)
        for sparse in (False, True)
    )
