"""Starts a keras-slt command line with TensorFlow's start-up lines silenced.

The console scripts (`keras-slt-search`, ...) and the shells in `tools/` and
`deploy/` call these functions. Why a module outside the `keras_slt` package:
importing anything inside it first imports `keras_slt`, hence Keras and
TensorFlow, whose native start-up lines can only be silenced *before* that
import (see `keras_slt/cli/quiet.py`, which this module loads on its own for
that reason). The tools themselves live in `keras_slt.cli`.
"""

import importlib
import importlib.util
import os
import sys

_QUIET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_slt", "cli", "quiet.py")


def _quiet_module():
    # Loaded from its file: `import keras_slt.cli.quiet` would import
    # keras_slt, and so TensorFlow, first.
    spec = importlib.util.spec_from_file_location("_keras_slt_quiet", _QUIET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _import_quietly(name):
    """Imports module `name` and probes the devices, TensorFlow's start-up lines silenced.

    A Keras backend that cannot start ends the tool with one `error:` line,
    exit status 2.
    """
    quiet = _quiet_module()
    with quiet.silenced():
        problem = _keras_problem()
        if problem is None:
            module = importlib.import_module(name)
            quiet.probe_devices()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    return module


def _keras_problem():
    """Imports Keras; None, or why its backend cannot start.

    Keras imports its backend (KERAS_BACKEND, TensorFlow when unset) with
    itself: an unknown name, a backend that is not installed (torch, or
    TensorFlow in the JAX install) fail there, in a traceback.
    """
    try:
        import keras  # noqa: F401
    except (ImportError, ValueError) as error:
        backend = os.environ.get("KERAS_BACKEND")
        name = f"KERAS_BACKEND={backend}" if backend else "Keras's default backend (KERAS_BACKEND unset: tensorflow)"
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return (f"{name} cannot start ({reason}); set KERAS_BACKEND to an installed backend: tensorflow "
                "(pip install 'keras-slt[tensorflow]') or jax")
    return None


def launch(tool):
    """Imports `keras_slt.cli.<tool>` quietly and runs it."""
    return _import_quietly(f"keras_slt.cli.{tool}").run()


def quiet_start():
    """Imports Keras and its backend with TensorFlow's start-up lines silenced.

    For scripts that import keras_slt themselves (the benchmarks): later
    imports of TensorFlow find it loaded and print nothing.
    """
    _import_quietly("keras")


def main():
    """`python -m keras_slt_launch TOOL [flags]`: runs keras_slt.cli.TOOL."""
    if len(sys.argv) < 2 or sys.argv[1] not in TOOLS:
        print(f"usage: python -m keras_slt_launch {{{','.join(TOOLS)}}} [flags]", file=sys.stderr)
        return 2
    tool = sys.argv.pop(1)
    return launch(tool)


def search():
    return launch("search")


def sweep():
    return launch("sweep")


def plot():
    return launch("plot")


def export():
    return launch("export")


def benchmark_tflite():
    return launch("benchmark_tflite")


TOOLS = ("search", "sweep", "plot", "export", "benchmark_tflite")

if __name__ == "__main__":
    sys.exit(main())
