"""Stopping training whose loss became NaN or infinite.

A NaN loss (a learning rate too large, NaN or inf inputs) turns gradients,
then scores and weights, into NaN; Edge-Popup then selects from NaN scores
and `fit` ends normally with a meaningless ticket. `StopOnNonFiniteLoss`
raises `NonFiniteLossError` at the first such batch instead, before the
epoch's checkpoint is written, so a run's last checkpoint is its last good
epoch. `SupermaskModel.fit` always includes it.
"""

import math

import keras


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message says where."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` after the first batch with a NaN or infinite loss.

    Unlike `keras.callbacks.TerminateOnNaN`, which stops `fit` quietly and
    lets the epoch's other callbacks run, this aborts `fit` with an error.

    Example:

    >>> model.fit(x, y, epochs=3, callbacks=[StopOnNonFiniteLoss()])
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"training loss became {float(loss)} in epoch {self._epoch + 1}, batch {batch + 1}; "
                "lower the learning rate, or look for NaN or infinite inputs")


def guarded(callbacks):
    """`callbacks` (a list, or None) with a `StopOnNonFiniteLoss` added unless it has one."""
    callbacks = list(callbacks or [])
    if not any(isinstance(c, StopOnNonFiniteLoss) for c in callbacks):
        callbacks.append(StopOnNonFiniteLoss())
    return callbacks
