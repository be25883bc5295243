"""What every command-line tool shares: one-line errors, no traceback, no log lines."""

import errno
import logging
import sys
import warnings
import zlib

from absl import app, flags
from absl import logging as absl_logging

from keras_slt import folder_lock, nonfinite
from keras_slt.cli import quiet
from keras_slt.experiments.distribution import WorkerLostError


def fail(error, status=2):
    """Exits with `error: <error>` on stderr; status 2 is bad input."""
    print(f"error: {error}", file=sys.stderr)
    sys.exit(status)


def _parse_flags(argv):
    """absl's flag parsing, with a bad flag reported in one line."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        fail(error)


def _quiet(main):
    """`main`, printing no TensorFlow/absl log lines unless --verbosity is given."""

    def quiet_main(argv):
        if flags.FLAGS["verbosity"].present:
            return main(argv)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        absl_logging.set_verbosity(absl_logging.ERROR)
        # TensorFlow's notes about itself (the converter's use of the
        # deprecated tf.lite.Interpreter, ...), not about the user's run.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"tensorflow\.")
        with quiet.log_lines_dropped():
            return main(argv)

    return quiet_main


def failure_line(error):
    """One line for an error of a family the tools meet at run time, or None.

    OSError names its file (a full disk, a folder that is a file or is
    read-only); TensorFlow's OpError, MemoryError, KeyError, TypeError and
    zlib's error say what failed. Anything else is a bug: None.

    Example:

    >>> failure_line(OSError(28, "No space left on device", "runs/a/ckpt-1.weights.h5"))
    'runs/a/ckpt-1.weights.h5: no space left on device'
    """
    if isinstance(error, OSError):
        reason = "no space left on device" if error.errno == errno.ENOSPC else error.strerror
        if error.filename is not None and reason:
            return f"{error.filename}: {reason}"
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        return "out of memory; lower --batch_size or use a smaller model"
    is_op_error = type(error).__module__.startswith("tensorflow") and hasattr(error, "message")
    if not (is_op_error or isinstance(error, (OSError, KeyError, TypeError, zlib.error))):
        return None
    text = str(getattr(error, "message", error)).strip()
    text = text.splitlines()[0] if text else "no details"
    if isinstance(error, zlib.error):
        return f"damaged compressed data ({text})"
    return f"{type(error).__name__}: {text}"


def run(main):
    """Runs an absl `main`; a failure becomes `error: ...` on stderr, no traceback.

    Library code raises ValueError with a message naming the parameter or
    file and what to do (exit status 2, bad input); users of a command line
    should see that line, not a traceback. Unknown or malformed flags are
    reported the same way. A folder in use by another run, a NaN loss, a
    lost worker of a multi-worker run and the run-time errors of
    `failure_line` (a full disk, out of memory, ...) exit with status 1. By
    default the tool prints progress, results and errors only: TensorFlow's
    and absl's log lines are dropped (`keras_slt.cli.quiet`); absl's
    --verbosity (e.g. --verbosity=0 for INFO) brings them back.
    """
    try:
        app.run(_quiet(main), flags_parser=_parse_flags)
    except Exception as error:
        ending = exit_line(error)
        if ending is None:
            raise
        fail(*ending)


def exit_line(error):
    """`(line, exit status)` a tool ends with on `error` (see `run`), or None for a bug."""
    if isinstance(error, ValueError):
        return str(error), 2
    if isinstance(error, (folder_lock.FolderInUseError, nonfinite.NonFiniteTrainingError, WorkerLostError)):
        return str(error), 1
    line = failure_line(error)
    return None if line is None else (line, 1)
