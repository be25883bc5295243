"""The suite's own markers: every test that starts a process is marked `slow`.

Read from the test modules' source: a test starts a process when it calls
`run_tool` or `subprocess`, or calls (or takes as a fixture) a function of its
module that does.
"""

import ast
import pathlib

TESTS = pathlib.Path(__file__).resolve().parents[1]
STARTERS = {"run_tool"}  # conftest's: runs a tool in a subprocess
STARTER_MODULES = {"subprocess", "multiprocessing"}


def _calls(function):
    """The names a function calls, and whether it calls a process starter."""
    called, starts = set(), False
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name):
            called.add(node.func.id)
            starts |= node.func.id in STARTERS
        elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            starts |= node.func.value.id in STARTER_MODULES
    return called, starts


def _marked_slow(node):
    return any("slow" in ast.unparse(decorator) for decorator in node.decorator_list)


def unmarked_process_starters(source):
    """The names of the tests in `source` that start a process but are not marked slow."""
    tree = ast.parse(source)
    if any(
        isinstance(node, ast.Assign)
        and "pytestmark" in ast.unparse(node.targets[0])
        and "slow" in ast.unparse(node.value)
        for node in tree.body
    ):
        return []
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    uses, starting = {}, set()
    for name, function in functions.items():
        called, starts = _calls(function)
        uses[name] = called | {arg.arg for arg in function.args.args}  # helpers and fixtures
        if starts:
            starting.add(name)
    grown = True
    while grown:
        new = {name for name, used in uses.items() if used & starting} - starting
        starting |= new
        grown = bool(new)
    return [name for name in sorted(starting) if name.startswith("test_") and not _marked_slow(functions[name])]


def test_every_test_that_starts_a_process_is_marked_slow():
    unmarked = {
        path.name: names
        for path in sorted(TESTS.rglob("test_*.py"))
        if (names := unmarked_process_starters(path.read_text(encoding="utf-8")))
    }
    assert unmarked == {}


def test_the_check_finds_direct_helper_and_fixture_starts():
    source = """
import subprocess, pytest

def helper():
    return subprocess.run(["true"])

@pytest.fixture
def started():
    return helper()

def test_direct():
    run_tool("tools/search.py")

def test_through_helper():
    helper()

def test_through_fixture(started):
    pass

@pytest.mark.slow
def test_marked():
    subprocess.Popen(["true"])

def test_names_a_starter_without_calling_it():
    assert callable(subprocess.call)
"""
    assert unmarked_process_starters(source) == ["test_direct", "test_through_fixture", "test_through_helper"]
    assert unmarked_process_starters("import pytest\npytestmark = pytest.mark.slow\n" + source) == []
