"""Searches a strong lottery ticket, or trains weights, on one dataset.

Example:

    python tools/search.py --flagfile=configs/fashion_mnist_fc.flags
    python tools/search.py --model=conv6 --dataset=cifar10 --data_dir=/data \
        --sparsity=0.5 --freeze_ratio=0.5 --output_dir=runs/conv6_f0.5

Running the same command again resumes an interrupted run from its
--output_dir. Prints Keras progress bars, then one summary line; writes
TensorBoard logs, best.keras and results.json to --output_dir. See
`keras_slt.search` for the recipe and the files.
"""

import dataclasses

from absl import flags

from keras_slt import cli, distributions, initializers, models, search
from keras_slt import data as datasets
from keras_slt.layers import SCALES
from keras_slt.model import SELECTIONS
from keras_slt.models.resnet import STEMS

FLAGS = flags.FLAGS
_DEFAULT = search.SearchConfig()


def _choices(names):
    return f"One of {', '.join(names)}."


flags.DEFINE_string("model", _DEFAULT.model, "Network. " + _choices(models.NAMES))
flags.DEFINE_string("dataset", _DEFAULT.dataset, "Dataset. " + _choices(datasets.NAMES))
flags.DEFINE_string("data_dir", None, "Folder of the dataset files (default: the data module's).")
flags.DEFINE_string("algo", _DEFAULT.algo, "ep: ticket search (Edge-Popup); dense: weight training.")
flags.DEFINE_string("selection", _DEFAULT.selection, "Mask selection. " + _choices(SELECTIONS))
flags.DEFINE_float("sparsity", _DEFAULT.sparsity, "Target ticket sparsity s, in [p, 1 - r].")
flags.DEFINE_float("freeze_ratio", None, "Freezing ratio f: p = f*s pruned, r = f*(1-s) locked.")
flags.DEFINE_float("prune_ratio", None, "Fraction p permanently pruned (instead of --freeze_ratio).")
flags.DEFINE_float("lock_ratio", None, "Fraction r permanently locked (instead of --freeze_ratio).")
flags.DEFINE_string("distribution", _DEFAULT.distribution,
                    "Layer-wise spread of p and r. " + _choices(distributions.METHODS))
flags.DEFINE_string("weight_init", _DEFAULT.weight_init, "Random weights. " + _choices(initializers.NAMES))
flags.DEFINE_string("score_init", _DEFAULT.score_init, "Initial scores. " + _choices(initializers.NAMES))
flags.DEFINE_string("scale", _DEFAULT.scale, "Kernel scaling. " + _choices(SCALES))
flags.DEFINE_integer("width", None, "fc: hidden units (default 1024).")
flags.DEFINE_float("width_factor", None, "conv and ResNet models: channel multiplier (default 1).")
flags.DEFINE_string("stem", None, "resnet18/34: " + _choices(STEMS) + " Default: by input size.")
flags.DEFINE_integer("epochs", _DEFAULT.epochs, "Training epochs.")
flags.DEFINE_integer("batch_size", _DEFAULT.batch_size, "Global batch size.")
flags.DEFINE_float("lr", _DEFAULT.lr, "Initial learning rate.")
flags.DEFINE_float("momentum", _DEFAULT.momentum, "SGD momentum.")
flags.DEFINE_float("weight_decay", _DEFAULT.weight_decay, "Coupled (L2, PyTorch-style) weight decay.")
flags.DEFINE_string("schedule", _DEFAULT.schedule, "Learning-rate schedule. " + _choices(search.SCHEDULES))
flags.DEFINE_integer("seed", _DEFAULT.seed, "Model seed; also fixes the split, data order and augmentation.")
flags.DEFINE_string("output_dir", None, "Folder for checkpoints, logs and results.json (required).")
flags.DEFINE_bool("jit", _DEFAULT.jit, "Compile the train step with XLA.")
flags.DEFINE_bool("mixed_precision", _DEFAULT.mixed_precision, "Train under mixed_float16.")
flags.DEFINE_string("strategy", _DEFAULT.strategy, "tf.distribute strategy. " + _choices(search.STRATEGIES))


def config_from_flags():
    """The `search.SearchConfig` of the parsed flags."""
    return search.SearchConfig(
        **{field.name: FLAGS[field.name].value for field in dataclasses.fields(search.SearchConfig)}
    )


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    print(search.summary(search.run_search(config_from_flags())))


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
