"""`beyondgloss-translate`: translate sign language videos with a saved BeyondGloss model.

    beyondgloss-translate MODEL_DIR clip.mp4 frames_folder/ [--output translations.jsonl] [--int8]
    beyondgloss-translate MODEL_DIR lecture.mp4 --window_seconds 4 --stride_seconds 2 --format srt --output lecture.srt

Each input is translated whole and printed as `path<TAB>translation`, or written as JSON Lines. With
`--window_seconds`, a long video is translated in sliding windows, one line (or one subtitle cue) per window. An input
that cannot be read is reported by name and skipped; the exit status is 1 when any input failed.
"""

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import numpy as np
from tqdm.auto import tqdm
from transformers import AutoModelForSeq2SeqLM, AutoProcessor

from .pipeline_beyondgloss import SignLanguageTranslationPipeline


logger = logging.getLogger(__name__)
TEXT = "translation_text"


@dataclass
class Window:
    """A stretch of a video: its frames `(frames, height, width, 3)` uint8 and where it lies, in seconds."""

    start: float
    end: float
    frames: np.ndarray


def video_windows(path: str, window_seconds: float, stride_seconds: float, size: dict) -> Iterator[Window]:
    """Decode `path` once and yield windows of `window_seconds` every `stride_seconds` (the last one ends with the
    video). Frames are scaled to the processor's `size` while decoding, so only one window of small frames is held in
    memory, however long the video."""
    if window_seconds <= 0 or stride_seconds <= 0:
        raise ValueError("--window_seconds and --stride_seconds must be positive.")
    with av.open(path) as container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream.")
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 25)
        buffer: list[tuple[float, np.ndarray]] = []
        start = 0.0
        for index, frame in enumerate(container.decode(stream)):
            time = float(frame.time) if frame.time is not None else index / rate
            while time >= start + window_seconds and buffer:
                yield Window(start, start + window_seconds, np.stack([image for _, image in buffer]))
                start += stride_seconds
                buffer = [(moment, image) for moment, image in buffer if moment >= start]
            if time >= start:  # not in a gap between windows (stride longer than the window)
                buffer.append((time, frame.to_ndarray(format="rgb24", width=size["width"], height=size["height"])))
        if not buffer and start == 0.0:
            raise ValueError(f"{path} has no decodable frames.")
        if buffer:
            # The rest of the video, shorter than a window.
            yield Window(start, buffer[-1][0] + 1 / rate, np.stack([image for _, image in buffer]))


