"""A sweep's progress: runs done, time elapsed, and an estimate of the time left."""

import threading
import time


class Progress:
    """Counts finished runs and estimates the time the others need.

    The estimate is the mean time of the runs finished so far per run left,
    `parallel` at a time.

    Example:

    >>> times = iter([0.0, 120.0, 240.0])
    >>> progress = Progress(4, 1, clock=lambda: next(times))
    >>> progress.finished()
    '1 of 4 done, 2 min elapsed, about 6 min left'
    >>> progress.finished()
    '2 of 4 done, 4 min elapsed, about 4 min left'
    """

    def __init__(self, total, parallel=1, clock=time.monotonic):
        self._total, self._parallel, self._clock = total, parallel, clock
        self._started = clock()
        self._done = 0
        self._lock = threading.Lock()

    def finished(self):
        """Counts one more finished run; returns the progress line."""
        with self._lock:
            self._done += 1
            elapsed = self._clock() - self._started
            left = self._total - self._done
            line = f"{self._done} of {self._total} done, {duration(elapsed)} elapsed"
            if left:
                line += f", about {duration(elapsed / self._done * left / min(self._parallel, left))} left"
            return line


def duration(seconds):
    """`seconds` in words a person reads at a glance.

    Example:

    >>> duration(42), duration(754), duration(7380)
    ('42 s', '13 min', '2 h 3 min')
    """
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
