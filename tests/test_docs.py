"""README's promises: .ci/run runs exactly the test command README prints."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.agnostic


def readme_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    return [line.strip() for line in lines[:12] if line.startswith("    ")]


def test_readme_starts_with_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "tools/search.py --flagfile=configs/" in commands[0]
    assert "pytest" in commands[1]


def test_readme_test_command_runs_the_docstring_examples():
    assert ".venv/bin/python -m pytest -q --doctest-modules keras_slt &&" in readme_commands()[1]


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert readme_commands()[1] in ci_lines


def test_default_flagfile_exists():
    flagfile = readme_commands()[0].split("--flagfile=")[1].split()[0]
    assert (ROOT / flagfile).is_file()
