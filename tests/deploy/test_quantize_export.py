"""Weight-only int8 / int4 TFLite files and what the export does with quantized files that fail."""

import os
import re

import keras
import numpy as np
import pytest

import keras_slt
from keras_slt.deploy import artifacts, quantize, report, tflite
from keras_slt.ticket import effective_kernels, materialize

# Every test here writes TFLite files (TensorFlow and LiteRT).
pytestmark = pytest.mark.requires_tensorflow


def conv_fc_net():
    """Conv2D and Dense, no BatchNorm: TFLite keeps the kernels as W_eff (nothing folded into them)."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(6, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(24, activation="relu"),
            keras.layers.Dense(5),
        ]
    )


def depthwise_net():
    return keras.Sequential(
        [keras.Input((6, 6, 3)), keras.layers.DepthwiseConv2D(3), keras.layers.Flatten(), keras.layers.Dense(4)]
    )


def tflite_layout(kernel):
    """A Keras kernel in TFLite's layout: Dense (in, out) -> (out, in); Conv2D (h, w, in, out) -> (out, h, w, in)."""
    return kernel.T if kernel.ndim == 2 else np.transpose(kernel, (3, 0, 1, 2))


@pytest.fixture(scope="module")
def signed_ticket():
    return keras_slt.supermaskify(
        conv_fc_net(), sparsity=0.7, freeze_ratio=0.5, seed=5, weight_init="signed_kaiming_constant"
    )


@pytest.mark.parametrize("bits", [8, 4])
def test_signed_constant_kernels_are_stored_exactly(signed_ticket, bits):
    content = quantize.weight_only(tflite.to_tflite(signed_ticket, sparse=False), bits)
    stored = quantize.dequantized_weights(content)
    kernels = [tflite_layout(kernel) for kernel in effective_kernels(signed_ticket)]
    assert sorted(w.shape for w in stored.values()) == sorted(k.shape for k in kernels)
    for kernel in kernels:
        (found,) = [w for w in stored.values() if w.shape == kernel.shape]
        np.testing.assert_array_equal(found, kernel)
    x = np.random.default_rng(0).standard_normal((64, 8, 8, 2)).astype("float32")
    np.testing.assert_allclose(tflite.predict(content, x), materialize(signed_ticket).predict(x, verbose=0), atol=1e-5)


def test_int4_is_refused_where_litert_has_no_int4_kernel(tmp_path):
    model = keras_slt.supermaskify(depthwise_net(), sparsity=0.5, seed=1)
    with pytest.raises(ValueError, match="no int4 weights for DEPTHWISE_CONV_2D") as error:
        quantize.weight_only(tflite.to_tflite(model, sparse=False), 4)
    assert "\n" not in str(error.value)
    x = np.random.default_rng(0).standard_normal((16, 6, 6, 3)).astype("float32")
    with pytest.raises(ValueError, match="DEPTHWISE_CONV_2D"):
        artifacts.export_ticket(model, tmp_path / "out", x, weight_int4=True, latency_budget_s=None)
    assert not (tmp_path / "out").exists()  # nothing half-written
    # int8 weights cover every weighted op.
    assert quantize.float_weighted_ops(quantize.weight_only(tflite.to_tflite(model, sparse=False), 8)) == []


def test_weight_only_int8_keeps_the_answers_of_a_kaiming_uniform_ticket():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1500, 16)).astype("float32")
    y = (x @ rng.standard_normal((16, 4))).argmax(1)
    base = keras.Sequential([keras.Input((16,)), keras.layers.Dense(96, activation="relu"), keras.layers.Dense(4)])
    model = keras_slt.supermaskify(base, sparsity=0.5, seed=1, weight_init="kaiming_uniform")
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:1000], y[:1000], batch_size=64, epochs=4, verbose=0)
    content = quantize.weight_only(tflite.to_tflite(model, sparse=False), 8)
    expected = model.predict(x[1000:], verbose=0)
    found = tflite.predict(content, x[1000:])
    assert np.mean(found.argmax(1) == expected.argmax(1)) >= 0.99
    assert 0 < quantize.weight_error(content, tflite.to_tflite(model, sparse=False)) < 0.01  # rounded, not exact


