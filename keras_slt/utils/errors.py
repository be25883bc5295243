"""Errors told in one line: what a message keeps of another library's exception."""


def first_line(error, with_type=True):
    """The first non-empty line of `error`'s message, after its type's name.

    Other libraries' exceptions (TensorFlow's, ONNX Runtime's, Keras's)
    often span many lines; keras-slt's own messages quote their first.

    Args:
        error: an exception.
        with_type: start with the exception's class name, as `"ValueError: ..."`.

    Returns:
        One line; "no details" where the message is empty.

    Example:

    >>> first_line(ValueError("shape mismatch\\n  at layer 3"))
    'ValueError: shape mismatch'
    >>> first_line(KeyError(), with_type=False)
    'no details'
    """
    lines = str(getattr(error, "message", error)).strip().splitlines()
    text = lines[0].strip() if lines else "no details"
    return f"{type(error).__name__}: {text}" if with_type else text
