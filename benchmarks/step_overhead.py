"""Train-step overhead of a supermask model over the same network trained normally.

For each architecture, the plain Keras model and `supermaskify(plain, ...)`
are compiled with the same optimizer (SGD, momentum 0.9) and loss, warmed up,
then stepped *alternately* in one process (plain, supermask, plain, ...), so
machine noise hits both alike. Prints the median step time of each and the
ratio of the medians (target: <= 1.10x for Conv6, <= 1.25x for FC).

Architectures (docs/METHOD.md, section 10 (Baselines)):
- conv6: 32x32x3 input, 3x3 convs 64,64 | 128,128 | 256,256, each pair then
  a 2x2 max-pool, then Dense 256, 256, 10; ReLU, no bias, no BatchNorm.
- fc: 784-1024-1024-10, ReLU, no bias.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/step_overhead.py
    python benchmarks/step_overhead.py --models fc --jit 1 --freeze 0 --steps 60

Timings are wall-clock medians on whatever machine runs this; never assert
on them.
"""

import argparse
import statistics
import time

import bench_setup  # noqa: E402, F401  (first: the checkout's code, TensorFlow's start-up lines silenced)
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_slt  # noqa: E402

TARGETS = {"conv6": 1.10, "fc": 1.25}


def conv6():
    layers = [keras.Input((32, 32, 3))]
    for filters in (64, 128, 256):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu", use_bias=False),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu", use_bias=False),
            keras.layers.MaxPooling2D(2),
        ]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu", use_bias=False),
        keras.layers.Dense(256, activation="relu", use_bias=False),
        keras.layers.Dense(10, use_bias=False),
    ]
    return keras.Sequential(layers, name="conv6")


def fc():
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(1024, activation="relu", use_bias=False),
            keras.layers.Dense(1024, activation="relu", use_bias=False),
            keras.layers.Dense(10, use_bias=False),
        ],
        name="fc",
    )


ARCHITECTURES = {"conv6": (conv6, (32, 32, 3)), "fc": (fc, (784,))}


def compiled(model, jit):
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model


def step_timer(model, x, y):
    def step():
        start = time.perf_counter()
        # train_on_batch returns the loss as a Python float, which waits for
        # the step to finish.
        model.train_on_batch(x, y)
        return time.perf_counter() - start

    return step


def measure(name, freeze, jit, steps, warmup, batch, seed=0):
    build, shape = ARCHITECTURES[name]
    rng = np.random.default_rng(seed)
    x = keras.ops.convert_to_tensor(rng.standard_normal((batch,) + shape).astype("float32"))
    y = keras.ops.convert_to_tensor(rng.integers(0, 10, batch).astype("int32"))
    plain = compiled(build(), jit)
    supermask = compiled(keras_slt.supermaskify(build(), sparsity=0.5, freeze_ratio=freeze, seed=seed), jit)
    timers = {"plain": step_timer(plain, x, y), "supermask": step_timer(supermask, x, y)}
    for _ in range(warmup):
        for timer in timers.values():
            timer()
    times = {key: [] for key in timers}
    for i in range(steps):
        # Alternate the order too, so neither model always runs first.
        order = ("plain", "supermask") if i % 2 == 0 else ("supermask", "plain")
        for key in order:
            times[key].append(timers[key]())
    plain_ms = statistics.median(times["plain"]) * 1e3
    mask_ms = statistics.median(times["supermask"]) * 1e3
    paired = statistics.median(s / p for s, p in zip(times["supermask"], times["plain"]))
    return plain_ms, mask_ms, mask_ms / plain_ms, paired


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="conv6,fc")
    parser.add_argument("--jit", default="0,1", help="jit_compile values, e.g. 0,1")
    parser.add_argument("--freeze", default="0,0.5", help="freeze ratios, e.g. 0,0.5")
    parser.add_argument("--steps", type=int, default=0, help="timed steps (0: per model)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args(argv)
    print(f"backend={keras.backend.backend()} batch={args.batch} sparsity=0.5")
    print(
        f"{'model':6} {'jit':>3} {'freeze':>6} {'plain ms':>9} {'slt ms':>9} {'ratio':>6} {'paired':>6} {'target':>6}"
    )
    for name in args.models.split(","):
        steps = args.steps or (20 if name == "conv6" else 200)
        for jit in (bool(int(j)) for j in args.jit.split(",")):
            for freeze in (float(f) for f in args.freeze.split(",")):
                plain_ms, mask_ms, ratio, paired = measure(name, freeze, jit, steps, args.warmup, args.batch)
                verdict = "ok" if ratio <= TARGETS[name] else "MISS"
                print(
                    f"{name:6} {int(jit):>3} {freeze:>6.2f} {plain_ms:>9.2f} {mask_ms:>9.2f} "
                    f"{ratio:>5.2f}x {paired:>5.2f}x {TARGETS[name]:>5.2f}x {verdict}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