def test_export_writes_every_mode_and_the_table_shows_it(signed_ticket, tmp_path):
    x = np.random.default_rng(1).standard_normal((128, 8, 8, 2)).astype("float32")
    stages = []
    result = artifacts.export_ticket(
        signed_ticket,
        tmp_path,
        x,
        formats=("tflite",),
        weight_int8=True,
        weight_int4=True,
        latency_budget_s=0.01,
        progress=stages.append,
    )
    assert sorted(os.listdir(tmp_path)) == ["ticket.tflite", "ticket_weight_int4.tflite", "ticket_weight_int8.tflite"]
    assert [s for s in stages if s.startswith("quantizing")] == [
        "quantizing the weights to int8 (ai-edge-quantizer)",
        "quantizing the weights to int4 (ai-edge-quantizer)",
    ]
    # Signed-constant: the weight-only files are checked lossless, kernels and outputs.
    lossless = [c for c in result.checks if "weight_int" in c.subject]
    assert [c.measure.split(" (")[0] for c in lossless] == [
        "top-1 agreement with Keras",
        "max |diff| to Keras",
        "weights: max relative error to the float kernels",
    ] * 2
    assert all(c.passed for c in lossless) and result.agreements["tflite_weight_int4"] == 1.0
    # Bytes saved on the dense float file: 3 per kernel weight in int8, 3.5 in int4, less the
    # scales and DEQUANTIZE ops.
    sizes, count = result.sizes, sum(k.size for k in effective_kernels(signed_ticket))
    assert 0.9 < (sizes["tflite_dense"] - sizes["tflite_weight_int8"]) / (3 * count) < 1
    assert 0.9 < (sizes["tflite_dense"] - sizes["tflite_weight_int4"]) / (3.5 * count) < 1
    table = report.size_table(signed_ticket, sizes, result.latencies, result.agreements, result.diffs)
    lines = table.splitlines()
    assert "x faster than dense" in lines[0] and "top-1 agreement" in lines[0]
    rows = {
        label: line.split()[len(label.split()) :]
        for _, label in report.FILE_ROWS
        for line in lines
        if line.startswith(label + " ")
    }
    assert sorted(rows) == sorted(
        [
            "TFLite float32, dense",
            "TFLite float32, sparse",
            "TFLite int8 weights, float32 act.",
            "TFLite int4 weights, float32 act.",
        ]
    )
    assert rows["TFLite float32, dense"][5] == "1.00"  # the reference of the speed ratio
    assert rows["TFLite int4 weights, float32 act."][6] == "1.0000"  # top-1 agreement


def test_a_failed_quantized_file_is_kept_as_failed_and_names_the_mode_that_keeps_the_answers(tmp_path):
    # A sparse full-int8 conv net whose LiteRT outputs drift (docs/DEPLOY.md, "TFLite").
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    y = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras_slt.supermaskify(
        keras.Model(inputs, outputs), sparsity=0.5, freeze_ratio=0.5, seed=0, weight_init="kaiming_uniform"
    )
    data = np.random.default_rng(0).random((200, 12, 12, 1)).astype("float32")
    stale = tmp_path / "ticket_int8_sparse.tflite"
    stale.write_bytes(b"an older export")
    result = artifacts.export_ticket(
        model, tmp_path, data, formats=("tflite",), int8_sparse=True, calibration=data, latency_budget_s=None
    )
    (check,) = [c for c in result.checks if c.subject.endswith("_int8_sparse.tflite")]
    assert not check.passed and not stale.exists()
    assert result.paths["tflite_int8_sparse"] == f"{stale}.failed" and os.path.isfile(f"{stale}.failed")
    assert re.search(
        f"kept as {re.escape(str(stale))}.failed; weight-only int8 [(]weight_int8[)] keeps the "
        r"answers: agreement (1.0000|0.99\d\d)$",
        str(check),
    ), str(check)
    assert not result.passed and sorted(os.listdir(tmp_path)) == ["ticket.tflite", "ticket_int8_sparse.tflite.failed"]
