"""Sizes of an FC 784-1024-1024-10 ticket in every deployment form.

Builds the ticket with `keras_slt.supermaskify` (sparsity 0.9, freezing ratio
0.5, signed Kaiming constant weights), searches it briefly on Fashion-MNIST,
exports it with `export_ticket` (checks included) and prints:
- the size table (dense float32, the paper's 1 bit per free weight, the
  entropy bound, the .slt file, float TFLite dense/sparse, int8 TFLite);
- the .slt file against its bound, 1.05 x entropy + 1 KB;
- whether the int8 kernels are lossless (signed-constant weights take two
  values per layer, so per-channel int8 can represent them exactly);
- LiteRT latency, dense vs sparse, batch 1.

Example:

    python benchmarks/ticket_sizes.py --steps=300 --export_dir=runs/fc_ticket
"""

import tempfile

import bench_setup  # noqa: E402, F401  (first: the checkout's code, TensorFlow's start-up lines silenced)
import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import keras_slt  # noqa: E402
from keras_slt import data  # noqa: E402
from keras_slt.data.batching.plan import normalize  # noqa: E402
from keras_slt.deploy import artifacts, quantize, report, tflite
from keras_slt.experiments import sources  # noqa: E402
from keras_slt.ticket import effective_kernels

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 300, "Search steps (batch 128) before exporting; 0 keeps the initial scores.")
flags.DEFINE_string("data_dir", None, "Fashion-MNIST IDX files; default keras_slt.data's.")
flags.DEFINE_integer("seed", 0, "Model seed.")
flags.DEFINE_string("export_dir", None, "Keep the exported files here; default: a temporary folder.")


def build_ticket(seed):
    base = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    return keras_slt.supermaskify(
        base, sparsity=0.9, freeze_ratio=0.5, weight_init="signed_kaiming_constant", seed=seed
    )


def int8_kernel_error(content, kernels):
    """Largest relative error of the dequantized int8 kernels vs W_eff.

    TFLite stores a Dense kernel transposed, (units, inputs), with one scale
    per unit.
    """
    by_shape = {k.T.shape: k.T for k in kernels}
    return max(
        float(np.max(np.abs(w - by_shape[w.shape]) / np.abs(by_shape[w.shape]).max()))
        for w in quantize.dequantized_weights(content).values()
        if w.shape in by_shape
    )


def main(argv):
    del argv
    model = build_ticket(FLAGS.seed)
    calibration, inputs = sources.dataset_inputs(model, "fashion_mnist", FLAGS.data_dir)
    if FLAGS.steps:
        x_train, y_train, _, _ = data.load_arrays("fashion_mnist", FLAGS.data_dir)
        spec = data.SPECS["fashion_mnist"]
        x_train = np.asarray(normalize(x_train, spec.mean, spec.std))
        model.compile(
            keras.optimizers.Adam(1e-2),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(x_train, y_train, batch_size=128, steps_per_epoch=FLAGS.steps, epochs=1, verbose=2)
    with tempfile.TemporaryDirectory() as directory:
        result = artifacts.export_ticket(
            model, FLAGS.export_dir or directory, inputs, int8=True, calibration=calibration, int8_sparse=True
        )
        with open(result.paths["tflite_int8"], "rb") as f:
            int8_dense = f.read()
    plain = keras_slt.ticket.materialize(model)
    sizes = result.sizes
    for check in result.checks:
        print(check)
    print()
    print(report.size_table(model, sizes, result.latencies))

    accounting = keras_slt.model_size(model)
    bound = 1.05 * accounting.entropy_bits / 8 + 1024
    print(
        f"\n.slt {sizes['slt']:,} bytes; bound 1.05 x entropy + 1 KB = {bound:,.0f} bytes: "
        f"{'ok' if sizes['slt'] <= bound else 'EXCEEDED'}"
    )
    print(
        f"sparse/dense float TFLite: {sizes['tflite'] / sizes['tflite_dense']:.3f}; "
        f"int8 sparse/float sparse: {sizes['tflite_int8_sparse'] / sizes['tflite']:.3f}"
    )
    error = int8_kernel_error(int8_dense, effective_kernels(model))
    print(
        f"int8 kernels: max relative error {error:.2e} "
        f"({'lossless up to float32 rounding of the scales' if error < 1e-6 else 'lossy'})"
    )
    for int8 in (False, True):
        dense, sparse = tflite.dense_sparse_latency(plain, inputs[0], int8, calibration, runs=500, warmup=50)
        print(
            f"LiteRT {'int8' if int8 else 'float32':7} batch 1: dense {dense * 1e6:.1f} us, "
            f"sparse {sparse * 1e6:.1f} us, sparse: {dense / sparse:.2f}x faster than dense"
        )
    return 0 if result.passed else 1


if __name__ == "__main__":
    app.run(main)
