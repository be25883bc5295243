"""Keeps TensorFlow's log lines off a command line's terminal.

Importing TensorFlow prints lines from C++ (absl's pre-initialization
notice, oneDNN notes, and the CUDA probe that fails on machines without a
GPU) straight to file descriptor 2, where no Python logging setting reaches
them. They bury the one-line errors of the command-line tools, so the tools
import what needs Keras (`keras_slt.cli.common.load`), and let TensorFlow
probe its devices, with descriptor 2 pointed at /dev/null. Python exceptions still
surface: the descriptor is restored before they propagate. Set
KERAS_SLT_NATIVE_LOGS=1, or pass --verbosity, to see the lines.

Later, while a tool runs, TensorFlow, XLA, the TFLite converter and LiteRT
keep logging (XLA service start-up, SavedModel assets, `functional_saver`
sharding, the XNNPACK delegate...), partly from C++ and partly through
Python's logging. `log_lines_dropped` filters those lines out of descriptor
2, whoever writes them; every other line (progress, results, errors,
Python warnings and tracebacks) passes. `keras_slt.cli.common.run` applies
it unless absl's --verbosity is given. Importing keras_slt as a library
does none of this.
"""

import contextlib
import os
import re
import sys
import threading

# Log lines by their look: absl/glog ("I0000 00:00:...", "W1125 16:41:51..."),
# Python logging's default format for TensorFlow and absl, LiteRT's
# "INFO: Created TensorFlow Lite XNNPACK delegate", the converter's summary.
LOG_LINE = re.compile(
    r"([IWD]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl::InitializeLog"
    r"|(INFO|WARNING):(tensorflow|absl):|INFO: |fully_quantize: )"
)
# How long to wait for the last filtered output once the block ends.
_DRAIN_TIMEOUT_S = 5.0


def verbosity_requested(argv):
    """Whether a command line asks for absl's --verbosity (or -v)."""
    return any(arg.split("=")[0] in ("--verbosity", "-v") for arg in argv[1:])


@contextlib.contextmanager
def silenced():
    """Within this block, writes to file descriptor 2 are discarded."""
    if os.environ.get("KERAS_SLT_NATIVE_LOGS") or "tensorflow" in sys.modules or verbosity_requested(sys.argv):
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


@contextlib.contextmanager
def log_lines_dropped(pattern=LOG_LINE):
    """Within this block, lines written to descriptor 2 that match `pattern` are dropped.

    Descriptor 2 feeds a pipe; a thread copies the lines that do not match
    to the original stderr as they arrive.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=_copy_unmatched, args=(read_end, saved, pattern), daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread reads to its end
        thread.join(_DRAIN_TIMEOUT_S)
        os.close(saved)


def _copy_unmatched(read_end, out, pattern):
    with os.fdopen(read_end, "rb") as pipe:
        for line in pipe:
            if not pattern.match(line.decode("utf-8", "replace")):
                os.write(out, line)
