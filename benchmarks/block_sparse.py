"""Blocked FC tickets on LiteRT: latency and bytes against the dense export.

Builds FC 784-1024-1024-10 tickets (`supermaskify`, sparsity 0.9, freezing
ratio 0.5, seed 0) with block sizes 1, 4 and 16 (their initial masks: the
TFLite layout and cost depend on where the zeros are, not on how the mask was
searched), converts them with `keras_slt.deploy.to_tflite` (float32, and
int8 calibrated on 200 Fashion-MNIST training images) and times each with
LiteRT at batch 1 on one thread, in interleaved rounds with the same network
converted dense at the same precision (the baseline, measured in the same
run). Prints bytes, median latency and the FULLY_CONNECTED layout LiteRT runs
for each file, then the targets:

- float32, 1x4 blocks: dense latency / block latency >= 1.8;
- int8, 1x16 blocks: block bytes / dense bytes <= 0.15;
- accuracy (from the block study's CSV, `benchmarks/block_study.py`): mean
  test accuracy of blocked FC tickets at s = 0.9 within 1 point of the
  unblocked ones (B = 1) at the same freezing ratio.

    python benchmarks/block_sparse.py --csv=docs/results_block_sparse.csv
"""

import argparse
import csv
import os
import statistics

import bench_setup  # noqa: E402, F401  (first: the checkout's code, TensorFlow's start-up lines silenced)
import keras  # noqa: E402

import keras_slt  # noqa: E402
from keras_slt.deploy import block_sparse, tflite
from keras_slt.experiments import sources  # noqa: E402
from keras_slt.models import convnets  # noqa: E402
from keras_slt.ticket import materialize

SPARSITY = 0.9


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", default="docs/results_block_sparse.csv", help="the block study's table")
    parser.add_argument("--runs", type=int, default=1000, help="timed invocations per model")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds")
    return parser.parse_args()


def ticket(block_size):
    base = convnets.fc((28, 28, 1), 10)
    return keras_slt.supermaskify(
        base, sparsity=SPARSITY, freeze_ratio=0.5, seed=0, block_size=block_size, scale="static"
    )


def timed(contents, sample, runs, rounds):
    """Median batch-1 latency (s) of each model, over interleaved rounds."""
    times = {key: [] for key in contents}
    for _ in range(rounds):
        for key, content in contents.items():
            times[key].append(tflite.latency(content, sample, runs=runs // rounds, warmup=20))
    return {key: statistics.median(values) for key, values in times.items()}


def accuracy_rows(path):
    """Mean FC test accuracy (%) at s = 0.9 by (freeze_ratio, block_size), and seed counts."""
    if not os.path.isfile(path):
        return {}
    groups = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["model"] == "fc" and float(row["sparsity"]) == SPARSITY:
                key = (float(row["freeze_ratio"]), int(row["block_size"]))
                groups.setdefault(key, []).append(100 * float(row["test_accuracy"]))
    return {key: (statistics.mean(values), len(values)) for key, values in sorted(groups.items())}


def main():
    args = parse_args()
    calibration, inputs = sources.dataset_inputs(ticket(1), "fashion_mnist", max_samples=1)
    contents = {}
    for block_size in (1, 4, 16):
        plain = materialize(ticket(block_size))
        if block_size == 1:
            contents["float dense"] = tflite.to_tflite(plain, sparse=False)
            contents["int8 dense"] = tflite.to_tflite(plain, int8=True, representative_data=calibration, sparse=False)
        contents[f"float B={block_size}"] = tflite.to_tflite(plain)
        contents[f"int8 B={block_size}"] = tflite.to_tflite(plain, int8=True, representative_data=calibration)
        keras.backend.clear_session()
    latency = timed(contents, inputs[0], args.runs, args.rounds)
    print(
        f"FC 784-1024-1024-10, s = {SPARSITY}, f = 0.5; LiteRT batch 1, 1 thread, "
        f"median of {args.runs} runs in {args.rounds} interleaved rounds; load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'model':14} {'bytes':>10} {'latency us':>11}  layout")
    for key, content in contents.items():
        layout = block_sparse.summary(content).removeprefix("FULLY_CONNECTED: ")
        print(f"{key:14} {len(content):10,} {1e6 * latency[key]:11.1f}  {layout}")
    speedup = latency["float dense"] / latency["float B=4"]
    bytes_ratio = len(contents["int8 B=16"]) / len(contents["int8 dense"])
    print(
        f"\nfloat 1x4: dense / block latency = {speedup:.2f}x (target >= 1.8): {'ok' if speedup >= 1.8 else 'MISSED'}"
    )
    print(
        f"int8 1x16: block / dense bytes = {bytes_ratio:.3f} (target <= 0.15): "
        f"{'ok' if bytes_ratio <= 0.15 else 'MISSED'}"
    )
    print(
        f"int8 1x16: dense / block latency = {latency['int8 dense'] / latency['int8 B=16']:.2f}x; "
        f"float 1x16: {latency['float dense'] / latency['float B=16']:.2f}x"
    )
    accuracy = accuracy_rows(args.csv)
    if not accuracy:
        print(f"\nno FC rows at s = {SPARSITY} in {args.csv}: run benchmarks/block_study.py first")
        return
    print(f"\nFC test accuracy at s = {SPARSITY} ({args.csv}), mean over seeds:")
    for (freeze_ratio, block_size), (mean, count) in accuracy.items():
        reference = accuracy.get((freeze_ratio, 1))
        delta = f"{mean - reference[0]:+.2f} vs B=1" if reference and block_size != 1 else ""
        verdict = ("ok" if mean - reference[0] >= -1.0 else "MISSED") if delta else ""
        print(f"  f = {freeze_ratio:g}, B = {block_size:2d}: {mean:.2f} % ({count} seeds) {delta} {verdict}")


if __name__ == "__main__":
    main()
