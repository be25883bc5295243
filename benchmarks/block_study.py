"""Block-structured tickets on Fashion-MNIST: accuracy, ticket bits, LiteRT latency and bytes.

Runs the grid models x block sizes B x sparsities s x freezing ratios f x
seeds with `run_search` (the recipe of configs/fashion_mnist_fc.flags:
SGD lr 0.1, momentum 0.9, weight decay 1e-4, cosine, batch 128, static
scale, global selection; `--epochs` epochs), the FC grid first. Finished runs
(a results.json in their folder) are read back, so an interrupted study
resumes by running the same command again.

For the seeds in `--export_seeds`, the best-validation ticket is exported to
float32 and int8 TFLite (sparse encoding, int8 calibrated on 200 training
images) and timed with LiteRT at batch 1 on one thread, interleaved with the
same network exported dense at the same precision (the reference: the
network with all its weights, `keras_slt.models.get(..., supermask=False)`,
converted once per model). The FULLY_CONNECTED layouts LiteRT will run (dense,
densified or block-sparse 1xK, `keras_slt.deploy.block_sparse`) are recorded
with them.

    python benchmarks/block_study.py --output_dir=runs/blocks --csv=docs/results_block_sparse.csv
    python benchmarks/block_study.py --summarize --csv=docs/results_block_sparse.csv

Writes one CSV row per run (rewritten after each run); `--summarize` prints
the CSV (several may be given, comma-separated) as the Markdown table of
docs/RESULTS.md: mean +- std test accuracy over seeds, ticket bits, and the
exported files' bytes and latency against the dense ones.
"""

import argparse
import csv
import io
import json
import os
import statistics
import sys
import time

import bench_setup  # noqa: E402, F401  (first: the checkout's code, TensorFlow's start-up lines silenced)
import keras  # noqa: E402

from keras_slt import models
from keras_slt.deploy import block_sparse, tflite
from keras_slt.experiments import run_files, sources
from keras_slt.experiments.runner import SearchConfig, run_search  # noqa: E402
from keras_slt.ticket import materialize
from keras_slt.utils import files

ARCHITECTURES = {"fc": {}, "conv4": {"width_factor": 0.25}}
COLUMNS = (
    "model",
    "block_size",
    "sparsity",
    "freeze_ratio",
    "seed",
    "test_accuracy",
    "val_accuracy",
    "model_size_bits",
    "actual_sparsity",
    "wall_time_s",
    "float_bytes",
    "float_dense_bytes",
    "float_us",
    "float_dense_us",
    "float_layout",
    "int8_bytes",
    "int8_dense_bytes",
    "int8_us",
    "int8_dense_us",
    "int8_layout",
)


def floats(text):
    return [float(v) for v in text.split(",")]


