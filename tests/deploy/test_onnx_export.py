"""ONNX export through Keras's exporter, checked with ONNX Runtime on TensorFlow and JAX."""

import importlib.util
import os

import keras
import numpy as np
import pytest

import keras_slt
from keras_slt.deploy import artifacts, onnx


def conv_bn_net():
    """Conv2D, BatchNorm, Dense: what a Conv ticket materializes to (no pooling: jax2onnx's
    MaxPool is one ONNX Runtime refuses, see test_a_model_onnx_runtime_cannot_run_fails_its_check)."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(6, 3, strides=2),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Flatten(),
            keras.layers.Dense(5),
        ]
    )


def test_onnx_runtime_answers_as_keras(tmp_path):
    if onnx.missing_packages():
        pytest.skip(f"not installed: {', '.join(onnx.missing_packages())}")
    model = keras_slt.supermaskify(conv_bn_net(), sparsity=0.6, freeze_ratio=0.5, seed=2)
    x = np.random.default_rng(0).standard_normal((40, 8, 8, 3)).astype("float32")
    result = artifacts.export_ticket(model, tmp_path, x, formats=("keras", "onnx"), latency_budget_s=0.01)
    assert result.passed, [str(c) for c in result.checks]
    assert sorted(os.listdir(tmp_path)) == ["ticket.keras", "ticket.onnx"]
    assert result.diffs["onnx"] <= 1e-4 and result.agreements["onnx"] == 1.0
    assert result.latencies["onnx"].seconds > 0
    content = (tmp_path / "ticket.onnx").read_bytes()
    assert len(content) == result.sizes["onnx"]
    np.testing.assert_allclose(onnx.predict(content, x[:7], batch_size=3), model.predict(x[:7], verbose=0), atol=1e-4)


def test_onnx_without_its_packages_is_refused_in_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ValueError) as error:
        artifacts.check_formats(("keras", "onnx"))
    assert str(error.value).startswith("format onnx needs onnxruntime, not installed: ")
    assert "\n" not in str(error.value) and "keras-slt[onnx]" in str(error.value)


def test_a_model_onnx_runtime_cannot_run_fails_its_check(tmp_path, monkeypatch):
    def refuse(content, inputs, batch_size=256):
        raise onnx.OnnxError("ONNX Runtime cannot run the model: InvalidArgument: Unsupported pooling size.")

    monkeypatch.setattr(onnx, "predict", refuse)
    if onnx.missing_packages():
        pytest.skip(f"not installed: {', '.join(onnx.missing_packages())}")
    model = keras_slt.supermaskify(conv_bn_net(), sparsity=0.5, seed=1)
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 3)).astype("float32")
    result = artifacts.export_ticket(model, tmp_path, x, formats=("onnx",), latency_budget_s=0.01)
    (check,) = [c for c in result.checks if c.subject.endswith(".onnx")]
    assert str(check) == (
        f"[FAILED] {tmp_path / 'ticket.onnx'}: ONNX Runtime cannot run the model: InvalidArgument: "
        f"Unsupported pooling size.; kept as {tmp_path / 'ticket.onnx'}.failed"
    )
    assert os.listdir(tmp_path) == ["ticket.onnx.failed"] and result.latencies == {}  # not timed either


def test_weights_over_a_megabyte_stay_in_the_one_file():
    # jax2onnx writes tensors over 1 MB beside the file (external data); `to_onnx` returns one file.
    if onnx.missing_packages():
        pytest.skip(f"not installed: {', '.join(onnx.missing_packages())}")
    base = keras.Sequential([keras.Input((600,)), keras.layers.Dense(512), keras.layers.Dense(3)])
    model = keras_slt.supermaskify(base, sparsity=0.5, seed=3)
    x = np.random.default_rng(0).standard_normal((6, 600)).astype("float32")
    content = onnx.to_onnx(model)
    assert len(content) > 600 * 512 * 4
    np.testing.assert_allclose(onnx.predict(content, x), model.predict(x, verbose=0), atol=1e-4)
