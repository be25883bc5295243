"""Installs keras-slt: `pip install '.[tensorflow]'` or `'.[jax]'` (add `test` for the test tools)."""

import re

from setuptools import find_packages, setup

# The version is keras_slt.__version__; read, not imported (that needs Keras).
with open("keras_slt/__init__.py", encoding="utf-8") as init:
    VERSION = re.search(r'^__version__ = "([^"]+)"$', init.read(), re.M).group(1)

# ONNX export (`deploy/export.py --format=onnx`): Keras's exporter converts
# with tf2onnx on TensorFlow and jax2onnx on JAX; ONNX Runtime checks and
# times the file. In `test` too, so CI checks ONNX on both backends.
ONNX = [
    "onnx>=1.17",  # the ONNX model format the exporters write
    "onnxruntime>=1.20",  # runs the exported file for the agreement check and the latency
    "tf2onnx>=1.17",  # Keras's ONNX exporter on TensorFlow (1.17: NumPy 2)
    "jax2onnx>=0.17",  # Keras's ONNX exporter on JAX
]

setup(
    name="keras-slt",
    version=VERSION,
    description="Strong lottery tickets in partially frozen random networks, for Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_slt", "keras_slt.*"]),
    # What every install needs; a backend comes with an extra:
    # `.[tensorflow]` (the default backend, tf.data, TFDS, TFLite) or `.[jax]`.
    install_requires=[
        "keras>=3.13",  # the layers and models; 3.13: TerminateOnNaN(raise_error=True)
        "absl-py>=2.0",  # command-line flags and flagfiles
        "numpy>=1.26",  # Philox streams, reference selection, the NumPy pipeline
        "matplotlib>=3.8",  # sweep plots
        "pillow>=10",  # decodes image folders and the CIFAR-10 JPEG folder (as torchvision does)
        "constriction>=0.4",  # range coder of the compact .slt ticket files
    ],
    extras_require={
        "tensorflow": [
            "tensorflow==2.21.*",  # default backend, tf.data, TFLite converter
            "tensorflow-datasets>=4.9",  # CIFAR and ImageNet pipelines
            # TFDS 4.9 imports importlib_resources but declares it only for old Pythons.
            "importlib_resources",
            "tensorboard>=2.21",  # the search tool's logs (TF 2.21 does not install it)
            "ai-edge-litert>=1.2",  # LiteRT interpreter for TFLite parity checks
            "ai-edge-quantizer>=0.10",  # weight-only int8/int4 TFLite files (float activations)
        ],
        "jax": ["jax>=0.4.30"],  # the JAX backend (CPU; add jax[cuda12] for GPUs)
        "onnx": ONNX,
        "test": ["pytest>=8", "jax[cpu]>=0.4.30"] + ONNX,
    },
    entry_points={
        "console_scripts": [
            # The same `run` as tools/*.py and deploy/*.py in a checkout.
            "keras-slt-search=keras_slt.cli.search:run",
            "keras-slt-export=keras_slt.cli.export:run",
            "keras-slt-benchmark-tflite=keras_slt.cli.benchmark_tflite:run",
            "keras-slt-sweep=keras_slt.cli.sweep:run",
            "keras-slt-plot=keras_slt.cli.plot:run",
        ],
    },
)
