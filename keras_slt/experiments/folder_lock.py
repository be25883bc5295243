"""An exclusive lock on an output folder, held for a whole run.

Two runs writing one folder would mix their files (a `results.json` from one,
a checkpoint from the other). Every tool that writes a folder (a search's
`--output_dir`, an export's `--export_dir`, a sweep's `--output_dir`) holds
this lock while it runs; a second one is refused with `FolderInUseError`,
naming the process that holds it.

The lock is `fcntl.flock` on `<folder>/.lock`, which records the holder's
pid and host. The kernel releases it when the holder exits in any way
(kill -9 included), so a lock file left behind never blocks a later run.
A `.lock` that is a link (symbolic or hard) or not a regular file is
refused with `LockFileError` before it is written: writing through it would
overwrite the file it leads to.
"""

import contextlib
import errno
import fcntl
import os
import socket
import stat

from keras_slt.experiments import run_files


class FolderInUseError(RuntimeError):
    """Another process holds the folder's lock; the message names it."""


class LockFileError(ValueError):
    """The folder's `.lock` is not a plain file of its own; the message names it."""


def _open_lock(path):
    """A descriptor of the lock file `path`, created if needed, never through a link."""
    # O_NOFOLLOW: a symbolic link fails (ELOOP) instead of being followed;
    # O_NONBLOCK: a named pipe does not hang the open.
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise LockFileError(
                f"{path} is a symbolic link, which is never written through "
                "(it would overwrite the file it points to); remove it"
            ) from None
        raise
    info = os.fstat(fd)
    problem = (
        "is not a regular file"
        if not stat.S_ISREG(info.st_mode)
        else f"has {info.st_nlink} hard links, so writing it would change another file"
        if info.st_nlink != 1
        else None
    )
    if problem:
        os.close(fd)
        raise LockFileError(f"{path} {problem}; remove it")
    return fd


@contextlib.contextmanager
def hold(folder):
    """Creates `folder` if needed and holds its lock until the block ends.

    A folder this call created is removed again when the block raises and
    leaves nothing in it but the lock: a refused command leaves no folder
    behind.

    Taking the lock also proves the folder writable: a path under a file, a
    read-only folder or a full disk raise `OSError` (naming the path) here,
    before any work is done.

    Args:
        folder: the output folder.

    Raises:
        FolderInUseError: another process holds the lock.
        LockFileError: `<folder>/.lock` is a symbolic or hard link, or not a
            regular file; nothing is written.
        OSError: the folder cannot be created or written.

    Example:

    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> with hold(run):
    ...     with hold(run):
    ...         pass
    Traceback (most recent call last):
    ...
    keras_slt.experiments.folder_lock.FolderInUseError: ... is in use by pid ...
    """
    folder = os.fspath(folder)
    created = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, run_files.LOCK)
    # Never unlinked: a process that opened the file just before an unlink
    # would lock a file the next run no longer sees.
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = os.pread(fd, 256, 0).decode("utf-8", "replace").strip() or "another process"
            raise FolderInUseError(
                f"{folder} is in use by {holder}; wait for that run to end, or use another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        try:
            yield
        except BaseException:
            if created:
                _remove_if_only_lock(folder)
            raise
    finally:
        os.close(fd)


def _remove_if_only_lock(folder):
    """Removes `folder` if it holds nothing but its lock (still held by this process).

    A process that opened the lock file before the unlink fails to lock it,
    as it would have; one that comes after finds no folder, or creates its
    own lock file, and then the folder is left alone.
    """
    try:
        if os.listdir(folder) == [run_files.LOCK]:
            os.remove(os.path.join(folder, run_files.LOCK))
            os.rmdir(folder)
    except OSError:
        pass  # something else appeared there: keep it
