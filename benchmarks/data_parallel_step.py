"""Step time of `--strategy=data_parallel` against one device, on JAX.

Trains the same supermask model (FC or Conv6) on the same batches, one
device alone and split over all of `jax.devices()`, stepping the two
*alternately* in one process so that machine noise hits both alike, and
prints the median step time of each and their ratio.

On a CPU, give it virtual devices (they share the same cores, so this is a
check of the plumbing, not of speed):

    XLA_FLAGS=--xla_force_host_platform_device_count=4 KERAS_BACKEND=jax \\
        python benchmarks/data_parallel_step.py --model=fc --batch_size=256

On a machine with N GPUs it prints the scaling from 1 to N GPUs at a fixed
global batch (`benchmarks/gpu_conv6.sh dp` runs it for Conv6). Timings
are wall-clock medians on whatever machine runs this; never assert on them.
"""

import argparse
import statistics
import time

import bench_setup  # noqa: F401  (first: the checkout's code)
import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_slt.data.batching import numpy_batches
from keras_slt.experiments import model_source, strategies  # noqa: E402
from keras_slt.experiments.config import SearchConfig  # noqa: E402
from keras_slt.search.optimizers import CoupledSGD  # noqa: E402

SHAPES = {"fc": (28, 28, 1), "conv6": (32, 32, 3)}


def model(name, width_factor):
    keras.utils.set_random_seed(0)
    config = SearchConfig(
        model=name,
        dataset="cifar10" if name == "conv6" else "fashion_mnist",
        width_factor=width_factor if name == "conv6" else None,
        output_dir="unused",
    )
    network = model_source.build(config, SHAPES[name], 10)
    network.compile(
        CoupledSGD(0.1, momentum=0.9, coupled_weight_decay=1e-4),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    network.optimizer.build(network.trainable_variables)
    return network


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(SHAPES), default="fc")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--width_factor", type=float, default=1.0, help="conv6 only")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if keras.backend.backend() != "jax":
        parser.error("needs KERAS_BACKEND=jax")
    parallel = strategies.strategy("data_parallel")
    try:
        parallel.check_batch_size(args.batch_size)
    except ValueError as error:
        parser.error(str(error))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.batch_size * 4,) + SHAPES[args.model], dtype=np.uint8)
    labels = rng.integers(0, 10, len(images)).astype(np.int32)

    def batches(shard):
        stream = numpy_batches.TrainingBatches(
            images, labels, [0.5], [0.25], args.batch_size, seed=0, augment=False, shard=shard
        )
        return [stream[k] for k in range(4)]

    one, one_batches = model(args.model, args.width_factor), batches(None)
    with parallel.scope():
        several, several_batches = model(args.model, args.width_factor), batches(parallel.shard)
    times = {"one": [], "several": []}
    for step in range(args.steps + 2):  # the first two compile and warm up
        for name, network, data in (("one", one, one_batches), ("several", several, several_batches)):
            start = time.perf_counter()
            loss = network.train_on_batch(*data[step % 4])
            jax.block_until_ready(loss)
            if step >= 2:
                times[name].append(time.perf_counter() - start)
    one_ms, several_ms = (1000 * statistics.median(times[name]) for name in ("one", "several"))
    device = jax.devices()[0].platform
    print(f"{args.model}, global batch {args.batch_size}, {args.steps} steps each, {device}")
    print(f"  1 device:  {one_ms:8.2f} ms/step")
    print(
        f"  {parallel.num_devices} devices: {several_ms:8.2f} ms/step  "
        f"({one_ms / several_ms:.2f}x the speed of 1 device)"
    )


if __name__ == "__main__":
    main()
