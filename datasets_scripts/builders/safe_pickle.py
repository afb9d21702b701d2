"""Load data pickles without running the code a pickle can carry.

Sign language corpora ship their labels (GFSLT-VLP `labels.*`) and precomputed hand features (HaMeR `.lzma`) as
pickles. `pickle.load` calls whatever callable a pickle names, so a tampered file can run arbitrary code. The
unpickler here resolves only the globals that plain data needs: a few builtin containers, the helper that protocols
0-2 use to spell `bytes`, and the numpy functions that rebuild arrays, dtypes and scalars. Anything else is refused
before it is called. Memory is bounded too: a few bytes of pickle can ask for gigabytes (an array's shape, a
bytearray's length, a compression bomb, copies of a memoised string), so the decompressed stream and everything the
admitted calls allocate must fit in a limit proportional to the file.
"""

import _codecs
import collections
import gzip
import importlib
import importlib.util
import io
import lzma
import math
import operator
import os
import pickle
import zlib
from typing import IO, Any

import numpy as np


__all__ = ["LIMIT_ENV", "PickleTooLargeError", "UnsafePickleError", "check_allocation", "safe_load"]


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle references a global that is not plain data (a class or function that could run code)."""


# numpy 2 moved its internals from `numpy.core` to `numpy._core`; pickles name whichever their writer had.
_NUMPY_CORE = "numpy._core" if importlib.util.find_spec("numpy._core") else "numpy.core"
_multiarray = importlib.import_module(f"{_NUMPY_CORE}.multiarray")
_numeric = importlib.import_module(f"{_NUMPY_CORE}.numeric")

_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("collections", "OrderedDict"): collections.OrderedDict,
    # Protocols 0-2 write `bytes` (numpy's raw array buffers included) as `_codecs.encode(text, "latin1")`.
    ("_codecs", "encode"): _codecs.encode,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,
}
# Python 2 spells builtins `__builtin__`; numpy 2 writes `numpy._core` where numpy 1 wrote `numpy.core`.
_MODULE_ALIASES = {
    "__builtin__": "builtins",
    "numpy._core.multiarray": "numpy.core.multiarray",
    "numpy._core.numeric": "numpy.core.numeric",
}


# Memory a pickle may make the unpickler allocate, and the most its decompressed stream may hold: this many times the
# file's size, at least `_MIN_LIMIT_BYTES`. Real label files and HaMeR pickles stay far below; a larger genuine file
# needs `max_bytes=` or the environment variable.
_LIMIT_PER_FILE_BYTE = 100
_MIN_LIMIT_BYTES = 64 * 2**20
LIMIT_ENV = "BEYONDGLOSS_MAX_PICKLE_BYTES"


class PickleTooLargeError(UnsafePickleError):
    """A pickle decompresses to, or asks the unpickler to allocate, more memory than its size can justify."""


def _array_bytes(shape: Any, dtype: Any) -> int:
    """The bytes an array of `shape` and `dtype` (as a pickle states them) needs; 0 when they are not valid, which
    numpy then reports itself."""
    try:
        dims = shape if isinstance(shape, (tuple, list)) else (shape,)
        count = math.prod(operator.index(dim) for dim in dims)
        itemsize = np.dtype(float if dtype is None else dtype).itemsize
    except (TypeError, ValueError):
        return 0
    return max(count, 0) * max(itemsize, 1)


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _requested_bytes(func: Any, args: tuple, kwargs: dict) -> int:
    """What a call of an admitted global allocates, computed from its arguments before it runs. Calls can copy
    memoised objects, so these are charged even where the arguments came from the stream."""
    if func is np.ndarray:
        shape = args[0] if args else kwargs.get("shape", ())
        return _array_bytes(shape, args[1] if len(args) > 1 else kwargs.get("dtype"))
    if func is _multiarray._reconstruct:
        return _array_bytes(args[1], args[2]) if len(args) > 2 else 0
    if func is _multiarray.scalar:
        return _array_bytes((), args[0]) if args else 0
    if func is bytearray and args and isinstance(args[0], int):
        return args[0]
    if func in (set, frozenset, collections.OrderedDict):
        return 64 * _length(args[0]) if args else 0  # a hash table slot and entry per element
    return _length(args[0]) if args else 0  # bytearray, _codecs.encode and _frombuffer copy their first argument


class _RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, restricted to plain-data globals, with every allocating call charged against a
    budget before it runs. The C unpickler cannot be bounded: it allocates what a length or memo index asks for
    before reading any data."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: IO[bytes], source: str, limit: int, file_size: int):
        super().__init__(file)
        self.source = source
        self.limit = limit
        self.file_size = file_size
        self.budget = limit

    def find_class(self, module: str, name: str) -> Any:
        key = (_MODULE_ALIASES.get(module, module), name)
        if key not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"Refusing to load {self.source}: it references `{module}.{name}`, which is not a plain container, "
                "scalar or numpy array. Only data pickles are accepted; a pickle that names other classes or "
                "functions could run code when loaded. If this file is yours, re-save its content as plain data "
                "(dicts, lists, str, numbers, numpy arrays)."
            )
        return _ALLOWED_GLOBALS[key]

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"Refusing to load {self.source}: it uses persistent ids, which plain data never has.")

    def _charge(self, func: Any, args: Any, kwargs: Any = None) -> None:
        if not isinstance(args, tuple) or not isinstance(kwargs or {}, dict):
            return  # the call itself rejects them
        requested = _requested_bytes(func, args, kwargs or {})
        if requested > self.budget:
            raise _too_large(self.source, f"asks for {requested:,} bytes", self.limit, self.file_size)
        self.budget -= requested

    def load_reduce(self):
        self._charge(self.stack[-2], self.stack[-1])
        super().load_reduce()

    def load_newobj(self):
        self._charge(self.stack[-2], self.stack[-1])
        super().load_newobj()

    def load_newobj_ex(self):
        self._charge(self.stack[-3], self.stack[-2], self.stack[-1])
        super().load_newobj_ex()

    def load_build(self):
        state, target = self.stack[-1], self.stack[-2]
        # numpy restores an array's shape and data through `__setstate__((version, shape, dtype, fortran, data))`.
        if isinstance(target, np.ndarray) and isinstance(state, tuple) and len(state) in (4, 5):
            self._charge(np.ndarray, tuple(state[-4:-2]))
        super().load_build()

    def _instantiate(self, klass, args):
        self._charge(klass, tuple(args))
        super()._instantiate(klass, args)

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build


def _too_large(
    source: str, what: str, limit: int, file_size: int, remedy: str = "safe_load(..., max_bytes=...) or "
) -> PickleTooLargeError:
    return PickleTooLargeError(
        f"Refusing to load {source}: it {what}, more than the {limit:,} bytes allowed for a {file_size:,}-byte "
        f"pickle. If the file is genuine, raise the limit with {remedy}the environment variable {LIMIT_ENV}."
    )


def _limit(max_bytes: int | None, file_size: int) -> int:
    if max_bytes is None and os.environ.get(LIMIT_ENV):
        try:
            max_bytes = int(os.environ[LIMIT_ENV])
        except ValueError as err:
            raise ValueError(f"{LIMIT_ENV} must be a number of bytes, got {os.environ[LIMIT_ENV]!r}.") from err
    return max_bytes if max_bytes is not None else max(_MIN_LIMIT_BYTES, _LIMIT_PER_FILE_BYTE * file_size)


def check_allocation(source: str, what: str, requested: int, file_size: int) -> None:
    """Hold what a caller builds from a loaded pickle to `safe_load`'s memory limit. Nested lists cost the unpickler
    8 bytes per reference, so a row memoised once and listed millions of times loads cheaply; `np.asarray` then
    copies every row.

    Args:
        source: the file, for the message.
        what: what needs the memory, completing "it ..." ("holds 'features' [2000000, 288], which needs ... bytes").
        requested: the bytes it would allocate.
        file_size: the pickle's size on disk, which sets the default limit.

    Raises:
        PickleTooLargeError: `requested` exceeds the limit (`BEYONDGLOSS_MAX_PICKLE_BYTES`, else 100 times the file's
            size, at least 64 MiB).
    """
    limit = _limit(None, file_size)
    if requested > limit:
        raise _too_large(source, what, limit, file_size, remedy="")


def _decompress(data: bytes, source: str, limit: int) -> bytes:
    """Undo gzip, xz or legacy lzma compression, recognised from the content, reading at most `limit` bytes of
    output; return plain data unchanged."""
    if data[:2] == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=io.BytesIO(data))
    elif data[:6] == b"\xfd7zXZ\x00":
        stream = lzma.LZMAFile(io.BytesIO(data), format=lzma.FORMAT_XZ)
    elif data[:1] == b"\x5d":
        # The legacy `.lzma` ("alone") header starts with a properties byte, usually 0x5D, which is also the pickle
        # opcode EMPTY_LIST of protocols 0-1: only data that decompresses completely is taken for lzma.
        try:
            plain = lzma.LZMAFile(io.BytesIO(data), format=lzma.FORMAT_ALONE).read(limit + 1)
        except (lzma.LZMAError, EOFError):
            return data
        stream = io.BytesIO(plain)
    else:
        return data
    try:
        plain = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as err:
        raise ValueError(f"{source} is not a readable pickle: its compressed stream is corrupt ({err}).") from err
    if len(plain) > limit:
        raise _too_large(source, f"decompresses to more than {limit:,} bytes", limit, len(data))
    return plain


def safe_load(file: str | os.PathLike | IO[bytes], max_bytes: int | None = None) -> Any:
    """Unpickle plain data from a path or a binary file object, refusing anything that could run code.

    gzip, xz and legacy lzma compression are recognised from the content and undone transparently. Admitted objects:
    dict, list, tuple, set, frozenset, OrderedDict, str, bytes, bytearray, bool, int, float, complex, None, numpy
    arrays, dtypes and scalars.

    Args:
        file: a path or a binary file object.
        max_bytes: the most the decompressed stream may hold, and the most memory the arrays, byte strings and sets
            it builds may take in all. Default: the environment variable `BEYONDGLOSS_MAX_PICKLE_BYTES`, else 100
            times the file's size, at least 64 MiB.

    Raises:
        UnsafePickleError: the pickle references any other class or function (nothing of it is executed).
        PickleTooLargeError: (an `UnsafePickleError`) it decompresses to, or asks for, more than `max_bytes`.
        ValueError: the file is not a readable pickle (truncated, corrupt, bad compression); the message names it.
    """
    if isinstance(file, (str, os.PathLike)):
        source = os.fspath(file)
        with open(source, "rb") as handle:
            data = handle.read()
    else:
        source = str(getattr(file, "name", "<stream>"))
        data = file.read()
    limit = _limit(max_bytes, len(data))
    plain = _decompress(data, source, limit)
    try:
        return _RestrictedUnpickler(io.BytesIO(plain), source, limit, len(data)).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, LookupError, AttributeError) as err:
        reason = str(err) or "the data ends early"
        raise ValueError(f"{source} is not a readable pickle ({type(err).__name__}: {reason}).") from err
