"""Media facts for the data code: which files are videos and frames, in what order frames come, how a clip is
decoded whole, how its frames are counted and checked, and how it is cut into description segments.

The video processor in `modeling_beyondgloss` (the code a saved model carries) owns the decoding; the builders, the
preprocessing tools and SynthSign use it through this module, so every part of the package reads media alike.
"""

import bisect
import os
import struct
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

from modeling_beyondgloss.video_processing_beyondgloss import (
    IMAGE_EXTENSIONS,
    TIME_TOLERANCE,
    VIDEO_EXTENSIONS,
    BeyondGlossVideoProcessor,
    count_video_packets,
    frame_time,
    is_truncated,
    list_frame_files,
    natural_sort_key,
    segment_frames,
)


__all__ = [
    "IMAGE_EXTENSIONS",
    "SEGMENT_FRAMES",
    "VIDEO_EXTENSIONS",
    "InvalidFileError",
    "SegmentPastEndError",
    "VideoTimeline",
    "check_segment",
    "count_video_packets",
    "decode_video",
    "list_frame_files",
    "list_frame_folder",
    "natural_sort_key",
    "probe_frames",
    "probe_video",
    "segment_bounds",
    "verify_segment",
    "verify_video",
    "video_frame_rate",
    "video_timeline",
]

# Frames per description segment: the descriptor describes each 16-frame segment of a video.
SEGMENT_FRAMES = 16


class InvalidFileError(ValueError):
    """A file that a sample needs is missing or unusable; `path` names it and `reason` says what is wrong."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def decode_video(video) -> np.ndarray:
    """Every frame of a clip (video file or frame folder) at its own size, `(frames, height, width, 3)` uint8."""
    decoder = BeyondGlossVideoProcessor(do_resize=False, do_crop=False, max_frames=None)
    return decoder.decode_clip(video).frames.numpy()


def segment_bounds(num_frames: int, segment_frames: int = SEGMENT_FRAMES) -> list[tuple[int, int]]:
    """`(start, end)` of the non-overlapping segments of a clip; a tail shorter than a segment joins the last one,
    so a 40-frame clip gives `[(0, 16), (16, 40)]`."""
    if num_frames < 1:
        raise ValueError(f"A clip needs at least one frame, got {num_frames}.")
    count = max(1, num_frames // segment_frames)
    starts = [index * segment_frames for index in range(count)]
    return list(zip(starts, [*starts[1:], num_frames]))


def _count_decoded_frames(path: str, convert: bool = False) -> int:
    """Decode every frame (and with `convert`, turn each into RGB pixels as training does); a stream shorter than
    the container declares is truncated by the rule the training-time decoder applies."""
    count = announced = 0
    try:
        with av.open(path) as container:
            announced = container.streams.video[0].frames
            for frame in container.decode(video=0):
                if convert:
                    frame.to_ndarray(format="rgb24")
                count += 1
    except av.FFmpegError as err:
        of_announced = f" of {announced} declared" if announced else ""
        raise InvalidFileError(
            path, f"video is truncated or corrupt: decoding failed after {count}{of_announced} frames ({err})"
        ) from err
    if announced > 0 and is_truncated(announced, count):
        raise InvalidFileError(
            path, f"video is truncated or corrupt: its container declares {announced} frames but only {count} decode"
        )
    return count


def probe_video(path: str) -> int:
    """Check that `path` is a decodable video and return its number of frames.

    Cheap by design: the container is opened, the first frame decoded and the packets of the video stream counted
    without decoding them. The container's frame count is used when it agrees with the packets; when it is absent
    or disagrees, every frame is decoded and counted, and a stream shorter than declared is a truncated file.
    Corrupt packets past the first frame need `verify_video`.

    Raises:
        InvalidFileError: missing, empty, unreadable or truncated file, no video stream, no decodable frame.
    """
    if not os.path.isfile(path):
        raise InvalidFileError(path, "video file does not exist")
    if os.path.getsize(path) == 0:
        raise InvalidFileError(path, "video file is empty (0 bytes)")
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError) as err:
        raise InvalidFileError(path, f"cannot be opened as a video ({err})") from err
    with container:
        if not container.streams.video:
            raise InvalidFileError(path, "has no video stream")
        stream = container.streams.video[0]
        announced = stream.frames
        try:
            first_frame = next(container.decode(stream), None)
        except av.FFmpegError as err:
            raise InvalidFileError(path, f"the first video frame cannot be decoded ({err})") from err
        if first_frame is None:
            if announced > 0:
                raise InvalidFileError(
                    path, f"video is truncated or corrupt: it announces {announced} frames but none can be read"
                )
            raise InvalidFileError(path, "video stream has no frames")
    try:
        packets = count_video_packets(path)
    except av.FFmpegError:
        packets = -1  # the demuxer stopped early: let decoding say how far the file goes
    if announced > 0 and packets == announced:
        return announced
    # A file cut at a packet boundary demuxes cleanly but short. Decoding settles it (a packet can hold two frames)
    # by the rule the training-time decoder applies.
    return _count_decoded_frames(path)


def verify_video(path: str) -> int:
    """`probe_video`, then decode every frame to RGB as training does; finds corrupt packets anywhere in the file."""
    probe_video(path)
    return _count_decoded_frames(path, convert=True)


def list_frame_folder(folder: str) -> list[str]:
    """The image files of a frame folder in natural order; a missing or imageless folder is an `InvalidFileError`."""
    if not os.path.isdir(folder):
        raise InvalidFileError(folder, "frame folder does not exist")
    try:
        return list_frame_files(folder)
    except ValueError as err:
        raise InvalidFileError(folder, f"frame folder holds no image files ({', '.join(IMAGE_EXTENSIONS)})") from err


def _png_size(path: str) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, None for any other file. A corpus has millions of frames: this is
    several times faster than letting PIL identify each."""
    with open(path, "rb") as handle:
        header = handle.read(24)
    if header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", header[16:24])


