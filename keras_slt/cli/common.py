"""What every command-line tool shares: answers at once, one-line errors, no traceback, no log lines.

A tool module defines its absl flags and `main(argv)` and calls `run(main)`.
Nothing here, nor in the flags' definitions, imports Keras or TensorFlow:
`--help`, `--version`, an unknown flag or a bad value answer within a second.
`main` checks what it can first, then imports the modules that need Keras
through `load`, which keeps TensorFlow's start-up lines off the terminal.
"""

import contextlib
import errno
import importlib
import logging
import os
import re
import sys
import textwrap
import unicodedata
import warnings
import zlib

import PIL.Image
from absl import flags
from absl import logging as absl_logging

import keras_slt
from keras_slt.cli import flagfiles, quiet
from keras_slt.experiments import folder_lock
from keras_slt.experiments.strategies import WorkerLostError

FLAGS = flags.FLAGS
# The exit status of a command stopped by Ctrl-C, as shells report it (128 + SIGINT).
INTERRUPTED = 130
# A word of a message: a name, or a path or flag as a whole (a name in them is no mention); a
# possessive ("the dataset's inputs") is no mention either.
_WORD = re.compile(r"(?<![\w./-])[\w./-]+(?![\w./'-])")
# The tool `run` runs: its main function and the groups of its --help.
_tool = {}


def fail(error, status=2):
    """Exits with `error: <error>` on stderr; status 2 is bad input.

    The message is kept on one line: control characters (a newline in a
    path named by the message) are written as escapes, `\\n`.
    """
    print(f"error: {one_line(str(error))}", file=sys.stderr)
    sys.exit(status)


def load(name):
    """Imports module `name` (which loads Keras), TensorFlow's start-up lines silenced.

    The tools import what needs Keras through this, once their flags are checked.
    """
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
        return (
            f"{name} cannot start ({reason}); set KERAS_BACKEND to an installed backend: tensorflow "
            "(pip install -e '.[tensorflow,tools]') or jax"
        )
    return None


def own_flags(module_name):
    """The names of the flags module `module_name` defined, in definition order."""
    if module_name == "__main__":  # absl files a script's flags under its path
        module_name = sys.argv[0]
    return [flag.name for flag in FLAGS.get_flags_for_module(module_name)]


def _program():
    return os.path.basename(sys.argv[0])


def _flag_lines(name):
    flag = FLAGS[name]
    shown = f"--[no]{name}" if isinstance(flag, flags.BooleanFlag) else f"--{name}"
    default = "none" if flag.default is None else flag.default_as_str.strip("'") or "''"
    lines = [f"  {shown} (default: {default})"]
    lines += textwrap.wrap(flag.help, 96, initial_indent="      ", subsequent_indent="      ")
    return lines


def help_text():
    """The tool's --help: its description, then its own flags by group, with defaults."""
    module = sys.modules[_tool["main"].__module__]
    lines = [f"usage: {_program()} [flags]", "", (module.__doc__ or "").strip(), ""]
    for title, names in _tool["groups"]:
        lines += [f"{title}:", *(line for name in names for line in _flag_lines(name)), ""]
    lines += [
        "Flags may also come from a file: --flagfile=PATH (one flag a line).",
        "--version prints the version; --helpfull lists every flag, absl's and TensorFlow's too.",
    ]
    return "\n".join(lines)


def _print_help():
    print(help_text())


def _print_full_help():
    load("keras")  # TensorFlow defines flags of its own when it is imported
    print(f"usage: {_program()} [flags]\n")
    print(FLAGS.get_help())


def _print_version():
    print(f"keras-slt {keras_slt.__version__}")


class _AnswerFlag(flags.BooleanFlag):
    """A flag that answers (prints and exits 0) as soon as it is parsed.

    As absl's own --help: the flags after it and the required flags are not
    checked then.
    """

    def __init__(self, name, help, answer, short_name=None):
        super().__init__(name, False, help, short_name=short_name)
        self._answer = answer

    def parse(self, argument):
        if self._parse(argument):
            self._answer()
            sys.exit(0)


def _define_answers():
    if "version" in FLAGS:
        return
    for name, help, answer, short_name in (
        ("help", "Show the tool's flags.", _print_help, "h"),
        ("helpshort", "Show the tool's flags.", _print_help, None),
        ("helpfull", "Show every flag, absl's and TensorFlow's too.", _print_full_help, None),
        ("version", "Show the version of keras-slt.", _print_version, None),
    ):
        flags.DEFINE_flag(_AnswerFlag(name, help, answer, short_name), flag_values=FLAGS)


def one_line(text):
    """`text` with its control characters written as Python escapes, so that it prints as one line.

    Example:

    >>> print(one_line("runs/a\\nb: not a directory"))
    runs/a\\nb: not a directory
    """
    return "".join(repr(c)[1:-1] if unicodedata.category(c) == "Cc" else c for c in text)


