"""SynthSign: a procedural signer that writes a sign language translation corpus in the layout of the real ones.

Clips are rendered from a fixed lexicon of weather-forecast glosses (each sign a composition of handshape, body
location, movement and palm orientation per hand, with minimal pairs that differ only in handshape) and sentences
of a small German grammar whose word order differs from the gloss order, as in Phoenix14T. Every clip comes with
its true per-frame hand features in the HaMeR 288 layout and hand-motion descriptions in the descriptor's JSON
format, so the whole pipeline (builders, pre-training with both auxiliary losses, translation, evaluation) runs on
it. Output is deterministic from the seed.

```bash
beyondgloss-synthsign --output_dir data/synthsign --seed 0 --num_glosses 40 \\
    --contact_sheet data/synthsign/contact_sheet.png
```

Layout written (see `load_sign_dataset("synthsign", data_dir=...)`):

```
synthsign.json                               seed, sizes, fps, resolution, language, lexicon, grammar
labels.train  labels.dev  labels.test        gzip pickles: name -> {"name", "gloss", "text", "length"}
videos/<split>/<id>.mp4
descriptions/<split>/<id>.json               {"chunk_0": ..., "chunk_{N-1}": ..., "refined": ...}
hand_features/<split>/<id>.safetensors       "hand_features" [T, 288] float16, "hand_mask" [T] uint8
```
"""

import argparse
import gzip
import json
import logging
import multiprocessing
import os
import pickle
import shutil
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from safetensors.numpy import load_file
from tqdm.auto import tqdm

from ..builders.safe_pickle import safe_load
from ..media import SEGMENT_FRAMES, decode_video
from .grammar import LANGUAGE, Grammar, plan_sentences
from .lexicon import (
    HANDSHAPES,
    LOCATIONS,
    MOVEMENT_KINDS,
    MOVEMENTS,
    ORIENTATIONS,
    build_lexicon,
    select_glosses,
)
from .motion import HAND_FEATURE_DIM, sample_style, sample_timing
from .render import ClipJob, available_codec, render_clip


logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
# Entries of a SynthSign folder; only these are replaced when a folder is generated again.
_OUTPUTS = ("synthsign.json", "labels.train", "labels.dev", "labels.test", "videos", "descriptions", "hand_features")
FORMAT_VERSION = 1


