"""Downloads that fail in seconds, not minutes, on a machine without network.

TFDS retries a failed download for minutes, and `keras.utils.get_file`
waits on a silent connection without end; either way a run would end in an
error long after it started. `unreachable` opens one TCP connection to a
download's host (or to the proxy the environment names for it) with a short
timeout, before a download starts; `stall_timeout` bounds how long a
download may wait on a silent connection.
"""

import contextlib
import socket
import urllib.parse
import urllib.request

PROBE_TIMEOUT_S = 5.0
STALL_TIMEOUT_S = 30.0


def unreachable(url, timeout=PROBE_TIMEOUT_S):
    """Why the host serving `url` cannot be reached, or None when it can.

    Args:
        url: the download's address, e.g. "https://github.com/...".
        timeout: seconds to wait for the connection.

    Returns:
        None, or one line: "HOST cannot be reached (REASON)".

    Example:

    >>> import socket
    >>> with socket.create_server(("127.0.0.1", 0)) as server:
    ...     port = server.getsockname()[1]
    ...     print(unreachable(f"http://127.0.0.1:{port}/data.zip"))
    None
    >>> unreachable(f"http://127.0.0.1:{port}/data.zip")  # nothing listens there now
    '127.0.0.1 cannot be reached (...Connection refused)'
    """
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    target = urllib.parse.urlsplit(proxy) if proxy else parts
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.hostname, port), timeout=timeout).close()
    except (OSError, UnicodeError) as error:
        via = f" through the proxy {target.hostname}" if proxy else ""
        return f"{parts.hostname} cannot be reached{via} ({error})"
    return None


@contextlib.contextmanager
def stall_timeout(seconds=None):
    """Within this block, a new socket gives up after `seconds` without an answer.

    `seconds` defaults to `STALL_TIMEOUT_S`.

    Sets Python's default socket timeout, which `urllib` (and so
    `keras.utils.get_file`) uses, and restores it after the block.
    """
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(STALL_TIMEOUT_S if seconds is None else seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
