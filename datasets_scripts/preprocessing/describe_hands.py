"""Hand-motion descriptions of sign language videos, written by a vision-language model and refined by a text model.

Stage 1 splits each video into non-overlapping 16-frame segments (a shorter tail joins the previous segment), tiles
each segment into one grid image (or, with `--segment_input video`, passes its frames as a video) and asks a
vision-language model to describe the hands only. Stage 2 merges the segment texts, in order, into one sentence about
hand and body motion, with a local instruction model or an OpenAI-compatible endpoint. Each video gets
`<output_dir>/<video name>.json` = `{"chunk_0": ..., "chunk_1": ..., "refined": ...}`, the format the dataset
builders read.

Command lines:

    beyondgloss-describe-hands --input videos/ --output_dir descriptions/ \\
        --model Qwen/Qwen2.5-VL-7B-Instruct --refiner Qwen/Qwen2.5-7B-Instruct
    OPENAI_API_KEY=... beyondgloss-describe-hands --input videos/ --output_dir descriptions/ \\
        --refiner_api_base https://api.openai.com/v1 --refiner_api_model gpt-4o-mini
"""

import argparse
import json
import logging
import math
import os
import re
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from ..media import SEGMENT_FRAMES, decode_video, segment_bounds
from .jobs import (
    JobSummary,
    VideoSource,
    add_job_arguments,
    find_videos,
    run_jobs,
    select_shard,
    verified_output,
    write_json_atomic,
)


__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_REFINER",
    "APIRefiner",
    "LocalRefiner",
    "Refiner",
    "SegmentDescriber",
    "describe_video",
    "describe_videos",
    "main",
    "refinement_messages",
    "tile_grid",
]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
DEFAULT_REFINER = "Qwen/Qwen2.5-7B-Instruct"
# Video segments are presented as sampled at 2 fps, the rate Qwen2.5-VL's reference pipeline (qwen-vl-utils) feeds it.
# At a sign video's real 25 fps its temporal positions (seconds x tokens_per_second, truncated to integers) would give
# most frames of a 16-frame segment the same time index.
VIDEO_SEGMENT_FPS = 2.0
SEGMENT_QUESTION = (
    "{what} a short part of a sign language video. Describe only the signer's hands: where each hand is relative to "
    "the body (head, face, chest, shoulders), how it moves and along which path, its handshape (which fingers are "
    "extended, bent or touching) and which way the palm faces. Do not describe the person's looks, clothing, the "
    "background or any colours."
)
SEGMENT_SUBJECT = {"grid": "These frames, in reading order, show", "video": "This clip shows"}
REFINER_INSTRUCTIONS = (
    "You receive descriptions of consecutive parts of one sign language video, in order. Merge them into a single "
    "sentence that describes only the signer's hand and body motion: where the hands are relative to the body, how "
    "they move, their shapes and palm orientations, and how these change over time. Leave out people's appearance, "
    "faces, clothing, the background, colours and any guess at what is being signed. Answer with that one sentence "
    "and nothing else."
)


