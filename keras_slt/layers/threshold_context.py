"""Hands the global threshold from a `SupermaskModel` to its layers.

The model computes one threshold per forward pass from all its supermask
layers and publishes it here for the duration of that same call; its layers,
which the model has put under global selection, read it while the
computation is traced (and raise if it is missing). A call argument cannot
carry it: a Sequential or functional network, nested models included,
passes its layers no arguments of ours. Nothing crosses a step boundary, so
`fit`, `evaluate`, `predict`, XLA and `tf.distribute` (whose replicas run in
their own threads, hence the thread-local) all see the right value without a
per-batch callback. Outside a model call, code passes the threshold
explicitly (`SupermaskLayer.mask`, `effective_kernel`, `call(threshold=)`).
"""

import contextlib
import threading

_state = threading.local()


@contextlib.contextmanager
def use_threshold(threshold):
    """Global-selection layers called inside this block select with `threshold`."""
    previous = getattr(_state, "threshold", None)
    _state.threshold = threshold
    try:
        yield
    finally:
        _state.threshold = previous


def current_threshold():
    """The threshold published by the enclosing model call, or None."""
    return getattr(_state, "threshold", None)
