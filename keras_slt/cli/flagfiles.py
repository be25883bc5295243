"""Flagfiles checked before absl reads them.

absl reads a `--flagfile` with `readlines()` whatever it is: `/dev/zero`
fills the memory, a named pipe blocks the tool, and flagfiles that include
each other are skipped with a warning, the run going on with part of its
flags. `check` walks the flagfiles of a command line as absl will, nested
ones included, and refuses in one line a file that is not a regular file,
flagfiles that include each other, and more than `MAX_BYTES` read in all
(a file included twice counts twice: a few small files including each
other twice per level would expand to gigabytes).
"""

import os

from keras_slt.utils import files

# Flagfiles are a few hundred bytes; this is every byte read for one command line.
MAX_BYTES = 1 << 20
_DIRECTIVES = ("--flagfile", "-flagfile")


def _directive_file(arg):
    """The file named by a `--flagfile=FILE` argument or flagfile line, else None."""
    for directive in _DIRECTIVES:
        if arg.startswith(directive + "="):
            return os.path.expanduser(arg[len(directive) + 1 :].strip())
    return None


def check(args):
    """Raises ValueError (one line) for a flagfile of `args` absl should not read.

    Args:
        args: a command line's arguments, without the program name.

    Example:

    >>> check(["--flagfile=configs/fashion_mnist_fc.flags", "--seed=1"])
    >>> check(["--flagfile=/dev/zero"])
    Traceback (most recent call last):
    ...
    ValueError: --flagfile=/dev/zero: not a regular file
    """
    read = []  # bytes of each file read
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":  # absl reads no flagfile after it
            return
        if arg in _DIRECTIVES and rest:
            _walk(os.path.expanduser(rest.pop(0)), [], read)
        elif _directive_file(arg) is not None:
            _walk(_directive_file(arg), [], read)


def _walk(path, including, read):
    """Reads flagfile `path` and those it includes; `including`: the files that include it."""
    if not path:  # absl ignores --flagfile=
        return
    if path in including:
        chain = " -> ".join(repr(name) for name in [*including, path])
        raise ValueError(f"--flagfile: flagfiles include each other ({chain})")
    try:
        data = files.read_bytes(path, MAX_BYTES)
    except ValueError as error:
        raise ValueError(f"--flagfile={error}") from None
    read.append(len(data))
    if sum(read) > MAX_BYTES:
        raise ValueError(
            f"--flagfile={path}: the flagfiles of one command line hold more than {MAX_BYTES} bytes in all"
        )
    for line in data.decode("utf-8", "replace").splitlines():
        nested = _directive_file(line)
        if nested is not None:
            _walk(nested, [*including, path], read)
