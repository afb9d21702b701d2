"""Readers for the per-sample extras: hand-motion descriptions and per-frame hand features.

Both are found by sample name. A name such as `dev/01April_2010_Thursday_heute-6697` is looked up as
`<dir>/<name>.<ext>`, then `<dir>/<basename>.<ext>`, then `<dir>/<name>/<basename>.<ext>` (the layout of the
reference implementation's HaMeR features: `<hamer_path>/<split>/<video>/<video>.lzma`).
"""

import json
import os
from dataclasses import dataclass

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_safetensors

from ..media import InvalidFileError
from .safe_pickle import UnsafePickleError, safe_load


__all__ = [
    "DESCRIPTION_EXTENSIONS",
    "HAND_FEATURE_EXTENSIONS",
    "HandFeatures",
    "find_sample_file",
    "read_description",
    "read_hand_features",
]

DESCRIPTION_EXTENSIONS = (".json",)
# In order of preference when a sample has several. `lzma`/`xz`/`pkl` are pickles of `{"features": [T, D], ...}`.
HAND_FEATURE_EXTENSIONS = (".safetensors", ".npz", ".npy", ".lzma", ".xz", ".pkl")
_FLOAT16_MAX = float(np.finfo(np.float16).max)


@dataclass
class HandFeatures:
    """Per-frame hand features `[T, D]` (float16) and the frames in which a hand was found `[T]` (bool)."""

    features: np.ndarray
    mask: np.ndarray


def find_sample_file(directory: str, name: str, extensions: tuple[str, ...]) -> str | None:
    """Return the first existing file for sample `name` under `directory` with one of `extensions` (with their
    dots), else None."""
    basename = os.path.basename(name.rstrip("/"))
    for extension in extensions:
        for candidate in (f"{name}{extension}", f"{basename}{extension}", f"{name}/{basename}{extension}"):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                return path
    return None


def read_description(path: str) -> str:
    """Read the refined description from a descriptor JSON (`{"chunk_0": ..., ..., "refined": ...}`)."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InvalidFileError(path, f"not a readable description JSON ({err})") from err
    if not isinstance(content, dict):
        raise InvalidFileError(path, f"expected a JSON object with a 'refined' field, got {type(content).__name__}")
    refined = content.get("refined")
    if not isinstance(refined, str) or not refined.strip():
        chunks = sorted(key for key in content if key.startswith("chunk_"))
        hint = f" (it has {len(chunks)} segment descriptions: run the refinement step)" if chunks else ""
        raise InvalidFileError(path, f"has no non-empty 'refined' description{hint}")
    return refined.strip()


def _load_arrays(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Load the raw feature array and optional mask from any supported file format."""
    extension = path.rsplit(".", 1)[-1].lower()
    if extension == "safetensors":
        try:
            tensors = load_safetensors(path)
        except (SafetensorError, OSError, ValueError, TypeError) as err:
            raise InvalidFileError(path, f"not a readable safetensors file ({err})") from err
        if "hand_features" not in tensors:
            raise InvalidFileError(path, f"has no 'hand_features' tensor (found {sorted(tensors)})")
        return tensors["hand_features"], tensors.get("hand_mask")
    if extension in ("npy", "npz"):
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise InvalidFileError(path, f"not a readable numpy file ({err})") from err
        if isinstance(loaded, np.ndarray):
            return loaded, None
        with loaded:
            key = next((key for key in ("hand_features", "features") if key in loaded.files), None)
            if key is None:
                raise InvalidFileError(path, f"has no 'hand_features' or 'features' array (found {loaded.files})")
            return loaded[key], loaded["hand_mask"] if "hand_mask" in loaded.files else None
    try:
        content = safe_load(path)
    except UnsafePickleError as err:
        raise InvalidFileError(path, str(err)) from err
    except (OSError, ValueError) as err:
        raise InvalidFileError(path, f"not a readable hand feature pickle ({err})") from err
    if isinstance(content, np.ndarray):
        return content, None
    if isinstance(content, dict):
        key = next((key for key in ("features", "hand_features") if key in content), None)
        if key is not None:
            mask = content.get("hand_mask")
            # Nested lists become arrays here: too deep or ragged ones are a bad file, not a crash.
            try:
                return np.asarray(content[key]), None if mask is None else np.asarray(mask)
            except (ValueError, TypeError, RecursionError) as err:
                raise InvalidFileError(path, f"'{key}' is not a numeric array [frames, dims] ({err})") from err
    found = sorted(content) if isinstance(content, dict) else type(content).__name__
    raise InvalidFileError(path, f"expected a dict with a 'features' array [T, D], found {found}")


def read_hand_features(path: str, num_frames: int | None = None) -> HandFeatures:
    """Read per-frame hand features from `.safetensors`, `.npy`, `.npz` or an (lzma/xz/gzip) pickle.

    Args:
        path: the feature file. safetensors holds `hand_features` [T, D] and optionally `hand_mask` [T]; npz holds
            `hand_features` or `features` (and optionally `hand_mask`); npy holds the [T, D] array; a pickle holds
            `{"features": [T, D], ...}` as written by the reference implementation, and is read with the
            restricted unpickler.
        num_frames: when given, T must equal it.

    Returns:
        `HandFeatures` with float16 features and a bool mask (all True when the file has no mask).

    Raises:
        InvalidFileError: unreadable file, wrong shape or dtype, T differing from `num_frames`, NaN/inf values or
            values outside the float16 range.
    """
    features, mask = _load_arrays(path)
    if features.ndim != 2 or features.shape[1] == 0:
        raise InvalidFileError(path, f"hand features must have shape [frames, dims], got {list(features.shape)}")
    if not (np.issubdtype(features.dtype, np.floating) or np.issubdtype(features.dtype, np.integer)):
        raise InvalidFileError(path, f"hand features must be numeric, got dtype {features.dtype}")
    if num_frames is not None and features.shape[0] != num_frames:
        raise InvalidFileError(
            path, f"has hand features for {features.shape[0]} frames but the video has {num_frames} frames"
        )
    finite = np.isfinite(features)
    if not finite.all():
        frame = int(np.argwhere(~finite)[0, 0])
        raise InvalidFileError(
            path, f"hand features contain {int((~finite).sum())} NaN/inf values (first in frame {frame})"
        )
    if features.size and float(np.abs(features).max()) > _FLOAT16_MAX:
        raise InvalidFileError(path, f"hand features exceed the float16 range (|x| > {_FLOAT16_MAX:g})")
    if mask is None:
        mask = np.ones(features.shape[0], dtype=bool)
    else:
        mask = np.asarray(mask).reshape(-1)
        if mask.shape[0] != features.shape[0]:
            raise InvalidFileError(
                path, f"hand_mask has {mask.shape[0]} entries but the features have {features.shape[0]} frames"
            )
        mask = mask.astype(bool)
    return HandFeatures(features=features.astype(np.float16), mask=mask)
