"""ONNX export of a ticket, through Keras's own exporter, and ONNX Runtime runs.

`to_onnx` exports the materialized model with `model.export(path,
format="onnx")`: Keras converts it with tf2onnx on TensorFlow and with
jax2onnx on JAX. The file holds the plain model (dense kernels W_eff,
biases, BatchNorm), so ONNX Runtime needs nothing from keras-slt. Checks
and timings run on ONNX Runtime's CPU provider.
"""

import importlib.util
import os
import statistics
import tempfile
import time
import warnings

import keras
import numpy as np

from keras_slt.search.supermask_model import SupermaskModel
from keras_slt.ticket.materialize import materialize
from keras_slt.utils.errors import first_line


class OnnxError(RuntimeError):
    """The exporter or ONNX Runtime failed on a model; the message says which, in one line."""


def missing_packages():
    """The packages ONNX export needs on this backend that are not installed.

    Returns:
        A list of distribution names (empty when export can run): onnx and
        onnxruntime, plus tf2onnx on TensorFlow or jax2onnx on JAX, the
        converters Keras's exporter calls.
    """
    converter = {"tensorflow": "tf2onnx", "jax": "jax2onnx"}.get(keras.backend.backend())
    needed = ["onnx", "onnxruntime"] + ([converter] if converter else [])
    return [name for name in needed if importlib.util.find_spec(name) is None]


def to_onnx(model):
    """The `.onnx` file of a ticket, as bytes.

    Args:
        model: a `SupermaskModel` (materialized first) or a plain Keras model.

    Returns:
        The ONNX model, its batch axis dynamic.

    Raises:
        OnnxError: the exporter failed on the model (an op it cannot convert).

    Example:

    >>> import keras_slt
    >>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
    >>> x = np.random.default_rng(0).random((5, 4, 4, 1), "float32")
    >>> np.allclose(predict(to_onnx(model), x), model.predict(x, verbose=0), atol=1e-5)
    True
    """
    if keras.backend.backend() not in ("tensorflow", "jax"):
        raise ValueError(f"ONNX export runs on the TensorFlow and JAX backends, not {keras.backend.backend()}")
    if isinstance(model, SupermaskModel):
        model = materialize(model)
    # Keras's exporter reads the signature from a model that was called once
    # (`predict` on JAX does not count).
    zeros = [np.zeros((1,) + tuple(x.shape[1:]), x.dtype) for x in model.inputs]
    model(zeros if len(zeros) > 1 else zeros[0])
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.onnx")
        try:
            with warnings.catch_warnings():
                # Keras's tf2onnx patch probes `np.object`, which NumPy 2 warns about.
                warnings.filterwarnings("ignore", category=FutureWarning, module=r"keras\.src\.export")
                model.export(path, format="onnx", verbose=False)
        except Exception as error:  # the converters raise many types, all meaning "cannot convert this"
            raise OnnxError(f"Keras's ONNX exporter failed: {first_line(error)}") from error
        import onnx as onnx_format

        # jax2onnx stores large weights beside the file (ONNX external data):
        # loaded back into one self-contained file.
        return onnx_format.load(path).SerializeToString()


def session(content, num_threads=1):
    """An ONNX Runtime CPU session for `content`, on `num_threads` threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # fatal only: its errors reach the caller as exceptions (OnnxError)
    return onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])


def predict(content, inputs, batch_size=256):
    """Runs an `.onnx` model on `inputs` with ONNX Runtime.

    Args:
        content: an ONNX model (bytes).
        inputs: input samples (first axis): one array, or a list with one
            array per model input, in the model's input order.
        batch_size: samples per run.

    Returns:
        The outputs: one NumPy array, or a list for several outputs.

    Raises:
        OnnxError: ONNX Runtime cannot load or run the model (an op or
            attribute it does not support).
    """
    inputs = [np.asarray(x, np.float32) for x in keras.tree.flatten(inputs)]
    outputs = []
    try:
        runner = session(content, num_threads=os.cpu_count() or 1)
        names = [x.name for x in runner.get_inputs()]
        for start in range(0, len(inputs[0]), batch_size):
            outputs.append(runner.run(None, {n: x[start : start + batch_size] for n, x in zip(names, inputs)}))
    except Exception as error:
        if not type(error).__module__.startswith("onnxruntime"):
            raise
        raise OnnxError(f"ONNX Runtime cannot run the model: {first_line(error)}") from error
    outputs = [np.concatenate(found) for found in zip(*outputs)]
    return outputs[0] if len(outputs) == 1 else outputs


def latency(content, sample, runs=200, warmup=20, num_threads=1):
    """Median ONNX Runtime inference time of one sample (batch 1), in seconds.

    Args:
        content: an ONNX model (bytes).
        sample: one input without the batch axis, or a list of them.
        runs: timed runs.
        warmup: untimed runs first.
        num_threads: intra-op threads.

    Returns:
        The median wall time of `runs` runs.
    """
    runner = session(content, num_threads)
    feed = {
        x.name: np.asarray(s, np.float32)[np.newaxis] for x, s in zip(runner.get_inputs(), keras.tree.flatten(sample))
    }
    times = []
    for step in range(warmup + runs):
        start = time.perf_counter()
        runner.run(None, feed)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)
