"""Dataset builders for sign language translation: Phoenix14T and CSL-Daily (their official releases or the GFSLT-VLP
label files), How2Sign, OpenASL, captioned long videos (YouTube-ASL style), SynthSign and custom manifests.

`datasets` >= 4 no longer runs loading scripts, so the builders are `datasets.GeneratorBasedBuilder` subclasses
used directly, behind one entry point:

```python
from datasets_scripts import load_sign_dataset

dataset = load_sign_dataset("phoenix14t", data_dir="PHOENIX-2014-T-release-v3/PHOENIX-2014-T")
dataset = load_sign_dataset("how2sign", data_dir="how2sign", videos_dir="how2sign/raw_videos")
```

A sample is a whole video, a frame folder, or a segment `[start, end)` (seconds) of a longer video: segments are
checked against their video's duration and decoded by seeking, never cut into copies.

Every split is validated before anything is written: each source video or frame folder is opened, each extra is
read, and all invalid samples are reported together in one `InvalidSamplesError` (or dropped with
`drop_invalid=True`). Examples follow the data contract: `id`, `text`, `gloss`, `video` or `frames`, `num_frames`,
`description`, `hand_features` and `hand_mask` (None where a sample has no such extra), `signer`, and `start`/`end`
(None for whole videos).
"""

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import datasets
from datasets.fingerprint import Hasher
from datasets.utils.tqdm import tqdm

from ..media import (
    VIDEO_EXTENSIONS,
    InvalidFileError,
    SegmentPastEndError,
    VideoTimeline,
    check_segment,
    list_frame_folder,
    probe_frames,
    probe_video,
    verify_segment,
    verify_video,
    video_frame_rate,
    video_timeline,
)
from .corpus_files import (
    CAPTION_EXTENSIONS,
    read_caption_file,
    read_csl_daily_release,
    read_how2sign_csv,
    read_openasl_tsv,
    read_phoenix_corpus_csv,
    set_segment_times,
)
from .features import (
    DESCRIPTION_EXTENSIONS,
    HAND_FEATURE_EXTENSIONS,
    find_sample_file,
    read_description,
    read_hand_features,
)
from .labels import LABEL_FILES, LabelFormatError, SampleEntry, read_gfslt_labels, read_manifest


__all__ = [
    "BUILDERS",
    "SPLITS",
    "CSLDaily",
    "CaptionedVideos",
    "CustomSignDataset",
    "How2Sign",
    "InvalidSamplesError",
    "OpenASL",
    "Phoenix14T",
    "SIGN_FEATURES",
    "SignDatasetConfig",
    "SignLanguageBuilder",
    "SynthSign",
    "load_sign_dataset",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
VERIFY_MEDIA = ("cheap", "full")
_SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}
# Sub-folders of data_dir used when the option is not given (the SynthSign layout).
_DEFAULT_SUBFOLDERS = {
    "frames_dir": "frames",
    "videos_dir": "videos",
    "descriptions_dir": "descriptions",
    "hand_features_dir": "hand_features",
}

SIGN_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "text": datasets.Value("string"),
        "gloss": datasets.Value("string"),
        "video": datasets.Value("string"),
        "frames": datasets.List(datasets.Value("string")),
        "num_frames": datasets.Value("int32"),
        "description": datasets.Value("string"),
        # T differs per sample; nested lists keep a missing sample None (Array2D would turn it into NaN).
        "hand_features": datasets.List(datasets.List(datasets.Value("float16"))),
        "hand_mask": datasets.List(datasets.Value("bool")),
        "signer": datasets.Value("string"),
        # A segment of a longer video, in seconds of its presentation time; None for a whole video or frame folder.
        "start": datasets.Value("float64"),
        "end": datasets.Value("float64"),
    }
)


class InvalidSamplesError(ValueError):
    """One or more samples are unusable. `problems` lists `(split, sample id, "file: what is wrong")` for each."""

    def __init__(self, dataset_name: str, problems: list[tuple[str, str, str]], nothing_left: bool = False):
        self.problems = problems
        num_samples = len({(split, sample_id) for split, sample_id, _ in problems})
        lines = "\n".join(f"  [{split}] {sample_id}: {problem}" for split, sample_id, problem in problems)
        if nothing_left:
            advice = "no valid sample is left to prepare"
        else:
            advice = "fix them, or pass drop_invalid=True to leave them out"
        plural = "s" if num_samples != 1 else ""
        super().__init__(f"{num_samples} invalid sample{plural} in {dataset_name}; {advice}:\n{lines}")


def _canonical_split(name: str) -> str:
    if name not in _SPLIT_ALIASES:
        raise ValueError(f"Unknown split {name!r}; expected one of {sorted(_SPLIT_ALIASES)}.")
    return _SPLIT_ALIASES[name]


# --------------------------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class SignDatasetConfig(datasets.BuilderConfig):
    """Options of the sign language builders.

    Args:
        frames_dir: root of the frame folders (`<frames_dir>/<name>/` holding images; Phoenix14T's `imgs_path`
            entries resolve against it). Defaults to `<data_dir>/frames` when that folder exists.
        videos_dir: root of the videos (`<videos_dir>/<name>.mp4|webm|avi|mkv|mov`). Defaults to `<data_dir>/videos`.
        descriptions_dir: descriptor JSONs (`<dir>/<name>.json`). Defaults to `<data_dir>/descriptions`.
        hand_features_dir: hand features (`<dir>/<name>.safetensors|npz|npy|lzma|xz|pkl`). Defaults to
            `<data_dir>/hand_features`.
        manifest: custom builder only: a JSONL/CSV manifest path (split from its `split` column, else `train`) or a
            dict `{split: path}`. Defaults to `<data_dir>/{train,validation,test}.jsonl|csv`.
        drop_invalid: leave invalid samples out (with a logged count) instead of raising `InvalidSamplesError`.
        splits: prepare only these splits (`train`, `validation`/`dev`, `test`).
        verify_media: `"cheap"` (default) reads headers, demuxes videos and decodes a clip's first frame; `"full"`
            also decodes every frame of every clip, in parallel, which finds corrupt data in the middle of a file.
        min_segment_seconds, max_segment_seconds: leave out segments of long videos (captions, How2Sign, OpenASL,
            manifests with `start`/`end`) shorter or longer than this (a logged count, not an error).
    """

    frames_dir: str | None = None
    videos_dir: str | None = None
    descriptions_dir: str | None = None
    hand_features_dir: str | None = None
    manifest: str | dict | None = None
    drop_invalid: bool = False
    splits: tuple[str, ...] | None = None
    verify_media: str = "cheap"
    min_segment_seconds: float | None = None
    max_segment_seconds: float | None = None


