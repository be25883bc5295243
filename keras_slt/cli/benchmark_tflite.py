"""Times LiteRT inference of a ticket, dense vs sparse TFLite (batch 1).

Example:

    python deploy/benchmark_tflite.py --model_path=runs/fashion_mnist_fc/best.keras --dataset=fashion_mnist --int8

Prints the median latency of each conversion and how many times faster
than dense the sparse one runs (dense time / sparse time, above 1: faster;
the convention of deploy/export.py's table). LiteRT expands randomly sparse
weights once when the model is prepared (DENSIFY), so expect a ratio near 1
for unblocked tickets: sparse encoding saves file size. Tickets with 1x4 (float) or 1x16 (int8) blocked Dense
masks run on LiteRT's block-sparse kernels instead (see
`keras_slt.deploy.block_sparse`).
"""

from absl import flags

from keras_slt.cli import common, dataset_flags
from keras_slt.data.custom import parse_image_size
from keras_slt.utils.validation import check_positive_int

FLAGS = flags.FLAGS
flags.DEFINE_string("model_path", None, "A .keras model or .slt ticket.")
flags.DEFINE_bool("int8", False, "Also time the int8 conversions.")
for name, default, help in dataset_flags.definitions(
    "Dataset for the timed input and int8 calibration; default random.", run_defaults=False
):
    flags.DEFINE_string(name, default, help)
flags.DEFINE_integer("runs", 500, "Timed invocations per model.")
flags.DEFINE_integer("warmup", 50, "Untimed invocations first.")
flags.DEFINE_integer("num_threads", 1, "LiteRT CPU threads.")
flags.mark_flag_as_required("model_path")


def main(argv):
    del argv
    for name in ("runs", "num_threads"):
        check_positive_int(f"--{name}", FLAGS[name].value)
    if FLAGS.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {FLAGS.warmup}")
    sources = common.load("keras_slt.experiments.sources")  # the flags above are checked without Keras
    import keras

    from keras_slt.deploy import tflite

    sources.check_dataset_options(FLAGS.dataset, FLAGS.data_dir, FLAGS.image_size)
    model = sources.load_model(FLAGS.model_path)
    if FLAGS.dataset:
        calibration, inputs = sources.dataset_inputs(
            model,
            FLAGS.dataset,
            FLAGS.data_dir,
            max_samples=1,
            image_size=parse_image_size(FLAGS.image_size),
            image_formats=FLAGS.image_formats,
        )
    else:
        calibration, inputs = sources.random_inputs(model, max_samples=1)
    timing = {"runs": FLAGS.runs, "warmup": FLAGS.warmup, "num_threads": FLAGS.num_threads}
    sample = [x[0] for x in keras.tree.flatten(inputs)]
    for int8 in (False, True) if FLAGS.int8 else (False,):
        dense, sparse = tflite.dense_sparse_latency(model, sample, int8, calibration, **timing)
        print(
            f"{'int8' if int8 else 'float32':8} dense {dense * 1e6:9.1f} us  sparse {sparse * 1e6:9.1f} us"
            f"  sparse: {dense / sparse:.3f}x faster than dense"
        )


def run():
    common.run(main, arguments=dataset_flags.NAMES)


if __name__ == "__main__":
    run()
