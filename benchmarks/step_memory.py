"""Peak accelerator memory of a ResNet-50 train step: ticket search against training.

Each model runs in its own child process on the Keras JAX backend (the
allocator's peak is per process): ResNet-50 (224x224, 1000 classes) trained
normally (`models.get(..., supermask=False)`) and searched with
signed-constant weights at each freeze ratio (s = 0.5, global selection),
all compiled with SGD (momentum 0.9) and XLA. A child builds its model,
runs --steps train steps on one random batch and reports the allocator's
bytes in use after building (variables and optimizer slots) and its peak
over the steps (`jax.Device.memory_stats`), and the median step time.
`--source DIR` runs the search children on another checkout's keras_slt,
to compare two versions.

Needs an accelerator that reports memory statistics (a GPU); on CPU it says
so and exits.

Usage:
    KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false python benchmarks/step_memory.py
    python benchmarks/step_memory.py --freeze 0,0.7 --batch 64 --source ../other_checkout
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHAPE, CLASSES = (224, 224, 3), 1000


def child(kind, freeze, batch, steps, source):
    sys.path.insert(0, source or ROOT)
    import jax
    import keras
    import numpy as np

    import keras_slt

    device = jax.devices()[0]
    if device.memory_stats() is None:
        return {"error": f"{device.platform} reports no memory statistics"}
    if kind == "training":
        model = keras_slt.models.get("resnet50", SHAPE, CLASSES, supermask=False)
    else:
        model = keras_slt.models.get("resnet50", SHAPE, CLASSES, sparsity=0.5, freeze_ratio=freeze, seed=0)
    model.compile(
        keras.optimizers.SGD(0.1, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + SHAPE).astype("float32")
    y = rng.integers(0, CLASSES, batch).astype("int32")
    model.build((None,) + SHAPE)
    model.optimizer.build(model.trainable_variables)
    state = device.memory_stats()["bytes_in_use"]
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)  # returns the loss as a float: waits for the step
        times.append(time.perf_counter() - start)
    stats = device.memory_stats()
    return {
        "device": device.device_kind,
        "state_bytes": state,
        "peak_bytes": stats["peak_bytes_in_use"],
        "step_ms": 1e3 * statistics.median(times[1:] or times),
    }


def run_child(kind, freeze, args):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        kind,
        "--freeze",
        str(freeze),
        "--batch",
        str(args.batch),
        "--steps",
        str(args.steps),
    ]
    if args.source and kind == "search":
        command += ["--source", args.source]
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_PYTHON_CLIENT_PREALLOCATE="false")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        return {"error": (result.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--freeze", default="0,0.5,0.7", help="freeze ratios of the search")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--source", default="", help="a checkout whose keras_slt the search uses")
    parser.add_argument("--child", choices=("training", "search"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, float(args.freeze), args.batch, args.steps, args.source)))
        return
    training = run_child("training", 0.0, args)
    if "error" in training:
        sys.exit(f"error: {training['error']}")
    gib = 2.0**30
    print(
        f"ResNet-50, batch {args.batch}, {training['device']}, JAX backend, SGD momentum 0.9"
        + (f"; search from {args.source}" if args.source else "")
    )
    print(f"{'model':14} {'state GiB':>9} {'peak GiB':>9} {'peak/training':>13} {'step ms':>8} {'step/training':>13}")
    rows = [("training", training)]
    rows += [(f"search f={f:g}", run_child("search", f, args)) for f in map(float, args.freeze.split(","))]
    for name, row in rows:
        if "error" in row:
            print(f"{name:14} error: {row['error']}")
            continue
        print(
            f"{name:14} {row['state_bytes'] / gib:>9.3f} {row['peak_bytes'] / gib:>9.3f} "
            f"{row['peak_bytes'] / training['peak_bytes']:>12.3f}x {row['step_ms']:>8.1f} "
            f"{row['step_ms'] / training['step_ms']:>12.3f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