def tile_grid(frames: np.ndarray, max_side: int = 1008) -> Image.Image:
    """Tile frames `(n, H, W, 3)` uint8 in reading order into a near-square grid at most `max_side` pixels wide and
    high (16 frames: 4 x 4; a folded segment of up to 31 frames: up to 6 x 6)."""
    count, height, width = frames.shape[:3]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    scale = min(1.0, max_side / (columns * width), max_side / (rows * height))
    tile_width, tile_height = max(1, int(width * scale)), max(1, int(height * scale))
    grid = Image.new("RGB", (columns * tile_width, rows * tile_height))
    for index, frame in enumerate(frames):
        tile = Image.fromarray(np.ascontiguousarray(frame)).resize((tile_width, tile_height), Image.BILINEAR)
        grid.paste(tile, ((index % columns) * tile_width, (index // columns) * tile_height))
    return grid


def one_line(text: str, what: str) -> str:
    """Whitespace collapsed to single spaces; an empty answer is an error, never an empty description."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if not text:
        raise ValueError(f"the model returned an empty {what}")
    return text


def _device_and_dtype(device: str | None) -> tuple[torch.device, torch.dtype]:
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return device, torch.bfloat16 if device.type == "cuda" else torch.float32


class SegmentDescriber:
    """Stage 1: a vision-language model (`AutoModelForImageTextToText` + `AutoProcessor`) describes each segment.

    The model loads on first use. Segments are batched with left padding; decoding is greedy.
    """

    def __init__(
        self,
        model_name_or_path: str = DEFAULT_MODEL,
        device: str | None = None,
        batch_size: int = 4,
        max_new_tokens: int = 128,
        segment_input: str = "grid",
        grid_max_side: int = 1008,
    ):
        if segment_input not in SEGMENT_SUBJECT:
            raise ValueError(f"segment_input must be one of {sorted(SEGMENT_SUBJECT)}, got {segment_input!r}")
        self.model_name_or_path = model_name_or_path
        self.device, self.dtype = _device_and_dtype(device)
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.segment_input = segment_input
        self.grid_max_side = grid_max_side
        self.question = SEGMENT_QUESTION.format(what=SEGMENT_SUBJECT[segment_input])
        self.processor = self.model = None

    def _load(self) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        logger.info(f"Loading the vision-language model {self.model_name_or_path} on {self.device}")
        self.processor = AutoProcessor.from_pretrained(self.model_name_or_path)
        self.processor.tokenizer.padding_side = "left"  # generation continues every row from its last token
        self.model = AutoModelForImageTextToText.from_pretrained(self.model_name_or_path, dtype=self.dtype)
        self.model.to(self.device).eval()

    @torch.inference_mode()
    def describe(self, segments: list[np.ndarray]) -> list[str]:
        """One description per segment `(frames, H, W, 3)` uint8."""
        if self.model is None:
            self._load()
        descriptions = []
        for start in range(0, len(segments), self.batch_size):
            batch = segments[start : start + self.batch_size]
            visual_item = {"type": "image" if self.segment_input == "grid" else "video"}
            messages = [{"role": "user", "content": [visual_item, {"type": "text", "text": self.question}]}]
            prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            if self.segment_input == "grid":
                visual = {"images": [tile_grid(segment, self.grid_max_side) for segment in batch]}
            else:
                visual = {
                    "videos": [np.ascontiguousarray(segment) for segment in batch],
                    "video_metadata": [
                        {"fps": VIDEO_SEGMENT_FPS, "total_num_frames": len(segment)} for segment in batch
                    ],
                }
            inputs = self.processor(text=[prompt] * len(batch), padding=True, return_tensors="pt", **visual)
            inputs = inputs.to(self.device)
            generated = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, min_new_tokens=1, do_sample=False
            )
            new_tokens = generated[:, inputs["input_ids"].shape[1] :]
            descriptions.extend(self.processor.batch_decode(new_tokens, skip_special_tokens=True))
        return descriptions


class Refiner(Protocol):
    """Stage 2: merges a video's segment descriptions, in order, into one sentence. A refiner may also have
    `refine_batch(chunk_lists) -> list[str]`, one sentence per video, which the tool then uses for groups of
    videos."""

    def refine(self, chunks: list[str]) -> str: ...


def refine_all(refiner: Refiner, chunk_lists: list[list[str]]) -> list[str]:
    """One refined sentence per video, through the refiner's `refine_batch` when it has one."""
    if hasattr(refiner, "refine_batch"):
        return refiner.refine_batch(chunk_lists)
    return [refiner.refine(chunks) for chunks in chunk_lists]


def refinement_messages(chunks: list[str]) -> list[dict]:
    """The chat that asks for one merged sentence, the segments numbered in order."""
    segments = "\n".join(f"Part {index + 1}: {chunk}" for index, chunk in enumerate(chunks))
    return [{"role": "system", "content": REFINER_INSTRUCTIONS}, {"role": "user", "content": segments}]


class LocalRefiner:
    """Stage 2 with a local instruction model (`AutoModelForCausalLM` with a chat template), greedy decoding.

    `refine_batch` refines several videos per `generate` call, `batch_size` at a time, with left padding.
    """

    def __init__(
        self,
        model_name_or_path: str = DEFAULT_REFINER,
        device: str | None = None,
        max_new_tokens: int = 128,
        batch_size: int = 8,
    ):
        self.model_name_or_path = model_name_or_path
        self.device, self.dtype = _device_and_dtype(device)
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.tokenizer = self.model = None

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        logger.info(f"Loading the refinement model {self.model_name_or_path} on {self.device}")
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path)
        self.tokenizer.padding_side = "left"  # generation continues every row from its last token
        self.model = AutoModelForCausalLM.from_pretrained(self.model_name_or_path, dtype=self.dtype)
        self.model.to(self.device).eval()

    def refine(self, chunks: list[str]) -> str:
        """The merged description of a video's segment descriptions, in order."""
        return self.refine_batch([chunks])[0]

    @torch.inference_mode()
    def refine_batch(self, chunk_lists: list[list[str]]) -> list[str]:
        """The merged description of each video's segment descriptions, `batch_size` videos per model call."""
        if self.model is None:
            self._load()
        refined = []
        for start in range(0, len(chunk_lists), self.batch_size):
            conversations = [refinement_messages(chunks) for chunks in chunk_lists[start : start + self.batch_size]]
            inputs = self.tokenizer.apply_chat_template(
                conversations, add_generation_prompt=True, padding=True, return_tensors="pt", return_dict=True
            ).to(self.device)
            generated = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, min_new_tokens=1, do_sample=False
            )
            new_tokens = generated[:, inputs["input_ids"].shape[1] :]
            refined.extend(self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        return refined


class APIRefiner:
    """Stage 2 through an OpenAI-compatible chat-completions endpoint; the key is read from the environment.

    The endpoint takes one conversation per request, so `refine_batch` sends up to `max_concurrent_requests` requests
    at a time.
    """

    def __init__(
        self,
        api_base: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        max_concurrent_requests: int = 8,
    ):
        self.url = api_base.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_concurrent_requests = max_concurrent_requests

    def refine_batch(self, chunk_lists: list[list[str]]) -> list[str]:
        """One merged description per video, the requests sent concurrently; the first failure is raised."""
        if len(chunk_lists) <= 1:
            return [self.refine(chunks) for chunks in chunk_lists]
        with ThreadPoolExecutor(min(len(chunk_lists), self.max_concurrent_requests)) as pool:
            return list(pool.map(self.refine, chunk_lists))

    def refine(self, chunks: list[str]) -> str:
        """The merged description of a video's segment descriptions, in order."""
        body = {"model": self.model, "messages": refinement_messages(chunks), "temperature": 0}
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as err:
            detail = err.read(500).decode(errors="replace")
            raise RuntimeError(f"{self.url} answered HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, TimeoutError) as err:
            raise RuntimeError(f"cannot reach {self.url}: {err}") from err
        except ValueError as err:  # invalid JSON or UTF-8
            raise RuntimeError(f"{self.url} did not answer with JSON ({err})") from err
        try:
            return answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as err:
            raise RuntimeError(f"{self.url} answered without choices[0].message.content: {answer!r:.300}") from err


def _read_existing(path: str) -> dict | None:
    """An earlier run's output, or None when there is none or it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, ValueError, RecursionError):  # ValueError: invalid JSON or UTF-8; RecursionError: too deep
        return None
    return content if isinstance(content, dict) else None


def _read_chunks(path: str) -> list[str] | None:
    """The segment descriptions of an earlier run's file, if it has them all."""
    content = _read_existing(path) or {}
    count = sum(1 for key in content if key.startswith("chunk_"))
    chunks = [content.get(f"chunk_{index}") for index in range(count)]
    return chunks if count and all(isinstance(chunk, str) and chunk for chunk in chunks) else None


def verify_description_file(path: str) -> None:
    """Raise `ValueError` unless `path` is a JSON object with non-empty segment descriptions `chunk_0` ...
    `chunk_{N-1}`."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except (ValueError, RecursionError) as err:  # invalid JSON or UTF-8, or nested too deep
        raise ValueError(f"not a readable description JSON ({err})") from err
    if not isinstance(content, dict):
        raise ValueError(f"expected a JSON object, got {type(content).__name__}")
    count = sum(1 for key in content if key.startswith("chunk_"))
    if not count:
        raise ValueError("no segment descriptions (chunk_0, ...)")
    for index in range(count):
        chunk = content.get(f"chunk_{index}")
        if not (isinstance(chunk, str) and chunk.strip()):
            raise ValueError(f"segment description chunk_{index} is missing or empty")


def describe_video(
    source: VideoSource,
    describer: SegmentDescriber | None,
    refiner: Refiner | None = None,
    segment_frames: int = SEGMENT_FRAMES,
    chunks: list[str] | None = None,
) -> dict[str, str]:
    """`{"chunk_0": ..., "refined": ...}` for one video (`refined` only with a refiner); given `chunks`, stage 1 is
    skipped and only the refinement runs."""
    if chunks is None:
        frames = decode_video(source.path)
        segments = [frames[start:end] for start, end in segment_bounds(len(frames), segment_frames)]
        texts = describer.describe(segments)
        chunks = [one_line(text, f"description of segment {index}") for index, text in enumerate(texts)]
    content = {f"chunk_{index}": chunk for index, chunk in enumerate(chunks)}
    if refiner is not None:
        content["refined"] = one_line(refiner.refine(chunks), "refined description")
    return content


def describe_videos(
    items: list[tuple[VideoSource, list[str] | None]],
    describer: SegmentDescriber | None,
    refiner: Refiner | None = None,
    segment_frames: int = SEGMENT_FRAMES,
) -> list[dict[str, str] | Exception]:
    """[`describe_video`] for a group of videos `(source, chunks or None)`, with one `describe` call for all their
    segments and one refinement call for all of them, so that the models see full batches.

    Returns, per video, its content or the exception that failed it: a video that cannot be decoded, or whose
    answers are empty, fails alone; when a shared model call fails, its videos are retried one by one so that the
    error lands on the video that causes it.
    """
    results: list[dict[str, str] | Exception | None] = [None] * len(items)
    chunk_lists: list[list[str] | None] = [chunks for _, chunks in items]
    segments_of: dict[int, list[np.ndarray]] = {}
    for position, (source, chunks) in enumerate(items):
        if chunks is None:
            try:
                frames = decode_video(source.path)
                bounds = segment_bounds(len(frames), segment_frames)
                segments_of[position] = [frames[start:end] for start, end in bounds]
            except Exception as err:
                results[position] = err
    if segments_of:
        try:
            texts = describer.describe([segment for segments in segments_of.values() for segment in segments])
        except Exception:
            texts = None
        offset = 0
        for position, segments in segments_of.items():
            try:
                if texts is None:
                    video_texts = describer.describe(segments)
                else:
                    video_texts = texts[offset : offset + len(segments)]
                    offset += len(segments)
                chunk_lists[position] = [
                    one_line(text, f"description of segment {index}") for index, text in enumerate(video_texts)
                ]
            except Exception as err:
                results[position] = err
    to_refine = [position for position in range(len(items)) if results[position] is None]
    refined: dict[int, str | Exception] = {}
    if refiner is not None and to_refine:
        try:
            refined = dict(zip(to_refine, refine_all(refiner, [chunk_lists[position] for position in to_refine])))
        except Exception:
            for position in to_refine:
                try:
                    refined[position] = refiner.refine(chunk_lists[position])
                except Exception as err:
                    refined[position] = err
    for position in to_refine:
        content = {f"chunk_{index}": chunk for index, chunk in enumerate(chunk_lists[position])}
        if refiner is not None:
            try:
                if isinstance(refined[position], Exception):
                    raise refined[position]
                content["refined"] = one_line(refined[position], "refined description")
            except Exception as err:
                results[position] = err
                continue
        results[position] = content
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_job_arguments(parser)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Vision-language model for the segments (name/path).")
    parser.add_argument(
        "--segment_input",
        default="grid",
        choices=sorted(SEGMENT_SUBJECT),
        help="A segment as one grid image, or as a video for models whose processor takes videos.",
    )
    parser.add_argument("--segment_frames", type=int, default=SEGMENT_FRAMES, help="Frames per segment.")
    parser.add_argument("--grid_max_side", type=int, default=1008, help="Largest side of a grid image in pixels.")
    parser.add_argument("--batch_size", type=int, default=4, help="Segments per generation batch.")
    parser.add_argument(
        "--videos_per_batch",
        type=int,
        default=8,
        help="Videos handled together: their segments share description batches and up to this many videos are "
        "refined per model call (or, with an endpoint, concurrently). 1 handles one video at a time.",
    )
    parser.add_argument("--max_new_tokens", type=int, default=128, help="Longest answer of either model, in tokens.")
    parser.add_argument("--refiner", default=DEFAULT_REFINER, help="Local instruction model for the refinement.")
    parser.add_argument(
        "--refiner_api_base",
        default=None,
        help="Refine through this OpenAI-compatible endpoint instead, e.g. https://api.openai.com/v1.",
    )
    parser.add_argument("--refiner_api_model", default=None, help="The endpoint's model name.")
    parser.add_argument(
        "--refiner_api_key_env",
        default="OPENAI_API_KEY",
        help="Environment variable holding the endpoint's key (never written anywhere).",
    )
    parser.add_argument(
        "--skip_refinement",
        action="store_true",
        help="Write the segment descriptions only; a later run without this flag refines them.",
    )
    parser.add_argument("--device", default=None, help="Where the local models run (default: CUDA when available).")
    return parser


def main(argv: list[str] | None = None) -> JobSummary:
    """Describe every video under `--input`; returns the run's `JobSummary` (failures are listed, not raised)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if bool(args.refiner_api_base) != bool(args.refiner_api_model):
        parser.error("--refiner_api_base and --refiner_api_model go together.")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sources = select_shard(find_videos(args.input), args.shard_index, args.num_shards)[: args.limit]
    describer = SegmentDescriber(
        args.model, args.device, args.batch_size, args.max_new_tokens, args.segment_input, args.grid_max_side
    )
    refiner = None
    if not args.skip_refinement:
        if args.refiner_api_base:
            refiner = APIRefiner(
                args.refiner_api_base,
                args.refiner_api_model,
                args.refiner_api_key_env,
                max_concurrent_requests=args.videos_per_batch,
            )
        else:
            refiner = LocalRefiner(args.refiner, args.device, args.max_new_tokens, batch_size=args.videos_per_batch)

    def is_done(path: str) -> bool:
        if not verified_output(path, verify_description_file):
            return False
        # With a refiner, a file that has its segment descriptions but lacks `refined` is only refined (`process`).
        return refiner is None or bool((_read_existing(path) or {}).get("refined"))

    def process(source: VideoSource, output_path: str) -> None:
        chunks = None if args.overwrite else _read_chunks(output_path)
        write_json_atomic(output_path, describe_video(source, describer, refiner, args.segment_frames, chunks))

    def process_group(items: list[tuple[VideoSource, str]]) -> list[Exception | None]:
        existing = [None if args.overwrite else _read_chunks(output_path) for _, output_path in items]
        contents = describe_videos(
            [(source, chunks) for (source, _), chunks in zip(items, existing)], describer, refiner, args.segment_frames
        )
        errors = []
        for (_, output_path), content in zip(items, contents):
            if isinstance(content, Exception):
                errors.append(content)
                continue
            try:
                write_json_atomic(output_path, content)
            except Exception as err:
                errors.append(err)
            else:
                errors.append(None)
        return errors

    return run_jobs(
        sources,
        lambda source: os.path.join(args.output_dir, f"{source.name}.json"),
        process,
        description="Describing hands",
        overwrite=args.overwrite,
        is_done=is_done,
        process_group=process_group if args.videos_per_batch > 1 else None,
        group_size=args.videos_per_batch,
    )


def cli() -> None:
    """Console-script entry point: the exit status is 1 when any video failed."""
    sys.exit(1 if main().failed else 0)


if __name__ == "__main__":
    cli()