def _prepare_output_dir(output_dir: str):
    """Create `output_dir`, or clear a previous SynthSign dataset in it; never touch another kind of folder."""
    os.makedirs(output_dir, exist_ok=True)
    present = [entry for entry in _OUTPUTS if os.path.exists(os.path.join(output_dir, entry))]
    if not present:
        return
    if "synthsign.json" not in present:
        raise FileExistsError(
            f"{output_dir} already holds {', '.join(present)} but no synthsign.json: it is not a SynthSign dataset, "
            f"so nothing is overwritten. Choose an empty or new folder."
        )
    for entry in present:
        path = os.path.join(output_dir, entry)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def _write_labels(path: str, entries: dict[str, dict]):
    """A GFSLT-VLP label file: gzip (no timestamp, so the bytes are reproducible) of a protocol-4 pickle."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
        pickle.dump(entries, handle, protocol=4)


def _write_json(path: str, content: dict):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(content, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def _check_options(
    num_train, num_dev, num_test, resolution, fps, min_signs, max_signs, min_sign_frames, max_sign_frames, num_signers
):
    problems = []
    if num_signers is not None and num_signers < 1:
        problems.append(f"num_signers must be at least 1, got {num_signers}")
    if num_train < 1:
        problems.append(f"num_train must be at least 1, got {num_train}")
    if num_dev < 0 or num_test < 0:
        problems.append(f"num_dev and num_test must not be negative, got {num_dev} and {num_test}")
    if resolution < 32 or resolution % 2:
        problems.append(
            f"resolution must be an even number of pixels >= 32 (H.264 needs even sizes), got {resolution}"
        )
    if fps < 1:
        problems.append(f"fps must be at least 1, got {fps}")
    if not 2 <= min_signs <= max_signs:
        problems.append(f"need 2 <= min_signs <= max_signs, got min_signs={min_signs}, max_signs={max_signs}")
    if not 2 <= min_sign_frames <= max_sign_frames:
        problems.append(f"need 2 <= min_sign_frames <= max_sign_frames, got {min_sign_frames} and {max_sign_frames}")
    if problems:
        raise ValueError("invalid SynthSign options: " + "; ".join(problems))


def _default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, 8))


def generate_synthsign(
    output_dir: str | os.PathLike,
    seed: int = 0,
    num_train: int = 400,
    num_dev: int = 50,
    num_test: int = 50,
    resolution: int = 128,
    num_glosses: int | None = None,
    min_signs: int = 2,
    max_signs: int = 4,
    fps: int = 25,
    min_sign_frames: int = 8,
    max_sign_frames: int = 12,
    num_workers: int | None = None,
    contact_sheet: str | os.PathLike | None = None,
    num_signers: int | None = None,
) -> dict:
    """Generate a SynthSign dataset in `output_dir` and return the metadata written to `synthsign.json`.

    Args:
        output_dir: destination folder; created if needed. A previous SynthSign dataset there is replaced; a folder
            holding anything else under the dataset's names is refused.
        seed: seed of sentences, signers and noise. The same seed and options give byte-identical label files,
            JSONs and hand features and identical decoded frames, whatever `num_workers`.
        num_train, num_dev, num_test: clips per split (dev and test may be 0: their label file is then not written).
            Dev and test sentences are unseen in train and in each other.
        resolution: frame width and height in pixels (even).
        num_glosses: size of the vocabulary, a deterministic subset of the lexicon that keeps minimal pairs
            together (default: the full lexicon).
        min_signs, max_signs: glosses per sentence.
        fps: frame rate stored in the videos.
        min_sign_frames, max_sign_frames: frames per sign; a clip's signer speed picks a duration in this range.
        num_workers: rendering processes (default: the available cores, at most 8).
        contact_sheet: if given, also write a contact-sheet PNG of a few train clips to this path.
        num_signers: draw every clip's signer (appearance, framing, speed of motion) from a pool of this many, as real
            corpora have a handful of signers (Phoenix14T: 9); default: a new signer for every clip.

    Returns:
        The metadata dict: seed, sizes, frame counts, fps, resolution, codec, language, lexicon (each sign's
        composition), minimal pairs and a grammar summary.
    """
    start_time = time.perf_counter()
    _check_options(
        num_train, num_dev, num_test, resolution, fps, min_signs, max_signs, min_sign_frames, max_sign_frames,
        num_signers,
    )
    output_dir = os.fspath(output_dir)
    lexicon = build_lexicon()
    vocabulary = select_glosses(num_glosses)
    grammar = Grammar(vocabulary)
    sizes = {"train": num_train, "dev": num_dev, "test": num_test}
    plan = plan_sentences(grammar, np.random.default_rng(seed), sizes, min_signs, max_signs)
    codec = available_codec()
    _prepare_output_dir(output_dir)
    metadata = {
        "name": "SynthSign",
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "language": LANGUAGE,
        "sizes": sizes,
        "num_signers": num_signers,
        "fps": fps,
        "resolution": resolution,
        "codec": codec,
        "min_signs": min_signs,
        "max_signs": max_signs,
        "min_sign_frames": min_sign_frames,
        "max_sign_frames": max_sign_frames,
        "segment_frames": SEGMENT_FRAMES,
        "hand_features": {
            "dim": HAND_FEATURE_DIM,
            "dtype": "float16",
            "layout": "[0:135] left hand 15 joint rotations (MANO order index, middle, pinky, ring, thumb; 3x3 "
            "row-major), [135:270] right hand, [270:279] left global orientation, [279:288] right global "
            "orientation; a hand alone in view fills both slots; no hand in view = zeros and hand_mask 0",
        },
        "parameters": {
            "handshapes": list(HANDSHAPES),
            "locations": list(LOCATIONS),
            "movement_kinds": list(MOVEMENT_KINDS),
            "movements": list(MOVEMENTS),
            "orientations": list(ORIENTATIONS),
        },
        "num_glosses": len(vocabulary),
        "lexicon": [lexicon[gloss].to_dict() for gloss in vocabulary],
        "minimal_pairs": sorted(
            [gloss, lexicon[gloss].minimal_pair]
            for gloss in vocabulary
            if lexicon[gloss].minimal_pair and gloss < lexicon[gloss].minimal_pair
        ),
        "grammar": grammar.summary(),
    }
    # Written first so an interrupted run leaves a folder that the next run recognises and replaces.
    _write_json(os.path.join(output_dir, "synthsign.json"), metadata)

    signer_pool = (
        [sample_style(np.random.default_rng([seed, len(SPLITS), signer])) for signer in range(num_signers)]
        if num_signers
        else None
    )
    jobs = []
    for split_index, split in enumerate(SPLITS):
        for index, sentence in enumerate(plan[split]):
            clip_rng = np.random.default_rng([seed, split_index, index])
            style = sample_style(clip_rng)
            if signer_pool:
                style = signer_pool[clip_rng.integers(len(signer_pool))]
            jobs.append(
                ClipJob(
                    name=f"{split}/{index:06d}",
                    sentence=sentence,
                    signs=[lexicon[gloss] for gloss in sentence.glosses],
                    style=style,
                    timing=sample_timing(clip_rng, len(sentence.glosses), min_sign_frames, max_sign_frames),
                    noise_seed=(seed, split_index, index, 1),
                    resolution=resolution,
                    fps=fps,
                    codec=codec,
                    output_dir=output_dir,
                )
            )
    workers = min(num_workers or _default_workers(), max(1, len(jobs) // 8))
    lengths = []
    if workers > 1:
        # Fork where the platform has it: workers start at once and need no `if __name__ == "__main__"` guard in
        # the caller's script. The pool is made before the progress bar so no extra thread exists at fork time.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers) as pool:
            with tqdm(total=len(jobs), desc="Rendering SynthSign", unit="clip") as progress:
                for length in pool.imap(render_clip, jobs, chunksize=4):
                    lengths.append(length)
                    progress.update(1)
    else:
        for job in tqdm(jobs, desc="Rendering SynthSign", unit="clip"):
            lengths.append(render_clip(job))

    frame_counts = dict.fromkeys(SPLITS, 0)
    labels = {split: {} for split in SPLITS}
    for job, length in zip(jobs, lengths):
        split = job.name.split("/", 1)[0]
        frame_counts[split] += length
        labels[split][job.name] = {
            "name": job.name,
            "gloss": job.sentence.gloss,
            "text": job.sentence.text,
            "length": length,
        }
    for split in SPLITS:
        if labels[split]:
            _write_labels(os.path.join(output_dir, f"labels.{split}"), labels[split])
    metadata["num_frames"] = frame_counts
    _write_json(os.path.join(output_dir, "synthsign.json"), metadata)

    if contact_sheet is not None:
        make_contact_sheet(output_dir, contact_sheet)
    logger.info(
        "SynthSign: %d train / %d dev / %d test clips (%d frames), %d glosses (%d minimal pairs), %dx%d at %d fps "
        "(%s), written to %s in %.1f s",
        num_train,
        num_dev,
        num_test,
        sum(frame_counts.values()),
        len(vocabulary),
        len(metadata["minimal_pairs"]),
        resolution,
        resolution,
        fps,
        codec,
        output_dir,
        time.perf_counter() - start_time,
    )
    return metadata


def _caption_font(size: int = 10) -> ImageFont.ImageFont:
    """DejaVu Sans from matplotlib (it has the umlauts of the German captions), else PIL's default font."""
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans", fallback_to_default=False), size)
    except (ImportError, OSError, ValueError):
        return ImageFont.load_default(size)


