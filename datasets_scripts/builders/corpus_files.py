"""Readers of the public corpora's own annotation files, one small reader per format, each returning the samples as
`SampleEntry`s (before their media are checked):

- RWTH-PHOENIX-Weather 2014 T: `PHOENIX-2014-T.{train,dev,test}.corpus.csv` (pipe-delimited, no quoting);
- CSL-Daily: `sentence_label/csl2020ct_v2.pkl` (read with the restricted unpickler) and `split_1.txt`;
- How2Sign: `how2sign_realigned_{train,val,test}.csv` (tab-separated despite the name);
- OpenASL: `openasl-v1.0.tsv`;
- captions of long videos (YouTube-ASL style): WebVTT (`webvtt-py`) and SRT (`srt`) files.

A row's own faults (a time that is not a number) stay with its entry and are reported with the sample's other
problems; a file whose header or structure is wrong is a `LabelFormatError` naming the file and line.
"""

import csv
import os
from dataclasses import dataclass

from .labels import LabelFormatError, SampleEntry, parse_seconds, read_delimited
from .safe_pickle import UnsafePickleError, safe_load


__all__ = [
    "CAPTION_EXTENSIONS",
    "Cue",
    "read_caption_file",
    "read_csl_daily_release",
    "read_how2sign_csv",
    "read_openasl_tsv",
    "read_phoenix_corpus_csv",
    "set_segment_times",
]

CAPTION_EXTENSIONS = (".vtt", ".srt")
PHOENIX_COLUMNS = ("name", "video", "start", "end", "speaker", "orth", "translation")
HOW2SIGN_COLUMNS = (
    "VIDEO_ID",
    "VIDEO_NAME",
    "SENTENCE_ID",
    "SENTENCE_NAME",
    "START_REALIGNED",
    "END_REALIGNED",
    "SENTENCE",
)
OPENASL_COLUMNS = ("vid", "yid", "start", "end", "raw-text", "tokenized-text", "gloss", "split")
CSL_DAILY_FIELDS = ("name", "label_word")


def set_segment_times(entry: SampleEntry, start, end) -> None:
    """Make the entry the segment `[start, end)` from two time fields, or record why they cannot be read."""
    try:
        entry.start, entry.end = parse_seconds(start), parse_seconds(end)
    except ValueError as err:
        entry.problems.append(f"{entry.source}: the segment's time {err}")


def read_phoenix_corpus_csv(path: str, split_folder: str) -> list[SampleEntry]:
    """Samples of a Phoenix14T release annotation file. The id is `<split folder>/<name>`, as in the GFSLT-VLP label
    files, so that extras are found alike in both layouts; `frames` is left to the caller (the `video` column's
    `<name>/1/*.png` is a legacy glob, not a folder of the release)."""
    rows = read_delimited(path, "|", PHOENIX_COLUMNS, quoting=csv.QUOTE_NONE, what="Phoenix14T corpus file")
    return [
        SampleEntry(
            id=f"{split_folder}/{row['name']}",
            text=row["translation"],
            source=f"{path}:{line}",
            gloss=row["orth"] or None,
            signer=row["speaker"] or None,
        )
        for line, row in rows
    ]


def read_csl_daily_release(label_path: str, split_path: str) -> dict[str, list[SampleEntry]]:
    """Samples of the CSL-Daily release by split name (`train`, `dev`, `test` as `split_1.txt` writes them).

    The text is the words of `label_word` joined without spaces, as Chinese is written (and as the character-level
    BLEU of the benchmark expects); the gloss is `label_gloss` joined with spaces.
    """
    try:
        content = safe_load(label_path)
    except UnsafePickleError:
        raise
    except (OSError, ValueError) as err:
        raise LabelFormatError(f"{label_path} is not a CSL-Daily label pickle: {err}") from err
    info = content.get("info") if isinstance(content, dict) else None
    if not isinstance(info, list) or not info:
        found = sorted(content) if isinstance(content, dict) else type(content).__name__
        raise LabelFormatError(f"{label_path}: expected a dict with a non-empty 'info' list; found {found}.")
    bad = [index for index, item in enumerate(info) if not isinstance(item, dict) or "name" not in item]
    if bad:
        raise LabelFormatError(
            f"{label_path}: {len(bad)} 'info' entries are not dicts with a 'name' (first at index {bad[0]})."
        )
    samples = {item["name"]: (index, item) for index, item in enumerate(info)}

    splits: dict[str, list[SampleEntry]] = {}
    unknown = []
    for line, name, split in _read_split_list(split_path):
        source = f"{split_path}:{line}"
        if name not in samples:
            unknown.append(f"{source}: {name!r} is not in {os.path.basename(label_path)}")
            continue
        index, item = samples[name]
        entry = SampleEntry(
            id=name,
            text=None,
            source=f"{label_path} info[{index}] ({source})",
            signer=None if item.get("signer") is None else str(item["signer"]),
            length=item.get("length") if isinstance(item.get("length"), int) else None,
        )
        for key, joiner in (("label_word", ""), ("label_gloss", " ")):
            value = item.get(key)
            if isinstance(value, str):
                value = [value]
            if value is not None and not (isinstance(value, (list, tuple)) and all(isinstance(w, str) for w in value)):
                entry.problems.append(f"{entry.source}: '{key}' is not a list of strings")
            elif key == "label_word":
                entry.text = joiner.join(value or [])
            elif value:
                entry.gloss = joiner.join(value)
        splits.setdefault(split, []).append(entry)
    if unknown:
        raise LabelFormatError(f"{len(unknown)} unknown sample(s) in {split_path}:\n  " + "\n  ".join(unknown))
    return splits


