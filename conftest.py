"""Collection rules for the library's docstring examples.

README's test command runs them with `pytest --doctest-modules keras_slt`.
Only modules that hold an example are imported: the command-line programs in
keras_slt/cli/ define their absl flags on import in one global registry, so
one process cannot import them all, and they hold no examples. The examples
run under the TensorFlow backend, as README's test command runs them: on
another backend they are skipped, and where TensorFlow is not installed,
modules that need it are not collected.
"""

import importlib
import importlib.util
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_slt")
_TENSORFLOW_MODULES = {"tensorflow", "tensorflow_datasets", "ai_edge_litert"}


def _module_name(path):
    relative = os.path.relpath(path, os.path.dirname(_LIBRARY))[: -len(".py")]
    return relative.replace(os.sep, ".").removesuffix(".__init__")


def _needs_missing_tensorflow(path):
    if importlib.util.find_spec("tensorflow") is not None:
        return False
    try:
        importlib.import_module(_module_name(path))
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] in _TENSORFLOW_MODULES:
            return True
        raise
    return False


def pytest_ignore_collect(collection_path, config):
    path = str(collection_path)
    if not (path.startswith(_LIBRARY + os.sep) and path.endswith(".py")):
        return None
    if ">>>" not in collection_path.read_text(encoding="utf-8"):
        return True
    return True if _needs_missing_tensorflow(path) else None


def pytest_collection_modifyitems(config, items):
    import keras

    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"docstring examples run on TensorFlow ({keras.backend.backend()} backend)")
    for item in items:
        if str(item.path).startswith(_LIBRARY + os.sep):
            item.add_marker(skip)
