"""Shared test helpers.

Tests marked `agnostic` run on every Keras backend; README's test command runs
them a second time with KERAS_BACKEND=jax.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "agnostic: runs on every Keras backend")


def pytest_collection_modifyitems(config, items):
    # On a non-TensorFlow backend only the backend-agnostic tests make sense.
    if keras.backend.backend() != "tensorflow":
        skip = pytest.mark.skip(reason=f"TensorFlow-only test ({keras.backend.backend()} backend)")
        for item in items:
            if "agnostic" not in item.keywords:
                item.add_marker(skip)


def gradient(function, variable):
    """d function() / d variable, on the current backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = function()
        return np.asarray(tape.gradient(value, variable.value))
    if backend == "jax":
        import jax

        def wrapped(v):
            with keras.StatelessScope(state_mapping=[(variable, v)]):
                return function()

        return np.asarray(jax.grad(wrapped)(variable.value))
    raise NotImplementedError(backend)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(script, *args, timeout=600, env=None):
    """Runs `python <script> <args>` from the repository root on this checkout.

    `env` changes the inherited environment; a None value removes a variable.
    Returns the CompletedProcess (text output captured).
    """
    import subprocess
    import sys

    changes = dict(env or {}, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env = {key: value for key, value in dict(os.environ, **changes).items() if value is not None}
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
