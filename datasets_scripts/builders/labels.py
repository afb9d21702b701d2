"""Label files and manifests: the GFSLT-VLP pickles of Phoenix14T, CSL-Daily and SynthSign, and the JSONL/CSV
manifests of custom corpora, read into plain entries before their files are checked."""

import csv
import dataclasses
import json
import re
from dataclasses import dataclass

from .safe_pickle import UnsafePickleError, safe_load


__all__ = [
    "LABEL_FILES",
    "LabelFormatError",
    "SampleEntry",
    "parse_seconds",
    "read_delimited",
    "read_gfslt_labels",
    "read_manifest",
]

# GFSLT-VLP label files, one per split; the corpora call their validation split `dev`.
LABEL_FILES = {"train": "labels.train", "validation": "labels.dev", "test": "labels.test"}


class LabelFormatError(ValueError):
    """A label file or manifest is not in the expected format; the message names the file and the problem."""


@dataclass
class SampleEntry:
    """One sample as the label file or manifest states it, before its files are checked."""

    id: str
    text: str | None
    source: str  # the label file (or manifest line) the entry comes from, for error messages
    gloss: str | None = None
    length: int | None = None
    video: str | None = None
    frames: list[str] | str | None = None  # explicit frame files, or a frame folder
    description: str | None = None
    hand_features: str | None = None
    signer: str | None = None
    # A segment of a longer video: `[start, end)` in seconds of the video's presentation time.
    start: float | None = None
    end: float | None = None
    # Problems of the row itself (e.g. a time that is not a number), reported with the sample's other problems.
    problems: list[str] = dataclasses.field(default_factory=list)


# A missing text is reported per sample (as an empty target); a value of the wrong type means a different format.
_LABEL_FIELD_TYPES = {
    "name": (str,),
    "text": (str, type(None)),
    "gloss": (str, type(None)),
    "length": (int, type(None)),
    "imgs_path": (list, tuple, type(None)),
}


def read_gfslt_labels(path: str) -> list[dict]:
    """Read a GFSLT-VLP label file: a (gzip-)pickled dict `name -> {name, gloss, text, length, imgs_path}`.

    The pickle goes through the restricted unpickler. Returns the entries in file order, each with `name` filled
    in from its key when absent.

    Raises:
        LabelFormatError: the file is not a readable pickle or not in this format (message names the file).
        UnsafePickleError: the pickle references code.
    """
    try:
        content = safe_load(path)
    except UnsafePickleError:
        raise
    except (OSError, ValueError) as err:
        raise LabelFormatError(f"{path} is not a GFSLT-VLP label file: {err}") from err
    expected = "a dict mapping sample names to {'name', 'gloss', 'text', 'length', 'imgs_path'} (GFSLT-VLP format)"
    if not isinstance(content, dict):
        raise LabelFormatError(f"{path}: expected {expected}, got a {type(content).__name__}.")
    if not content:
        raise LabelFormatError(f"{path}: the label file lists no samples.")
    entries = []
    for key, entry in content.items():
        if not isinstance(entry, dict) or "text" not in entry:
            raise LabelFormatError(f"{path}: entry {key!r} is not a dict with a 'text' field; expected {expected}.")
        entry = {"name": key, **entry}
        for field, kinds in _LABEL_FIELD_TYPES.items():
            if not isinstance(entry.get(field), kinds):
                raise LabelFormatError(
                    f"{path}: entry {key!r} has a {type(entry.get(field)).__name__} '{field}'; expected {expected}."
                )
        entries.append(entry)
    return entries


# Where DictReader puts the fields of a row beyond its header.
_EXTRA_FIELDS = "\0extra"
_TIMESTAMP = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d*)?)$")


