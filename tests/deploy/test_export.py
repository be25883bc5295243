"""Deployment: materialize, the .slt ticket format, its coder, TFLite, the export CLI."""

import json
import os
import struct
import zlib

import keras
import numpy as np
import pytest
from helpers import one_error_line, run_tool

import keras_slt
from keras_slt.ticket import coding, load_ticket, materialize, save_ticket, slt_file, slt_format
from keras_slt.ticket.size import binary_entropy
from keras_slt.utils import files


def conv_net():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(x)
    x = keras.layers.Reshape((36, 8))(x)
    x = keras.layers.Conv1D(5, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def fc_net(inputs=16, hidden=32, classes=4):
    return keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(classes),
        ]
    )


def randomize_floats(model, seed=0):
    """Gives BatchNorm statistics and biases values that matter."""
    rng = np.random.default_rng(seed)
    for variable in slt_file.stored_variables(model):
        low = 0.5 if "variance" in variable.path else -0.5
        variable.assign(rng.uniform(low, low + 1.0, variable.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def fc_ticket():
    return randomize_floats(keras_slt.supermaskify(fc_net(), sparsity=0.7, freeze_ratio=0.5, seed=3))


@pytest.fixture(scope="module")
def trained_ticket():
    """A ticket searched briefly on a synthetic task, so its logits have margins."""
    keras.utils.set_random_seed(0)  # fit's shuffling
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 16)).astype("float32")
    y = (x @ rng.standard_normal((16, 4))).argmax(1)
    model = keras_slt.supermaskify(fc_net(hidden=128), sparsity=0.5, freeze_ratio=0.5, seed=1)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, epochs=5, verbose=0)
    return model, x


# --- coding -------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 7, 1000, 30011])
@pytest.mark.parametrize("density", [0.0, 0.001, 0.1, 0.5, 0.93, 1.0])
def test_coder_round_trip(size, density):
    bits = (np.random.default_rng(size).random(size) < density).astype(np.uint8)
    data = coding.encode_bits(bits)
    np.testing.assert_array_equal(coding.decode_bits(data, size, int(bits.sum())), bits)
    if bits.sum() in (0, size):
        assert data == b""


@pytest.mark.parametrize("density", [0.01, 0.1, 0.3, 0.5])
def test_coded_size_close_to_entropy(density):
    size = 200_000
    bits = np.random.default_rng(1).random(size) < density
    entropy = size * binary_entropy(bits.mean())
    coded_bits = 8 * len(coding.encode_bits(bits))
    assert entropy <= coded_bits <= entropy * 1.001 + 96


def test_decoder_refuses_wrong_counts():
    data = coding.encode_bits(np.array([0, 1, 0, 0, 1, 0, 0, 0]))
    with pytest.raises(ValueError, match="ones"):
        coding.decode_bits(data, 8, 3)
    with pytest.raises(ValueError, match="no bytes"):
        coding.decode_bits(b"abcd", 8, 0)


# --- materialize ------------------------------------------------------------
@pytest.mark.parametrize("scale,selection", [("none", "global"), ("static", "layerwise"), ("dynamic", "global")])
def test_materialize_matches_the_supermask_model(scale, selection):
    model = randomize_floats(
        keras_slt.supermaskify(
            conv_net(),
            sparsity=0.6,
            freeze_ratio=0.5,
            seed=2,
            scale=scale,
            selection=selection,
            use_bias=True,
        )
    )
    plain = materialize(model)
    kinds = {type(layer).__name__ for layer in plain.layers}
    assert {"Conv2D", "DepthwiseConv2D", "Conv1D", "Dense", "BatchNormalization"} <= kinds
    assert not any(isinstance(layer, keras_slt.SupermaskLayer) for layer in plain.layers)
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_materialize_refuses_other_models():
    with pytest.raises(ValueError, match="SupermaskModel"):
        materialize(fc_net())


# --- the .slt ticket ----------------------------------------------------------


def weights_identical(a, b):
    return all(x.tobytes() == y.tobytes() for x, y in zip(a.get_weights(), b.get_weights()))


def test_ticket_round_trip_is_bit_exact(fc_ticket, tmp_path):
    path = tmp_path / "fc.slt"
    save_ticket(fc_ticket, path)
    plain, loaded = materialize(fc_ticket), load_ticket(path)
    assert len(plain.get_weights()) == len(loaded.get_weights()) and weights_identical(plain, loaded)
    x = np.random.default_rng(0).standard_normal((8, 16)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), plain.predict(x, verbose=0))