def probe_frames(frames: list[str], full: bool = False) -> int:
    """Check that every listed frame file exists and has the size of the first (from its header), and that the first
    and last decode, or with `full` every one; return the number of frames."""
    if not frames:
        raise InvalidFileError("<no frames>", "the sample lists no frame files")
    listings: dict[str, set[str]] = {}
    missing = []
    for path in frames:
        folder, name = os.path.split(path)
        if folder not in listings:
            if not os.path.isdir(folder):
                raise InvalidFileError(folder, "frame folder does not exist")
            listings[folder] = set(os.listdir(folder))
        if name not in listings[folder]:
            missing.append(path)
    if missing:
        raise InvalidFileError(missing[0], f"frame file is missing ({len(missing)} of {len(frames)} frames missing)")
    decode = set(frames) if full else {frames[0], frames[-1]}
    first_size = None
    for path in frames:
        try:
            size = None if path in decode else _png_size(path)
            if size is None:
                with Image.open(path) as image:  # opening reads the header, `load` decodes
                    if path in decode:
                        image.load()
                    size = image.size
        except (OSError, SyntaxError, ValueError) as err:
            raise InvalidFileError(path, f"frame cannot be read as an image ({err})") from err
        if first_size is None:
            first_size = size
        elif size != first_size:
            raise InvalidFileError(
                path,
                f"frame is {size[0]}x{size[1]} but the first frame {frames[0]} is {first_size[0]}x{first_size[1]}; "
                "all frames of a clip must have one size",
            )
    return len(frames)


class SegmentPastEndError(InvalidFileError):
    """A segment whose end lies after the end of its video."""


@dataclass(frozen=True)
class VideoTimeline:
    """When each frame of a video is shown: `frame_times` (seconds, ascending), the frame rate and the duration (the
    end of the last frame)."""

    frame_times: tuple[float, ...]
    fps: float | None
    duration: float

    def frames_in(self, start: float, end: float) -> int:
        """How many frames are shown in `[start, end)`."""
        first = bisect.bisect_left(self.frame_times, start - TIME_TOLERANCE)
        return bisect.bisect_left(self.frame_times, end - TIME_TOLERANCE) - first


def video_timeline(path: str) -> VideoTimeline:
    """Read the presentation time of every frame of a video by demuxing it (no decoding), with `probe_video`'s
    checks of the file first.

    Raises:
        InvalidFileError: as `probe_video`, or a stream whose packets carry no timestamps.
    """
    probe_video(path)
    times, last_duration = [], 0.0
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                time = frame_time(packet)
                if time is None:
                    raise InvalidFileError(path, "its video packets carry no timestamps, so it cannot be cut by time")
                times.append(time)
                if packet.duration:
                    last_duration = float(packet.duration * packet.time_base)
    except av.FFmpegError as err:
        raise InvalidFileError(path, f"video cannot be demuxed to the end ({err})") from err
    times.sort()
    fps = float(rate) if rate else None
    frame_duration = last_duration or (1 / fps if fps else 0.0)
    return VideoTimeline(tuple(times), fps, times[-1] + frame_duration)


def video_frame_rate(path: str) -> float | None:
    """The average frame rate of a video's first video stream, None when the container states none."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


def check_segment(path: str, timeline: VideoTimeline, start, end) -> int:
    """Check that `[start, end)` is a segment of the video and return its number of frames.

    Raises:
        InvalidFileError: times that are not numbers, `end <= start`, a negative start, or a segment that holds no
            frame; `SegmentPastEndError` for a segment that runs past the end of the video (the message gives the
            duration).
    """
    span = f"segment [{start}, {end})"
    if not all(isinstance(time, (int, float)) and not isinstance(time, bool) for time in (start, end)):
        raise InvalidFileError(path, f"{span}: start and end must be numbers of seconds")
    if end <= start:
        raise InvalidFileError(path, f"{span}: end <= start")
    if start < 0:
        raise InvalidFileError(path, f"{span}: start is negative")
    if end > timeline.duration + 1e-3:
        raise SegmentPastEndError(path, f"{span} runs past the end of the video (duration {timeline.duration:.3f} s)")
    count = timeline.frames_in(start, end)
    if count == 0:
        raise InvalidFileError(path, f"{span} holds no frame (the video has {len(timeline.frame_times)} frames)")
    return count


def verify_segment(path: str, start: float, end: float, expected: int) -> int:
    """Decode every frame of the segment `[start, end)` to RGB as training does; return how many it holds.

    Raises:
        InvalidFileError: a frame fails to decode, or fewer decode than the `expected` packets promise.
    """
    count = 0
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            for frame in segment_frames(container, stream, start, end):
                frame.to_ndarray(format="rgb24")
                count += 1
    except av.FFmpegError as err:
        raise InvalidFileError(
            path, f"segment [{start}, {end}) is corrupt: decoding failed after {count} of {expected} frames ({err})"
        ) from err
    if is_truncated(expected, count):
        raise InvalidFileError(
            path, f"segment [{start}, {end}) is truncated or corrupt: {expected} frames are stored but {count} decode"
        )
    return count
