"""`Dataset`, the splits of a dataset ready for `model.fit`, and the train/validation split.

Nothing here needs TensorFlow: the splits are `tf.data` pipelines
(`keras_slt.data.batching.tf_batches`) or `keras.utils.PyDataset`s
(`keras_slt.data.batching.numpy_batches`), and both follow the same split and epoch
plan (`keras_slt.data.batching.plan`).
"""

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from keras_slt.utils import seeding


@dataclasses.dataclass(frozen=True)
class Dataset:
    """The three splits of a dataset, ready for `model.fit`.

    Each split yields batches of `(images, labels)`: `float32` images of shape
    `(batch,) + input_shape` and `int32` labels; a graph's, one batch of
    `(inputs, labels, sample_weights)`, the whole graph
    (`keras_slt.data.batching.graph_batches`).

    Attributes:
        train_from: `fn(epoch) -> stream`: the training batches of epoch
            `epoch`, then of every later epoch, each epoch in its own order
            and with its own augmentation (fixed by the seed and the epoch),
            without end: give `fit` the `steps_per_epoch`. A resumed run
            starts the stream at its first epoch to do.
        validation: held-out part of the training set, unshuffled, or `None`
            when `num_validation` is 0.
        test: the official test set, unshuffled.
        input_shape: shape of one image, e.g. `(28, 28, 1)`.
        num_classes: number of label values.
        num_train: number of training examples.
        num_validation: number of validation examples.
        num_test: number of test examples.
        batch_size: number of examples per batch (the last batch of an epoch
            may be smaller).

    Example:

    >>> import keras_slt.data
    >>> data = keras_slt.data.load("fashion_mnist", batch_size=1000)
    >>> data.steps_per_epoch
    48
    >>> images, labels = next(iter(data.train))
    >>> tuple(images.shape), tuple(labels.shape)
    ((1000, 28, 28, 1), (1000,))
    """

    train_from: Callable[[int], Any]
    validation: Any
    test: Any
    input_shape: tuple
    num_classes: int
    num_train: int
    num_validation: int
    num_test: int
    batch_size: int

    @property
    def train(self):
        """The training stream from the first epoch (`train_from(0)`)."""
        return self.train_from(0)

    @property
    def steps_per_epoch(self):
        """Batches per training epoch."""
        return math.ceil(self.num_train / self.batch_size)


def split_indices(num_examples, validation_fraction, seed):
    """Splits `range(num_examples)` into training and validation indices.

    The indices are permuted by the project's own Philox stream of `seed`
    (`keras_slt.utils.seeding`, kind DATA_SPLIT), so a NumPy release cannot change
    a split; the first `int(num_examples * (1 - validation_fraction))` of the permutation
    are the training indices (the official code's `int(n * train_val_ratio)`),
    the rest the validation indices. Both returned arrays are sorted.

    Args:
        num_examples: size of the full training set.
        validation_fraction: fraction in [0, 1) held out for validation.
        seed: non-negative integer key of the permutation.

    Returns:
        `(train_indices, validation_indices)`, disjoint `int64` arrays whose
        union is `range(num_examples)`.

    Example:

    >>> train, val = split_indices(60000, 0.2, seed=0)
    >>> len(train), len(val)
    (48000, 12000)
    """
    permutation = seeding.permutation(seeding.stream(seed, 0, seeding.DATA_SPLIT), num_examples)
    cut = int(num_examples * (1 - validation_fraction))
    return np.sort(permutation[:cut]), np.sort(permutation[cut:])
