"""What every command-line tool shares: one-line errors, no traceback."""

import sys

from absl import app, flags


def _fail(error):
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


def _parse_flags(argv):
    """absl's flag parsing, with a bad flag reported in one line."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        _fail(error)


def run(main):
    """Runs an absl `main`; a ValueError becomes `error: ...` and exit status 2.

    Library code raises ValueError with a message naming the parameter and
    its valid range; users of a command line should see that line, not a
    traceback. Unknown or malformed flags are reported the same way.
    """
    try:
        app.run(main, flags_parser=_parse_flags)
    except ValueError as error:
        _fail(error)
