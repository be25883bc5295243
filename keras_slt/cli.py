"""What every command-line tool shares: one-line errors, no traceback."""

import sys

from absl import app


def run(main):
    """Runs an absl `main`; a ValueError becomes `error: ...` and exit status 2.

    Library code raises ValueError with a message naming the parameter and
    its valid range; users of a command line should see that line, not a
    traceback.
    """
    try:
        app.run(main)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
