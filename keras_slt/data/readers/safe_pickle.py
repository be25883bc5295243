"""A pickle reader that builds nothing but the objects it was told to expect.

Pickles can name any importable callable and call it while loading, so an
untrusted pickle can run code. `load` first reads the whole opcode stream
without executing it and refuses the file if it names anything outside an
allow-list; only then does it unpickle, through an `Unpickler` whose
`find_class` admits the same names (a second guard, should the scan miss a
way of naming a global).

NumPy arrays are never rebuilt by NumPy's own pickle hooks: those accept
any shape and dtype state (an object array of 10**10 entries, a uint8 dtype
flagged as holding objects). `NUMPY_ARRAYS` maps NumPy's globals to
stand-ins that only record their arguments; `load` then builds each array
with `np.frombuffer` from its bytes, once its dtype is a plain number type
and its shape matches the byte count.
"""

import io
import math
import pickle
import pickletools

import numpy as np

from keras_slt.data.errors import DataError
from keras_slt.utils import files

# Largest file `load` reads. The largest pickles read with it, CIFAR-100's
# training batch and PubMed's features, are 160 MB and 40 MB.
MAX_BYTES = 1 << 28

# Opcodes that push a string a later STACK_GLOBAL may use as module or name.
_STRING_OPCODES = frozenset(
    {
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "UNICODE",
        "SHORT_BINSTRING",
        "BINSTRING",
        "STRING",
    }
)
# Opcodes that name a global through the copyreg extension registry.
_EXTENSION_OPCODES = frozenset({"EXT1", "EXT2", "EXT4"})


def _globals_named(data):
    """Every (module, name) the pickle in `data` would import.

    STACK_GLOBAL takes its two strings from the stack; they are tracked
    through the memo. Raises ValueError for a stream whose globals cannot be
    determined without running it.
    """
    named, memo, strings = [], {}, []
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            module, _, attribute = arg.partition(" ")
            named.append((module, attribute))
        elif name == "STACK_GLOBAL":
            if len(strings) < 2 or None in strings[-2:]:
                raise ValueError("a STACK_GLOBAL whose names are not plain strings")
            named.append((strings[-2], strings[-1]))
        elif name in _EXTENSION_OPCODES or name in ("PERSID", "BINPERSID"):
            raise ValueError(f"opcode {name}")
        # Keep track of what the last pushes were, for STACK_GLOBAL.
        if name in _STRING_OPCODES:
            strings.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = strings[-1] if strings else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            # Picklers number memo entries 0, 1, 2, ... (Python 2's from 1):
            # a far index would make the unpickler allocate a table that large.
            if arg > len(memo) + 1:
                raise ValueError(f"memo index {arg} skips past {len(memo)}")
            memo[arg] = strings[-1] if strings else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            strings.append(memo.get(arg))
        elif name not in ("FRAME", "PROTO"):
            strings.append(None)
    return named


class _DType:
    """Stands in for `numpy.dtype(spec, align, copy)`; keeps its byte order."""

    def __init__(self, spec, align=False, copy=False):
        self.spec = spec
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def build(self):
        """The NumPy dtype: a plain number type (kind b, i, u or f), else ValueError."""
        spec = self.spec.decode("latin1") if isinstance(self.spec, bytes) else self.spec
        state = self.state if self.state is not None else (3, "|", None, None, None)
        if not (isinstance(spec, str) and len(spec) <= 3 and spec[:1] in ("b", "i", "u", "f") and spec[1:].isdigit()):
            raise ValueError(f"dtype {spec!r} is not a plain number type")
        # NumPy's state: (version, byte order, subarray, names, fields, ...);
        # sizes and flags are NumPy's to derive, never taken from the file.
        if not (isinstance(state, tuple) and len(state) >= 5 and state[2:5] == (None, None, None)):
            raise ValueError(f"dtype {spec!r} has a structured or malformed state")
        order = state[1].decode("latin1") if isinstance(state[1], bytes) else state[1]
        if order not in ("<", ">", "|", "="):
            raise ValueError(f"dtype {spec!r} has byte order {order!r}")
        dtype = np.dtype(spec)
        return dtype.newbyteorder(order) if order in ("<", ">") else dtype


