r"""Exports a ticket as .keras, .slt, TFLite (float, weight-only and full int8) and ONNX, and verifies them.

Example:

    python deploy/export.py --output_dir=runs/fashion_mnist_fc --format=slt,tflite --weight_int8
    python deploy/export.py --model_path=runs/fashion_mnist_fc/best.keras --dataset=fashion_mnist \
        --format=keras,tflite --weight_int8 --export_dir=out

Every file written is checked against the Keras model on real inputs (the
run's dataset): LiteRT and ONNX Runtime float outputs within 1e-4,
quantized files' top-1 agreement of at least 99% (weight-only files of
signed-constant tickets: lossless kernels and float outputs), the .slt and
.keras files reloading bit-identically. A file that fails its check is
kept as `<file>.failed`, never under its own name, and a failed quantized
file's line names the mode that keeps the answers. A table of sizes,
latencies (batch 1, median, one thread) and agreement follows. The float
TFLite model is stored sparse (as fast as dense on LiteRT, smaller);
--weight_int8 / --weight_int4 write int8 / int4 kernels with float32
activations (lossless for signed-constant tickets); --int8 writes the
densely stored full-integer model, the fastest on LiteRT's default CPU
path; --int8_sparse adds the sparse full-integer file, smaller but slower.
Before the table, the kernel LiteRT runs for each FULLY_CONNECTED layer of
each TFLite file: dense, densified at load, or block-sparse 1x4 / 1x16
(tickets searched with --block_size=4 or 16; the 1x16 int8 kernel needs
--int8_sparse). Each stage prints a line as it starts. The export holds
--export_dir's lock while it runs (`keras_slt.experiments.folder_lock`), so it never
writes into a folder a search is using; a folder other than the run's own
is left without the lock file, ready to ship. Exit status 1 when a check
fails or the folder is in use, 2 on invalid flags (an unknown format,
--weight_int4 on a model LiteRT cannot run with int4 weights, --format=onnx
without its packages: nothing is written), and on a run folder whose search
has not finished (no results.json) unless --allow_unfinished.
"""

import os

from absl import flags

from keras_slt.cli import common, dataset_flags
from keras_slt.data.custom import parse_image_size
from keras_slt.experiments import folder_lock, run_files
from keras_slt.utils.validation import check_file_name, check_positive_int

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "A search run's output folder (holding best.keras, results.json).")
flags.DEFINE_string("model_path", None, "A .keras model or .slt ticket to export, instead of --output_dir.")
flags.DEFINE_list(
    "format",
    None,
    "Formats to write: keras, slt, tflite, onnx (default keras,slt,tflite; slt only for "
    "supermask models; onnx needs pip install 'keras-slt[onnx]').",
)
flags.DEFINE_bool(
    "weight_int8",
    False,
    "Also write the weight-only int8 TFLite model: int8 kernels, float32 "
    "activations (ai-edge-quantizer); lossless for signed-constant tickets.",
)
flags.DEFINE_bool(
    "weight_int4",
    False,
    "Also write the weight-only int4 TFLite model (Dense and Conv2D "
    "kernels; a model with other weighted ops is refused).",
)
flags.DEFINE_bool(
    "int8",
    False,
    "Also write the full-integer (int8 weights and activations) TFLite model, "
    "densely stored: the fastest int8 layout on LiteRT's default CPU path (XNNPACK).",
)
flags.DEFINE_bool(
    "int8_sparse",
    False,
    "Also write the full-integer TFLite model with sparse encoding: "
    "smaller, but XNNPACK rejects it and it runs slower (see the latency column).",
)
flags.DEFINE_bool(
    "allow_unfinished",
    False,
    "Export a run folder whose search has not finished (no results.json): its best epoch so far.",
)
for name, default, help in dataset_flags.definitions(
    "Dataset for calibration and checks (a name, tfds:NAME or image_folder); default: the run's.", run_defaults=True
):
    flags.DEFINE_string(name, default, help)
flags.DEFINE_float("latency_budget_s", 1.0, "About how many seconds to time each TFLite and ONNX model.")
flags.DEFINE_string("export_dir", None, "Where to write; default: --output_dir or the model's folder.")
flags.DEFINE_string("name", "ticket", "Base name of the files written.")
flags.DEFINE_integer("max_samples", 10000, "Test inputs the checks run on.")
flags.DEFINE_integer("num_calibration", 200, "Training inputs calibrating int8 activations.")
# The library's arguments that are these flags, named as flags in its messages ("int8" is
# left out: "use int8 weights" is a word of the sentence, not the argument).
ARGUMENTS = {
    "output_dir": "output_dir",
    "formats": "format",
    **{name: name for name in ("int8_sparse", "weight_int8", "weight_int4", *dataset_flags.NAMES)},
}


