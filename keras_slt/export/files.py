"""Atomic file writes: a reader never sees a partial file."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside `path` that replaces it when the block ends.

    The temporary file keeps `path`'s extension (Keras checks it). If the
    block raises, it is removed and `path` is left as it was.

    Args:
        path: the file to write.

    Example:

    >>> with atomic_path("model.keras") as temp:
    ...     model.save(temp)
    """
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=os.path.splitext(base)[1])
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it private; give it a new file's mode
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def write_bytes(path, data):
    """Writes `data` to `path` atomically, flushed to disk before the rename."""
    with atomic_path(path) as temp:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