def ints(text):
    return [int(v) for v in text.split(",")]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--summarize", action="store_true", help="print the CSV(s) as a Markdown table")
    parser.add_argument("--models", default="fc,conv4")
    parser.add_argument("--block_sizes", type=ints, default=[1, 4, 16])
    parser.add_argument("--sparsities", type=floats, default=[0.5, 0.7, 0.9])
    parser.add_argument("--freeze_ratios", type=floats, default=[0.0, 0.5])
    parser.add_argument("--seeds", type=ints, default=[0, 1, 2])
    parser.add_argument("--export_seeds", type=ints, default=[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=300, help="timed LiteRT invocations per model")
    return parser.parse_args()


def search(model, block_size, sparsity, freeze_ratio, seed, epochs, output_dir):
    results_path = os.path.join(output_dir, run_files.RESULTS)
    if os.path.isfile(results_path):
        with open(results_path, encoding="utf-8") as f:
            return json.load(f)
    config = SearchConfig(
        model=model,
        dataset="fashion_mnist",
        sparsity=sparsity,
        freeze_ratio=freeze_ratio,
        scale="static",
        epochs=epochs,
        batch_size=128,
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        schedule="cosine",
        seed=seed,
        block_size=block_size,
        output_dir=output_dir,
        **ARCHITECTURES[model],
    )
    results = run_search(config)
    keras.backend.clear_session()
    return results


def interleaved_latency(contents, sample, runs):
    """Median batch-1 latency (us) of each model, timed in alternating rounds."""
    times = [[] for _ in contents]
    for _ in range(5):
        for i, content in enumerate(contents):
            times[i].append(tflite.latency(content, sample, runs=runs // 5, warmup=20))
    return [1e6 * statistics.median(t) for t in times]


def export(model_path, dense, calibration, sample, runs):
    """Bytes, latency and layouts of the ticket against the dense references."""
    plain = materialize(sources.load_model(model_path))
    row = {}
    for precision, int8 in (("float", False), ("int8", True)):
        content = tflite.to_tflite(plain, int8=int8, representative_data=calibration)
        ticket_us, dense_us = interleaved_latency([content, dense[precision]], sample, runs)
        row.update(
            {
                f"{precision}_bytes": len(content),
                f"{precision}_dense_bytes": len(dense[precision]),
                f"{precision}_us": round(ticket_us, 2),
                f"{precision}_dense_us": round(dense_us, 2),
                f"{precision}_layout": block_sparse.summary(content).removeprefix("FULLY_CONNECTED: "),
            }
        )
    keras.backend.clear_session()
    return row


def write_csv(path, rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(path, buffer.getvalue())


def read_rows(paths):
    rows = []
    for path in paths.split(","):
        with open(path, encoding="utf-8") as f:
            rows += list(csv.DictReader(f))
    return rows


def summarize(rows):
    """The Markdown table: one line per (model, s, f, B)."""
    groups = {}
    for row in rows:
        key = (row["model"], float(row["sparsity"]), float(row["freeze_ratio"]), int(row["block_size"]))
        groups.setdefault(key, []).append(row)
    lines = [
        "| model | s | f | B | test accuracy (%) | seeds | ticket bits | float bytes / dense | "
        "float latency us (dense) | float x faster | int8 bytes / dense | int8 latency us (dense) | "
        "int8 x faster | FC layout float / int8 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in sorted(groups, key=lambda k: (list(ARCHITECTURES).index(k[0]),) + k[1:]):
        group = groups[key]
        accuracy = [100 * float(row["test_accuracy"]) for row in group]
        spread = f" ± {statistics.stdev(accuracy):.2f}" if len(accuracy) > 1 else ""
        cells = [
            key[0],
            f"{key[1]:g}",
            f"{key[2]:g}",
            str(key[3]),
            f"{statistics.mean(accuracy):.2f}{spread}",
            str(len(group)),
            f"{int(float(group[0]['model_size_bits'])):,}",
        ]
        exported = [row for row in group if row.get("float_bytes")]
        if exported:
            row = exported[0]
            for precision in ("float", "int8"):
                size, dense = int(row[f"{precision}_bytes"]), int(row[f"{precision}_dense_bytes"])
                us, dense_us = float(row[f"{precision}_us"]), float(row[f"{precision}_dense_us"])
                cells += [f"{size / dense:.3f}", f"{us:.0f} ({dense_us:.0f})", f"{dense_us / us:.2f}"]
            cells.append(f"{row['float_layout']} / {row['int8_layout']}")
        else:
            cells += ["-"] * 7
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    args = parse_args()
    if args.summarize:
        print(summarize(read_rows(args.csv)))
        return
    if not args.output_dir:
        sys.exit("error: --output_dir is required (except with --summarize)")
    rows = []
    for model in args.models.split(","):
        dense = None
        for seed in args.seeds:
            for block_size in args.block_sizes:
                for sparsity in args.sparsities:
                    for freeze_ratio in args.freeze_ratios:
                        name = f"{model}_b{block_size}_s{sparsity:g}_f{freeze_ratio:g}_seed{seed}"
                        folder = os.path.join(args.output_dir, name)
                        start = time.time()
                        results = search(model, block_size, sparsity, freeze_ratio, seed, args.epochs, folder)
                        row = {
                            "model": model,
                            "block_size": block_size,
                            "sparsity": sparsity,
                            "freeze_ratio": freeze_ratio,
                            "seed": seed,
                            **{
                                key: results[key]
                                for key in (
                                    "test_accuracy",
                                    "val_accuracy",
                                    "model_size_bits",
                                    "actual_sparsity",
                                    "wall_time_s",
                                )
                            },
                        }
                        if seed in args.export_seeds:
                            model_path = sources.search_run(folder)[0]
                            exported = os.path.join(folder, "export.json")
                            if os.path.isfile(exported):
                                with open(exported, encoding="utf-8") as f:
                                    row.update(json.load(f))
                            else:
                                supermask = sources.load_model(model_path)
                                calibration, inputs = sources.dataset_inputs(supermask, "fashion_mnist", max_samples=1)
                                if dense is None:
                                    # The reference: the network itself, all weights, converted dense (a
                                    # ticket would do as well, unless it is a dead one whose zero
                                    # activations leave the int8 model to the slow built-in kernels).
                                    plain = models.get(model, (28, 28, 1), 10, supermask=False, **ARCHITECTURES[model])
                                    dense = {
                                        "float": tflite.to_tflite(plain, sparse=False),
                                        "int8": tflite.to_tflite(
                                            plain, int8=True, sparse=False, representative_data=calibration
                                        ),
                                    }
                                measured = export(model_path, dense, calibration, inputs[0], args.runs)
                                files.write_json(exported, measured)
                                row.update(measured)
                        rows.append(row)
                        write_csv(args.csv, rows)
                        print(
                            f"{name}: acc {100 * row['test_accuracy']:.2f} bits {row['model_size_bits']} "
                            f"float {row.get('float_us', '-')}/{row.get('float_dense_us', '-')} us "
                            f"({row.get('float_layout', '-')}) int8 {row.get('int8_bytes', '-')}/"
                            f"{row.get('int8_dense_bytes', '-')} B ({row.get('int8_layout', '-')}) "
                            f"[{time.time() - start:.0f} s]",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