def subtitle_cues(windows: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """One cue per window; where windows overlap, a cue ends where the next one starts, so cues never overlap."""
    cues = []
    for index, (start, end, text) in enumerate(windows):
        if index + 1 < len(windows):
            end = min(end, windows[index + 1][0])
        cues.append((start, end, text))
    return cues


def srt_timestamp(seconds: float) -> str:
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    seconds, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{milliseconds:03d}"


def to_srt(cues: list[tuple[float, float, str]]) -> str:
    # A cue without text ends the SRT block early: an empty translation is shown as an ellipsis.
    return "".join(
        f"{number}\n{srt_timestamp(start)} --> {srt_timestamp(end)}\n{text.strip() or '…'}\n\n"
        for number, (start, end, text) in enumerate(cues, start=1)
    )


def translate_whole(translator, videos: list[str], batch_size: int, generate_kwargs: dict, failed: list[str]):
    """Yield `(video, translation)` for each readable video; a batch with a bad input is retried one video at a time,
    so that only the bad one is skipped (and appended to `failed`)."""
    try:
        results = translator(videos, batch_size=batch_size, **generate_kwargs)
        yield from ((video, result[TEXT]) for video, result in zip(videos, results))
        return
    except Exception as error:
        if len(videos) == 1:
            logger.error("Skipping %s: %s", videos[0], error)
            failed.append(videos[0])
            return
    for video in videos:
        yield from translate_whole(translator, [video], 1, generate_kwargs, failed)


def load_translator(model_name_or_path: str, device: str | None = None, int8: bool = False):
    """The `sign-language-translation` pipeline for a saved model (a folder or a Hub id)."""
    # Built from this package's classes (the package registers them with the Auto classes), so that models saved
    # before the pipeline existed work too.
    model = AutoModelForSeq2SeqLM.from_pretrained(model_name_or_path).eval()
    if int8:
        if device not in (None, "cpu"):
            raise ValueError("int8 runs on the CPU only (PyTorch's dynamic quantisation).")
        model.quantize_for_inference()
    return SignLanguageTranslationPipeline(
        model=model, processor=AutoProcessor.from_pretrained(model_name_or_path), device=device
    )


def translate_windows(
    translator,
    video: str,
    window_seconds: float,
    stride_seconds: float | None = None,
    batch_size: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
    **generate_kwargs,
) -> list[tuple[float, float, str]]:
    """Translate a long video in sliding windows (see `video_windows`): `(start, end, translation)` per window.
    `on_progress(done, total)` is called after each batch of windows."""
    size = translator.processor.video_processor.size
    windows = list(video_windows(video, window_seconds, stride_seconds or window_seconds, size))
    texts: list[str] = []
    for first in range(0, len(windows), batch_size):
        chunk = windows[first : first + batch_size]
        results = translator([window.frames for window in chunk], batch_size=batch_size, **generate_kwargs)
        texts.extend(result[TEXT] for result in results)
        if on_progress is not None:
            on_progress(len(texts), len(windows))
    return [(window.start, window.end, text) for window, text in zip(windows, texts)]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="beyondgloss-translate",
        description="Translate sign language videos (files or frame folders) with a saved BeyondGloss model.",
    )
    parser.add_argument("model", help="A saved translation model: a folder or a Hub id.")
    parser.add_argument("videos", nargs="+", help="Video files or frame folders.")
    parser.add_argument("--output", help="Write JSON Lines (or, with --format srt, subtitles) here instead of stdout.")
    parser.add_argument("--format", choices=("jsonl", "srt"), default="jsonl",
                        help="Output format of --output (srt needs --window_seconds and one video).")
    parser.add_argument("--num_beams", type=int, help="Beam width (default: the model's, 5).")
    parser.add_argument("--max_new_tokens", type=int, help="Longest translation (default: the model's, 150).")
    parser.add_argument("--batch_size", type=int, default=1, help="Videos (or windows) per forward pass.")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps... (default: cpu).")
    parser.add_argument("--int8", action="store_true",
                        help="Quantise the frozen backbones' linear layers to int8 (CPU only): faster beam search, "
                             "translations may differ slightly.")
    parser.add_argument("--window_seconds", type=float,
                        help="Translate each video in windows of this length instead of whole.")
    parser.add_argument("--stride_seconds", type=float, help="Step between windows (default: --window_seconds).")
    args = parser.parse_args(argv)
    if args.format == "srt" and (args.window_seconds is None or len(args.videos) != 1 or args.output is None):
        parser.error("--format srt needs --window_seconds, one video and --output.")
    if args.stride_seconds is not None and args.window_seconds is None:
        parser.error("--stride_seconds needs --window_seconds.")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(message)s", level=logging.INFO)
    if args.int8 and args.device not in (None, "cpu"):
        raise SystemExit("--int8 runs on the CPU only (PyTorch's dynamic quantisation).")
    translator = load_translator(args.model, device=args.device, int8=args.int8)
    generate_kwargs = {
        name: value for name, value in (("num_beams", args.num_beams), ("max_new_tokens", args.max_new_tokens))
        if value is not None
    }
    records, failed = [], []
    progress = tqdm(total=len(args.videos), desc="videos", unit="video", file=sys.stderr)
    if args.window_seconds is None:
        for first in range(0, len(args.videos), args.batch_size):
            chunk = args.videos[first : first + args.batch_size]
            for video, text in translate_whole(translator, chunk, args.batch_size, generate_kwargs, failed):
                records.append({"video": video, "translation": text})
            progress.update(len(chunk))
    else:
        for video in args.videos:
            try:
                windows = translate_windows(
                    translator, video, args.window_seconds, args.stride_seconds, args.batch_size, **generate_kwargs
                )
            except Exception as error:  # One unreadable input must not cost the others their translations.
                logger.error("Skipping %s: %s", video, error)
                failed.append(video)
            else:
                records.extend(
                    {"video": video, "start": start, "end": end, "translation": text} for start, end, text in windows
                )
            progress.update(1)
    progress.close()

    if args.format == "srt":
        cues = subtitle_cues([(record["start"], record["end"], record["translation"]) for record in records])
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(to_srt(cues))
    elif args.output is not None:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    else:
        for record in records:
            where = f"\t{record['start']:.2f}-{record['end']:.2f}" if "start" in record else ""
            print(f"{record['video']}{where}\t{record['translation']}")
    if failed:
        logger.error("%d of %d inputs failed: %s", len(failed), len(args.videos), ", ".join(failed))
    return 1 if failed else 0


def cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli()
