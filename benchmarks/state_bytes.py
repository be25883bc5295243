"""Bytes of search state: supermask search against training the same network.

Counts the bytes of every model and optimizer variable (SGD with momentum
0.9, its slots built) of
- the search: `keras_slt.models.get(name, supermask=True)` with
  signed-constant weights at each freeze ratio, in this version's lean
  layout (docs/METHOD.md, section 11 (Search state));
- the full layout, which holds the tensors of docs/METHOD.md, section 1
  whole: per supermask weight a float32 W, and per mask entry a float32
  score, an int8 freeze entry and a float32 momentum slot (computed from the
  layer shapes; the other variables as in the lean model);
- training: the same architecture with ordinary weights
  (`models.get(name, supermask=False)`, the official weight-trained
  baseline) and the same optimizer.

Deterministic: no timing. Prints bytes per supermask weight and the ratio
of the search's bytes to training's (target at ResNet-50, f = 0.7: <= 0.5x;
at f = 0, lean <= full).

Usage:
    python benchmarks/state_bytes.py
    python benchmarks/state_bytes.py --models fc,conv6 --freeze 0,0.5
"""

import argparse

import bench_setup  # noqa: E402, F401  (first: the checkout's code, TensorFlow's start-up lines silenced)
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_slt  # noqa: E402

# name -> (input shape, classes)
ARCHITECTURES = {
    "fc": ((784,), 10),
    "conv6": ((32, 32, 3), 10),
    "resnet18": ((32, 32, 3), 10),
    "resnet50": ((224, 224, 3), 1000),
}


def variable_bytes(variables):
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)


def state_bytes(model):
    """Bytes of the model's variables and its optimizer's, slots built."""
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.build(model.trainable_variables)
    return variable_bytes(model.variables) + variable_bytes(optimizer.variables)


def full_bytes(model, lean_bytes):
    """The bytes of `model` in the full layout, from its layer shapes."""
    layers = model.supermask_layers
    lean_layers = sum(variable_bytes(layer.search_state) + 4 * int(layer.scores.shape[0]) for layer in layers)
    full_layers = 0
    for layer in layers:
        entries = int(np.prod(layer.layout.mask_shape))
        full_layers += 4 * layer.num_weights + (4 + 1 + 4) * entries
    return lean_bytes - lean_layers + full_layers


def measure(name, freeze, sparsity):
    shape, classes = ARCHITECTURES[name]
    model = keras_slt.models.get(name, shape, classes, sparsity=sparsity, freeze_ratio=freeze, seed=0)
    model.build((None,) + shape)
    weights = sum(layer.num_weights for layer in model.supermask_layers)
    lean = state_bytes(model)
    return weights, lean, full_bytes(model, lean)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(ARCHITECTURES))
    parser.add_argument("--freeze", default="0,0.5,0.7", help="freeze ratios, e.g. 0,0.5,0.7")
    parser.add_argument("--sparsity", type=float, default=0.5)
    args = parser.parse_args(argv)
    print(
        f"backend={keras.backend.backend()} optimizer=SGD(momentum=0.9) sparsity={args.sparsity} "
        "weights=signed_kaiming_constant; bytes per supermask weight"
    )
    print(
        f"{'model':9} {'weights':>10} {'f':>4} {'training':>9} {'full':>7} {'lean':>6} "
        f"{'full/training':>15} {'lean/training':>13}"
    )
    for name in args.models.split(","):
        shape, classes = ARCHITECTURES[name]
        plain = keras_slt.models.get(name, shape, classes, supermask=False)
        plain.build((None,) + shape)
        training = state_bytes(plain)
        for freeze in (float(f) for f in args.freeze.split(",")):
            weights, lean, full = measure(name, freeze, args.sparsity)
            print(
                f"{name:9} {weights:>10,} {freeze:>4.2g} {training / weights:>9.3f} {full / weights:>7.3f} "
                f"{lean / weights:>6.3f} {full / training:>14.3f}x {lean / training:>12.3f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
