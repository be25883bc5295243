"""What every command-line tool shares: one-line errors, no traceback."""

import sys

from absl import app, flags


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


def run(main):
    """Runs an absl `main`; a ValueError becomes `error: ...` and exit status 2.

    Library code raises ValueError with a message naming the parameter and
    its valid range; users of a command line should see that line, not a
    traceback. Unknown or malformed flags are reported the same way.
    """
    try:
        app.run(main, flags_parser=_parse_flags)
    except ValueError as error:
        fail(error)
