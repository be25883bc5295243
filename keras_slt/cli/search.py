"""Searches a strong lottery ticket, or trains weights, on one dataset.

Example:

    python tools/search.py --flagfile=configs/fashion_mnist_fc.flags
    python tools/search.py --model=conv6 --dataset=cifar10 --data_dir=/data \
        --sparsity=0.5 --freeze_ratio=0.5 --output_dir=runs/conv6_f0.5

Running the same command again resumes an interrupted run from its
--output_dir. Prints a Keras progress bar on a terminal, one line per epoch
elsewhere (a log file, a pipe), then one summary line and the files it
wrote: TensorBoard logs, best.keras and results.json in --output_dir. A flag
given for a run it does not apply to (--image_size with Fashion-MNIST,
--batch_size with a graph, ...) is refused before any data is read. The flags are
the fields of `keras_slt.experiments.config.SearchConfig` (`--helpfull`
lists them); `keras_slt.experiments.search` describes the recipe and files.
"""

import dataclasses
import typing

from absl import flags

from keras_slt import run_files
from keras_slt.cli import common
from keras_slt.experiments import config, search

FLAGS = flags.FLAGS

# absl's flag definer for each field type (Optional[X] uses X's).
_DEFINERS = {str: flags.DEFINE_string, int: flags.DEFINE_integer,
             float: flags.DEFINE_float, bool: flags.DEFINE_bool}


def _value_type(annotation):
    """The non-None type of a field annotation (`float | None` -> float)."""
    types = [t for t in typing.get_args(annotation) if t is not type(None)] or [annotation]
    return types[0]


def define_flags(config_class=config.SearchConfig):
    """Defines one absl flag per field of `config_class`, help from its metadata."""
    for field in dataclasses.fields(config_class):
        definer = _DEFINERS[_value_type(field.type)]
        definer(field.name, field.default, field.metadata["help"])


define_flags()


def config_from_flags():
    """The `SearchConfig` of the parsed flags."""
    return config.SearchConfig(
        **{field.name: FLAGS[field.name].value for field in dataclasses.fields(config.SearchConfig)}
    )


def given_flags():
    """Names of the settings given on the command line or in a flagfile."""
    return [field.name for field in dataclasses.fields(config.SearchConfig) if FLAGS[field.name].present]


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    run_config = config_from_flags()
    run_config.validate(given_flags())  # before any data is read
    try:
        results = search.run_search(run_config)
    except search.WorkerLostError as error:
        common.fail(error, status=1)  # the run failed; its flags were fine
    print(search.summary(results))
    for line in run_files.written(run_config.output_dir):
        print(line)


def run():
    common.run(main)
