"""The tools answer at once: flags are parsed and checked before Keras is imported."""

import os
import subprocess
import sys
import textwrap
import warnings

import pytest
from helpers import ROOT, run_tool, tiny_config, tool_lines

from keras_slt.cli import common
from keras_slt.experiments import model_source

# tool module -> (its shell in a checkout, a bad value, a run that needs only the flags to fail)
TOOLS = {
    "search": (
        "tools/search.py",
        ["--sparsity=2", "--output_dir=unused"],
        "error: --sparsity must be in [0, 1), got 2.0",
    ),
    "sweep": (
        "tools/sweep.py",
        ["--parallel=0", "--output_dir=unused"],
        "error: --parallel must be a positive integer, got 0",
    ),
    "plot": (
        "tools/plot.py",
        ["--table=some", "--output_dir=unused"],
        "error: flag --table=some: value should be one of <frontier|all|paired>",
    ),
    "export": (
        "deploy/export.py",
        ["--max_samples=0", "--output_dir=unused"],
        "error: --max_samples must be a positive integer, got 0",
    ),
    "benchmark_tflite": (
        "deploy/benchmark_tflite.py",
        ["--runs=0", "--model_path=unused"],
        "error: --runs must be a positive integer, got 0",
    ),
}
HEAVY = ("keras", "tensorflow", "jax", "matplotlib")

# Runs a tool's `run()` on several command lines in one process, then names the heavy modules loaded.
_PROBE = textwrap.dedent("""
    import importlib, json, sys
    tool = importlib.import_module("keras_slt.cli." + sys.argv[1])
    for argv in json.loads(sys.argv[2]):
        sys.argv = [tool.__file__, *argv]
        try:
            tool.run()
        except SystemExit as exit:
            print("exit", exit.code, flush=True)
    print("loaded", *sorted(m for m in {heavy} if m in sys.modules))
""").format(heavy=HEAVY)


@pytest.mark.slow
@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_help_version_and_bad_flags_need_no_keras(tool):
    import json

    _, bad_value, error = TOOLS[tool]
    command_lines = [["--help"], ["--version"], ["--no_such_flag=1"], bad_value]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, tool, json.dumps(command_lines)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if line.startswith(("exit", "loaded"))] == [
        "exit 0",
        "exit 0",
        "exit 2",
        "exit 2",
        "loaded",
    ]
    assert "keras-slt 0.1.0" in lines
    assert tool_lines(done.stderr) == ["error: Unknown command line flag 'no_such_flag'", error]


@pytest.mark.slow
@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_the_shells_run_the_tools(tool):
    done = run_tool(TOOLS[tool][0], "--version", timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "keras-slt 0.1.0\n", "")


def test_console_scripts_run_the_same_tools():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        declared = tomllib.load(f)["project"]["scripts"]
    scripts = {}
    for script, target in declared.items():
        module, _, function = target.partition(":")
        assert script.startswith("keras-slt-") and module.startswith("keras_slt.cli.") and function == "run"
        scripts[script.removeprefix("keras-slt-")] = module.removeprefix("keras_slt.cli.")
    assert scripts == {name.replace("_", "-"): name for name in TOOLS}
    for name, (shell, _, _) in TOOLS.items():
        with open(os.path.join(ROOT, shell), encoding="utf-8") as f:
            assert f"from keras_slt.cli.{name} import run" in f.read()


@pytest.mark.slow
def test_help_lists_the_search_flags_by_group_with_defaults():
    from keras_slt.cli import search_flags
    from keras_slt.experiments import config

    groups = search_flags.help_groups()
    assert [title for title, _ in groups] == [
        "Model",
        "Data",
        "Ticket",
        "Training",
        "Run",
        "Processes (data_parallel on several machines)",
    ]
    fields = [name for _, names in groups for name in names]
    assert sorted(fields) == sorted(config.SearchConfig.__dataclass_fields__)  # each once
    done = run_tool("tools/search.py", "--help", timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    text = done.stdout
    assert text.startswith("usage: search.py [flags]\n\nSearches a strong lottery ticket")
    assert [line[:-1] for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")] == [
        "Example",
        "Model",
        "Data",
        "Ticket",
        "Training",
        "Run",
        "Processes (data_parallel on several machines)",
    ]
    assert "  --sparsity (default: 0.5)\n      Target ticket sparsity s" in text
    assert "  --algo (default: ep)\n      <ep|dense>: ep: ticket search" in text
    assert "  --[no]jit (default: false)\n" in text and "  --output_dir (default: none)\n" in text
    assert "--verbosity" not in text and "--helpfull lists every flag" in text


def test_fixed_choices_are_enum_flags():
    from absl import flags

    from keras_slt.cli import search_flags

    flag_values = flags.FlagValues()
    search_flags.define_flags(flag_values)
    enums = sorted(name for name in flag_values if isinstance(flag_values[name], flags.EnumFlag))
    assert enums == [
        "algo",
        "augment",
        "distribution",
        "optimizer",
        "scale",
        "schedule",
        "schedule_unit",
        "score_init",
        "selection",
        "stem",
        "strategy",
        "weight_init",
    ]
    with pytest.raises(ValueError, match=r"^flag --selection=best: value should be one of <global\|layerwise>$"):
        search_flags.config_of_command(["--selection=best"])


def test_warnings_are_one_line_at_the_command_line(monkeypatch, capsys):
    def main(argv):
        warnings.warn("layer 'norm' (LayerNormalization) kept as an ordinary trained layer", stacklevel=2)

    monkeypatch.setattr(sys, "argv", ["tool"])
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    with pytest.raises(SystemExit) as exit_:
        common.run(main)
    assert exit_.value.code is None
    assert capsys.readouterr().err == "warning: layer 'norm' (LayerNormalization) kept as an ordinary trained layer\n"


def test_unsupported_layer_error_names_the_flag(data_dir, tmp_path):
    import keras

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.LayerNormalization(name="norm")(keras.layers.Dense(16)(keras.layers.Flatten()(inputs)))
    path = tmp_path / "layernorm.keras"
    keras.Model(inputs, keras.layers.Dense(10)(x)).save(path)
    config = tiny_config(data_dir, tmp_path, model=str(path))
    with pytest.raises(ValueError) as error:
        model_source.build(config, (28, 28, 1), 10)
    assert str(error.value) == (
        "layer 'norm' (LayerNormalization) has trainable weights but no supermask "
        "counterpart; pass --keep_unsupported to keep it as an ordinary trained layer"
    )