class SignLanguageBuilder(datasets.GeneratorBasedBuilder):
    """Shared machinery: directory defaults, validation of every sample, extras lookup and example generation.

    Subclasses provide `_read_split_entries()` (the samples of each split, as stated by their labels) and
    `_source_files()` (the files whose content defines the dataset, to key the cache on).
    """

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = SignDatasetConfig
    # A sample's hand features reach ~200 KB (300 frames x 288 float16): flush to disk every 100 examples.
    DEFAULT_WRITER_BATCH_SIZE = 100
    DATASET_NAME = "sign_language"
    DATASET_DESCRIPTION = ""
    HOMEPAGE = ""
    LICENSE = ""
    CITATION = ""
    # Phoenix14T's label entries list their frame files; other corpora are found by sample name.
    USE_IMGS_PATH = False
    REQUIRES_SOURCE_DIR = True
    # A corpus known to have segments that run past their video (How2Sign) leaves them out with a warning that lists
    # them, instead of failing on what every copy of it has.
    LEAVES_OUT_SEGMENTS_PAST_END = False

    def __init__(self, *args, hash: str | None = None, **kwargs):
        kwargs.setdefault("dataset_name", self.DATASET_NAME)
        super().__init__(*args, hash=hash, **kwargs)
        # `datasets` sets options on a copy of the default config, so they are checked here.
        if self.config.verify_media not in VERIFY_MEDIA:
            raise ValueError(f"verify_media must be one of {VERIFY_MEDIA}, got {self.config.verify_media!r}.")
        self._num_workers = 1
        # Segments of one long video share its timeline, read once.
        self._timelines: dict[str, VideoTimeline | InvalidFileError] = {}
        self._timelines_lock = threading.Lock()
        if hash is None:
            # Key the cache on the label files as well as the options: a corpus regenerated into the same folder
            # must not be served from the previous preparation.
            self.hash = Hasher.hash(self._source_fingerprint())
            self._cache_dir = self._build_cache_dir()
            self._output_dir = self._cache_dir
            if os.path.exists(os.path.join(self._cache_dir, datasets.config.DATASET_INFO_FILENAME)):
                self.info = datasets.DatasetInfo.from_directory(self._cache_dir)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.DATASET_DESCRIPTION,
            features=SIGN_FEATURES,
            homepage=self.HOMEPAGE,
            license=self.LICENSE,
            citation=self.CITATION,
        )

    def download_and_prepare(self, *args, num_proc: int | None = None, **kwargs):
        """`datasets.DatasetBuilder.download_and_prepare`; `num_proc` also parallelises the validation pass."""
        self._num_workers = max(1, num_proc or 1)
        super().download_and_prepare(*args, num_proc=num_proc, **kwargs)

    # -- configuration ----------------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> str | None:
        return os.path.abspath(self.config.data_dir) if self.config.data_dir else None

    def _directory(self, option: str) -> str | None:
        """The folder an option names, else the first of its default folders that exists, else None."""
        value = getattr(self.config, option)
        if value:
            return os.path.abspath(value)
        return next((folder for folder in self._default_directories(option) if os.path.isdir(folder)), None)

    def _default_directories(self, option: str) -> list[str]:
        """Where an option's folder is looked for when it is not given: its sub-folder of data_dir."""
        return [os.path.join(self.data_dir, _DEFAULT_SUBFOLDERS[option])] if self.data_dir else []

    def _timeline(self, video: str) -> VideoTimeline:
        """The frame times of a video, read once per builder (an unreadable video's error too)."""
        with self._timelines_lock:
            known = self._timelines.get(video)
        if known is None:
            try:
                known = video_timeline(video)
            except InvalidFileError as err:
                known = err
            with self._timelines_lock:
                self._timelines[video] = known
        if isinstance(known, InvalidFileError):
            raise known
        return known

    def _source_files(self) -> list[str]:
        raise NotImplementedError

    def _source_fingerprint(self) -> list:
        fingerprint = []
        for path in self._source_files():
            if os.path.isfile(path):
                stat = os.stat(path)
                fingerprint.append((os.path.abspath(path), stat.st_size, stat.st_mtime_ns))
        return fingerprint

    def _read_split_entries(self) -> dict[str, list[SampleEntry]]:
        raise NotImplementedError

    def _selected_splits(self, available: list[str]) -> list[str]:
        if not self.config.splits:
            return available
        splits = [self.config.splits] if isinstance(self.config.splits, str) else self.config.splits
        requested = [_canonical_split(name) for name in splits]
        absent = [name for name in requested if name not in available]
        if absent:
            raise ValueError(f"{self.dataset_name}: no data for split(s) {absent}; found {available}.")
        return [name for name in SPLITS if name in requested]

    # -- validation -------------------------------------------------------------------------------------------------

    def _locate_source(self, entry: SampleEntry) -> tuple[str | None, list[str] | None]:
        """Return `(video, None)` or `(None, frames)` for a sample."""
        if entry.video is not None:
            return entry.video, None
        if isinstance(entry.frames, list):
            if not entry.frames:
                raise InvalidFileError(entry.source, "the sample lists no frame files")
            return None, entry.frames
        if isinstance(entry.frames, str):
            return None, list_frame_folder(entry.frames)
        videos_dir, frames_dir = self._directory("videos_dir"), self._directory("frames_dir")
        for directory in (videos_dir, frames_dir):
            if directory:
                _check_inside(directory, entry.id, entry.source)
        if videos_dir:
            video = find_sample_file(videos_dir, entry.id, VIDEO_EXTENSIONS)
            if video:
                return video, None
        if frames_dir:
            for candidate in (entry.id, os.path.basename(entry.id)):
                folder = os.path.join(frames_dir, candidate)
                if os.path.isdir(folder):
                    return None, list_frame_folder(folder)
        if not (videos_dir or frames_dir):
            reason = "the sample gives no video or frames, and no videos_dir or frames_dir was given to find them in"
            raise InvalidFileError(entry.source, reason)
        suffixes = ",".join(extension.lstrip(".") for extension in VIDEO_EXTENSIONS)
        video_pattern = f"{os.path.join(videos_dir or '', entry.id)}.{{{suffixes}}}"
        folder = os.path.join(frames_dir or "", entry.id) + os.sep
        if videos_dir and frames_dir:
            raise InvalidFileError(video_pattern, f"no such video file, and no frame folder {folder}")
        if videos_dir:
            raise InvalidFileError(video_pattern, "no such video file")
        raise InvalidFileError(folder, "frame folder does not exist")

    def _check_sample(self, entry: SampleEntry) -> tuple[dict, list[str]]:
        """Validate one sample; return its record for `_generate_examples` and the problems found (all of them)."""
        problems = list(entry.problems)
        if not isinstance(entry.text, str) or not entry.text.strip():
            problems.append(f"{entry.source}: the target sentence (text) is empty")
        video = frames = num_frames = fps = past_end = None
        segment = entry.start is not None or entry.end is not None
        full = self.config.verify_media == "full"
        try:
            # A row whose own fields are wrong has no source to look for.
            if not entry.problems:
                video, frames = self._locate_source(entry)
            if segment and video is None and not entry.problems:
                problems.append(f"{entry.source}: a segment [{entry.start}, {entry.end}) needs a video file")
            elif segment and video:
                timeline = self._timeline(video)
                fps = timeline.fps
                num_frames = check_segment(video, timeline, entry.start, entry.end)
                if full:
                    num_frames = verify_segment(video, entry.start, entry.end, num_frames)
            elif video:
                num_frames = verify_video(video) if full else probe_video(video)
            elif frames:
                num_frames = probe_frames(frames, full=full)
        except SegmentPastEndError as err:
            if self.LEAVES_OUT_SEGMENTS_PAST_END:
                past_end = f"{entry.source}: {err}"
            else:
                problems.append(f"{entry.source}: {err}")
        except InvalidFileError as err:
            problems.append(f"{entry.source}: {err}" if segment else str(err))
        except OSError as err:  # e.g. a folder that cannot be listed
            problems.append(f"{err.filename or entry.source}: {err.strerror or err}")

        description = entry.description
        descriptions_dir = self._directory("descriptions_dir")
        if description is None and descriptions_dir:
            path = find_sample_file(descriptions_dir, entry.id, DESCRIPTION_EXTENSIONS)
            if path:
                try:
                    description = read_description(path)
                except InvalidFileError as err:
                    problems.append(str(err))

        hand_features = entry.hand_features
        hand_features_dir = self._directory("hand_features_dir")
        if hand_features is None and hand_features_dir:
            # A segment's features may be its own file, or its video's (read over the segment's time span).
            names = [entry.id] + ([os.path.splitext(os.path.basename(video))[0]] if segment and video else [])
            hand_features = next(
                filter(None, (find_sample_file(hand_features_dir, name, HAND_FEATURE_EXTENSIONS) for name in names)),
                None,
            )
        hand_width = None
        if hand_features is not None:
            if not os.path.isfile(hand_features):
                problems.append(f"{hand_features}: hand feature file does not exist")
            else:
                if video and fps is None and num_frames is not None and hand_features.endswith(".pose"):
                    fps = video_frame_rate(video)  # a pose file's rate must be its video's
                # Without the sample's frame count (its media failed) the file is still read, on its own.
                span = {"fps": fps, "start": entry.start, "end": entry.end} if num_frames is not None else {}
                try:
                    hand_width = read_hand_features(hand_features, num_frames, **span).features.shape[1]
                except InvalidFileError as err:
                    problems.append(str(err))

        record = {
            "id": entry.id,
            "text": entry.text,
            "gloss": entry.gloss,
            "video": video,
            "frames": frames,
            "num_frames": num_frames,
            "description": description,
            "hand_features": hand_features,
            "label_length": entry.length,
            "hand_width": hand_width,
            "signer": entry.signer,
            "start": entry.start,
            "end": entry.end,
            "fps": fps,
            "past_end": past_end,
        }
        return record, problems

    def _check_split(self, split: str, entries: list[SampleEntry]) -> list[tuple[dict, list[str]]]:
        workers = self._num_workers
        description = f"Checking {self.dataset_name} {split}"
        if self.config.verify_media == "full":
            # Decoding dominates and releases the GIL: use the machine even without num_proc.
            workers = max(workers, min(8, os.cpu_count() or 1))
            description += " (decoding every frame)"
        progress = tqdm(total=len(entries), desc=description, unit=" samples")
        with progress:
            if workers > 1:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    results = []
                    for result in pool.map(self._check_sample, entries):
                        results.append(result)
                        progress.update()
                    return results
            results = []
            for entry in entries:
                results.append(self._check_sample(entry))
                progress.update()
            return results

    def _within_segment_limits(self, split: str, entries: list[SampleEntry]) -> list[SampleEntry]:
        """The entries without the segments outside `[min_segment_seconds, max_segment_seconds]`."""
        low, high = self.config.min_segment_seconds, self.config.max_segment_seconds
        if low is None and high is None:
            return entries

        def within(entry: SampleEntry) -> bool:
            if entry.start is None or entry.end is None or entry.problems:
                return True  # whole clips, and rows whose faults are to be reported
            length = entry.end - entry.start
            return (low is None or length >= low) and (high is None or length <= high)

        kept = [entry for entry in entries if within(entry)]
        if len(kept) < len(entries):
            logger.info(
                f"{split}: left out {len(entries) - len(kept)} of {len(entries)} segments shorter than "
                f"{low if low is not None else 0} s or longer than {high if high is not None else 'any'} s."
            )
        return kept

    def _leave_out_segments_past_end(self, checked: dict[str, list[tuple[dict, list[str]]]]) -> None:
        """Take the segments past the end of their video out of `checked` (builders that expect them), listed in a
        warning with their videos' durations."""
        listed = []
        for split, results in checked.items():
            listed += [f"  [{split}] {record['past_end']}" for record, _ in results if record["past_end"]]
            checked[split] = [(record, problems) for record, problems in results if not record["past_end"]]
        if listed:
            logger.warning(
                f"{self.dataset_name}: left out {len(listed)} segments that run past the end of their video:\n"
                + "\n".join(listed)
            )

    def _log_split_summary(self, split: str, records: list[dict]) -> None:
        extras = (
            ("description", "description", "descriptions_dir"),
            ("hand features", "hand_features", "hand_features_dir"),
        )
        for label, key, option in extras:
            missing = sum(record[key] is None for record in records)
            if not missing:
                continue
            if self._directory(option):
                logger.warning(f"{split}: {missing} of {len(records)} samples have no {label}.")
            else:
                logger.info(f"{split}: {missing} of {len(records)} samples have no {label} (no {option} given).")
        mismatched = sum(
            record["label_length"] is not None and record["label_length"] != record["num_frames"] for record in records
        )
        if mismatched:
            logger.warning(
                f"{split}: {mismatched} of {len(records)} samples have a frame count that differs from the length in "
                "their label entry; num_frames is taken from the video or frame folder."
            )

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        split_entries = self._read_split_entries()
        if self.REQUIRES_SOURCE_DIR and not (self._directory("videos_dir") or self._directory("frames_dir")):
            raise ValueError(
                f"{self.dataset_name} needs frames_dir (the root of the frame folders) or videos_dir (the root of the "
                f"videos); neither was given and data_dir {self.data_dir} has no frames/ or videos/ folder."
            )
        selected = {
            split: self._within_segment_limits(split, split_entries[split])
            for split in self._selected_splits(list(split_entries))
        }
        checked = {split: self._check_split(split, entries) for split, entries in selected.items()}
        self._leave_out_segments_past_end(checked)
        _check_hand_widths(checked)
        _warn_shared_sources(checked)
        problems = [
            (split, record["id"], problem)
            for split, results in checked.items()
            for record, record_problems in results
            for problem in record_problems
        ]
        if problems and not self.config.drop_invalid:
            raise InvalidSamplesError(self.dataset_name, problems)

        generators = []
        for split, results in checked.items():
            records = [record for record, record_problems in results if not record_problems]
            dropped = len(results) - len(records)
            if dropped:
                reasons = "\n".join(f"  {sample}: {problem}" for where, sample, problem in problems if where == split)
                logger.warning(f"{split}: dropped {dropped} of {len(results)} invalid samples:\n{reasons}")
            if not records:
                logger.warning(f"{split}: no valid sample is left; the split is left out.")
                continue
            self._log_split_summary(split, records)
            generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"samples": records}))
        if not generators:
            raise InvalidSamplesError(self.dataset_name, problems, nothing_left=True)
        return generators

    def _generate_examples(self, samples: list[dict]) -> Iterator[tuple[str, dict]]:
        for record in samples:
            hand = None
            if record["hand_features"] is not None:
                hand = read_hand_features(
                    record["hand_features"],
                    record["num_frames"],
                    fps=record["fps"],
                    start=record["start"],
                    end=record["end"],
                )
            yield record["id"], {
                "id": record["id"],
                "text": record["text"],
                "gloss": record["gloss"],
                "video": record["video"],
                "frames": record["frames"],
                "num_frames": record["num_frames"],
                "description": record["description"],
                "hand_features": None if hand is None else hand.features,
                "hand_mask": None if hand is None else hand.mask,
                "signer": record["signer"],
                "start": record["start"],
                "end": record["end"],
            }


