"""The error raised for missing or malformed dataset files."""

import importlib.util


class DataError(ValueError):
    """Dataset files are missing, malformed, or could not be obtained.

    The message is always a single line: it says which files were expected
    where and how to obtain them. Whitespace, including newlines, in the
    message is collapsed to single spaces.

    Args:
        message: description of the problem.

    Example:

    >>> import keras_slt
    >>> try:
    ...     keras_slt.data.load("mnist", data_dir="/nonexistent")
    ... except keras_slt.data.DataError as e:
    ...     print(e)
    mnist: missing train-images-idx3-ubyte.gz, ... in /nonexistent; ...
    """

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))


def require_tensorflow(what):
    """Raises DataError, naming `what`, where TensorFlow is not installed.

    Example:

    >>> require_tensorflow("tfds:beans")  # silent where TensorFlow is installed
    """
    if importlib.util.find_spec("tensorflow") is None:
        raise DataError(f"{what} is read with TensorFlow, which is not installed: pip install 'keras-slt[tensorflow]'")
