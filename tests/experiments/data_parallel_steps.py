"""A few training steps on one device and under data_parallel, in one process: prints JSON.

Run by tests/experiments/test_data_parallel.py with KERAS_BACKEND=jax and
XLA_FLAGS=--xla_force_host_platform_device_count=N (virtual CPU devices
must be set before JAX starts, hence a process of its own). For each model
(FC and Conv6, small widths) it trains the same model from the same seed
for STEPS steps on the same batches, once on the default device alone and
once split over all N devices, and reports how far apart they end.
"""

import json
import sys

import jax
import keras
import numpy as np

from keras_slt.data.batching import numpy_batches
from keras_slt.experiments import model_source, strategies
from keras_slt.experiments.config import SearchConfig
from keras_slt.search.optimizers import CoupledSGD

STEPS = 3
BATCH = 8
# Scores and losses may differ by the all-reduce's other summation order.
TOLERANCE = 1e-5


def build(model, input_shape, num_classes=10):
    keras.utils.set_random_seed(0)
    config = SearchConfig(
        model=model,
        dataset="cifar10" if model == "conv6" else "fashion_mnist",
        width=16 if model == "fc" else None,
        width_factor=0.125 if model == "conv6" else None,
        output_dir="unused",
    )
    network = model_source.build(config, input_shape, num_classes)
    network.compile(
        CoupledSGD(0.1, momentum=0.9, coupled_weight_decay=1e-4),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    network.optimizer.build(network.trainable_variables)
    return network


def numpy_training_batches(input_shape, shard):
    """The NumPy pipeline's training batches of random images, this process's rows placed by `shard`."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (BATCH * STEPS + 3,) + input_shape, dtype=np.uint8)
    labels = rng.integers(0, 10, len(images)).astype(np.int32)
    return numpy_batches.TrainingBatches(images, labels, [0.5], [0.25], BATCH, seed=0, augment=False, shard=shard)


def steps(model, input_shape, batches, num_classes):
    """Trains `model` for STEPS steps; returns its first mask, losses, scores, masks, threshold."""
    network = build(model, input_shape, num_classes)
    first = [np.asarray(mask) for mask in network.masks()]
    losses = []
    for k in range(STEPS):
        losses.append(float(network.train_on_batch(*batches[k])))
    layers = network.supermask_layers
    free = [layer.freeze_pattern() == 0 for layer in layers]
    return {
        "first": first,
        "losses": losses,
        # The scores and masks of the free positions, in the same order.
        "scores": [np.asarray(layer.scores).ravel() for layer in layers],
        "masks": [np.asarray(mask)[where] for mask, where in zip(network.masks(), free)],
        "threshold": float(network.global_threshold()),
        "sharding": str(getattr(batches[0][0], "sharding", None)),
    }


def compare(model, input_shape, parallel, batches=numpy_training_batches, num_classes=10):
    """STEPS steps of `model` on one device and under `parallel`, from `batches(input_shape, shard)`."""
    one = steps(model, input_shape, batches(input_shape, None), num_classes)
    with parallel.scope():
        several = steps(model, input_shape, batches(input_shape, parallel.shard), num_classes)
    far = 0
    for scores, mask_a, mask_b in zip(one["scores"], one["masks"], several["masks"]):
        # A mask may flip only where its |score| lies within the tolerance of the threshold.
        flipped = np.abs(scores[mask_a != mask_b])
        far += int((np.abs(flipped - one["threshold"]) > TOLERANCE).sum())
    return {
        "first_masks_equal": all(np.array_equal(a, b) for a, b in zip(one["first"], several["first"])),
        "loss_gap": max(abs(a - b) for a, b in zip(one["losses"], several["losses"])),
        "score_gap": max(float(np.abs(a - b).max()) for a, b in zip(one["scores"], several["scores"])),
        "threshold_gap": abs(one["threshold"] - several["threshold"]),
        "mask_flips": sum(int((a != b).sum()) for a, b in zip(one["masks"], several["masks"])),
        "flips_far_from_threshold": far,
        "sharding": several["sharding"],
    }


def main():
    parallel = strategies.strategy("data_parallel")
    report = {"devices": jax.device_count()}
    try:
        parallel.check_batch_size(BATCH + 1)
    except ValueError as error:
        report["refusal"] = str(error)
    for model, input_shape in (("fc", (28, 28, 1)), ("conv6", (32, 32, 3))):
        report[model] = compare(model, input_shape, parallel)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