def _check_inside(directory: str, name: str, source: str) -> None:
    """Refuse a sample name that points outside the folder it is looked up in (`../..`, an absolute path)."""
    target = os.path.normpath(os.path.join(directory, name))
    if os.path.commonpath([directory, target]) != directory:
        raise InvalidFileError(source, f"sample id {name!r} resolves to {target}, outside {directory}")


def _check_hand_widths(checked: dict[str, list[tuple[dict, list[str]]]]) -> None:
    """The model has one hand-feature input width: a file of another width than most (over all splits) is a
    problem of its sample."""
    widths = Counter(record["hand_width"] for results in checked.values() for record, _ in results)
    widths.pop(None, None)
    if len(widths) < 2:
        return
    width, count = widths.most_common(1)[0]
    total = sum(widths.values())
    for results in checked.values():
        for record, problems in results:
            if record["hand_width"] not in (None, width):
                problems.append(
                    f"{record['hand_features']}: hand features are {record['hand_width']} wide, but {count} of the "
                    f"{total} samples with hand features have {width}"
                )


def _warn_shared_sources(checked: dict[str, list[tuple[dict, list[str]]]]) -> None:
    """Warn when one video or frame folder serves samples of different splits: evaluation would see training data."""
    users: dict[str, list[tuple[str, str]]] = {}
    for split, results in checked.items():
        for record, _ in results:
            source = record["video"] or (os.path.dirname(record["frames"][0]) if record["frames"] else None)
            if source:
                users.setdefault(source, []).append((split, record["id"]))
    shared = {source: samples for source, samples in users.items() if len({split for split, _ in samples}) > 1}
    if shared:
        lines = "\n".join(
            f"  {source}: " + ", ".join(f"[{split}] {sample_id}" for split, sample_id in samples)
            for source, samples in shared.items()
        )
        logger.warning(f"{len(shared)} videos or frame folders are used by more than one split:\n{lines}")


