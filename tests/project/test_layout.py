"""The package's layout: modules small enough to read.

Which package may import which is the import-linter contract in
pyproject.toml, checked by `lint-imports` in README's test command.
"""

import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "keras_slt"
# Formatted lines (ruff format), docstrings included.
MAX_LINES = 500


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_is_longer_than_the_limit():
    long = {
        module_name(path): n for path in PACKAGE.rglob("*.py") if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
