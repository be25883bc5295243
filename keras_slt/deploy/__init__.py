"""Deployment: the files a device runs, their checks, latency and reports.

`to_tflite` converts a ticket with sparse weight encoding, optionally
full-integer int8 (run by LiteRT); `quantize.weight_only` stores int8 or
int4 kernels with float activations; `onnx.to_onnx` exports through Keras's
ONNX exporter; `artifacts.export_ticket` writes and checks every format of
a run's ticket, as `keras-slt-export` does.

Example:

>>> import numpy as np
>>> import keras_slt
>>> from keras_slt import deploy, ticket
>>> model = keras_slt.models.get("fc", (4, 4, 1), 3, width=8, seed=1)
>>> plain = ticket.materialize(model)
>>> content = deploy.to_tflite(plain)  # the bytes of a .tflite file
>>> x = np.random.default_rng(0).random((2, 4, 4, 1), "float32")
>>> np.allclose(deploy.tflite.predict(content, x), plain.predict(x, verbose=0), atol=1e-5)
True
"""

import importlib

# Every module here but `formats` needs TensorFlow and LiteRT, or the ONNX
# exporter: imported on first use, so `keras_slt.deploy` imports in the JAX
# install (which writes .keras and .slt files only).
_MODULES = ("artifacts", "block_sparse", "formats", "latency", "onnx", "quantize", "report", "tflite")


def __getattr__(name):
    if name == "to_tflite":
        return importlib.import_module("keras_slt.deploy.tflite").to_tflite
    if name in _MODULES:
        return importlib.import_module(f"keras_slt.deploy.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted((*_MODULES, "to_tflite"))