class _GFSLTLabelBuilder(SignLanguageBuilder):
    """Corpora described by GFSLT-VLP label files `labels.train|dev|test` in `data_dir`."""

    def _label_files(self) -> dict[str, str]:
        if not self.data_dir:
            raise ValueError(f"{self.dataset_name} needs data_dir, the folder holding labels.train|dev|test.")
        return {split: os.path.join(self.data_dir, name) for split, name in LABEL_FILES.items()}

    def _source_files(self) -> list[str]:
        return list(self._label_files().values()) if self.data_dir else []

    def _read_split_entries(self) -> dict[str, list[SampleEntry]]:
        label_files = {split: path for split, path in self._label_files().items() if os.path.isfile(path)}
        if not label_files:
            raise FileNotFoundError(
                f"{self.dataset_name}: no label files ({', '.join(LABEL_FILES.values())}) in {self.data_dir}."
            )
        frames_dir = self._directory("frames_dir")
        split_entries = {}
        for split, path in label_files.items():
            entries = []
            for entry in read_gfslt_labels(path):
                frames = None
                if self.USE_IMGS_PATH and entry.get("imgs_path") and frames_dir:
                    frames = [os.path.join(frames_dir, image) for image in entry["imgs_path"]]
                entries.append(
                    SampleEntry(
                        id=entry["name"],
                        text=entry["text"],
                        source=path,
                        gloss=entry.get("gloss"),
                        length=entry.get("length"),
                        frames=frames,
                    )
                )
            split_entries[split] = entries
        return split_entries