def parse_seconds(value) -> float:
    """A time in seconds from a number, a numeric string (`"12.5"`) or a timestamp (`"00:01:02.500"`, `"1:02,5"`).

    Raises:
        ValueError: anything else, with the value in the message.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    match = _TIMESTAMP.match(text)
    if not match:
        raise ValueError(f"{value!r} is not a time in seconds or HH:MM:SS.mmm")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds.replace(",", "."))


def read_delimited(
    path: str, delimiter: str, required: tuple[str, ...], quoting: int = csv.QUOTE_MINIMAL, what: str = "file"
) -> list[tuple[int, dict[str, str]]]:
    """Read a delimited text file with a header; return `(line number, row)` pairs.

    Raises:
        LabelFormatError: unreadable file, a header without the `required` columns, a row with more or fewer fields
            than the header (all such rows are listed), or no rows.
    """
    try:
        # utf-8-sig: spreadsheet programs start their exports with a byte order mark.
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter, quoting=quoting, restkey=_EXTRA_FIELDS)
            missing = [column for column in required if column not in (reader.fieldnames or ())]
            if missing:
                found = reader.fieldnames or []
                separator = "tab" if delimiter == "\t" else repr(delimiter)
                raise LabelFormatError(
                    f"{path}:1: the header {found} lacks the column(s) {missing}; a {what} has the {separator}-"
                    f"separated columns {list(required)}."
                )
            rows, ragged = [], []
            for row in reader:
                extra = row.pop(_EXTRA_FIELDS, None)
                if extra or None in row.values():
                    count = sum(value is not None for value in row.values()) + len(extra or ())
                    ragged.append(f"{path}:{reader.line_num}: {count} fields where the header has {len(row)}")
                    continue
                rows.append((reader.line_num, row))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise LabelFormatError(f"{path} is not a readable {what} ({err}).") from err
    if ragged:
        raise LabelFormatError(f"{len(ragged)} malformed row(s) in {path}:\n  " + "\n  ".join(ragged))
    if not rows:
        raise LabelFormatError(f"{path}: the {what} lists no samples.")
    return rows


def read_manifest(path: str) -> list[tuple[int, dict]]:
    """Read a JSONL or CSV manifest; return `(line number, row)` pairs.

    Raises:
        LabelFormatError: unreadable file, a line that is not a JSON object, or missing `id`/`text` columns.
    """
    rows = []
    try:
        # utf-8-sig: spreadsheet programs start their CSV exports with a byte order mark.
        with open(path, encoding="utf-8-sig", newline="") as handle:
            if path.lower().endswith(".csv"):
                reader = csv.DictReader(handle)
                missing = {"id", "text"} - set(reader.fieldnames or ())
                if missing:
                    raise LabelFormatError(
                        f"{path}: the CSV header {reader.fieldnames} lacks the column(s) {sorted(missing)}; "
                        "expected id, text, video or frames, and optionally gloss, description, hand_features."
                    )
                # Empty cells of optional columns mean "not given"; an empty text stays, to be reported per sample.
                rows = [
                    (reader.line_num, {k: v for k, v in row.items() if k in ("id", "text") or v not in (None, "")})
                    for row in reader
                ]
            else:
                for line_number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise LabelFormatError(f"{path}:{line_number}: not a JSON object ({err}).") from err
                    if not isinstance(row, dict):
                        raise LabelFormatError(f"{path}:{line_number}: expected a JSON object, got {row!r}.")
                    rows.append((line_number, row))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise LabelFormatError(f"{path} is not a readable manifest ({err}).") from err
    if not rows:
        raise LabelFormatError(f"{path}: the manifest lists no samples.")
    for line_number, row in rows:
        for key in ("id", "text"):
            if key not in row:
                raise LabelFormatError(f"{path}:{line_number}: the row has no '{key}'.")
        if not isinstance(row["id"], (str, int)) or row["id"] == "":
            raise LabelFormatError(f"{path}:{line_number}: 'id' must be a non-empty string, got {row['id']!r}.")
        # A null text is an empty target, reported per sample; any other non-string is a malformed row.
        if row["text"] is not None and not isinstance(row["text"], str):
            raise LabelFormatError(f"{path}:{line_number}: 'text' must be a string, got {row['text']!r}.")
    return rows
