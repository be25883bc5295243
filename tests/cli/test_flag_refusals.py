"""Settings given for a run they do not apply to are refused in one line, before any data is read."""

import time

import keras
import pytest
from helpers import one_error_line, run_tool, tiny_config

from keras_slt.experiments import config, runner

BASE = dict(output_dir="unused")

# One case per rule of `config.APPLIES_ONLY_TO`: settings where the rule's
# setting does not apply, and the same setting where it does.
CASES = {
    "image_size": (
        dict(model="fc", dataset="fashion_mnist", image_size="32,32"),
        dict(model="conv4", dataset="tfds:beans", image_size="32,32"),
    ),
    "image_formats": (
        dict(model="fc", dataset="tfds:beans", image_formats="png,bmp"),
        dict(model="fc", dataset="image_folder", data_dir=".", image_formats="png,bmp"),
    ),
    "augment": (
        dict(model="gin", dataset="cora", augment="none"),
        dict(model="fc", dataset="fashion_mnist", augment="none"),
    ),
    "batch_size": (
        dict(model="gin", dataset="cora", batch_size=64),
        dict(model="fc", dataset="fashion_mnist", batch_size=64),
    ),
    "width": (dict(model="conv6", width=64), dict(model="fc", width=64)),
    "width_factor": (
        dict(model="fc", dataset="fashion_mnist", width_factor=0.5),
        dict(model="conv6", width_factor=0.5),
    ),
    "stem": (dict(model="resnet50", stem="cifar"), dict(model="resnet18", stem="cifar")),
    "keep_unsupported": (
        dict(model="conv6", keep_unsupported=True),
        dict(model="keras.applications.MobileNetV2", keep_unsupported=True),
    ),
    "momentum": (dict(model="fc", optimizer="adam", momentum=0.5), dict(model="fc", optimizer="sgd", momentum=0.5)),
    "strategy": (
        dict(model="gin", dataset="cora", strategy="data_parallel"),
        dict(model="fc", dataset="fashion_mnist", strategy="data_parallel"),
    ),
    **{
        name: (dict(model="fc", **{name: value}), dict(model="fc", strategy="data_parallel", **{name: value}))
        for name, value in (
            ("coordinator_address", "localhost:1234"),
            ("num_processes", 1),
            ("process_id", 0),
            ("coordinator_timeout", 10),
        )
    },
}


def test_every_rule_has_a_case():
    assert sorted(CASES) == sorted(name for name, *_ in config.APPLIES_ONLY_TO)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_setting_given_where_it_does_not_apply_is_refused(name):
    refused, accepted = CASES[name]
    with pytest.raises(config.ConfigError) as error:
        config.SearchConfig(**BASE, **refused).validate()
    message = str(error.value)
    assert message.startswith(f"{name}={refused[name]} does not apply to ") and message.endswith("; leave it out")
    assert "\n" not in message
    config.SearchConfig(**BASE, **accepted).validate()


def test_the_message_names_the_part_of_the_run_and_where_the_setting_applies():
    with pytest.raises(config.ConfigError) as error:
        config.SearchConfig(**BASE, model="fc", dataset="fashion_mnist", image_size="32,32").validate()
    assert str(error.value) == (
        "image_size=32,32 does not apply to dataset fashion_mnist: it applies to tfds:NAME and "
        "image_folder datasets (the others have a fixed image size); leave it out"
    )
    with pytest.raises(
        config.ConfigError,
        match="^width_factor=0.5 does not apply to model "
        "keras.applications.ResNet50V2: it applies to the models conv2, .* and "
        r"keras.applications with alpha \(MobileNets\)",
    ):
        config.SearchConfig(**BASE, model="keras.applications.ResNet50V2", width_factor=0.5).validate()


def test_a_default_value_counts_only_when_given():
    graph = config.SearchConfig(**BASE, model="gin", dataset="cora")  # batch_size and augment at their defaults
    assert graph.validate() == (0.0, 0.0)
    for name in ("batch_size", "augment"):
        with pytest.raises(config.ConfigError, match=f"^{name}=.* does not apply to dataset cora"):
            graph.validate(given=[name])
    adam = config.SearchConfig(**BASE, model="fc", optimizer="adam")
    adam.validate()
    with pytest.raises(config.ConfigError, match="^momentum=0.9 does not apply to optimizer adam"):
        adam.validate(given=["momentum"])


def test_supermask_settings_pass_with_dense_weights():
    # A sweep's weight-trained baseline shares its tickets' flagfile.
    shared = dict(
        sparsity=0.7,
        prune_ratio=0.0,
        lock_ratio=0.0,
        distribution="erk",
        selection="global",
        weight_init="kaiming_uniform",
        score_init="kaiming_normal",
        scale="none",
        block_size=4,
    )
    assert config.SearchConfig(**BASE, algo="dense", **shared).validate(given=shared) == (0.0, 0.0)


def test_validation_reads_no_data():
    start = time.monotonic()
    for name in CASES:
        with pytest.raises(config.ConfigError):
            # No data_dir: loading cora or Fashion-MNIST would download or read files.
            config.SearchConfig(**BASE, **CASES[name][0]).validate()
    assert time.monotonic() - start < 1.0


def test_block_size_is_refused_for_a_model_without_dense_layers(data_dir, tmp_path):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(10, 28, use_bias=False)(inputs)
    model = keras.Model(inputs, keras.layers.Flatten()(x))
    model.save(tmp_path / "conv_only.keras")
    with pytest.raises(runner.ConfigError) as error:
        runner.run_search(
            tiny_config(data_dir, tmp_path / "out", model=str(tmp_path / "conv_only.keras"), width=None, block_size=4)
        )
    assert str(error.value).startswith(f"model {tmp_path / 'conv_only.keras'}: block_size=4 blocks Dense masks")


@pytest.mark.slow
def test_cli_refuses_a_flag_given_at_its_default_before_reading_data(tmp_path):
    # cora without data_dir would be downloaded: the refusal comes first.
    result = run_tool(
        "tools/search.py",
        "--model=gin",
        "--dataset=cora",
        "--batch_size=128",
        f"--output_dir={tmp_path / 'out'}",
        timeout=120,
    )
    assert one_error_line(result, 2) == (
        "error: --batch_size=128 does not apply to --dataset cora: it applies to image datasets "
        "(graphs train full batch); leave it out"
    )
    assert not (tmp_path / "out").exists()
