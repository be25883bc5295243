r"""Searches a strong lottery ticket, or trains weights, on one dataset.

Example:

    python tools/search.py --flagfile=configs/fashion_mnist_fc.flags
    python tools/search.py --model=conv6 --dataset=cifar10 --data_dir=<CIFAR-10 folder> \
        --sparsity=0.5 --freeze_ratio=0.5 --epochs=5 --output_dir=runs/conv6_f0.5

Running the same command again resumes an interrupted run (Ctrl-C keeps the
last complete epoch) from its --output_dir; on a finished run it prints the
stored results. Prints a Keras progress bar on a terminal, one line per
epoch elsewhere (a log file, a pipe), then a ticket's masks layer by layer
(`keras_slt.mask_summary`; its total alone beyond 20 layers), one summary
line and the files it wrote in --output_dir: results.json, best.keras, the epoch log and, with
TensorFlow, TensorBoard logs. A flag given for a run it does not apply to
(--image_size with Fashion-MNIST, --batch_size with a graph, ...) is refused
before any data is read, and so is a second command on an --output_dir in
use (the run holds the folder's lock, `keras_slt.experiments.folder_lock`). The flags are
the fields of `keras_slt.experiments.config.SearchConfig`;
`keras_slt.experiments.runner` describes the recipe and files.
"""

import dataclasses

from absl import flags

from keras_slt.cli import common, search_flags
from keras_slt.experiments import config, run_files

FLAGS = flags.FLAGS
search_flags.define_flags(FLAGS)


def config_from_flags():
    """The `SearchConfig` of the parsed flags."""
    return search_flags.config_from_flags(FLAGS)


def given_flags():
    """Names of the settings given on the command line or in a flagfile."""
    return [field.name for field in dataclasses.fields(config.SearchConfig) if FLAGS[field.name].present]


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    run_config = config_from_flags()
    run_config.validate(given_flags())  # before any data is read, and before Keras loads
    search = common.load("keras_slt.experiments.runner")
    results = search.run_search(run_config)
    print("\n".join(search.report(results)))
    for line in run_files.written(run_config.output_dir):
        print(line)


def run():
    common.run(main, search_flags.help_groups(), arguments=search_flags.SETTINGS)


if __name__ == "__main__":
    run()