def main(argv):
    del argv
    if (FLAGS.output_dir is None) == (FLAGS.model_path is None):
        raise ValueError("give exactly one of --output_dir and --model_path")
    if FLAGS.allow_unfinished and FLAGS.model_path is not None:
        raise ValueError("--allow_unfinished applies to --output_dir (a search's run folder), not to --model_path")
    for name in ("max_samples", "num_calibration"):
        check_positive_int(f"--{name}", FLAGS[name].value)
    if not FLAGS.latency_budget_s > 0:
        raise ValueError(f"--latency_budget_s must be > 0, got {FLAGS.latency_budget_s}")
    artifacts = common.load("keras_slt.deploy.artifacts")  # the flags above are checked without Keras
    from keras_slt.experiments import sources

    formats = list(artifacts.DEFAULT_FORMATS) if FLAGS.format is None else FLAGS.format
    if FLAGS.format is None and not artifacts.tflite_available():
        formats = [name for name in formats if name != "tflite"]  # the JAX install
    artifacts.check_formats(formats, FLAGS.int8, FLAGS.int8_sparse, FLAGS.weight_int8, FLAGS.weight_int4)
    if FLAGS.output_dir is not None:
        model_path, run_flags = sources.search_run(FLAGS.output_dir, FLAGS.allow_unfinished)
    else:
        model_path, run_flags = FLAGS.model_path, {}
    check_file_name("--name", FLAGS.name)
    export_dir = FLAGS.export_dir or FLAGS.output_dir or os.path.dirname(os.path.abspath(model_path))
    targets = [
        os.path.join(export_dir, FLAGS.name + ending + failed)
        for ending in artifacts.ENDINGS.values()
        for failed in ("", artifacts.FAILED)
    ]
    # Real files, not names: a symlinked folder or a hard link is the same file.
    if any(os.path.exists(target) and os.path.samefile(target, model_path) for target in targets):
        raise ValueError(f"--name={FLAGS.name} would overwrite the model being exported, {model_path}")
    dataset = FLAGS.dataset or run_flags.get("dataset")
    sources.check_dataset_options(dataset, FLAGS.data_dir, FLAGS.image_size)
    image_size = parse_image_size(FLAGS.image_size or run_flags.get("image_size"))
    model = sources.load_model(model_path)  # a refused model leaves no export_dir behind
    created = not os.path.isdir(export_dir)
    lock = os.path.join(export_dir, run_files.LOCK)
    own_lock = not os.path.exists(lock)  # a run folder keeps its search's lock file
    try:
        with folder_lock.hold(export_dir):  # before the data is loaded: a folder in use is refused at once
            try:
                return _export(model, formats, run_flags, export_dir, dataset, image_size)
            finally:
                if own_lock:
                    # A folder meant to be shipped holds the files only. Removed
                    # while held: an export starting now finds the lock taken or
                    # no file (folder_lock's reason never to unlink is about run
                    # folders, which several processes open over hours).
                    os.remove(lock)
    finally:
        if created and not os.listdir(export_dir):
            os.rmdir(export_dir)  # a refused export leaves no empty folder behind


def _export(model, formats, run_flags, export_dir, dataset, image_size):
    """Writes and checks the files, holding `export_dir`'s lock."""
    from keras_slt.deploy import artifacts, report
    from keras_slt.experiments import sources
    from keras_slt.search.supermask_model import SupermaskModel

    if FLAGS.format is None and not isinstance(model, SupermaskModel):
        formats = [name for name in formats if name != "slt"]  # a weight-trained (--algo=dense) model
    print(f"loading {dataset or 'random'} inputs ...", flush=True)
    if dataset:
        calibration, inputs = sources.dataset_inputs(
            model,
            dataset,
            FLAGS.data_dir or run_flags.get("data_dir"),
            FLAGS.num_calibration,
            FLAGS.max_samples,
            image_size,
            FLAGS.image_formats or run_flags.get("image_formats"),
        )
    else:
        calibration, inputs = sources.random_inputs(model, FLAGS.num_calibration, FLAGS.max_samples)
    result = artifacts.export_ticket(
        model,
        export_dir,
        inputs,
        formats,
        int8=FLAGS.int8,
        calibration=calibration,
        name=FLAGS.name,
        int8_sparse=FLAGS.int8_sparse,
        latency_budget_s=FLAGS.latency_budget_s,
        weight_int8=FLAGS.weight_int8,
        weight_int4=FLAGS.weight_int4,
        progress=lambda line: print(f"{line} ...", flush=True),
    )
    print()
    for check in result.checks:
        print(common.as_flags(str(check), ["weight_int8"]))  # a failed file's line names the mode that passes
    for key, layout in result.layouts.items():
        print(f"{key}: {layout}")
    print()
    print(report.size_table(model, result.sizes, result.latencies, result.agreements, result.diffs, result.failed))
    return 0 if result.passed else 1


def run():
    common.run(main, arguments=ARGUMENTS)


if __name__ == "__main__":
    run()
