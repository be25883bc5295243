"""ImageNet's tf.data batches on one device and under data_parallel, in one process: prints JSON.

Run by tests/experiments/test_data_parallel_imagenet.py with KERAS_BACKEND=jax,
XLA_FLAGS=--xla_force_host_platform_device_count=N and TensorFlow installed
(the pipeline is tf.data's). TFDS's mock ImageNet (random JPEGs of
`NUM_EXAMPLES` per split) is read once as one device reads it and once with
the data-parallel shard; the script reports whether the placed batches are
the one-device batches, how they are split, how far STEPS steps of FC apart
end (`data_parallel_steps.compare`), and the test loss of the same model on
both.
"""

import json
import os
import sys

# The sibling script, as pytest finds it.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from data_parallel_steps import STEPS, build, compare  # noqa: E402

from keras_slt import data as datasets  # noqa: E402
from keras_slt.experiments import strategies  # noqa: E402

# 13 examples a split: 10 training (batches 4, 4, 2), 3 validation (one
# batch of 3) and 13 test (4, 4, 4, 1): the evaluation splits end with a
# batch that does not divide among 2 devices.
NUM_EXAMPLES = 13
BATCH = 4
SHAPE = (224, 224, 3)


def load(shard):
    # tf.data's seeded shuffles also follow TensorFlow's global seed: set as a run sets it.
    keras.utils.set_random_seed(0)
    return datasets.load("imagenet2012", batch_size=BATCH, seed=0, shard=shard)


def batches_of(split, shard, count=None):
    """The first `count` batches of `split` (all of an evaluation split), as NumPy, with their specs."""
    data = load(shard)
    if split == "train":
        stream = data.train_from(0)
    else:
        stream = getattr(data, split)
    if shard is None:
        return [(x, y, None) for x, y in stream.take(count or -1).as_numpy_iterator()]
    count = count or stream.num_batches
    return [(np.asarray(x), np.asarray(y), str(x.sharding.spec)) for x, y in (stream[k] for k in range(count))]


def same_batches(split, parallel, count=None):
    one, several = batches_of(split, None, count), batches_of(split, parallel.shard, count)
    return {
        "equal": len(one) == len(several)
        and all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(one, several)),
        "rows": [len(y) for _, y, _ in several],
        "specs": [spec for _, _, spec in several],
    }


def training_batches(input_shape, shard):
    """The first STEPS training batches: indexable, as `data_parallel_steps.steps` reads them."""
    stream = load(shard).train_from(0)
    return list(stream.take(STEPS).as_numpy_iterator()) if shard is None else stream


def test_loss(parallel):
    """The test loss of the same FC on one device and under `parallel`."""
    losses = []
    for shard, scope in ((None, None), (parallel.shard, parallel)):
        data = load(shard)
        if scope is None:
            network = build("fc", SHAPE, num_classes=1000)
        else:
            with scope.scope():
                network = build("fc", SHAPE, num_classes=1000)
        losses.append(float(network.evaluate(data.test, verbose=0)))
    return losses


def main():
    parallel = strategies.strategy("data_parallel")
    report = {"devices": jax.device_count()}
    with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
        report["test"] = same_batches("test", parallel)
        report["validation"] = same_batches("validation", parallel)
        report["train"] = same_batches("train", parallel, count=4)  # into the second epoch
        report["fc"] = compare("fc", SHAPE, parallel, training_batches, num_classes=1000)
        report["test_loss"] = test_loss(parallel)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
