"""The splits of an in-memory dataset as `keras.utils.PyDataset`s, without TensorFlow.

For Keras backends other than TensorFlow where TensorFlow is not installed.
The batches are those of the `tf.data` pipelines (`keras_slt.data.batching.tf_batches`)
bit for bit: the same epoch plan (`keras_slt.data.batching.plan`), the same crops and
flips, the same float32 normalization.

Given a `shard` (one process of a data-parallel run over several, see
`keras_slt.experiments.jax_parallel.HostShard`), a pipeline reads only that
process's rows of every batch, and the shard places them as the batch's
global arrays.
"""

import keras
import numpy as np

from keras_slt.data.batching import plan

# Batches prepared ahead by background threads: enough to hide a batch's
# gather, crop and normalization behind a training step.
WORKERS = 2


class TrainingBatches(keras.utils.PyDataset):
    """The training batches of every epoch from `first_epoch` on, without end.

    Global batch `k` is batch `k % steps_per_epoch` of epoch
    `first_epoch + k // steps_per_epoch`; give `fit` the `steps_per_epoch`.

    Args:
        images: uint8 array `(N, height, width, channels)`.
        labels: int32 array `(N,)`.
        mean, std: per-channel normalization (`keras_slt.data.batching.plan.normalize`).
        batch_size: number of examples per batch.
        seed: the run's seed.
        augment: whether to crop and flip.
        first_epoch: the epoch the stream starts at.
        shard: None, or an object with `rows(n)`, the slice of a batch of
            `n` rows this process reads, and `place(batch, n)`, what the
            model gets for those rows.

    Example:

    >>> images = np.zeros((10, 4, 4, 1), np.uint8)
    >>> stream = TrainingBatches(images, np.arange(10, dtype=np.int32), [0.], [1.],
    ...                          batch_size=4, seed=0, augment=True)
    >>> [len(stream[k][1]) for k in range(4)]
    [4, 4, 2, 4]
    """

    def __init__(self, images, labels, mean, std, batch_size, seed, augment, first_epoch=0, shard=None):
        super().__init__(workers=WORKERS)
        self.shard = shard
        self.images, self.labels = images, np.asarray(labels, np.int32)
        self.mean, self.std = mean, std
        self.batch_size, self.seed, self.augment = batch_size, seed, augment
        self.first_epoch = first_epoch
        self.steps_per_epoch = -(-len(images) // batch_size)
        self._plans = {}

    @property
    def num_batches(self):
        return None  # endless: one epoch after another

    def _plan(self, epoch):
        # Workers ask for neighbouring batches: keep the plans of two epochs.
        # The worker threads share `_plans`: it is replaced whole, never
        # changed in place, and each call returns the plan it found or made.
        plans = self._plans
        if epoch in plans:
            return plans[epoch]
        made = plan.epoch_plan(self.seed, epoch, len(self.images))
        self._plans = {**{key: value for key, value in plans.items() if key >= epoch - 1}, epoch: made}
        return made

    def __getitem__(self, k):
        epoch, step = self.first_epoch + k // self.steps_per_epoch, k % self.steps_per_epoch
        order, rows, cols, flips = self._plan(epoch)
        first = step * self.batch_size
        size = min(self.batch_size, len(order) - first)
        part = slice(0, size) if self.shard is None else self.shard.rows(size)
        visits = slice(first + part.start, first + part.stop)
        index = order[visits]
        images = self.images[index]
        if self.augment:
            images = plan.crop_flip(images, rows[visits], cols[visits], flips[visits], plan.PADDING)
        return _placed((plan.normalize(images, self.mean, self.std), self.labels[index]), size, self.shard)


class EvaluationBatches(keras.utils.PyDataset):
    """Normalized batches of images in their stored order (validation and test).

    Args:
        images, labels, mean, std, batch_size, shard: as `TrainingBatches`'s.

    Example:

    >>> batches = EvaluationBatches(np.zeros((5, 2, 2, 1), np.uint8), np.arange(5), [0.], [1.], 4)
    >>> len(batches), len(batches[1][1])
    (2, 1)
    """

    def __init__(self, images, labels, mean, std, batch_size, shard=None):
        super().__init__()
        self.images, self.labels = images, np.asarray(labels, np.int32)
        self.mean, self.std, self.batch_size = mean, std, batch_size
        self.shard = shard

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, k):
        first = k * self.batch_size
        size = min(self.batch_size, len(self.images) - first)
        part = slice(0, size) if self.shard is None else self.shard.rows(size)
        part = slice(first + part.start, first + part.stop)
        return _placed((plan.normalize(self.images[part], self.mean, self.std), self.labels[part]), size, self.shard)


def _placed(batch, size, shard):
    return batch if shard is None else shard.place(batch, size)
