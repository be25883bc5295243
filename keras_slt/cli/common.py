"""What every command-line tool shares: one-line errors, no traceback, no log lines."""

import logging
import sys
import warnings

from absl import app, flags
from absl import logging as absl_logging

from keras_slt.cli import quiet


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


def run(main):
    """Runs an absl `main`; a ValueError becomes `error: ...` and exit status 2.

    Library code raises ValueError with a message naming the parameter and
    its valid range; users of a command line should see that line, not a
    traceback. Unknown or malformed flags are reported the same way. By
    default the tool prints progress, results and errors only: TensorFlow's
    and absl's log lines are dropped (`keras_slt.cli.quiet`); absl's
    --verbosity (e.g. --verbosity=0 for INFO) brings them back.
    """
    try:
        app.run(_quiet(main), flags_parser=_parse_flags)
    except ValueError as error:
        fail(error)