def _read_split_list(path: str) -> list[tuple[int, str, str]]:
    """`(line, name, split)` of a CSL-Daily split list: `name|split` lines, with or without that header line."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise LabelFormatError(f"{path} is not a readable CSL-Daily split file ({err}).") from err
    rows, malformed = [], []
    for number, line in enumerate(lines, start=1):
        fields = [field.strip() for field in line.split("|")]
        if not line.strip() or (number == 1 and fields[:2] == ["name", "split"]):
            continue
        if len(fields) < 2 or not fields[0] or not fields[1]:
            malformed.append(f"{path}:{number}: expected name|split, got {line!r}")
            continue
        rows.append((number, fields[0], fields[1]))
    if malformed:
        raise LabelFormatError(f"{len(malformed)} malformed line(s) in {path}:\n  " + "\n  ".join(malformed))
    if not rows:
        raise LabelFormatError(f"{path}: the CSL-Daily split file lists no samples.")
    return rows


def read_how2sign_csv(path: str) -> list[tuple[SampleEntry, str, str, str, str]]:
    """Rows of a How2Sign realigned file: `(entry, sentence clip name, raw video name, start, end)`; the realigned
    times apply only where the raw video is used (`set_segment_times`)."""
    rows = read_delimited(path, "\t", HOW2SIGN_COLUMNS, quoting=csv.QUOTE_NONE, what="How2Sign realigned file")
    return [
        (
            SampleEntry(id=row["SENTENCE_NAME"], text=row["SENTENCE"], source=f"{path}:{line}"),
            row["SENTENCE_NAME"],
            row["VIDEO_NAME"],
            row["START_REALIGNED"],
            row["END_REALIGNED"],
        )
        for line, row in rows
    ]


def read_openasl_tsv(path: str) -> dict[str, list[tuple[SampleEntry, str]]]:
    """OpenASL segments by split name as the file writes it (`train`, `valid`, `test`): `(entry, YouTube id)`."""
    rows = read_delimited(path, "\t", OPENASL_COLUMNS, quoting=csv.QUOTE_NONE, what="OpenASL file")
    splits: dict[str, list[tuple[SampleEntry, str]]] = {}
    for line, row in rows:
        entry = SampleEntry(id=row["vid"], text=row["raw-text"], source=f"{path}:{line}", gloss=row["gloss"] or None)
        set_segment_times(entry, row["start"], row["end"])
        splits.setdefault(row["split"], []).append((entry, row["yid"]))
    return splits


@dataclass(frozen=True)
class Cue:
    """One caption: its text, its times in seconds and the line of the file it starts on."""

    text: str
    start: float
    end: float
    line: int


def _cue_lines(path: str) -> list[int]:
    """The line number of each cue's timing line (`-->`), in file order: the parsers keep no line numbers."""
    with open(path, encoding="utf-8-sig") as handle:
        return [number for number, line in enumerate(handle, start=1) if "-->" in line]


def read_caption_file(path: str) -> list[Cue]:
    """The cues of a WebVTT (`.vtt`, with `webvtt-py`) or SRT (`.srt`, with `srt`) file, in file order; text lines
    are joined with spaces.

    Raises:
        LabelFormatError: an unreadable or malformed file, or one with no cues.
    """
    import srt
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    def seconds(timestamp) -> float:
        return timestamp.hours * 3600 + timestamp.minutes * 60 + timestamp.seconds + timestamp.milliseconds / 1000

    try:
        if path.lower().endswith(".vtt"):
            cues = [
                (caption.text, seconds(caption.start_time), seconds(caption.end_time)) for caption in webvtt.read(path)
            ]
        else:
            with open(path, encoding="utf-8-sig") as handle:
                cues = [
                    (subtitle.content, subtitle.start.total_seconds(), subtitle.end.total_seconds())
                    for subtitle in srt.parse(handle.read())
                ]
        lines = _cue_lines(path)
    except (
        OSError, UnicodeDecodeError, MalformedFileError, MalformedCaptionError, srt.SRTParseError, ValueError
    ) as err:
        raise LabelFormatError(f"{path} is not a readable caption file ({err}).") from err
    if not cues:
        raise LabelFormatError(f"{path}: the caption file has no cues.")
    if len(lines) != len(cues):
        lines = [0] * len(cues)
    return [Cue(" ".join(text.split()), start, end, line) for (text, start, end), line in zip(cues, lines)]
