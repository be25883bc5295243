"""Installs keras-slt: `pip install .` (add `[test]` for the test tools)."""

from setuptools import find_packages, setup

setup(
    name="keras-slt",
    version="0.1.0",
    description="Strong lottery tickets in partially frozen random networks, for Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_slt", "keras_slt.*"])
    + ["keras_slt.tools", "keras_slt.deploy_tools"],
    # The command-line tools live in tools/ and deploy/ in the repository and
    # are installed inside the package so their console scripts resolve.
    package_dir={"keras_slt.tools": "tools", "keras_slt.deploy_tools": "deploy"},
    install_requires=[
        "tensorflow==2.21.*",  # default backend, tf.data, TFLite converter
        "keras>=3.10",  # the layers and models
        "tensorflow-datasets>=4.9",  # CIFAR and ImageNet pipelines
        # TFDS 4.9 imports importlib_resources but declares it only for old Pythons.
        "importlib_resources",
        "tensorboard>=2.21",  # the search tool's logs (TF 2.21 no longer pulls it in)
        "absl-py>=2.0",  # command-line flags and flagfiles
        "numpy>=1.26",  # Philox streams, reference selection
        "ai-edge-litert>=1.2",  # LiteRT interpreter for TFLite parity checks
        "matplotlib>=3.8",  # sweep plots
        "constriction>=0.4",  # range coder of the compact .slt ticket files
    ],
    extras_require={
        "test": ["pytest>=8", "jax[cpu]>=0.4.30"],
    },
    entry_points={
        "console_scripts": [
            "keras-slt-search=keras_slt.tools.search:run",
            "keras-slt-export=keras_slt.deploy_tools.export:run",
            "keras-slt-benchmark-tflite=keras_slt.deploy_tools.benchmark_tflite:run",
            "keras-slt-sweep=keras_slt.tools.sweep:run",
            "keras-slt-plot=keras_slt.tools.plot:run",
        ],
    },
)