def as_flags(text, names):
    """`text` with the first mention of each argument in `names`, and each `name=`, written as its flag.

    Library messages name a function's arguments; a command line's user
    knows its flags. A mention is the name as a word of its own, not part of
    a path or of a longer name, and not already a flag; later mentions are
    words of the sentence, but a `name=value` is always the argument.

    Args:
        text: a message.
        names: the arguments that are flags; a dict maps an argument to its
            flag where their names differ.

    Example:

    >>> as_flags("batch_size 128 is larger than the 115 training examples", ["batch_size"])
    '--batch_size 128 is larger than the 115 training examples'
    >>> as_flags("formats must be among keras, slt; got h5", {"formats": "format"})
    '--format must be among keras, slt; got h5'
    >>> as_flags("give freeze_ratio or prune_ratio/lock_ratio", ["freeze_ratio", "prune_ratio", "lock_ratio"])
    'give --freeze_ratio or --prune_ratio/--lock_ratio'
    >>> as_flags("output_dir runs/model is in use; use another output_dir", ["output_dir", "model"])
    '--output_dir runs/model is in use; use another output_dir'
    >>> as_flags("data_dir /x holds no beans; pass data_dir=DIR", ["data_dir"])
    '--data_dir /x holds no beans; pass --data_dir=DIR'
    """
    flag_of = names if isinstance(names, dict) else {name: name for name in names}
    named = set()

    def flags_in(match):
        word = match.group()
        parts = word.rstrip(".").split("/")  # "prune_ratio/lock_ratio": two arguments, not a path
        assigned = text[match.end() : match.end() + 1] == "="
        if not all(part in flag_of and (assigned or part not in named) for part in parts):
            return word
        named.update(parts)
        return "/".join(f"--{flag_of[part]}" for part in parts) + word[len(word.rstrip(".")) :]

    return _WORD.sub(flags_in, text)


@contextlib.contextmanager
def arguments_as_flags(names):
    """Within this block, a ValueError's message names the arguments `names` as flags (`as_flags`).

    The tools call the library inside it with their flags' values, so that
    "batch_size 128 is larger than ..." reaches the user as "--batch_size 128 ...".
    """
    try:
        yield
    except ValueError as error:
        if len(error.args) == 1 and isinstance(error.args[0], str):
            error.args = (as_flags(error.args[0], names),)
        raise


def _parse_flags(argv):
    """absl's flag parsing, with a bad flag or flagfile reported in one line."""
    try:
        flagfiles.check(argv[1:])
        return FLAGS(argv)
    except (flags.Error, ValueError) as error:
        fail(error)


def _quiet(main):
    """`main`, printing no TensorFlow/absl log lines unless --verbosity is given."""

    def quiet_main(argv):
        if FLAGS["verbosity"].present:
            return main(argv)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        absl_logging.set_verbosity(absl_logging.ERROR)
        # TensorFlow's notes about itself (the converter's use of the
        # deprecated tf.lite.Interpreter, ...), not about the user's run.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"tensorflow\.")
        # Image sizes are checked against keras-slt's memory budget instead (keras_slt.utils.budget).
        warnings.filterwarnings("ignore", category=PIL.Image.DecompressionBombWarning)
        with quiet.log_lines_dropped():
            return main(argv)

    return quiet_main


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """Shows a Python warning as one line, `warning: <message>`, without its source line."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


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


def run(main, groups=None, arguments=()):
    """Parses the flags, runs `main(argv)` and exits; a failure becomes `error: ...`, no traceback.

    The flags are parsed, and --help or --version answered, before anything
    loads Keras. Library code raises ValueError with a message naming the
    parameter or file and what to do (exit status 2, bad input); users of a
    command line should see that line, not a traceback. Unknown or malformed
    flags are reported the same way. A folder in use by another run, a NaN
    loss, a lost worker of a multi-worker run and the run-time errors of
    `failure_line` (a full disk, out of memory, ...) exit with status 1;
    Ctrl-C with one line (the interrupted run's, saying how to resume) and
    status 130. Python warnings show as one line each. By default the tool
    prints progress, results and errors only: TensorFlow's and absl's log
    lines are dropped (`keras_slt.cli.quiet`); absl's --verbosity (e.g.
    --verbosity=0 for INFO) brings them back.

    Args:
        main: the tool's `main(argv)`; what it returns is the exit status.
        groups: (title, flag names) pairs for --help; by default one group,
            "Flags", of the flags defined in `main`'s module.
        arguments: the library arguments `main` passes its flags to, named
            as flags in the messages of the ValueErrors that end the tool
            (`as_flags`: a list, or a dict from argument to flag).
    """
    _tool.update(main=main, groups=groups or [("Flags", own_flags(main.__module__))])
    _define_answers()
    warnings.showwarning = _warning_line
    try:
        argv = _parse_flags(sys.argv)
        absl_logging.use_absl_handler()
        with arguments_as_flags(arguments):
            status = _quiet(main)(argv)
    except KeyboardInterrupt as interrupt:
        print(str(interrupt) or "interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except BrokenPipeError:  # the reader went away (`--help | head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as error:
        ending = exit_line(error)
        if ending is None:
            raise
        fail(*ending)
    sys.exit(status)


def exit_line(error):
    """`(line, exit status)` a tool ends with on `error` (see `run`), or None for a bug."""
    if isinstance(error, ValueError):
        return str(error), 2
    if isinstance(error, _run_errors()):
        return str(error), 1
    line = failure_line(error)
    return None if line is None else (line, 1)


def _run_errors():
    """The errors that end a run with their own message and status 1."""
    errors = (folder_lock.FolderInUseError, WorkerLostError)
    # Only loaded once Keras is: an error of its kind means it is loaded.
    nonfinite = sys.modules.get("keras_slt.search.callbacks")
    return errors + ((nonfinite.NonFiniteTrainingError,) if nonfinite else ())