class _ReleaseOrGFSLTBuilder(_GFSLTLabelBuilder):
    """A corpus read from its official release, or from GFSLT-VLP label files when `data_dir` holds those.

    Subclasses name the release's marker file (relative to its root), the folders under `data_dir` where the root
    may be, its frame folder, and read its annotations in `_read_release()`.
    """

    RELEASE_MARKERS: tuple[str, ...] = ()
    RELEASE_ROOTS: tuple[str, ...] = (".",)
    RELEASE_FRAMES = ""

    def _uses_gfslt_labels(self) -> bool:
        return any(os.path.isfile(path) for path in self._label_files().values())

    def _release_root(self) -> str | None:
        """The release folder when `data_dir` is it, holds it, or is its annotation folder; None otherwise."""
        if not self.data_dir or self._uses_gfslt_labels():
            return None
        for relative in self.RELEASE_ROOTS:
            root = os.path.normpath(os.path.join(self.data_dir, relative))
            if any(os.path.isfile(os.path.join(root, marker)) for marker in self.RELEASE_MARKERS):
                return root
        return None

    def _default_directories(self, option: str) -> list[str]:
        root = self._release_root()
        release = [os.path.join(root, self.RELEASE_FRAMES)] if root and option == "frames_dir" else []
        return super()._default_directories(option) + release

    def _source_files(self) -> list[str]:
        root = self._release_root()
        if root is None:
            return super()._source_files()
        return [os.path.join(root, marker) for marker in self.RELEASE_MARKERS]

    def _read_split_entries(self) -> dict[str, list[SampleEntry]]:
        root = self._release_root()
        if root is None:
            if self.data_dir and not self._uses_gfslt_labels():
                markers = " or ".join(self.RELEASE_MARKERS)
                raise FileNotFoundError(
                    f"{self.dataset_name}: {self.data_dir} holds neither GFSLT-VLP label files "
                    f"({', '.join(LABEL_FILES.values())}) nor the official release ({markers}, looked for in "
                    f"{', '.join(os.path.normpath(os.path.join(self.data_dir, r)) for r in self.RELEASE_ROOTS)})."
                )
            return super()._read_split_entries()
        return self._read_release(root)

    def _read_release(self, root: str) -> dict[str, list[SampleEntry]]:
        raise NotImplementedError


class Phoenix14T(_ReleaseOrGFSLTBuilder):
    """RWTH-PHOENIX-Weather 2014 T (German weather forecasts in DGS; 7096 / 519 / 642 samples).

    `data_dir` is the release as RWTH distributes it (`PHOENIX-2014-T-release-v3/PHOENIX-2014-T`, the archive's
    top folder, or its `annotations/manual`): the annotations `PHOENIX-2014-T.{train,dev,test}.corpus.csv` and the
    frames `features/fullFrame-210x260px/<split>/<name>/images0001.png ...` (`frames_dir` overrides where they are).
    Or `data_dir` holds the GFSLT-VLP label files; their frames are found through each entry's `imgs_path`, relative
    to `frames_dir` (the release's `features/fullFrame-210x260px`). Both give the same ids (`dev/<name>`), frames and
    texts. Either way the frames may be videos under `videos_dir` instead.
    """

    DATASET_NAME = "phoenix14t"
    DATASET_DESCRIPTION = "RWTH-PHOENIX-Weather 2014 T: German sign language (DGS) weather forecasts with German text."
    HOMEPAGE = "https://www-i6.informatik.rwth-aachen.de/~koller/RWTH-PHOENIX-2014-T/"
    LICENSE = "CC BY-NC-SA 3.0"
    CITATION = (
        "@inproceedings{camgoz2018neural, title={Neural Sign Language Translation}, author={Camgoz, Necati Cihan "
        "and Hadfield, Simon and Koller, Oscar and Ney, Hermann and Bowden, Richard}, booktitle={CVPR}, year={2018}}"
    )
    USE_IMGS_PATH = True
    BUILDER_CONFIGS = [SignDatasetConfig(name="phoenix14t", version=SignLanguageBuilder.VERSION)]
    # The release's split folders, by our split names.
    RELEASE_SPLITS = {"train": "train", "validation": "dev", "test": "test"}
    RELEASE_MARKERS = tuple(
        os.path.join("annotations", "manual", f"PHOENIX-2014-T.{folder}.corpus.csv")
        for folder in RELEASE_SPLITS.values()
    )
    RELEASE_ROOTS = (".", "PHOENIX-2014-T", os.path.join("..", ".."))
    RELEASE_FRAMES = os.path.join("features", "fullFrame-210x260px")

    def _read_release(self, root: str) -> dict[str, list[SampleEntry]]:
        split_entries = {}
        for split, folder in self.RELEASE_SPLITS.items():
            path = os.path.join(root, "annotations", "manual", f"PHOENIX-2014-T.{folder}.corpus.csv")
            if os.path.isfile(path):
                # The id `<split folder>/<name>` is also the frame folder's path under frames_dir.
                split_entries[split] = read_phoenix_corpus_csv(path, folder)
        return split_entries


class CSLDaily(_ReleaseOrGFSLTBuilder):
    """CSL-Daily (Chinese sign language, daily life; 18401 / 1077 / 1176 samples).

    `data_dir` is the release (or its `sentence_label` folder): `sentence_label/csl2020ct_v2.pkl` (read with the
    restricted unpickler), the split list `sentence_label/split_1.txt` and the frames
    `sentence/frames_512x512/<name>/*.jpg` (`frames_dir` overrides where they are). Or `data_dir` holds the
    GFSLT-VLP label files. Each sample's frames are the images of `<frames_dir>/<name>/` (or
    `<frames_dir>/<basename of name>/`), or its video is under `videos_dir`.
    """

    DATASET_NAME = "csl_daily"
    DATASET_DESCRIPTION = "CSL-Daily: Chinese sign language about daily life with Chinese text."
    HOMEPAGE = "http://home.ustc.edu.cn/~zhouh156/dataset/csl-daily/"
    LICENSE = "Research use only (CSL-Daily license agreement)"
    CITATION = (
        "@inproceedings{zhou2021improving, title={Improving Sign Language Translation with Monolingual Data by Sign "
        "Back-Translation}, author={Zhou, Hao and Zhou, Wengang and Qi, Weizhen and Pu, Junfu and Li, Houqiang}, "
        "booktitle={CVPR}, year={2021}}"
    )
    BUILDER_CONFIGS = [SignDatasetConfig(name="csl_daily", version=SignLanguageBuilder.VERSION)]
    RELEASE_LABELS = os.path.join("sentence_label", "csl2020ct_v2.pkl")
    RELEASE_SPLIT_FILE = os.path.join("sentence_label", "split_1.txt")
    RELEASE_MARKERS = (RELEASE_LABELS,)
    RELEASE_ROOTS = (".", "..")
    RELEASE_FRAMES = os.path.join("sentence", "frames_512x512")

    def _source_files(self) -> list[str]:
        root = self._release_root()
        return super()._source_files() + ([os.path.join(root, self.RELEASE_SPLIT_FILE)] if root else [])

    def _read_release(self, root: str) -> dict[str, list[SampleEntry]]:
        split_file = os.path.join(root, self.RELEASE_SPLIT_FILE)
        if not os.path.isfile(split_file):
            raise FileNotFoundError(f"csl_daily: the release at {root} has no split list {split_file}.")
        split_entries: dict[str, list[SampleEntry]] = {}
        for name, entries in read_csl_daily_release(os.path.join(root, self.RELEASE_LABELS), split_file).items():
            try:
                split = _canonical_split(name)
            except ValueError as err:
                raise LabelFormatError(f"{split_file}: {err}") from err
            split_entries.setdefault(split, []).extend(entries)
        return {split: split_entries[split] for split in SPLITS if split in split_entries}