def test_ticket_as_supermask_model_gives_the_same_masks(fc_ticket, tmp_path):
    save_ticket(fc_ticket, tmp_path / "fc.slt")
    model = load_ticket(tmp_path / "fc.slt", supermask=True)
    assert isinstance(model, keras_slt.SupermaskModel)
    for found, expected in zip(model.masks(), fc_ticket.masks()):
        np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize("freeze_ratio", [0.0, 1.0])
def test_ticket_with_all_free_or_no_free_weights(freeze_ratio, tmp_path):
    model = keras_slt.supermaskify(fc_net(), sparsity=0.5, freeze_ratio=freeze_ratio, seed=4)
    free = sum(layer.num_free for layer in model.supermask_layers)
    assert free == (0 if freeze_ratio else sum(layer.num_weights for layer in model.supermask_layers))
    save_ticket(model, tmp_path / "t.slt")
    assert weights_identical(materialize(model), load_ticket(tmp_path / "t.slt"))


def test_ticket_size_is_close_to_the_entropy_bound(tmp_path):
    base = keras.Sequential([keras.Input((256,)), keras.layers.Dense(256), keras.layers.Dense(10)])
    model = keras_slt.supermaskify(base, sparsity=0.9, freeze_ratio=0.5, seed=0)
    save_ticket(model, tmp_path / "t.slt")
    entropy_bytes = keras_slt.model_size(model).entropy_bits / 8
    assert os.path.getsize(tmp_path / "t.slt") <= 1.05 * entropy_bytes + 1024


def corrupt(path, edit):
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(edit(data)))


def flip_last_byte(data):
    data[-1] ^= 0x40
    return data


