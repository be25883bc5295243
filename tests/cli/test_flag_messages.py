"""Command-line messages name flags (`--batch_size`); the library's name its arguments (`batch_size`)."""

import numpy as np
import pytest
from helpers import one_error_line, run_tool, tiny_config
from PIL import Image

from keras_slt.cli import common, search_flags
from keras_slt.experiments import runner, sources
from keras_slt.freezing import pattern


def image_folder(root, images_per_class):
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(images_per_class):
            Image.fromarray(np.full((8, 8, 3), 20 * i + (100 if label == "dog" else 0), np.uint8)).save(
                root / label / f"{i}.png"
            )
    return str(root)


def test_a_batch_larger_than_the_data_names_the_argument_then_the_flag(tmp_path):
    config = tiny_config(image_folder(tmp_path / "images", 8), tmp_path / "out", dataset="image_folder", batch_size=64)
    with pytest.raises(runner.ConfigError) as library:
        runner.run_search(config, verbose=0)
    # 16 images: the test split's and validation's shares (20% each) leave 9 for training.
    assert str(library.value) == "batch_size 64 is larger than the 9 training examples"
    with pytest.raises(runner.ConfigError) as command_line:
        with common.arguments_as_flags(search_flags.SETTINGS):
            runner.run_search(config, verbose=0)
    assert str(command_line.value) == "--batch_size 64 is larger than the 9 training examples"
    assert not (tmp_path / "out").exists()  # a refused run leaves no folder (nor a lone .lock) behind


@pytest.mark.parametrize(
    "raise_it, library, command_line",
    [
        (
            lambda: pattern.resolve_ratios(0.2, None, 0.3, None),
            "sparsity must be in [prune_ratio, 1 - lock_ratio] = [0.3, 1], got 0.2",
            "--sparsity must be in [--prune_ratio, 1 - --lock_ratio] = [0.3, 1], got 0.2",
        ),
        (
            lambda: pattern.resolve_ratios(0.5, 0.5, 0.1, None),
            "give either freeze_ratio or prune_ratio/lock_ratio, not both",
            "give either --freeze_ratio or --prune_ratio/--lock_ratio, not both",
        ),
        (
            lambda: runner.SearchConfig(model="fc", dataset="fashion_mnist", image_size="32,32").check_applies(),
            "image_size=32,32 does not apply to dataset fashion_mnist: it applies to tfds:NAME and "
            "image_folder datasets (the others have a fixed image size); leave it out",
            "--image_size=32,32 does not apply to --dataset fashion_mnist: it applies to tfds:NAME and "
            "image_folder datasets (the others have a fixed image size); leave it out",
        ),
        (
            lambda: sources.check_dataset_options(None, data_dir="runs/dataset"),
            "data_dir needs dataset: it applies to the dataset's inputs",
            "--data_dir needs --dataset: it applies to the dataset's inputs",
        ),
    ],
)
def test_library_messages_become_flag_messages(raise_it, library, command_line):
    with pytest.raises(ValueError) as error:
        raise_it()
    assert str(error.value) == library
    with pytest.raises(ValueError) as error:
        with common.arguments_as_flags([*search_flags.SETTINGS]):
            raise_it()
    assert str(error.value) == command_line


def test_paths_and_longer_names_are_no_mentions():
    settings = search_flags.SETTINGS
    assert common.as_flags("output_dir runs/model/seed: cannot write there", settings) == (
        "--output_dir runs/model/seed: cannot write there"
    )
    assert common.as_flags("no best.keras in runs/x; run the search again", settings) == (
        "no best.keras in runs/x; run the search again"
    )
    # Only the first mention: the others are words of the sentence.
    assert common.as_flags("model gin does not fit dataset cifar10: graph models need a graph dataset", settings) == (
        "--model gin does not fit --dataset cifar10: graph models need a graph dataset"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, flags, message",
    [
        ("deploy/export.py", ["--model_path=unused.keras", "--format=h5"], "error: --format must be among"),
        (
            "deploy/benchmark_tflite.py",
            ["--model_path=unused.keras", "--image_size=32,32"],
            "error: --image_size needs --dataset: it applies to the dataset's inputs",
        ),
    ],
)
def test_the_deploy_tools_name_their_flags(script, flags, message):
    assert one_error_line(run_tool(script, *flags, timeout=300), 2).startswith(message)


@pytest.mark.slow
def test_the_search_tool_names_the_batch_size_flag(tmp_path):
    result = run_tool(
        "tools/search.py",
        "--model=fc",
        "--width=8",
        "--dataset=image_folder",
        f"--data_dir={image_folder(tmp_path / 'images', 8)}",
        "--batch_size=64",
        f"--output_dir={tmp_path / 'out'}",
        timeout=300,
    )
    assert one_error_line(result, 2) == "error: --batch_size 64 is larger than the 9 training examples"
    assert not (tmp_path / "out").exists()