class SynthSign(_GFSLTLabelBuilder):
    """SynthSign, the procedural corpus written by `beyondgloss-synthsign`.

    Layout: `labels.*` in `data_dir`, `videos/<name>.mp4`, `descriptions/<name>.json` and
    `hand_features/<name>.safetensors` beside them (each folder can be overridden by its option).
    """

    DATASET_NAME = "synthsign"
    DATASET_DESCRIPTION = "SynthSign: procedurally rendered signing with hand features and hand-motion descriptions."
    LICENSE = "MIT"
    BUILDER_CONFIGS = [SignDatasetConfig(name="synthsign", version=SignLanguageBuilder.VERSION)]

    def _source_files(self) -> list[str]:
        metadata = [os.path.join(self.data_dir, "synthsign.json")] if self.data_dir else []
        return super()._source_files() + metadata


def _index_videos(directory: str) -> dict[str, str]:
    """Every video under `directory` (recursively) by file name without extension; with several, the first in path
    order, preferring the extensions in `VIDEO_EXTENSIONS` order."""
    found: dict[str, tuple[int, str]] = {}
    for folder, subfolders, files in os.walk(directory):
        subfolders.sort()
        for name in sorted(files):
            stem, extension = os.path.splitext(name)
            if extension.lower() in VIDEO_EXTENSIONS:
                rank = VIDEO_EXTENSIONS.index(extension.lower())
                if stem not in found or rank < found[stem][0]:
                    found[stem] = (rank, os.path.join(folder, name))
    return {stem: path for stem, (_, path) in found.items()}


class _SegmentCorpusBuilder(SignLanguageBuilder):
    """Corpora whose samples are found in `videos_dir` (searched recursively) by a name their annotation files
    give; without the option, in `<data_dir>/videos`, else anywhere under `data_dir`."""

    REQUIRES_SOURCE_DIR = False

    def _default_directories(self, option: str) -> list[str]:
        folders = super()._default_directories(option)
        return folders + [self.data_dir] if option == "videos_dir" and self.data_dir else folders

    def _videos(self) -> tuple[str, dict[str, str]]:
        videos_dir = self._directory("videos_dir")
        if videos_dir is None:
            raise ValueError(f"{self.dataset_name} needs videos_dir, the folder of its videos.")
        return videos_dir, _index_videos(videos_dir)


class How2Sign(_SegmentCorpusBuilder):
    """How2Sign (American sign language instructional videos with English text; 31,165 / 1,741 / 2,357 sentences).

    `data_dir` holds `how2sign_realigned_{train,val,test}.csv` (tab-separated despite the name). Each row's video is
    looked up under `videos_dir` (recursively): its sentence clip `<SENTENCE_NAME>.mp4` when present, else its raw
    video `<VIDEO_NAME>.mp4`, cut at the realigned times `[START_REALIGNED, END_REALIGNED)`. Rows whose times run
    past their raw video (a known fault of the corpus) are left out and listed in a warning with the video's
    duration; every other fault is reported as by the other builders.
    """

    DATASET_NAME = "how2sign"
    LEAVES_OUT_SEGMENTS_PAST_END = True
    DATASET_DESCRIPTION = "How2Sign: American sign language (ASL) instructional videos with English text."
    HOMEPAGE = "https://how2sign.github.io/"
    LICENSE = "CC BY-NC 4.0"
    CITATION = (
        "@inproceedings{duarte2021how2sign, title={How2Sign: A Large-scale Multimodal Dataset for Continuous American "
        "Sign Language}, author={Duarte, Amanda and Palaskar, Shruti and Ventura, Lucas and Ghadiyaram, Deepti and "
        "DeHaan, Kenneth and Metze, Florian and Torres, Jordi and Giro-i-Nieto, Xavier}, booktitle={CVPR}, "
        "year={2021}}"
    )
    BUILDER_CONFIGS = [SignDatasetConfig(name="how2sign", version=SignLanguageBuilder.VERSION)]
    LABEL_FILES = {split: f"how2sign_realigned_{split}.csv" for split in ("train", "val", "test")}

    def _label_files(self) -> dict[str, str]:
        if not self.data_dir:
            raise ValueError("how2sign needs data_dir, the folder holding how2sign_realigned_{train,val,test}.csv.")
        return {
            _canonical_split(split): os.path.join(self.data_dir, name) for split, name in self.LABEL_FILES.items()
        }

    def _source_files(self) -> list[str]:
        return list(self._label_files().values())

    def _read_split_entries(self) -> dict[str, list[SampleEntry]]:
        label_files = {split: path for split, path in self._label_files().items() if os.path.isfile(path)}
        if not label_files:
            raise FileNotFoundError(
                f"how2sign: no realigned files ({', '.join(self.LABEL_FILES.values())}) in {self.data_dir}."
            )
        videos_dir, videos = self._videos()
        split_entries = {}
        for split, path in label_files.items():
            entries = []
            for entry, clip, raw_video, start, end in read_how2sign_csv(path):
                if clip in videos:
                    entry.video = videos[clip]
                elif raw_video in videos:
                    entry.video = videos[raw_video]
                    set_segment_times(entry, start, end)
                else:
                    entry.problems.append(
                        f"{entry.source}: neither the sentence clip {clip}.mp4 nor the raw video {raw_video}.mp4 is "
                        f"in {videos_dir}"
                    )
                entries.append(entry)
            split_entries[split] = entries
        return split_entries


