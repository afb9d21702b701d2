"""Readers for the per-sample extras: hand-motion descriptions and per-frame hand features.

Hand features come from our extraction tool (safetensors), numpy files, the reference implementation's HaMeR
pickles, or pose-format `.pose` files of MediaPipe Holistic landmarks (converted to our MediaPipe layout). Both extras
are found by sample name. A name such as `dev/01April_2010_Thursday_heute-6697` is looked up as
`<dir>/<name>.<ext>`, then `<dir>/<basename>.<ext>`, then `<dir>/<name>/<basename>.<ext>` (the layout of the
reference implementation's HaMeR features: `<hamer_path>/<split>/<video>/<video>.lzma`).
"""

import json
import math
import os
import struct
from dataclasses import dataclass

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_safetensors

from modeling_beyondgloss.video_processing_beyondgloss import TIME_TOLERANCE

from ..media import InvalidFileError
from .safe_pickle import UnsafePickleError, check_allocation, safe_load


__all__ = [
    "DESCRIPTION_EXTENSIONS",
    "HAND_FEATURE_EXTENSIONS",
    "POSE_HAND_COMPONENTS",
    "HandFeatures",
    "find_sample_file",
    "read_description",
    "read_hand_features",
    "read_pose_hand_features",
]

DESCRIPTION_EXTENSIONS = (".json",)
# In order of preference when a sample has several. `lzma`/`xz`/`pkl` are pickles of `{"features": [T, D], ...}`;
# `.pose` files hold landmarks that are converted, so features made by our tools win.
HAND_FEATURE_EXTENSIONS = (".safetensors", ".npz", ".npy", ".lzma", ".xz", ".pkl", ".pose")
_FLOAT16_MAX = float(np.finfo(np.float16).max)
# The MediaPipe Holistic hands in a `.pose` file, in the order of our MediaPipe layout's slots (the signer's left,
# then right): 21 landmarks each, which become 21 x (x, y, z) and a score.
POSE_HAND_COMPONENTS = ("LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS")
_HAND_LANDMARKS = 21
_HAND_VALUES = _HAND_LANDMARKS * 3 + 1


@dataclass
class HandFeatures:
    """Per-frame hand features `[T, D]` (float16), the frames in which a hand was found `[T]` (bool), and the frame
    rate the file states (`.pose` files only)."""

    features: np.ndarray
    mask: np.ndarray
    fps: float | None = None


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
            features = _pickled_array(path, key, content[key])
            mask = content.get("hand_mask")
            return features, None if mask is None else _pickled_array(path, "hand_mask", mask)
    found = sorted(content) if isinstance(content, dict) else type(content).__name__
    raise InvalidFileError(path, f"expected a dict with a 'features' array [T, D], found {found}")


def _pickled_array(path: str, key: str, value) -> np.ndarray:
    """A pickle's array, or its nested lists as a float64 array within the pickle's memory limit."""
    if isinstance(value, np.ndarray):
        return value
    # The unpickler charged 8 bytes per list entry, but the entries may all reference one memoised row: the array
    # takes the product of the lengths along the first entries (numpy refuses lists that are ragged elsewhere).
    shape, item = [], value
    while isinstance(item, (list, tuple)):
        shape.append(len(item))
        if not item:
            break
        item = item[0]
    if isinstance(item, np.ndarray):
        shape.extend(item.shape)
    requested = math.prod(shape) * np.dtype(np.float64).itemsize
    try:
        what = f"holds '{key}' as nested lists {shape}, an array of {requested:,} bytes"
        check_allocation(path, what, requested, os.path.getsize(path))
    except UnsafePickleError as err:
        raise InvalidFileError(path, str(err)) from err
    # A fixed dtype keeps the array at that size (strings would widen it) and refuses what is not a number; too
    # deep or ragged lists are a bad file, not a crash.
    try:
        return np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError, RecursionError) as err:
        raise InvalidFileError(path, f"'{key}' is not a numeric array [frames, dims] ({err})") from err


