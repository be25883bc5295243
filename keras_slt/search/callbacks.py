"""Stopping training whose loss or variables became NaN or infinite.

A NaN loss (NaN or infinite inputs, a learning rate far too large) turns
gradients, then scores and weights, into NaN; Edge-Popup then selects from
NaN scores, and `fit` ends normally with a meaningless (often fully pruned)
ticket, whose loss may even look finite. `StopOnNonFinite` raises
`NonFiniteTrainingError` instead: at the first batch whose loss is not
finite, or at the end of an epoch whose trainable variables are not. Placed
before a checkpoint callback it stops the epoch before it is saved, so a
run's last checkpoint is its last good epoch. The search tool always
includes it; a `SupermaskModel.fit` includes it when given it, as any
Keras callback.
"""

import keras
import numpy as np


class NonFiniteTrainingError(RuntimeError):
    """The training loss or a trainable variable became NaN or infinite; the message says where."""


class StopOnNonFinite(keras.callbacks.TerminateOnNaN):
    """Keras's `TerminateOnNaN(raise_error=True)`, and a check of the variables.

    Keras's callback finds the first batch whose loss is NaN or infinite;
    this one adds what the search needs from it:

    - the error is a `NonFiniteTrainingError` that names the epoch and the
      batch (from 1) and what to change, which the command-line tools print
      as their one-line error (Keras's is a RuntimeError, as other
      failures are);
    - at each epoch's end the trainable variables are checked too: NaN
      scores select a mask (NaN compares as no threshold does) whose loss
      can stay finite, which `TerminateOnNaN` does not see.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> x = np.array([[1.0, np.nan]], "float32")
    >>> model.fit(x, np.ones((1, 1)), callbacks=[StopOnNonFinite()], verbose=0)
    Traceback (most recent call last):
    ...
    keras_slt.search.callbacks.NonFiniteTrainingError: training loss became nan in epoch 1, batch 1; ...
    """

    def __init__(self):
        super().__init__(raise_error=True)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        try:
            super().on_train_batch_end(batch, logs)
        except RuntimeError:
            self._stop(f"training loss became {float(logs['loss'])} in epoch {self._epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        for variable in self.model.trainable_variables:
            if not np.isfinite(keras.ops.convert_to_numpy(variable.value)).all():
                self._stop(f"variable {variable.path} became NaN or infinite in epoch {epoch + 1}")

    def _stop(self, what):
        raise NonFiniteTrainingError(f"{what}; lower the learning rate, or look for NaN or infinite inputs") from None
