"""A user's own Keras model through the search and the export: --model=PATH.keras|keras.applications.NAME."""

import json
import re
import types
import warnings

import keras
import numpy as np
import pytest
from helpers import run_tool

import keras_slt
from keras_slt.deploy import artifacts
from keras_slt.experiments import model_source, runner
from keras_slt.ticket import materialize

# TensorFlow / absl / LiteRT log lines, as a quiet command line must not print them.
LOG_LINE = re.compile(r"^([IWE]\d{4} |.*I0000 |(INFO|WARNING):(tensorflow|absl):|INFO: Created TensorFlow Lite)")


def user_model(input_shape=(28, 28, 1), classes=10):
    """A functional model with a residual add, BatchNorm, Conv2D, DepthwiseConv2D and Dense."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU()(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="logits")(x), name="user_net")


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "user.keras"
    model = user_model()
    for variable in model.trainable_variables:  # trained weights the search must not use
        variable.assign(np.full(variable.shape, 0.125, "float32"))
    model.save(path)
    return str(path)


def log_lines(text):
    return [line for line in text.splitlines() if LOG_LINE.match(line)]


@pytest.mark.slow
@pytest.mark.requires_tensorflow
def test_saved_model_searches_and_exports_quietly(data_dir, user_file, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    # No TF_CPP_MIN_LOG_LEVEL: the tools themselves must keep TensorFlow quiet.
    env = {"TF_CPP_MIN_LOG_LEVEL": None}
    result = run_tool(
        "tools/search.py",
        f"--model={user_file}",
        "--dataset=fashion_mnist",
        f"--data_dir={data_dir}",
        "--epochs=1",
        "--batch_size=32",
        "--freeze_ratio=0.5",
        f"--output_dir={out}",
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = result.stdout.strip().splitlines()[-5]  # then the four files written
    assert summary.startswith(f"{user_file} on fashion_mnist, ep (sparsity s=0.5")
    assert not log_lines(result.stderr + result.stdout), log_lines(result.stderr + result.stdout)
    results = json.loads((out / "results.json").read_text())
    assert set(results["layer_sparsity"]) == {"conv_a", "depthwise", "conv_b", "logits"}

    result = run_tool(
        "deploy/export.py",
        f"--output_dir={out}",
        "--int8",
        "--max_samples=100",
        "--num_calibration=50",
        "--latency_budget_s=0.05",
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert not log_lines(result.stderr + result.stdout), log_lines(result.stderr + result.stdout)
    checks = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(checks) == 6 and all(line.startswith("[ok]") for line in checks), checks
    assert any("ticket.tflite: max |diff| to Keras" in line for line in checks)
    for label in ("TFLite float32, dense", "TFLite float32, sparse", "TFLite full int8, dense"):
        (row,) = [line for line in result.stdout.splitlines() if line.startswith(label)]
        # After the label: bytes, bits/weight, x first, ms, runs, ...
        milliseconds, runs = row[len(label) :].split()[3:5]
        assert float(milliseconds) > 0 and int(runs) >= 20, row
    assert "TFLite full int8, sparse" not in result.stdout  # only with --int8_sparse
    for name in ("ticket.slt", "ticket.tflite", "ticket_int8.tflite"):
        assert (out / name).is_file()

    # --verbosity brings TensorFlow's log lines back.
    result = run_tool(
        "deploy/export.py",
        f"--output_dir={out}",
        "--format=tflite",
        "--max_samples=10",
        "--latency_budget_s=0.01",
        "--export_dir",
        str(tmp_path / "verbose"),
        "--verbosity=0",
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert log_lines(result.stderr)


def tiny_config(data_dir, tmp_path, **overrides):  # noqa: F811
    settings = dict(
        dataset="fashion_mnist", data_dir=data_dir, epochs=1, batch_size=32, output_dir=str(tmp_path / "out")
    )
    settings.update(overrides)
    return runner.SearchConfig(**settings)


@pytest.mark.slow
def test_keras_application_builds_and_steps(data_dir, tmp_path):  # noqa: F811
    config = tiny_config(data_dir, tmp_path, model="keras.applications.MobileNetV2", width_factor=0.35)
    config.validate()
    keras.utils.set_random_seed(config.seed)
    model = runner._compiled_model(config, types.SimpleNamespace(input_shape=(28, 28, 1), num_classes=10), 1)
    assert isinstance(model, keras_slt.SupermaskModel) and len(model.supermask_layers) == 53
    # 28x28 Fashion-MNIST is below MobileNetV2's 32x32 minimum: resized inside the model.
    assert model.network.get_layer("resize_to_minimum").output.shape == (None, 32, 32, 1)
    assert model.network.inputs[0].shape == (None, 28, 28, 1)
    assert model.network.outputs[0].shape == (None, 10)
    before = [keras.ops.convert_to_numpy(layer.scores) for layer in model.supermask_layers]
    x = np.random.default_rng(0).standard_normal((4, 28, 28, 1)).astype("float32")
    loss = model.train_on_batch(x, np.arange(4), return_dict=True)["loss"]
    assert np.isfinite(loss)
    after = [keras.ops.convert_to_numpy(layer.scores) for layer in model.supermask_layers]
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))  # every layer's mask is searched


def test_imported_weights_are_fresh_and_seeded(data_dir, user_file, tmp_path):  # noqa: F811
    def dense_weights(seed):
        keras.utils.set_random_seed(seed)
        config = tiny_config(data_dir, tmp_path, model=user_file, algo="dense", seed=seed)
        return model_source.build(config, (28, 28, 1), 10).get_weights()

    first, again, other = dense_weights(3), dense_weights(3), dense_weights(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    # The file's weights (all 0.125) are not used.
    kernels = [w for w in first if w.ndim > 1]
    assert kernels and not any(np.all(w == 0.125) for w in kernels)


def test_softmax_output_is_trained_as_probabilities(data_dir, tmp_path):  # noqa: F811
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    path = tmp_path / "softmax.keras"
    model.save(path)
    assert model_source.ends_in_softmax(model)
    assert not model_source.ends_in_softmax(user_model())
    config = tiny_config(data_dir, tmp_path, model=str(path))
    compiled = runner._compiled_model(config, types.SimpleNamespace(input_shape=(28, 28, 1), num_classes=10), 1)
    assert model_source.ends_in_softmax(compiled) and compiled.loss.from_logits is False


def test_unsupported_layer_is_named_or_kept(data_dir, tmp_path):  # noqa: F811
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.LayerNormalization(name="norm")(keras.layers.Dense(16)(x))
    path = tmp_path / "layernorm.keras"
    keras.Model(inputs, keras.layers.Dense(10)(x)).save(path)
    with pytest.raises(runner.ConfigError, match=r"layer 'norm' \(LayerNormalization\) has trainable weights"):
        runner.run_search(tiny_config(data_dir, tmp_path, model=str(path)))
    config = tiny_config(data_dir, tmp_path, model=str(path), keep_unsupported=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = model_source.build(config, (28, 28, 1), 10)
    assert any("'norm'" in str(w.message) and "kept" in str(w.message) for w in caught)
    assert len(model.supermask_layers) == 2


def saved(tmp_path, model, name):
    path = tmp_path / name
    model.save(path)
    return str(path)


def two_outputs():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, [keras.layers.Dense(10)(x), keras.layers.Dense(2)(x)])


@pytest.mark.parametrize(
    "model, message",
    [
        (lambda tmp: str(tmp / "missing.keras"), "model file .*missing.keras does not exist"),
        (lambda tmp: "net.h5", "model must be one of fc, .*, a PATH.keras model file or keras.applications.NAME"),
        (lambda tmp: "keras.applications.NoSuchNet", "model keras.applications.NoSuchNet is not a keras.applications"),
        (
            lambda tmp: saved(tmp, user_model((32, 32, 3)), "rgb.keras"),
            r"takes inputs of shape \(32, 32, 3\) but the dataset's images are \(28, 28, 1\)",
        ),
        (
            lambda tmp: saved(tmp, user_model(classes=5), "five.keras"),
            r"outputs shape \(5,\) but the dataset has 10 classes",
        ),
        (lambda tmp: saved(tmp, two_outputs(), "two.keras"), "has 2 outputs; a search trains one"),
        (
            lambda tmp: (tmp / "bad.keras").write_bytes(b"not a zip") and str(tmp / "bad.keras"),
            "model file .*bad.keras cannot be loaded",
        ),
    ],
)
def test_bad_models_are_one_line_config_errors(data_dir, tmp_path, model, message):  # noqa: F811
    with pytest.raises(runner.ConfigError) as error:
        runner.run_search(tiny_config(data_dir, tmp_path, model=model(tmp_path)))
    assert re.search(message, str(error.value)) and "\n" not in str(error.value), str(error.value)


def test_width_options_apply_only_where_they_mean_something(data_dir, user_file, tmp_path):  # noqa: F811
    for overrides, message in (
        (dict(model=user_file, width=8), "width=8 does not apply to model .*user.keras"),
        (dict(model=user_file, width_factor=0.5), "width_factor=0.5 does not apply to model .*user.keras"),
        (
            dict(model="keras.applications.ResNet50V2", width_factor=0.5),
            "width_factor=0.5 does not apply to model keras.applications.ResNet50V2",
        ),
    ):
        with pytest.raises(runner.ConfigError, match=message):
            runner.run_search(tiny_config(data_dir, tmp_path, **overrides))


# --- export of imported and multi-input / multi-output models ------------------


def two_in_two_out():
    image, extra = keras.Input((6, 6, 2), name="image"), keras.Input((3,), name="extra")
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.Concatenate()([keras.layers.Flatten()(x), extra])
    x = keras.layers.Dense(16, activation="relu")(x)
    return keras.Model([image, extra], [keras.layers.Dense(5, name="big")(x), keras.layers.Dense(2, name="small")(x)])


@pytest.mark.requires_tensorflow
def test_multi_input_multi_output_export_keeps_the_order(tmp_path):
    from keras_slt.deploy import tflite

    model = keras_slt.supermaskify(two_in_two_out(), sparsity=0.5, seed=2)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((64, 6, 6, 2), dtype="float32"), rng.standard_normal((64, 3), dtype="float32")]
    expected = materialize(model).predict(inputs, verbose=0)
    found = tflite.predict(tflite.to_tflite(model), inputs, batch_size=16)
    assert [f.shape for f in found] == [(64, 5), (64, 2)]
    for f, e in zip(found, expected):
        assert np.abs(f - e).max() <= 1e-4
    result = artifacts.export_ticket(model, tmp_path, inputs, int8=True, calibration=inputs, latency_budget_s=0.01)
    assert set(result.latencies) == {"tflite", "tflite_dense", "tflite_int8"}
    assert all(latency.seconds > 0 and latency.runs >= 20 for latency in result.latencies.values())
    assert all(check.passed for check in result.checks if "int8" not in check.subject)


def ops_of(content):
    from keras_slt.deploy import tflite

    runner, _, _ = tflite.interpreter(content)
    return {op["op_name"] for op in runner._get_ops_details()}


@pytest.mark.requires_tensorflow
def test_int8_default_is_densely_stored(tmp_path):
    base = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(4)])
    model = keras_slt.supermaskify(base, sparsity=0.8, seed=1)
    x = np.random.default_rng(0).standard_normal((50, 16)).astype("float32")
    result = artifacts.export_ticket(
        model, tmp_path, x, formats=("tflite",), int8=True, int8_sparse=True, calibration=x, latency_budget_s=0.01
    )
    contents = {key: open(result.paths[key], "rb").read() for key in ("tflite", "tflite_int8", "tflite_int8_sparse")}
    assert "DENSIFY" in ops_of(contents["tflite"]) and "DENSIFY" in ops_of(contents["tflite_int8_sparse"])
    assert "DENSIFY" not in ops_of(contents["tflite_int8"])
    assert result.paths["tflite_int8"].endswith("ticket_int8.tflite")
    assert set(result.latencies) == {"tflite", "tflite_dense", "tflite_int8", "tflite_int8_sparse"}
