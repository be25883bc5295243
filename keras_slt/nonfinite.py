"""Stopping training whose loss or variables became NaN or infinite.

A NaN loss (NaN or infinite inputs, a learning rate far too large) turns
gradients, then scores and weights, into NaN; Edge-Popup then selects from
NaN scores, and `fit` ends normally with a meaningless (often fully pruned)
ticket, whose loss may even look finite. `StopOnNonFinite` raises
`NonFiniteTrainingError` instead: at the first batch whose loss is not
finite, or at the end of an epoch whose trainable variables are not. Placed
before a checkpoint callback it stops the epoch before it is saved, so a
run's last checkpoint is its last good epoch. `SupermaskModel.fit` always
includes it.
"""

import math

import keras
import numpy as np


class NonFiniteTrainingError(RuntimeError):
    """The training loss or a trainable variable became NaN or infinite; the message says where."""


class StopOnNonFinite(keras.callbacks.Callback):
    """Raises `NonFiniteTrainingError` when the loss or the variables stop being finite.

    Unlike `keras.callbacks.TerminateOnNaN`, which stops `fit` quietly and
    lets the epoch's other callbacks run, this aborts `fit` with an error.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> x = np.array([[1.0, np.nan]], "float32")
    >>> model.fit(x, np.ones((1, 1)), callbacks=[StopOnNonFinite()], verbose=0)
    Traceback (most recent call last):
    ...
    keras_slt.nonfinite.NonFiniteTrainingError: ...
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._stop(f"training loss became {float(loss)} in epoch {self._epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        for variable in self.model.trainable_variables:
            if not np.isfinite(keras.ops.convert_to_numpy(variable.value)).all():
                self._stop(f"variable {variable.path} became NaN or infinite in epoch {epoch + 1}")

    def _stop(self, what):
        raise NonFiniteTrainingError(f"{what}; lower the learning rate, or look for NaN or infinite inputs")


def guarded(callbacks):
    """`callbacks` (a list, or None) with a `StopOnNonFinite` added unless it has one."""
    callbacks = list(callbacks or [])
    if not any(isinstance(c, StopOnNonFinite) for c in callbacks):
        callbacks.append(StopOnNonFinite())
    return callbacks
