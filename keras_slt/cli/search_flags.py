"""The search tool's flags: one absl flag per `SearchConfig` field.

`keras_slt.cli.search` defines them on absl's global flags; the sweep tool
parses a run's command line on a flag set of its own (`config_of_command`)
to compare it with the flags a stored run ran with.
"""

import dataclasses
import typing

from absl import flags

from keras_slt.cli import flagfiles
from keras_slt.experiments import config

# The search's settings, each a flag of the same name.
SETTINGS = tuple(field.name for field in dataclasses.fields(config.SearchConfig))
# absl's flag definer for each field type (Optional[X] uses X's).
_DEFINERS = {str: flags.DEFINE_string, int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool}


def _value_type(annotation):
    """The non-None type of a field annotation (`float | None` -> float)."""
    types = [t for t in typing.get_args(annotation) if t is not type(None)] or [annotation]
    return types[0]


def define_flags(flag_values, names=None, default=dataclasses.MISSING):
    """Defines on `flag_values` one absl flag per `SearchConfig` field, help from its metadata.

    `names` limits them to those fields; `default`, when given, replaces
    every field's default (the sweep's pass-through flags default to None).
    A field with choices becomes an enum flag: absl refuses any other value
    while parsing, naming the flag and the choices.
    """
    for field in dataclasses.fields(config.SearchConfig):
        if names is not None and field.name not in names:
            continue
        help = field.metadata["help"]
        value = field.default if default is dataclasses.MISSING else default
        if "choices" in field.metadata:
            flags.DEFINE_enum(field.name, value, field.metadata["choices"], help, flag_values=flag_values)
        else:
            _DEFINERS[_value_type(field.type)](field.name, value, help, flag_values=flag_values)


def help_groups():
    """The search flags by group, for --help (`config.HELP_GROUPS`, then any other setting)."""
    names = [field.name for field in dataclasses.fields(config.SearchConfig)]
    groups = [(title, [name for name in members if name in names]) for title, members in config.HELP_GROUPS]
    grouped = {name for _, members in groups for name in members}
    others = [name for name in names if name not in grouped]
    return groups + ([("Other", others)] if others else [])


def config_from_flags(flag_values):
    """The `SearchConfig` of parsed flags."""
    return config.SearchConfig(
        **{field.name: flag_values[field.name].value for field in dataclasses.fields(config.SearchConfig)}
    )


def config_of_command(args):
    """The `SearchConfig` the search tool runs for command-line `args`.

    Flagfiles are read as the tool reads them.

    Raises:
        ValueError: an unknown flag, a bad value, or a flagfile that is
            missing or not a regular file, in one line.

    Example:

    >>> config_of_command(["--flagfile=configs/fashion_mnist_fc.flags", "--seed=1"]).seed
    1
    """
    return parse_command(args)[0]


def parse_command(args):
    """`(config, given)`: `config_of_command(args)` and the names of the settings `args` give."""
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    flagfiles.check(args)
    try:
        flag_values(["search", *args])
    except flags.Error as error:
        raise ValueError(str(error).strip().splitlines()[0]) from None
    given = [field.name for field in dataclasses.fields(config.SearchConfig) if flag_values[field.name].present]
    return config_from_flags(flag_values), given
