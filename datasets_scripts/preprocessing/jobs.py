"""What the preprocessing tools share: finding the videos, sharding, atomic writes and a resumable job loop.

Each tool maps every video (a file, or a folder of frame images) to one output file named after the video's path
relative to the input folder, so `<input_dir>/dev/01April_2010_Thursday_heute-6697/` becomes
`<output_dir>/dev/01April_2010_Thursday_heute-6697.<ext>`: the name the dataset builders look a sample up by.
"""

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from ..media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS


__all__ = [
    "JobSummary",
    "VideoSource",
    "add_job_arguments",
    "atomic_output",
    "find_videos",
    "run_jobs",
    "select_shard",
    "write_json_atomic",
]

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class VideoSource:
    """One input video: `name` is its path relative to the input folder without extension (`dev/clip_001`), `path`
    the video file or frame folder."""

    name: str
    path: str


def find_videos(input_path: str) -> list[VideoSource]:
    """List the videos under `input_path`: video files and folders of frame images, recursively, naturally sorted.

    `input_path` may also be a single video file or a single frame folder (its name is then its basename).

    Raises:
        FileNotFoundError: `input_path` does not exist or holds no video.
    """
    if os.path.isfile(input_path):
        if not input_path.lower().endswith(VIDEO_EXTENSIONS):
            raise FileNotFoundError(f"{input_path}: not a video file (expected one of {', '.join(VIDEO_EXTENSIONS)})")
        return [VideoSource(os.path.splitext(os.path.basename(input_path))[0], input_path)]
    if not os.path.isdir(input_path):
        raise FileNotFoundError(f"{input_path}: no such file or folder")
    sources = []
    for root, dirnames, filenames in os.walk(input_path):
        dirnames.sort()
        relative_root = os.path.relpath(root, input_path)
        if any(filename.lower().endswith(IMAGE_EXTENSIONS) for filename in filenames):
            name = os.path.basename(os.path.abspath(input_path)) if relative_root == "." else relative_root
            sources.append(VideoSource(name.replace(os.sep, "/"), root))
            dirnames.clear()  # a frame folder's sub-folders are not videos of their own
            continue
        for filename in sorted(filenames):
            if filename.lower().endswith(VIDEO_EXTENSIONS):
                name = os.path.normpath(os.path.join(relative_root, os.path.splitext(filename)[0]))
                sources.append(VideoSource(name.replace(os.sep, "/"), os.path.join(root, filename)))
    if not sources:
        raise FileNotFoundError(
            f"{input_path}: no video files ({', '.join(VIDEO_EXTENSIONS)}) or frame folders found"
        )
    return sorted(sources, key=lambda source: source.name)


def select_shard(items: list, shard_index: int, num_shards: int) -> list:
    """Every `num_shards`-th item starting at `shard_index`: disjoint shards for parallel runs that cover all items."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index must be in [0, num_shards), got shard {shard_index} of {num_shards}")
    return items[shard_index::num_shards]


@contextmanager
def atomic_output(path: str, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path next to `path`; on success it is renamed to `path`, on error removed.

    A run killed midway therefore leaves either the previous file or none, never a half-written one, and a rerun
    sees exactly which outputs are complete.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}")
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json_atomic(path: str, content: dict) -> None:
    with atomic_output(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(content, handle, ensure_ascii=False, indent=2)
            handle.write("\n")


@dataclass
class JobSummary:
    """What a run did: outputs written, outputs already present (skipped) and failures `(name, message)`."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def log(self, task: str) -> None:
        logger.info(
            f"{task}: {len(self.written)} written, {len(self.skipped)} already done, {len(self.failed)} failed "
            f"in {self.seconds:.1f} s"
        )
        if self.failed:
            lines = "\n".join(f"  {name}: {message}" for name, message in self.failed)
            logger.warning(f"{task}: {len(self.failed)} videos failed (rerun to retry them):\n{lines}")


def verified_output(path: str, verify: Callable[[str], None]) -> bool:
    """Whether an earlier run's output at `path` exists and passes `verify` (which raises `ValueError` or `OSError`
    on a bad file). A bad one, e.g. from a disk that filled up or a copy that was cut, is logged and redone."""
    if not os.path.exists(path):
        return False
    try:
        verify(path)
    except (OSError, ValueError) as err:
        logger.warning(f"redoing {path}: {getattr(err, 'reason', err)}")  # `InvalidFileError` names the path itself
        return False
    return True


def run_jobs(
    sources: list[VideoSource],
    output_path: Callable[[VideoSource], str],
    process: Callable[[VideoSource, str], None],
    description: str,
    overwrite: bool = False,
    is_done: Callable[[str], bool] = os.path.exists,
    process_group: Callable[[list[tuple[VideoSource, str]]], list[Exception | None]] | None = None,
    group_size: int = 1,
) -> JobSummary:
    """Run `process(source, output_path)` for every source whose output is not done yet (`is_done(output_path)`,
    by default: the file exists).

    `process` must write its output through [`atomic_output`]. An exception fails that video only: the message is
    kept for the summary and the run goes on; `KeyboardInterrupt` stops the run with every finished output intact.

    With `process_group`, the pending videos go to it `group_size` at a time as `(source, output_path)` pairs; it
    returns one entry per video, `None` when its output was written or the exception that failed it.
    """
    if process_group is None:
        group_size = 1

        def process_group(items):
            (source, path), = items
            try:
                process(source, path)
            except Exception as err:  # one broken video must not stop a corpus-sized run
                return [err]
            return [None]

    if group_size < 1:
        raise ValueError(f"group_size must be at least 1, got {group_size}")
    summary = JobSummary()
    start = time.perf_counter()
    pending = []
    for source in sources:
        if not overwrite and is_done(output_path(source)):
            summary.skipped.append(source.name)
        else:
            pending.append(source)
    if summary.skipped:
        logger.info(f"{description}: {len(summary.skipped)} of {len(sources)} videos already done, skipping them")
    with tqdm(total=len(pending), desc=description, unit="video", dynamic_ncols=True) as progress:
        for first in range(0, len(pending), group_size):
            group = pending[first : first + group_size]
            errors = process_group([(source, output_path(source)) for source in group])
            if len(errors) != len(group):
                raise RuntimeError(f"process_group returned {len(errors)} results for {len(group)} videos")
            for source, err in zip(group, errors):
                if err is None:
                    summary.written.append(source.name)
                else:
                    logger.debug(f"{source.name} failed", exc_info=err)
                    summary.failed.append((source.name, f"{type(err).__name__}: {err}"))
            progress.update(len(group))
            if summary.failed:
                progress.set_postfix(failed=len(summary.failed))
    summary.seconds = time.perf_counter() - start
    summary.log(description)
    return summary


def add_job_arguments(parser) -> None:
    """The command-line options every preprocessing tool takes."""
    parser.add_argument(
        "--input",
        required=True,
        help="A video file, a frame folder, or a folder searched recursively for videos and frame folders.",
    )
    parser.add_argument("--output_dir", required=True, help="Outputs go to <output_dir>/<video path>.<ext>.")
    parser.add_argument("--shard_index", type=int, default=0, help="This run's shard (for parallel runs).")
    parser.add_argument("--num_shards", type=int, default=1, help="How many parallel runs share the videos.")
    parser.add_argument("--overwrite", action="store_true", help="Redo videos whose output exists.")
    parser.add_argument("--limit", type=int, default=None, help="Process at most this many videos of the shard.")