def make_contact_sheet(
    dataset_dir: str | os.PathLike,
    path: str | os.PathLike,
    split: str = "train",
    num_clips: int = 4,
    frames_per_clip: int = 8,
) -> str:
    """Save a PNG with one row per clip: its gloss and text, then frames spread over the part where hands are in
    view. Colours are reduced to a 256-colour palette to keep the file small. Returns the path written."""
    dataset_dir, path = os.fspath(dataset_dir), os.fspath(path)
    labels = safe_load(os.path.join(dataset_dir, f"labels.{split}"))
    names = sorted(labels)[:num_clips]
    if not names:
        raise ValueError(f"{os.path.join(dataset_dir, f'labels.{split}')} lists no clips")
    font = _caption_font()
    caption_height, gap = 14, 2
    rows = []
    for name in names:
        frames = decode_video(os.path.join(dataset_dir, "videos", f"{name}.mp4"))
        mask = load_file(os.path.join(dataset_dir, "hand_features", f"{name}.safetensors"))["hand_mask"]
        visible = np.flatnonzero(mask) if mask.any() else np.arange(len(frames))
        picks = visible[np.linspace(0, len(visible) - 1, frames_per_clip).round().astype(int)]
        strip = np.concatenate([np.pad(frames[index], ((0, 0), (0, gap), (0, 0))) for index in picks], axis=1)
        row = Image.new("RGB", (strip.shape[1], strip.shape[0] + caption_height), (255, 255, 255))
        row.paste(Image.fromarray(strip), (0, caption_height))
        caption = f"{name}  {labels[name]['gloss']}  |  {labels[name]['text']}"
        ImageDraw.Draw(row).text((2, 1), caption, fill=(0, 0, 0), font=font)
        rows.append(row)
    sheet = Image.new("RGB", (max(row.width for row in rows), sum(row.height + gap for row in rows)), (255, 255, 255))
    top = 0
    for row in rows:
        sheet.paste(row, (0, top))
        top += row.height + gap
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    sheet.quantize(colors=256, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def main(argv: list[str] | None = None) -> dict:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="beyondgloss-synthsign", description="Generate the SynthSign procedural sign corpus."
    )
    parser.add_argument("--output_dir", required=True, help="Destination folder.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_train", type=int, default=400)
    parser.add_argument("--num_dev", type=int, default=50)
    parser.add_argument("--num_test", type=int, default=50)
    parser.add_argument("--resolution", type=int, default=128, help="Frame width and height in pixels (even).")
    parser.add_argument(
        "--num_glosses",
        type=int,
        default=None,
        help="Vocabulary size: a deterministic subset of the lexicon (default: all glosses).",
    )
    parser.add_argument("--min_signs", type=int, default=2, help="Fewest glosses per sentence.")
    parser.add_argument("--max_signs", type=int, default=4, help="Most glosses per sentence.")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--min_sign_frames", type=int, default=8, help="Fewest frames per sign.")
    parser.add_argument("--max_sign_frames", type=int, default=12, help="Most frames per sign.")
    parser.add_argument("--num_workers", type=int, default=None, help="Rendering processes (default: cores, max 8).")
    parser.add_argument("--num_signers", type=int, default=None,
                        help="Draw signers from a pool of this many (default: a new signer per clip).")
    parser.add_argument("--contact_sheet", default=None, help="Also write a contact-sheet PNG of a few clips here.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return generate_synthsign(**vars(args))


def cli() -> None:
    main()  # a console script must not take the returned metrics for an exit status


if __name__ == "__main__":
    cli()
