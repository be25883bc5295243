"""Hands the global threshold from a `SupermaskModel` to its layers.

The model computes one threshold per forward pass from all its supermask
layers and publishes it here for the duration of that same call; the layers
read it while the computation is traced. Nothing crosses a step boundary, so
`fit`, `evaluate`, `predict`, XLA and `tf.distribute` (whose replicas run in
their own threads, hence the thread-local) all see the right value without a
per-batch callback.
"""

import contextlib
import threading

_state = threading.local()


@contextlib.contextmanager
def use_threshold(threshold):
    """Layers called inside this block select with `threshold`."""
    previous = getattr(_state, "threshold", None)
    _state.threshold = threshold
    try:
        yield
    finally:
        _state.threshold = previous


def current_threshold():
    """The threshold published by the enclosing model call, or None."""
    return getattr(_state, "threshold", None)
