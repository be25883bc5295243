"""Atomic file writes, and reading back what was written with the file named.

Every file keras-slt writes (models, checkpoints, tickets, TFLite files,
JSON results, CSV tables) goes through `atomic_path`: the content is written
to a temporary file beside the target, flushed to disk, and renamed over the
target in one step. Files read whole (tickets, pickles, JSON, flagfiles) go
through `read_bytes`, which refuses what is not a regular file or is too
large before reading it. A JSON file that does not read back (damaged by hand, by
a disk, or by another program) raises `DamagedFileError` naming it.
"""

import contextlib
import json
import os
import stat
import tempfile

# A run folder's text files (state.json, results.json, logs/history.csv)
# and a .keras file's config.json take kilobytes; one past this size is not
# keras-slt's, and is refused unread.
MAX_TEXT_BYTES = 1 << 24


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside `path` that replaces it when the block ends.

    The temporary file keeps `path`'s extensions. When the
    block ends, the file is flushed to disk (fsync), renamed over `path`,
    and the rename itself flushed. If the block raises, the temporary file is
    removed and `path` is left as it was.

    Args:
        path: the file to write.

    Example:

    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_path(path) as temp:
    ...     with open(temp, "w") as f:
    ...         _ = f.write("done")
    >>> open(path).read()
    'done'
    """
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    # The whole extension ("ckpt-1.weights.h5" -> ".weights.h5"): Keras checks it.
    dot = base.find(".", 1)
    suffix = base[dot:] if dot > 0 else ""
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it private; give it a new file's mode
    try:
        yield temp
        _fsync(temp)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    _fsync(directory)


def write_bytes(path, data):
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as temp:
        with open(temp, "wb") as f:
            f.write(data)


def write_text(path, text):
    """Writes the string `text` to `path` atomically (UTF-8)."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, value):
    """Writes `value` as indented, key-sorted JSON to `path` atomically."""
    write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_bytes(path, max_bytes, error=ValueError):
    """The whole content of the regular file `path`, at most `max_bytes` long.

    Opened without blocking and checked before it is read: a named pipe
    would hang the reader and a device (`/dev/zero`) never ends.

    Args:
        path: the file.
        max_bytes: the largest size accepted.
        error: the exception class raised, with a one-line message naming
            the file (a `ValueError` subclass, as the command lines print).

    Returns:
        The bytes.

    Raises:
        error: if the file cannot be opened or read, is not a regular file
            or holds more than `max_bytes`.

    Example:

    >>> read_bytes("/dev/zero", 1 << 20)
    Traceback (most recent call last):
    ...
    ValueError: /dev/zero: not a regular file
    """
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            status = os.fstat(f.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise error(f"{path}: not a regular file")
            # The size first: a sparse file of gigabytes is refused unread,
            # and no buffer is larger than the file. /proc's files report no size.
            size = status.st_size
            data = b"" if size > max_bytes else f.read(size + 1 if size else max_bytes + 1)
            if size and size < len(data) <= max_bytes:  # it grew since: read on
                data += f.read(max_bytes + 1 - len(data))
    except OSError as os_error:
        raise error(f"{path}: cannot read it ({os_error.strerror})") from None
    if len(data) > max_bytes or size > max_bytes:
        raise error(f"{path}: larger than the {max_bytes} bytes accepted")
    return data


def check_regular(path, max_bytes, error=ValueError):
    """Raises `error` (one line naming `path`) if `path` exists and is not a regular file of at most `max_bytes`.

    For files another library opens (Keras's CSV logger reads the first line
    of the log it appends to): checked without opening them, so a named
    pipe does not block.

    Example:

    >>> check_regular("/dev/zero", 1 << 20)
    Traceback (most recent call last):
    ...
    ValueError: /dev/zero: not a regular file
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as os_error:
        raise error(f"{path}: cannot read it ({os_error.strerror})") from None
    if not stat.S_ISREG(status.st_mode):
        raise error(f"{path}: not a regular file")
    if status.st_size > max_bytes:
        raise error(f"{path}: larger than the {max_bytes} bytes accepted")


class DamagedFileError(ValueError):
    """A file does not hold what keras-slt wrote; the message names it and what to do."""


def damaged(path, reason, remedy=None):
    """A `DamagedFileError` for `path`: `<path> is damaged (<reason>)[; <remedy>]`."""
    reason = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return DamagedFileError(f"{os.fspath(path)} is damaged ({reason})" + (f"; {remedy}" if remedy else ""))


def read_json(path, remedy=None):
    """The JSON value stored in `path`, a regular file of at most `MAX_TEXT_BYTES`.

    Raises:
        DamagedFileError: the file cannot be read, is not a regular file (a
            named pipe would block the reader), is larger than
            `MAX_TEXT_BYTES` or is not UTF-8 JSON; `remedy` ends the message.

    Example:

    >>> path = os.path.join(tempfile.mkdtemp(), "results.json")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"test_accuracy": 0.84')
    >>> read_json(path, remedy="run the search again")
    Traceback (most recent call last):
    ...
    keras_slt.utils.files.DamagedFileError: ...results.json is damaged (Expecting ',' delimiter: ...); run the search again
    """
    try:
        data = read_bytes(path, MAX_TEXT_BYTES, DamagedFileError)
    except DamagedFileError as error:
        raise DamagedFileError(f"{error}; {remedy}" if remedy else str(error)) from None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise damaged(path, error, remedy) from None
