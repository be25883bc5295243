"""Weight-only int8 / int4 TFLite: the paths tried, their bytes, answers and LiteRT latency.

For one ticket (a `.keras` or `.slt` file) and its dataset's test inputs,
converts the materialized model in every way LiteRT offers to store int8 or
int4 weights, and prints for each: bytes (and x the dense and the sparse
float32 file), max |diff| and top-1 agreement with Keras, and the LiteRT
latency at batch 1 on one thread with how many times faster than the
dense float32 file it runs (measured in the same run). The rows:

- float32, dense and sparse (`to_tflite`): the references;
- ai-edge-quantizer weight-only int8 / int4 (explicit DEQUANTIZE, float32
  compute) on the dense and on the sparse float file: what
  `keras_slt.deploy.quantize.weight_only` does (on the dense one);
- the converter's dynamic-range mode (`Optimize.DEFAULT`, no calibration
  data), dense and with `EXPERIMENTAL_SPARSITY`: int8 weights, activations
  quantized on the fly by hybrid kernels;
- ai-edge-quantizer's dynamic int8 / int4 recipes (the same run-time
  activation quantization);
- Keras's `model.export(format="litert")` with the sparse converter
  settings, against `to_tflite`'s sparse file (same bytes? same outputs?).

Example:

    python benchmarks/weight_quantization.py --model_path=runs/cifar10_conv6_short/best.keras \\
        --dataset=cifar10 --data_dir=<CIFAR-10 folder> --max_samples=2000
"""

import contextlib
import io
import os
import tempfile

import bench_setup  # noqa: F401  (first: the checkout's code, TensorFlow's start-up lines silenced)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from keras_slt.deploy import latency, quantize, tflite
from keras_slt.experiments import sources  # noqa: E402
from keras_slt.search.supermask_model import SupermaskModel  # noqa: E402
from keras_slt.ticket import materialize

FLAGS = flags.FLAGS
flags.DEFINE_string("model_path", None, "A .keras model or .slt ticket.")
flags.DEFINE_string("dataset", None, "Dataset of the test inputs; default random inputs.")
flags.DEFINE_string("data_dir", None, "Dataset files.")
flags.DEFINE_integer("max_samples", 2000, "Test inputs the answers are compared on.")
flags.DEFINE_float("latency_budget_s", 1.0, "About how many seconds to time each model.")
flags.mark_flag_as_required("model_path")


def dynamic_range(plain, sparse):
    """The converter's dynamic-range mode: Optimize.DEFAULT without calibration data."""
    with tempfile.TemporaryDirectory() as directory:
        plain.export(directory, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(directory)
        converter.optimizations = [tf.lite.Optimize.DEFAULT] + (
            [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
        )
        return converter.convert()


def quantizer_recipe(content, name):
    """`content` quantized by one of ai-edge-quantizer's recipes."""
    from ai_edge_quantizer import quantizer, recipe

    tool = quantizer.Quantizer(content)
    tool.load_quantization_recipe(getattr(recipe, name)())
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(tool.quantize().quantized_model)


def keras_litert(plain):
    """Keras's own LiteRT export with `to_tflite`'s sparse settings."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.tflite")
        plain.export(
            path,
            format="litert",
            verbose=False,
            optimizations=[tf.lite.Optimize.EXPERIMENTAL_SPARSITY],
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]},
        )
        with open(path, "rb") as f:
            return f.read()


def main(argv):
    del argv
    model = sources.load_model(FLAGS.model_path)
    if FLAGS.dataset:
        _, inputs = sources.dataset_inputs(model, FLAGS.dataset, FLAGS.data_dir, max_samples=FLAGS.max_samples)
    else:
        _, inputs = sources.random_inputs(model, max_samples=FLAGS.max_samples)
    plain = materialize(model) if isinstance(model, SupermaskModel) else model
    expected = plain.predict(inputs, batch_size=256, verbose=0)
    dense, sparse = tflite.to_tflite(plain, sparse=False), tflite.to_tflite(plain)
    variants = {
        "float32, dense (to_tflite)": dense,
        "float32, sparse (to_tflite)": sparse,
        "Keras export(format='litert'), sparse": keras_litert(plain),
        "ai-edge-quantizer weight-only int8, on dense (chosen)": quantize.weight_only(dense, 8),
        "ai-edge-quantizer weight-only int8, on sparse": quantizer_recipe(sparse, "weight_only_wi8_afp32"),
        "converter dynamic-range int8, dense": dynamic_range(plain, sparse=False),
        "converter dynamic-range int8, sparse": dynamic_range(plain, sparse=True),
        "ai-edge-quantizer dynamic int8, on dense": quantizer_recipe(dense, "dynamic_wi8_afp32"),
    }
    try:
        variants["ai-edge-quantizer weight-only int4, on dense (chosen)"] = quantize.weight_only(dense, 4)
        variants["ai-edge-quantizer dynamic int4, on dense"] = quantizer_recipe(dense, "dynamic_wi4_afp32")
    except ValueError as error:
        print(f"int4: {error}")
    sample = inputs[0]
    timings = {name: latency.measure(content, sample, FLAGS.latency_budget_s) for name, content in variants.items()}
    reference = timings["float32, dense (to_tflite)"].seconds
    width = max(map(len, variants))
    print(
        f"{'':{width}}  {'bytes':>10}  {'x dense':>7}  {'x sparse':>8}  {'max |diff|':>10}  {'top-1 agr':>9}  "
        f"{'LiteRT ms':>9}  {'x faster than dense':>19}"
    )
    for name, content in variants.items():
        found = tflite.predict(content, inputs)
        diff = float(np.max(np.abs(found - expected)))
        agreement = float(np.mean(found.argmax(-1) == expected.argmax(-1)))
        print(
            f"{name:{width}}  {len(content):10,d}  {len(content) / len(dense):7.3f}  "
            f"{len(content) / len(sparse):8.3f}  {diff:10.2e}  {agreement:9.4f}  "
            f"{timings[name].seconds * 1e3:9.3f}  {reference / timings[name].seconds:19.2f}"
        )
    keras_file = variants["Keras export(format='litert'), sparse"]
    print(
        f"Keras export(format='litert') vs to_tflite, sparse: {len(keras_file):,} vs {len(sparse):,} bytes, "
        f"outputs max |diff| {np.max(np.abs(tflite.predict(keras_file, inputs) - tflite.predict(sparse, inputs))):.2e}"
    )
    print(
        f"weight-only int8 kernels: max relative error to the float ones "
        f"{quantize.weight_error(variants['ai-edge-quantizer weight-only int8, on dense (chosen)'], dense):.2e}"
    )
    return 0


if __name__ == "__main__":
    app.run(main)
