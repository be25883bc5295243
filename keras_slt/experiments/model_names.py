"""What `--model` may name, checked before a model is built.

A built-in network (`keras_slt.models.NAMES`), `PATH.keras` or
`keras.applications.NAME` (see `keras_slt.experiments.model_source`, which
builds them). The command-line tools check `--model` and the options it
takes before Keras is imported; only a `keras.applications` name needs Keras
to be checked, and imports it.
"""

import inspect
import os

from keras_slt import models
from keras_slt.utils.validation import check_one_of

APPLICATIONS_PREFIX = "keras.applications."


def applications():
    """Names of the `keras.applications` architectures (classes=, weights=None)."""
    import keras  # only Keras knows its applications

    return tuple(
        name
        for name in dir(keras.applications)
        if name[:1].isupper()
        and callable(getattr(keras.applications, name))
        and "classes" in inspect.signature(getattr(keras.applications, name)).parameters
    )


def has_alpha(application_name):
    """Whether `keras.applications.<application_name>` takes `alpha` (the MobileNet family)."""
    import keras  # only Keras knows its applications

    builder = getattr(keras.applications, application_name, None)
    return builder is not None and "alpha" in inspect.signature(builder).parameters


def check(name):
    """Raises ValueError (one line) unless `name` is a model `model_source.build` can make."""
    if name.endswith(".keras"):
        if not os.path.isfile(name):
            raise ValueError(f"model file {name} does not exist")
    elif name.startswith(APPLICATIONS_PREFIX):
        application = name[len(APPLICATIONS_PREFIX) :]
        if application not in applications():
            raise ValueError(
                f"model {name} is not a keras.applications architecture; one of {', '.join(applications())}"
            )
    else:
        check_one_of("model", name, models.NAMES, forms=("a PATH.keras model file", "keras.applications.NAME"))


def architecture_options(name):
    """The architecture settings (width, width_factor, stem) model `name` takes.

    A `.keras` file takes none; a keras.applications architecture takes
    width_factor when it has an `alpha` (the MobileNet family).

    Example:

    >>> architecture_options("keras.applications.MobileNetV2")
    ('width_factor',)
    """
    if name in models.NAMES:
        return models.architecture_options(name)
    if name.startswith(APPLICATIONS_PREFIX) and has_alpha(name[len(APPLICATIONS_PREFIX) :]):
        return ("width_factor",)
    return ()
