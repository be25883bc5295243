"""Deploying tickets: materialized Keras models, compact `.slt` files, TFLite, ONNX.

The deployment forms of docs/METHOD.md, section 9 (Deployment forms).
`materialize` turns a `SupermaskModel` into plain Keras
layers with kernels W_eff; `save_ticket`/`load_ticket` write and read the
compact format (seeds + entropy-coded free mask + stored floats); `to_tflite`
converts with sparse weight encoding, optionally full-integer int8;
`quantize.weight_only` stores int8 or int4 kernels with float activations;
`onnx.to_onnx` exports through Keras's ONNX exporter.

Example:

>>> import os, tempfile
>>> import numpy as np
>>> import keras_slt
>>> from keras_slt import export
>>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
>>> path = os.path.join(tempfile.mkdtemp(), "fc.slt")
>>> export.save_ticket(model, path)
>>> plain = export.load_ticket(path)  # a plain Keras model, masked kernels
>>> x = np.random.default_rng(0).random((2, 4, 4, 1), "float32")
>>> np.allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
True
>>> content = export.to_tflite(plain)  # the bytes of a .tflite file
>>> np.allclose(export.tflite.predict(content, x), plain.predict(x, verbose=0), atol=1e-5)
True
"""

import importlib

from keras_slt.export import coding
from keras_slt.export.materialize import effective_kernels, materialize
from keras_slt.export.slt_format import FORMAT_VERSION, TicketError
from keras_slt.export.ticket import load_ticket, save_ticket
from keras_slt.size import stored_variables


def __getattr__(name):
    # `tflite`, `to_tflite` and `quantize` need TensorFlow and LiteRT, `onnx`
    # its exporter: imported on first use, so `keras_slt.export` works in the
    # JAX install (.keras and .slt).
    if name in ("tflite", "to_tflite"):
        tflite = importlib.import_module("keras_slt.export.tflite")
        return tflite if name == "tflite" else tflite.to_tflite
    if name in ("quantize", "onnx"):
        return importlib.import_module(f"keras_slt.export.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "FORMAT_VERSION",
    "TicketError",
    "coding",
    "effective_kernels",
    "load_ticket",
    "materialize",
    "onnx",
    "quantize",
    "save_ticket",
    "stored_variables",
    "tflite",
    "to_tflite",
]