def read_pose_hand_features(path: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Hand features in our MediaPipe layout (128 values a frame; see `preprocessing/extract_hand_features.py`) from
    a pose-format `.pose` file of MediaPipe Holistic landmarks.

    The first person's `LEFT_HAND_LANDMARKS` and `RIGHT_HAND_LANDMARKS` fill the signer's left and right slots.
    pose-format stores MediaPipe's x and y times the frame's width and height and z as MediaPipe gave it (on the scale
    of x), so x and y are divided back and z is kept: the values our own MediaPipe extraction stores. A hand is found
    in a frame where its confidence is above 0 (pose-format writes 1 where MediaPipe found it, 0 where not); its score
    slot holds its mean confidence, and a hand not found leaves its 64 values at zero.

    Returns:
        `(features [T, 128] float32, mask [T] bool: at least one hand found, the file's frame rate)`.

    Raises:
        ImportError: pose-format is not installed.
        InvalidFileError: an unreadable file, one without the two hand components, or one whose frame size or rate is
            not positive.
    """
    try:
        from pose_format import Pose
    except ImportError as err:
        raise ImportError(f"Reading {path} needs pose-format: `pip install pose-format`.") from err
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise InvalidFileError(path, f"cannot be read ({err})") from err
    if not data:
        raise InvalidFileError(path, "is empty, not a .pose file")
    try:
        pose = Pose.read(data)
    # pose-format's reader raises struct.error or numpy's TypeError where the data runs out, UnicodeDecodeError on
    # names that are not text, NotImplementedError for an unknown version and ZeroDivisionError for zero people.
    except (struct.error, ValueError, TypeError, NotImplementedError, ArithmeticError, IndexError) as err:
        raise InvalidFileError(path, f"not a readable .pose file ({type(err).__name__}: {err})") from err
    components = {component.name: component for component in pose.header.components}
    if not all(name in components for name in POSE_HAND_COMPONENTS):
        raise InvalidFileError(
            path,
            f"has no {'/'.join(POSE_HAND_COMPONENTS)} components (found: {', '.join(components) or 'none'})",
        )
    for name in POSE_HAND_COMPONENTS:
        if len(components[name].points) != _HAND_LANDMARKS:
            raise InvalidFileError(
                path, f"its {name} has {len(components[name].points)} points, MediaPipe hands have {_HAND_LANDMARKS}"
            )
    width, height = pose.header.dimensions.width, pose.header.dimensions.height
    if width <= 0 or height <= 0:
        raise InvalidFileError(path, f"states a frame size of {width}x{height}, so its pixels cannot be scaled")
    fps = float(pose.body.fps)
    if not (math.isfinite(fps) and fps > 0):
        raise InvalidFileError(path, f"states a frame rate of {fps:g} fps")
    hands = pose.get_components(list(POSE_HAND_COMPONENTS))
    points = np.ma.getdata(hands.body.data)  # [frames, people, 42, dims]
    if points.shape[-1] < 3:
        raise InvalidFileError(path, f"its hand landmarks have {points.shape[-1]} dimensions, not x, y, z")
    num_frames = points.shape[0]
    features = np.zeros((num_frames, 2 * _HAND_VALUES), dtype=np.float32)
    mask = np.zeros(num_frames, dtype=bool)
    if points.shape[1] == 0:  # nobody in the file
        return features, mask, fps
    scale = np.array([width, height, 1.0])
    for slot in range(2):
        landmarks = slice(slot * _HAND_LANDMARKS, (slot + 1) * _HAND_LANDMARKS)
        confidence = np.asarray(hands.body.confidence[:, 0, landmarks], dtype=np.float64)
        confidence = np.where(confidence > 0, confidence, 0.0)  # NaN or negative: not found
        # Points without confidence are masked in pose-format and hold no landmark.
        values = np.where(confidence[..., None] > 0, points[:, 0, landmarks, :3] / scale, 0.0)
        start = slot * _HAND_VALUES
        features[:, start : start + _HAND_LANDMARKS * 3] = values.reshape(num_frames, -1)
        features[:, start + _HAND_LANDMARKS * 3] = confidence.mean(axis=1)
        mask |= (confidence > 0).any(axis=1)
    return features, mask, fps


def read_hand_features(
    path: str,
    num_frames: int | None = None,
    *,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
) -> HandFeatures:
    """Read per-frame hand features from `.safetensors`, `.npy`, `.npz`, an (lzma/xz/gzip) pickle or a `.pose` file.

    Args:
        path: the feature file. safetensors holds `hand_features` [T, D] and optionally `hand_mask` [T]; npz holds
            `hand_features` or `features` (and optionally `hand_mask`); npy holds the [T, D] array; a pickle holds
            `{"features": [T, D], ...}` as written by the reference implementation, and is read with the
            restricted unpickler; a `.pose` file holds MediaPipe Holistic landmarks, converted to our 128-d MediaPipe
            layout by `read_pose_hand_features`.
        num_frames: when given, the number of frames the sample has: T (after cutting a segment) must equal it.
        fps: the video's frame rate. A `.pose` file must state the same rate (within 0.01 fps); other files are
            timed by it when a segment is cut from them.
        start, end: the sample is the segment `[start, end)` (seconds) of a longer video. A file with `num_frames`
            rows holds the segment's own features; any other is taken to cover the whole video, and the rows whose
            time `i / rate` lies in the segment are kept (rate: the `.pose` file's own, else `fps`).

    Returns:
        `HandFeatures` with float16 features, a bool mask (all True when the file has no mask) and, for `.pose`
        files, their frame rate.

    Raises:
        InvalidFileError: unreadable file, wrong shape or dtype, a frame rate other than `fps`, T differing from
            `num_frames`, a segment to cut without a frame rate, NaN/inf values or values outside the float16 range.
    """
    rate = fps
    file_fps = None
    if path.lower().endswith(".pose"):
        features, mask, file_fps = read_pose_hand_features(path)
        if fps is not None and abs(file_fps - fps) > 0.01:
            raise InvalidFileError(path, f"is at {file_fps:g} fps but the video is at {fps:g} fps")
        rate = file_fps
    else:
        features, mask = _load_arrays(path)
    if features.ndim != 2 or features.shape[1] == 0:
        raise InvalidFileError(path, f"hand features must have shape [frames, dims], got {list(features.shape)}")
    if not (np.issubdtype(features.dtype, np.floating) or np.issubdtype(features.dtype, np.integer)):
        raise InvalidFileError(path, f"hand features must be numeric, got dtype {features.dtype}")
    if mask is None:
        mask = np.ones(features.shape[0], dtype=bool)
    else:
        mask = np.asarray(mask).reshape(-1)
        if mask.shape[0] != features.shape[0]:
            raise InvalidFileError(
                path, f"hand_mask has {mask.shape[0]} entries but the features have {features.shape[0]} frames"
            )
        mask = mask.astype(bool)
    if start is not None or end is not None:
        features, mask = _cut_segment(path, features, mask, num_frames, rate, start, end)
    elif num_frames is not None and features.shape[0] != num_frames:
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
    return HandFeatures(features=features.astype(np.float16), mask=mask, fps=file_fps)


def _cut_segment(
    path: str,
    features: np.ndarray,
    mask: np.ndarray,
    num_frames: int | None,
    rate: float | None,
    start: float | None,
    end: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the segment `[start, end)`: all of them when the file has the segment's `num_frames` rows, else
    those whose time falls in it, as the video decoder picks the segment's frames."""
    start = 0.0 if start is None else start
    end = math.inf if end is None else end
    span = f"segment [{start}, {end})"
    total = features.shape[0]
    if total == num_frames:
        return features, mask
    if rate is None:
        count = f"{total} frames" if num_frames is None else f"{total} frames, not the {num_frames} of the segment,"
        raise InvalidFileError(
            path, f"has hand features for {count} and no frame rate to cut {span} from them as the whole video's"
        )
    times = np.arange(total) / rate
    keep = (times >= start - TIME_TOLERANCE) & (times < end - TIME_TOLERANCE)
    if num_frames is not None and int(keep.sum()) != num_frames:
        raise InvalidFileError(
            path,
            f"has hand features for {int(keep.sum())} frames in {span} (of {total} frames at {rate:g} fps) but the "
            f"video has {num_frames} frames there",
        )
    return features[keep], mask[keep]
