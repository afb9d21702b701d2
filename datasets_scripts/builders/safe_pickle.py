"""Load data pickles without running the code a pickle can carry.

Sign language corpora ship their labels (GFSLT-VLP `labels.*`) and precomputed hand features (HaMeR `.lzma`) as
pickles. `pickle.load` calls whatever callable a pickle names, so a tampered file can run arbitrary code. The
unpickler here resolves only the globals that plain data needs: a few builtin containers, the helper that protocols
0-2 use to spell `bytes`, and the numpy functions that rebuild arrays, dtypes and scalars. Anything else is refused
before it is called.
"""

import _codecs
import collections
import gzip
import importlib
import importlib.util
import io
import lzma
import os
import pickle
from typing import IO, Any

import numpy as np


__all__ = ["UnsafePickleError", "safe_load"]


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


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: str):
        super().__init__(file)
        self.source = source

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


def _decompress(data: bytes) -> bytes:
    """Undo gzip, xz or legacy lzma compression, recognised from the content; return plain data unchanged."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(data, format=lzma.FORMAT_XZ)
    # The legacy `.lzma` ("alone") header starts with a properties byte, usually 0x5D, which is also the pickle
    # opcode EMPTY_LIST of protocols 0-1: only data that decompresses completely is taken for lzma.
    if data[:1] == b"\x5d":
        try:
            return lzma.decompress(data, format=lzma.FORMAT_ALONE)
        except lzma.LZMAError:
            pass
    return data


def safe_load(file: str | os.PathLike | IO[bytes]) -> Any:
    """Unpickle plain data from a path or a binary file object, refusing anything that could run code.

    gzip, xz and legacy lzma compression are recognised from the content and undone transparently. Admitted objects:
    dict, list, tuple, set, frozenset, OrderedDict, str, bytes, bytearray, bool, int, float, complex, None, numpy
    arrays, dtypes and scalars.

    Raises:
        UnsafePickleError: the pickle references any other class or function (nothing of it is executed).
        ValueError: the file is not a readable pickle (truncated, corrupt, bad compression); the message names it.
    """
    if isinstance(file, (str, os.PathLike)):
        source = os.fspath(file)
        with open(source, "rb") as handle:
            data = handle.read()
    else:
        source = str(getattr(file, "name", "<stream>"))
        data = file.read()
    try:
        return _RestrictedUnpickler(io.BytesIO(_decompress(data)), source).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, OSError, lzma.LZMAError, ValueError, TypeError, LookupError) as err:
        raise ValueError(f"{source} is not a readable pickle ({type(err).__name__}: {err}).") from err
