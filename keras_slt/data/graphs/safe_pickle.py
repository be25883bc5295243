"""A pickle reader that builds nothing but the objects it was told to expect.

Pickles can name any importable callable and call it while loading, so an
untrusted pickle can run code. `load` first reads the whole opcode stream
without executing it and refuses the file if it names anything outside an
allow-list; only then does it unpickle, through an `Unpickler` whose
`find_class` admits the same names (a second guard, should the scan miss a
way of naming a global).
"""

import io
import pickle
import pickletools

from keras_slt.data.errors import DataError

# Opcodes that push a string a later STACK_GLOBAL may use as module or name.
_STRING_OPCODES = frozenset({
    "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
    "SHORT_BINSTRING", "BINSTRING", "STRING",
})
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
            memo[arg] = strings[-1] if strings else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            strings.append(memo.get(arg))
        elif name not in ("FRAME", "PROTO"):
            strings.append(None)
    return named


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, allowed, path):
        super().__init__(file, encoding="latin1")
        self._allowed = allowed
        self._path = path

    def find_class(self, module, name):
        if (module, name) not in self._allowed:
            raise DataError(f"{self._path}: refusing to load {module}.{name}")
        return self._allowed[(module, name)]


def load(path, allowed):
    """Unpickles `path`, admitting only the globals in `allowed`.

    Args:
        path: the pickle file.
        allowed: dict mapping (module, name), as the pickle spells them, to
            the object to use in their place.

    Returns:
        The unpickled object.

    Raises:
        DataError: one line naming the file, if it cannot be read, is not a
            valid pickle, or names a global outside `allowed` (then nothing
            in it has been built).

    Example:

    >>> load("ind.cora.graph", {("collections", "defaultdict"): collections.defaultdict,
    ...                         ("__builtin__", "list"): list})
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise DataError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        named = _globals_named(data)
    except ValueError as error:
        raise DataError(f"{path}: not a pickle this reader accepts ({error})") from None
    for module, name in named:
        if (module, name) not in allowed:
            raise DataError(f"{path}: refusing to load {module}.{name}; only "
                            f"{', '.join(sorted(f'{m}.{n}' for m, n in allowed))} are allowed")
    try:
        return _Unpickler(io.BytesIO(data), allowed, path).load()
    except DataError:
        raise
    except Exception as error:  # any malformed stream: report it in one line
        raise DataError(f"{path}: not a valid pickle ({type(error).__name__}: {error})") from None