class _Array:
    """Stands in for an ndarray being unpickled; `build` makes the real one."""

    def __init__(self, state=None):
        self.state = state

    def __setstate__(self, state):
        self.state = state

    def build(self):
        """The array, read-only over the pickled bytes, once they fit shape and dtype."""
        # NumPy's state: ([version,] shape, dtype, is_fortran, raw bytes).
        if not isinstance(self.state, tuple) or len(self.state) not in (4, 5):
            raise ValueError("an ndarray without its state")
        shape, dtype, fortran, raw = self.state[-4:]
        if not isinstance(dtype, _DType):
            raise ValueError("an ndarray whose dtype is not a numpy.dtype")
        dtype = dtype.build()
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
            raise ValueError(f"an ndarray of shape {shape!r}")
        if isinstance(raw, str):  # a Python 2 string read as latin-1
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray)):
            raise ValueError("an ndarray whose data are not bytes")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"an ndarray of shape {shape} and dtype {dtype} in {len(raw)} bytes")
        return np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran else "C")


def _reconstruct(subtype, shape, dtype):
    return _Array()


def _frombuffer(buffer, dtype, shape, order):
    return _Array((shape, dtype, order == "F", buffer))


def _latin1_bytes(text, encoding):
    """`_codecs.encode` as Python 3 pickles bytes for protocols 0-2, latin-1 only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ValueError(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


# NumPy arrays of numbers as NumPy 1 and 2 pickle them: `_reconstruct` for
# protocols 0-4, `_frombuffer` for protocol 5.
NUMPY_ARRAYS = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _frombuffer for core in ("core", "_core")},
    ("numpy", "ndarray"): _Array,  # only passed to _reconstruct
    ("numpy", "dtype"): _DType,
}


def _empty_bytes(*args):
    """`bytes()` as Python 3 pickles b"" for protocols 0-2, no argument accepted."""
    if args:  # bytes(n) would allocate n zero bytes
        raise ValueError("bytes() with arguments")
    return b""


# Python 3 bytes in a protocol 0-2 pickle.
PYTHON3_BYTES = {
    ("_codecs", "encode"): _latin1_bytes,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


def _arrays_built(value):
    """`value` with every `_Array` inside its containers replaced by its array."""
    if isinstance(value, _Array):
        return value.build()
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _arrays_built(item)
    elif isinstance(value, list):
        value[:] = [_arrays_built(item) for item in value]
    elif isinstance(value, tuple):
        return tuple(_arrays_built(item) for item in value)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        vars(value).update({key: _arrays_built(item) for key, item in vars(value).items()})
    return value


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, allowed, path, encoding):
        super().__init__(file, encoding=encoding)
        self._allowed = allowed
        self._path = path

    def find_class(self, module, name):
        if (module, name) not in self._allowed:
            raise DataError(f"{self._path}: refusing to load {module}.{name}")
        return self._allowed[(module, name)]


def load(path, allowed, encoding="latin1"):
    """Unpickles `path`, admitting only the globals in `allowed`.

    Args:
        path: the pickle file, a regular file of at most `MAX_BYTES`.
        allowed: dict mapping (module, name), as the pickle spells them, to
            the object to use in their place; merge in `NUMPY_ARRAYS` to
            read NumPy arrays of numbers.
        encoding: how Python 2 strings are read: "latin1" (as `str`) or
            "bytes".

    Returns:
        The unpickled object.

    Raises:
        DataError: one line naming the file, if it cannot be read, is too
            large, is not a valid pickle, or names a global outside
            `allowed` (then nothing in it has been built).

    Example:

    >>> import collections, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ind.tiny.graph")
    >>> with open(path, "wb") as f:
    ...     pickle.dump(collections.defaultdict(list, {0: [1]}), f, protocol=2)
    >>> load(path, {("collections", "defaultdict"): collections.defaultdict,
    ...             ("__builtin__", "list"): list})
    defaultdict(<class 'list'>, {0: [1]})
    >>> load(path, {("__builtin__", "list"): list})
    Traceback (most recent call last):
    ...
    keras_slt.data.errors.DataError: .../ind.tiny.graph: refusing to load collections.defaultdict; only ... allowed
    """
    data = files.read_bytes(path, MAX_BYTES, DataError)
    try:
        named = _globals_named(data)
    except ValueError as error:
        raise DataError(f"{path}: not a pickle this reader accepts ({error})") from None
    for module, name in named:
        if (module, name) not in allowed:
            raise DataError(
                f"{path}: refusing to load {module}.{name}; only "
                f"{', '.join(sorted(f'{m}.{n}' for m, n in allowed))} are allowed"
            )
    try:
        return _arrays_built(_Unpickler(io.BytesIO(data), allowed, path, encoding).load())
    except DataError:
        raise
    except Exception as error:  # any malformed stream: report it in one line
        raise DataError(f"{path}: not a valid pickle ({type(error).__name__}: {error})") from None
