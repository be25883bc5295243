"""The argument checks every part of keras-slt shares, each rule stated once.

Each raises a ValueError whose one-line message names the argument, what it
must be and the value it got, and returns the value when it passes.
"""

import numpy as np


def check_one_of(name, value, choices, forms=()):
    """Raises ValueError unless `value` is one of `choices`.

    A bool is never a choice (True == 1 would pass for a choice of 1).

    Args:
        name: the argument's name, as the message starts.
        value: the value given.
        choices: the allowed values.
        forms: descriptions of further values the caller has accepted
            before (e.g. "a PATH.keras model file"), listed after the
            choices in the message.

    Returns:
        `value`.

    Example:

    >>> check_one_of("scale", "none", ("none", "static", "dynamic"))
    'none'
    >>> check_one_of("model", "vgg", ("fc", "conv6"), forms=("a PATH.keras model file",))
    Traceback (most recent call last):
    ValueError: model must be one of fc, conv6 or a PATH.keras model file; got 'vgg'
    """
    if isinstance(value, bool) or value not in choices:
        listed = [str(choice) for choice in choices] + list(forms)
        if forms:
            listed[-2:] = [f"{listed[-2]} or {listed[-1]}"]
        raise ValueError(f"{name} must be one of {', '.join(listed)}; got {value!r}")
    return value


def check_positive_int(name, value):
    """Raises ValueError unless `value` is an int >= 1 (not a bool).

    Returns:
        `value`.

    Example:

    >>> check_positive_int("units", 10)
    10
    >>> check_positive_int("units", 0)
    Traceback (most recent call last):
    ValueError: units must be a positive integer, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_fraction(name, value, upper_open=False):
    """Raises ValueError unless `value` is a number in [0, 1] ([0, 1) when upper_open).

    Returns:
        `value`.

    Example:

    >>> check_fraction("sparsity", 0.9, upper_open=True)
    0.9
    >>> check_fraction("sparsity", 1.0, upper_open=True)
    Traceback (most recent call last):
    ValueError: sparsity must be in [0, 1), got 1.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    upper_ok = value < 1.0 if upper_open else value <= 1.0
    if not (value >= 0.0 and upper_ok):
        bracket = ")" if upper_open else "]"
        raise ValueError(f"{name} must be in [0, 1{bracket}, got {value}")
    return value


def check_file_name(name, value):
    """Raises ValueError unless `value` is a plain file name: no folder, no `..`, no control character.

    Returns:
        `value`.

    Example:

    >>> check_file_name("name", "ticket")
    'ticket'
    >>> check_file_name("name", "../../ticket")
    Traceback (most recent call last):
    ValueError: name must be a plain file name (no folder, no '..'), got '../../ticket'
    """
    plain = (
        isinstance(value, str)
        and value not in ("", ".", "..")
        and "/" not in value
        and not any(ord(char) < 32 or ord(char) == 127 for char in value)
    )
    if not plain:
        raise ValueError(f"{name} must be a plain file name (no folder, no '..'), got {value!r}")
    return value
