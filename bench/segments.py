"""Segments of long videos: decoding a segment by seeking inside a long video, next to reading the same frames as a
pre-cut clip, and preparing a manifest of many segments.

The large ASL corpora (How2Sign's raw videos, OpenASL, YouTube-ASL) are sentence segments inside long videos. The
package decodes a segment by seeking to the keyframe before it and reading no further than its end, so no pre-cut
copies are needed; this measures what that costs against a pre-cut clip of the same frames (the layout that needs the
copies), and against decoding the long video from its beginning (what a decoder without seeking does).

The long video is the three fixture ASL clips (`tests/fixtures/videos`, 320x240) played one after the other to the
requested length, re-encoded with x264 at 25 fps and its default keyframe interval (250 frames, 10 s). Each timed
decode is the training decode (`BeyondGlossVideoProcessor.decode_clip`: the segment's frames resized to 256x256).

The manifest step writes a JSONL manifest of `--manifest_segments` segments (2 to 8 s) spread over
`--manifest_videos` copies of the long video and times `load_sign_dataset("custom", ...)` preparing it from an empty
cache (validation of every segment against its video's frame times, writing the Arrow files).

    python bench/segments.py                          # a 10-minute video, 20 segments of 4 s, 1,000-segment manifest
    python bench/segments.py --minutes 2 --segments 5 --manifest_segments 100
"""

import argparse
import json
import logging
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import av
import datasets
import numpy as np
import torch


REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from datasets_scripts import load_sign_dataset  # noqa: E402
from datasets_scripts.media import video_timeline  # noqa: E402
from modeling_beyondgloss import BeyondGlossVideoProcessor  # noqa: E402


logger = logging.getLogger("bench.segments")

FPS = 25
FIXTURE_CLIPS = [REPO_ROOT / "tests" / "fixtures" / "videos" / f"{name}.mp4" for name in
                 ("asl_house", "asl_different", "asl_wrong_what")]


