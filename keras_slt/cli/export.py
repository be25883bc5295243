"""Exports a ticket as .keras, .slt and sparse (int8) TFLite, and verifies them.

Example:

    python deploy/export.py --output_dir=runs/fmnist_fc --format=slt,tflite --int8

    python deploy/export.py --model_path=best.keras --dataset=fashion_mnist \
        --export_dir=out

Every file written is checked against the Keras model on real inputs (the
run's dataset): LiteRT float output within 1e-4, int8 top-1 agreement of at
least 99%, the .slt and .keras files reloading bit-identically. Then the
kernel LiteRT runs for each FULLY_CONNECTED layer of each TFLite file
(dense, densified at load, or block-sparse 1x4 / 1x16: tickets searched with
--block_size=4 or 16), and a size table with each TFLite file's LiteRT
latency (batch 1, one thread) beside the dense file of the same precision. Exit status 1 when a check fails, 2 on invalid flags.
"""

import os

from absl import flags

from keras_slt.cli import common
from keras_slt.export import artifacts, report, sources

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "A search run's output folder (holding best.keras, results.json).")
flags.DEFINE_string("model_path", None, "A .keras model or .slt ticket to export, instead of --output_dir.")
flags.DEFINE_list("format", list(artifacts.FORMATS), "Formats to write: keras, slt, tflite.")
flags.DEFINE_bool("int8", False, "Also write a full-integer (int8) sparse TFLite model.")
flags.DEFINE_string("dataset", None, "Dataset for calibration and checks; default: the run's.")
flags.DEFINE_string("data_dir", None, "Dataset files; default: the run's, or keras_slt.data's default.")
flags.DEFINE_string("export_dir", None, "Where to write; default: --output_dir or the model's folder.")
flags.DEFINE_string("name", "ticket", "Base name of the files written.")
flags.DEFINE_integer("max_samples", 10000, "Test inputs the checks run on.")
flags.DEFINE_integer("num_calibration", 200, "Training inputs calibrating int8 activations.")


def main(argv):
    del argv
    if (FLAGS.output_dir is None) == (FLAGS.model_path is None):
        raise ValueError("give exactly one of --output_dir and --model_path")
    artifacts.check_formats(FLAGS.format, FLAGS.int8)
    for name in ("max_samples", "num_calibration"):
        if FLAGS[name].value < 1:
            raise ValueError(f"--{name} must be >= 1, got {FLAGS[name].value}")
    if FLAGS.output_dir is not None:
        model_path, run_flags = sources.search_run(FLAGS.output_dir)
    else:
        model_path, run_flags = FLAGS.model_path, {}
    export_dir = FLAGS.export_dir or FLAGS.output_dir or os.path.dirname(os.path.abspath(model_path))
    targets = [os.path.abspath(os.path.join(export_dir, FLAGS.name + ending)) for ending in artifacts.ENDINGS.values()]
    if os.path.abspath(model_path) in targets:
        raise ValueError(f"--name={FLAGS.name} would overwrite the model being exported, {model_path}")
    model = sources.load_model(model_path)
    dataset = FLAGS.dataset or run_flags.get("dataset")
    if dataset:
        calibration, inputs = sources.dataset_inputs(
            model, dataset, FLAGS.data_dir or run_flags.get("data_dir"),
            FLAGS.num_calibration, FLAGS.max_samples,
        )
    else:
        calibration, inputs = sources.random_inputs(model, FLAGS.num_calibration, FLAGS.max_samples)
    result = artifacts.export_ticket(model, export_dir, inputs, FLAGS.format, FLAGS.int8, calibration,
                                     FLAGS.name)
    for check in result.checks:
        print(check)
    for key, layout in result.layouts.items():
        print(f"{key}: {layout}")
    print()
    print(report.size_table(model, result.sizes, result.latencies))
    return 0 if result.passed else 1


def run():
    common.run(main)