class OpenASL(_SegmentCorpusBuilder):
    """OpenASL (American sign language from online videos with English text; 98,417 segments of 2,043 videos).

    `data_dir` holds `openasl-v1.0.tsv` (or `data/openasl-v1.0.tsv`); each row is the segment `[start, end)` of the
    video `<yid>.mp4` under `videos_dir`; the text is `raw-text`, the gloss `gloss`, the split `split`.
    """

    DATASET_NAME = "openasl"
    DATASET_DESCRIPTION = "OpenASL: American sign language (ASL) from online news and vlogs with English text."
    HOMEPAGE = "https://github.com/chevalierNoir/OpenASL"
    LICENSE = "CC BY-NC-ND 4.0"
    CITATION = (
        "@inproceedings{shi2022open, title={Open-Domain Sign Language Translation Learned from Online Video}, "
        "author={Shi, Bowen and Brentari, Diane and Shakhnarovich, Greg and Livescu, Karen}, booktitle={EMNLP}, "
        "year={2022}}"
    )
    BUILDER_CONFIGS = [SignDatasetConfig(name="openasl", version=SignLanguageBuilder.VERSION)]
    LABEL_FILE = "openasl-v1.0.tsv"

    def _label_file(self) -> str:
        if not self.data_dir:
            raise ValueError(f"openasl needs data_dir, the folder holding {self.LABEL_FILE}.")
        candidates = [os.path.join(self.data_dir, name, self.LABEL_FILE) for name in (".", "data")]
        return next((path for path in candidates if os.path.isfile(path)), candidates[0])

    def _source_files(self) -> list[str]:
        return [self._label_file()]

    def _read_split_entries(self) -> dict[str, list[SampleEntry]]:
        path = self._label_file()
        if not os.path.isfile(path):
            raise FileNotFoundError(f"openasl: no {self.LABEL_FILE} in {self.data_dir} or its data/ folder.")
        videos_dir, videos = self._videos()
        split_entries: dict[str, list[SampleEntry]] = {}
        for name, rows in read_openasl_tsv(path).items():
            try:
                split = _canonical_split(name)
            except ValueError as err:
                raise LabelFormatError(f"{rows[0][0].source}: {err}") from err
            for entry, youtube_id in rows:
                # A missing video is reported under the name it should have.
                entry.video = videos.get(youtube_id, os.path.join(videos_dir, f"{youtube_id}.mp4"))
                split_entries.setdefault(split, []).append(entry)
        return {split: split_entries[split] for split in SPLITS if split in split_entries}


class CaptionedVideos(SignLanguageBuilder):
    """Long videos with caption files (YouTube-ASL, YouTube-SL-25 style): one sample per caption cue.

    `data_dir` holds videos, each with a WebVTT or SRT file of the same stem (`<stem>.vtt`, or with a language
    suffix such as `<stem>.en.vtt`), in `train/`, `validation/` (or `val/`, `dev/`) and `test/` sub-folders, or all in
    `data_dir` itself (= `train`). A cue is the segment `[start, end)` of its video, and its text the sentence;
    `min_segment_seconds`/`max_segment_seconds` leave out cues by length. Sample ids are `<stem>-<cue number>`.
    """

    DATASET_NAME = "captioned_videos"
    DATASET_DESCRIPTION = "Sign language videos with caption files, one sample per caption."
    REQUIRES_SOURCE_DIR = False
    BUILDER_CONFIGS = [SignDatasetConfig(name="captioned_videos", version=SignLanguageBuilder.VERSION)]

    def _split_folders(self) -> dict[str, str]:
        if not self.data_dir or not os.path.isdir(self.data_dir):
            raise ValueError(f"captioned_videos needs data_dir, a folder of videos with captions: {self.data_dir}.")
        folders: dict[str, str] = {}
        for name in sorted(os.listdir(self.data_dir)):
            path = os.path.join(self.data_dir, name)
            if name in _SPLIT_ALIASES and os.path.isdir(path):
                split = _SPLIT_ALIASES[name]
                if split in folders:
                    raise LabelFormatError(f"{self.data_dir}: both {folders[split]} and {path} are the {split} split.")
                folders[split] = path
        return folders or {"train": self.data_dir}

    def _caption_files(self) -> dict[str, list[str]]:
        return {
            split: sorted(
                os.path.join(folder, name)
                for name in os.listdir(folder)
                if name.lower().endswith(CAPTION_EXTENSIONS) and os.path.isfile(os.path.join(folder, name))
            )
            for split, folder in self._split_folders().items()
        }

    def _source_files(self) -> list[str]:
        return [path for paths in self._caption_files().values() for path in paths]

    def _read_split_entries(self) -> dict[str, list[SampleEntry]]:
        caption_files = self._caption_files()
        if not any(caption_files.values()):
            raise FileNotFoundError(
                f"captioned_videos: no caption files ({', '.join(CAPTION_EXTENSIONS)}) in "
                f"{', '.join(self._split_folders().values())}."
            )
        split_entries = {}
        for split, paths in caption_files.items():
            if not paths:
                continue
            videos = _index_videos(os.path.dirname(paths[0]))
            captioned: dict[str, str] = {}
            entries = []
            for path in paths:
                stem = os.path.basename(path).rsplit(".", 1)[0]
                # `<stem>.en.vtt` belongs to `<stem>.mp4`.
                video_stem = stem if stem in videos or "." not in stem else stem.rsplit(".", 1)[0]
                if video_stem in captioned:
                    raise LabelFormatError(
                        f"{path}: the video {video_stem} already has the caption file {captioned[video_stem]}; keep "
                        "one caption file per video."
                    )
                captioned[video_stem] = path
                video = videos.get(video_stem)
                for number, cue in enumerate(read_caption_file(path), start=1):
                    entry = SampleEntry(
                        id=f"{video_stem}-{number}", text=cue.text, source=f"{path}:{cue.line}", video=video
                    )
                    entry.start, entry.end = cue.start, cue.end
                    if video is None:
                        entry.problems.append(f"{entry.source}: no video {video_stem}.mp4 (or .webm, ...) beside it")
                    entries.append(entry)
            split_entries[split] = entries
        return {split: split_entries[split] for split in SPLITS if split in split_entries}