def encode(path: Path, frames, fps: int = FPS) -> None:
    """Encode an iterable of `(height, width, 3)` uint8 frames with x264 (its default keyframe interval)."""
    with av.open(str(path), "w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=fps)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_long_video(path: Path, minutes: float) -> int:
    decoder = BeyondGlossVideoProcessor(do_resize=False, do_crop=False, max_frames=None)
    loop = np.concatenate([decoder.decode_clip(str(clip)).frames.numpy() for clip in FIXTURE_CLIPS])
    total = int(minutes * 60 * FPS)
    encode(path, (loop[index % len(loop)] for index in range(total)))
    return total


def timed(function, repeats: int) -> tuple[float, object]:
    """Best wall time of `repeats` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def decode_from_the_beginning(processor: BeyondGlossVideoProcessor, path: str, start: float, end: float) -> int:
    """The segment's frames found by decoding the video from its first frame (no seeking)."""
    kept = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            if frame.time >= end:
                break
            if frame.time >= start:
                kept.append(frame.to_ndarray(format="rgb24"))
    return len(processor.decode_clip(np.stack(kept)).frames)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="length of the long video")
    parser.add_argument("--segments", type=int, default=20, help="timed segments, spread over the video")
    parser.add_argument("--segment_seconds", type=float, default=4.0)
    parser.add_argument("--naive_segments", type=int, default=3,
                        help="segments also decoded from the beginning of the video (slow: that is the point)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per segment; the best one counts")
    parser.add_argument("--manifest_segments", type=int, default=1000)
    parser.add_argument("--manifest_videos", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "segments.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    datasets.disable_progress_bars()
    torch.set_num_threads(1)  # what a DataLoader worker gets
    rng = random.Random(args.seed)
    processor = BeyondGlossVideoProcessor(max_frames=None)  # resize to 256x256, as training decodes

    with tempfile.TemporaryDirectory(prefix="beyondgloss_bench_") as directory:
        directory = Path(directory)
        long_video = directory / "long.mp4"
        start_time = time.perf_counter()
        num_frames = write_long_video(long_video, args.minutes)
        logger.info("Wrote a %.1f-minute video (%d frames) in %.0f s", args.minutes, num_frames,
                    time.perf_counter() - start_time)
        timeline = video_timeline(str(long_video))
        length = args.segment_seconds
        starts = sorted(round(rng.uniform(0, timeline.duration - length), 2) for _ in range(args.segments))

        seek_times, clip_times, naive_times, frame_counts = [], [], [], []
        for index, start in enumerate(starts):
            end = start + length
            segment = processor.decode_clip(str(long_video), start=start, end=end)
            clip = directory / f"clip_{index}.mp4"
            # The pre-cut clip holds exactly the segment's frames, as a cutting tool would write them.
            full = BeyondGlossVideoProcessor(do_resize=False, do_crop=False, max_frames=None)
            encode(clip, full.decode_clip(str(long_video), start=start, end=end).frames.numpy())
            seek_time, _ = timed(lambda: processor.decode_clip(str(long_video), start=start, end=end), args.repeats)
            clip_time, decoded = timed(lambda: processor.decode_clip(str(clip)), args.repeats)
            assert len(decoded.frames) == len(segment.frames), "the pre-cut clip must hold the segment's frames"
            seek_times.append(seek_time)
            clip_times.append(clip_time)
            frame_counts.append(len(segment.frames))
            if index < args.naive_segments:
                naive_time, count = timed(
                    lambda: decode_from_the_beginning(processor, str(long_video), start, end), 1
                )
                assert count == len(segment.frames)
                naive_times.append(naive_time)
        decode = {
            "segments": len(starts),
            "segment_seconds": length,
            "frames_per_segment": frame_counts,
            "seek_ms_per_segment": 1000 * float(np.mean(seek_times)),
            "precut_ms_per_segment": 1000 * float(np.mean(clip_times)),
            "seek_over_precut": float(np.mean(seek_times) / np.mean(clip_times)),
            "seek_over_precut_per_segment": [seek / clip for seek, clip in zip(seek_times, clip_times)],
            "from_beginning_ms_per_segment": 1000 * float(np.mean(naive_times)) if naive_times else None,
            "from_beginning_segments": len(naive_times),
        }
        logger.info(
            "Segment of %.0f s: %.1f ms by seeking in the long video, %.1f ms from a pre-cut clip (%.2fx)%s",
            length, decode["seek_ms_per_segment"], decode["precut_ms_per_segment"], decode["seek_over_precut"],
            f"; {decode['from_beginning_ms_per_segment']:.0f} ms decoding from the beginning" if naive_times else "",
        )

        videos = []
        for index in range(args.manifest_videos):
            copy = directory / "videos" / f"video_{index:03d}.mp4"
            copy.parent.mkdir(exist_ok=True)
            shutil.copy(long_video, copy)
            videos.append(copy.name)
        manifest = directory / "train.jsonl"
        with open(manifest, "w", encoding="utf-8") as handle:
            for index in range(args.manifest_segments):
                seconds = rng.uniform(2, 8)
                start = round(rng.uniform(0, timeline.duration - seconds), 3)
                row = {"id": f"segment_{index:05d}", "text": f"sentence {index}",
                       "video": f"videos/{rng.choice(videos)}", "start": start, "end": round(start + seconds, 3)}
                handle.write(json.dumps(row) + "\n")
        prepare_time, dataset = timed(
            lambda: load_sign_dataset("custom", data_dir=directory, cache_dir=directory / "cache",
                                      download_mode="force_redownload"),
            1,
        )
        assert len(dataset["train"]) == args.manifest_segments
        prepare = {
            "segments": args.manifest_segments,
            "videos": args.manifest_videos,
            "seconds": prepare_time,
            "ms_per_segment": 1000 * prepare_time / args.manifest_segments,
        }
        logger.info("Prepared a manifest of %d segments in %d videos in %.1f s", args.manifest_segments,
                    args.manifest_videos, prepare_time)

    report = {
        "settings": {
            "video_minutes": args.minutes,
            "video_size": "320x240",
            "fps": FPS,
            "keyframe_interval_frames": 250,
            "decode": "BeyondGlossVideoProcessor.decode_clip, resize to 256x256",
            "repeats": args.repeats,
            "torch_threads": 1,
            "seed": args.seed,
        },
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "av": av.__version__,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
        },
        "results": {"decode": decode, "prepare_manifest": prepare},
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    logger.info("Wrote %s", output)
    return report


if __name__ == "__main__":
    main()