def newer_version(data):
    magic, _, size, crc = struct.unpack_from("<4sIQI", data)
    struct.pack_into("<4sIQI", data, 0, magic, slt_format.FORMAT_VERSION + 1, size, crc)
    return data


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d[:-5], "truncated"),
        (lambda d: d[:10], "truncated"),
        (flip_last_byte, "checksum"),
        (newer_version, "newer"),
        (lambda d: b"PK" + d[2:], "not a keras-slt ticket"),
        (lambda d: d + b"\0", "past its end"),
    ],
)
def test_damaged_tickets_are_refused(fc_ticket, tmp_path, edit, message):
    path = tmp_path / "t.slt"
    save_ticket(fc_ticket, path)
    corrupt(path, edit)
    with pytest.raises(ValueError, match=message) as error:
        load_ticket(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_ticket_from_other_random_streams_is_refused(fc_ticket, tmp_path, monkeypatch):
    save_ticket(fc_ticket, tmp_path / "t.slt")
    monkeypatch.setattr(slt_file, "_fingerprint", lambda layer, freeze: 0)
    with pytest.raises(ValueError, match="regenerates other weights"):
        load_ticket(tmp_path / "t.slt")


def test_ticket_format_header(fc_ticket, tmp_path):
    save_ticket(fc_ticket, tmp_path / "t.slt")
    data = (tmp_path / "t.slt").read_bytes()
    magic, version, size, crc = struct.unpack_from("<4sIQI", data)
    assert (magic, version, size) == (b"KSLT", 1, len(data) - 20) and crc == zlib.crc32(data[20:])
    (config_size,) = struct.unpack_from("<I", data, 20)
    config = json.loads(zlib.decompress(data[24 : 24 + config_size]))
    assert config["class_name"] == "SupermaskModel" and "compile_config" not in config


def test_failed_write_leaves_no_file(fc_ticket, tmp_path, monkeypatch):
    path = tmp_path / "t.slt"
    path.write_bytes(b"previous")

    def fail(fd):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        save_ticket(fc_ticket, path)
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["t.slt"]


# --- TFLite -------------------------------------------------------------------


@pytest.mark.requires_tensorflow
def test_float_tflite_matches_keras_and_is_sparse(fc_ticket):
    from keras_slt.deploy import tflite

    x = np.random.default_rng(0).standard_normal((300, 16)).astype("float32")
    expected = materialize(fc_ticket).predict(x, verbose=0)
    dense, sparse = (tflite.to_tflite(fc_ticket, sparse=s) for s in (False, True))
    for content in (dense, sparse):
        assert np.abs(tflite.predict(content, x) - expected).max() <= 1e-4
    assert len(sparse) < 0.85 * len(dense)


@pytest.mark.requires_tensorflow
def test_int8_tflite_agrees_with_keras(trained_ticket):
    from keras_slt.deploy import tflite

    model, x = trained_ticket
    content = tflite.to_tflite(model, int8=True, representative_data=x[:200])
    agreement = np.mean(tflite.predict(content, x[1000:]).argmax(1) == model.predict(x[1000:], verbose=0).argmax(1))
    # Activations are quantized too: a few near-tied logits may flip.
    assert agreement >= 0.98, agreement
    assert tflite.latency(content, x[0], runs=5, warmup=1) > 0


@pytest.mark.requires_tensorflow
def test_int8_needs_representative_data(fc_ticket):
    from keras_slt.deploy import tflite

    with pytest.raises(ValueError, match="representative_data"):
        tflite.to_tflite(fc_ticket, int8=True)


# --- the export CLI -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.requires_tensorflow
def test_export_cli_writes_and_verifies(tmp_path):
    base = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    # 1x16 blocks: LiteRT's block-sparse kernels run both TFLite files.
    model = keras_slt.supermaskify(base, sparsity=0.9, freeze_ratio=0.5, seed=1, block_size=16)
    model.save(tmp_path / "best.keras")
    (tmp_path / "results.json").write_text(json.dumps({"flags": {"dataset": "fashion_mnist"}}))
    result = run_tool(
        "deploy/export.py", f"--output_dir={tmp_path}", "--max_samples=500", "--int8", "--int8_sparse", "--weight_int8"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in (
        "ticket.keras",
        "ticket.slt",
        "ticket.tflite",
        "ticket_int8.tflite",
        "ticket_int8_sparse.tflite",
        "ticket_weight_int8.tflite",
    ):
        assert (tmp_path / name).is_file()
    assert not (tmp_path / ".lock").exists()  # an export folder holds the files only
    assert "FAILED" not in result.stdout and ".slt file" in result.stdout
    lines = result.stdout.splitlines()
    # A line per stage, before the checks.
    assert lines[:3] == [
        "loading fashion_mnist inputs ...",
        "materializing the ticket ...",
        "converting to TFLite, float32 dense and sparse ...",
    ]
    assert "quantizing the weights to int8 (ai-edge-quantizer) ..." in lines
    assert "tflite: FULLY_CONNECTED: 2 block-sparse 1x4" in lines
    assert "tflite_int8_sparse: FULLY_CONNECTED: 2 block-sparse 1x16" in lines
    assert "tflite_int8: FULLY_CONNECTED: 2 dense" in lines
    assert "tflite_dense: FULLY_CONNECTED: 2 dense" in lines
    header = next(line for line in lines if "bits/weight" in line)
    assert header.split() == [
        "bytes",
        "bits/weight",
        "x",
        "first",
        "ms",
        "runs",
        "x",
        "faster",
        "than",
        "dense",
        "top-1",
        "agreement",
        "max",
        "|diff|",
    ]
    labels = (
        "TFLite float32, dense",
        "TFLite float32, sparse",
        "TFLite int8 weights, float32 act.",
        "TFLite full int8, dense",
        "TFLite full int8, sparse",
    )
    rows = {label: line[len(label) :].split() for label in labels for line in lines if line.startswith(label + " ")}
    assert sorted(rows) == sorted(labels)
    # The dense float32 file is the speed reference; the others are checked against Keras.
    assert rows["TFLite float32, dense"][-1] == "1.00" and len(rows["TFLite float32, dense"]) == 6
    assert all(float(rows[label][5]) > 0 and 0.99 <= float(rows[label][6]) <= 1 for label in labels[1:])


@pytest.mark.slow
@pytest.mark.requires_tensorflow
def test_export_cli_refuses_int4_where_litert_has_none_and_writes_nothing(tmp_path):
    base = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.DepthwiseConv2D(3, strides=3),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    keras_slt.supermaskify(base, sparsity=0.5, seed=1).save(tmp_path / "m.keras")
    result = run_tool(
        "deploy/export.py",
        f"--model_path={tmp_path / 'm.keras'}",
        "--weight_int4",
        "--dataset=fashion_mnist",
        f"--export_dir={tmp_path / 'out'}",
        "--max_samples=8",
        "--num_calibration=8",
    )
    line = one_error_line(result, 2)
    assert line.startswith("error: --weight_int4: LiteRT has no int4 weights for DEPTHWISE_CONV_2D (weights ")
    assert line.endswith("; use int8 weights (--weight_int8)")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_export_cli_refuses_a_bad_flag_in_one_line(tmp_path):
    result = run_tool("deploy/export.py", f"--output_dir={tmp_path}", "--format=keras,zip")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: --format must be among keras, slt, tflite, onnx; got keras, zip"]
