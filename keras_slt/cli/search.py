"""Searches a strong lottery ticket, or trains weights, on one dataset.

Example:

    python tools/search.py --flagfile=configs/fashion_mnist_fc.flags
    python tools/search.py --model=conv6 --dataset=cifar10 --data_dir=/data \
        --sparsity=0.5 --freeze_ratio=0.5 --output_dir=runs/conv6_f0.5

Running the same command again resumes an interrupted run from its
--output_dir; a second command on an --output_dir in use is refused (the run
holds the folder's lock, `keras_slt.folder_lock`). Prints Keras progress bars, then one summary line; writes
TensorBoard logs, best.keras and results.json to --output_dir. The flags are
the fields of `keras_slt.experiments.config.SearchConfig` (`--helpfull`
lists them); `keras_slt.experiments.search` describes the recipe and files.
"""

from absl import flags

from keras_slt.cli import common, search_flags
from keras_slt.experiments import search

FLAGS = flags.FLAGS
search_flags.define_flags(FLAGS)


def config_from_flags():
    """The `SearchConfig` of the parsed flags."""
    return search_flags.config_from_flags(FLAGS)


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        results = search.run_search(config_from_flags())
    except search.WorkerLostError as error:
        common.fail(error, status=1)  # the run failed; its flags were fine
    print(search.summary(results))


def run():
    common.run(main)