class CustomSignDataset(SignLanguageBuilder):
    """Any corpus described by JSONL or CSV manifests.

    Columns: `id`, `text`, `video` (a file) or `frames` (a folder, or in JSONL a list of files), and optionally
    `gloss`, `signer`, `description` (the text itself), `hand_features` (a file), and `start`/`end` (seconds, or
    `HH:MM:SS.mmm`) to make the sample the segment `[start, end)` of its video. Relative paths resolve against the
    manifest's folder. A sample without `video`/`frames` is looked up by id under `videos_dir`/`frames_dir`, and
    one without `description`/`hand_features` under `descriptions_dir`/`hand_features_dir`.
    """

    DATASET_NAME = "custom_sign"
    DATASET_DESCRIPTION = "Sign language videos or frame folders with their translations, listed in manifests."
    REQUIRES_SOURCE_DIR = False
    BUILDER_CONFIGS = [SignDatasetConfig(name="custom", version=SignLanguageBuilder.VERSION)]

    def _manifests(self) -> dict[str | None, str]:
        """Map each split to its manifest; the key None marks one manifest whose rows carry their split."""
        manifest = self.config.manifest
        if isinstance(manifest, dict):
            return {_canonical_split(split): os.path.abspath(path) for split, path in manifest.items()}
        if manifest:
            return {None: os.path.abspath(manifest)}
        if not self.data_dir:
            return {}
        found: dict[str, list[str]] = {}
        for stem, split in _SPLIT_ALIASES.items():
            for extension in ("jsonl", "csv"):
                path = os.path.join(self.data_dir, f"{stem}.{extension}")
                if os.path.isfile(path):
                    found.setdefault(split, []).append(path)
        ambiguous = {split: paths for split, paths in found.items() if len(paths) > 1}
        if ambiguous:
            raise LabelFormatError(f"{self.data_dir}: several manifests for the same split: {ambiguous}.")
        return {split: paths[0] for split, paths in found.items()}

    def _source_files(self) -> list[str]:
        return list(self._manifests().values())

    def _entry_from_row(self, path: str, line_number: int, row: dict) -> SampleEntry:
        base = os.path.dirname(path)

        def resolve(value):
            if value is None:
                return None
            if not isinstance(value, str):
                raise LabelFormatError(f"{path}:{line_number}: expected a path, got {value!r}.")
            return os.path.normpath(os.path.join(base, value))

        def optional_text(key):
            value = row.get(key)
            return str(value) if value not in (None, "") else None

        frames = row.get("frames")
        frames = [resolve(frame) for frame in frames] if isinstance(frames, list) else resolve(frames)
        entry = SampleEntry(
            id=str(row["id"]),
            text=row["text"] if isinstance(row["text"], str) else None,
            source=f"{path}:{line_number}",
            gloss=optional_text("gloss"),
            video=resolve(row.get("video")),
            frames=frames,
            description=optional_text("description"),
            hand_features=resolve(row.get("hand_features")),
            signer=optional_text("signer"),
        )
        start, end = row.get("start"), row.get("end")
        if start not in (None, "") or end not in (None, ""):
            if start in (None, "") or end in (None, ""):
                entry.problems.append(f"{entry.source}: a segment needs both start and end, got {start!r} and {end!r}")
            else:
                set_segment_times(entry, start, end)
        return entry

    def _read_split_entries(self) -> dict[str, list[SampleEntry]]:
        manifests = self._manifests()
        if not manifests:
            raise FileNotFoundError(
                "custom: no manifest given (manifest=...) and data_dir has no train/validation/test .jsonl or .csv."
            )
        split_entries: dict[str, list[SampleEntry]] = {}
        for split, path in manifests.items():
            for line_number, row in read_manifest(path):
                row_split = split
                if row_split is None:
                    try:
                        row_split = _canonical_split(str(row.get("split", "train")))
                    except ValueError as err:
                        raise LabelFormatError(f"{path}:{line_number}: {err}") from err
                split_entries.setdefault(row_split, []).append(self._entry_from_row(path, line_number, row))
        for split, entries in split_entries.items():
            seen: dict[str, str] = {}
            for entry in entries:
                if entry.id in seen:
                    raise LabelFormatError(f"{entry.source}: duplicate id {entry.id!r} (first at {seen[entry.id]}).")
                seen[entry.id] = entry.source
        return {split: split_entries[split] for split in SPLITS if split in split_entries}


BUILDERS: dict[str, type[SignLanguageBuilder]] = {
    "phoenix14t": Phoenix14T,
    "csl_daily": CSLDaily,
    "how2sign": How2Sign,
    "openasl": OpenASL,
    "captioned_videos": CaptionedVideos,
    "synthsign": SynthSign,
    "custom": CustomSignDataset,
}


def load_sign_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    download_mode: str | datasets.DownloadMode | None = None,
    **options,
) -> datasets.DatasetDict:
    """Prepare (or reuse from the cache) a sign language dataset and return its splits.

    Args:
        name: `phoenix14t`, `csl_daily`, `how2sign`, `openasl`, `captioned_videos`, `synthsign` or `custom`.
        data_dir: the corpus: a release folder (Phoenix14T, CSL-Daily), the folder of its annotation files
            (How2Sign, OpenASL), of videos with captions, of GFSLT-VLP label files (`labels.train|dev|test`) or of
            manifests (see each builder).
        cache_dir: where prepared Arrow files go (the `datasets` cache by default). The cache is keyed by the
            options and the label files; after editing videos or extras in place, pass
            `download_mode="force_redownload"`.
        num_proc: processes for writing and threads for validating the samples.
        download_mode: a `datasets.DownloadMode`, e.g. `"force_redownload"` to prepare again.
        **options: `SignDatasetConfig` fields: `frames_dir`, `videos_dir`, `descriptions_dir`, `hand_features_dir`,
            `manifest`, `drop_invalid`, `splits`, `verify_media`, `min_segment_seconds`, `max_segment_seconds`.

    Returns:
        A `datasets.DatasetDict` with the prepared splits among `train`, `validation`, `test`.

    Raises:
        InvalidSamplesError: some samples are unusable (all are listed); nothing is written to the cache.
        LabelFormatError: a label file or manifest is not in the expected format.
    """
    if name not in BUILDERS:
        raise ValueError(f"Unknown sign dataset {name!r}; choose one of {sorted(BUILDERS)}.")
    unknown = set(options) - set(SignDatasetConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"Unknown option(s) {sorted(unknown)} for load_sign_dataset.")
    # Absolute paths and no None values, so that the same data always maps to the same cache entry.
    config = {key: value for key, value in options.items() if value is not None}
    for key in _DEFAULT_SUBFOLDERS:
        if key in config:
            config[key] = os.path.abspath(config[key])
    if isinstance(config.get("manifest"), (str, os.PathLike)):
        config["manifest"] = os.path.abspath(config["manifest"])
    elif isinstance(config.get("manifest"), dict):
        config["manifest"] = {split: os.path.abspath(path) for split, path in sorted(config["manifest"].items())}
    if "splits" in config:
        splits = [config["splits"]] if isinstance(config["splits"], str) else config["splits"]
        config["splits"] = tuple(sorted({_canonical_split(split) for split in splits}, key=SPLITS.index))
    builder = BUILDERS[name](
        data_dir=os.path.abspath(data_dir) if data_dir is not None else None,
        cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
        **config,
    )
    builder.download_and_prepare(num_proc=num_proc, download_mode=download_mode)
    dataset = builder.as_dataset()
    return datasets.DatasetDict({split: dataset[split] for split in SPLITS if split in dataset})
