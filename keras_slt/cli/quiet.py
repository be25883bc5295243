"""Keeps TensorFlow's native start-up lines off a command line's terminal.

Importing TensorFlow prints lines from C++ (absl's pre-initialization
notice, oneDNN notes, and the CUDA probe that fails on machines without a
GPU) straight to file descriptor 2, where no Python logging setting reaches
them. They bury the one-line errors of the command-line tools, so the tools'
launcher (`keras_slt_launch`) imports keras_slt, and lets TensorFlow probe
its devices, with descriptor 2 pointed at /dev/null. Python exceptions still
surface: the descriptor is restored before they propagate. Set
KERAS_SLT_NATIVE_LOGS=1 to see the lines. Importing keras_slt as a library
does none of this.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def silenced():
    """Within this block, writes to file descriptor 2 are discarded."""
    if os.environ.get("KERAS_SLT_NATIVE_LOGS") or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def probe_devices():
    """Makes TensorFlow look for its devices now (it logs when none is found).

    Listing physical devices leaves logical devices configurable.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.list_physical_devices()
