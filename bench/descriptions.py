"""Throughput of the hand-description tool with the tiny test models on CPU: one video per model call against groups.

The tool (`datasets_scripts/preprocessing/describe_hands.py`) describes each 16-frame segment with a vision-language
model and merges a video's segment texts into one sentence with an instruction model. Before, videos went through it
one at a time: the describer batched the segments of one video, and the refiner ran once per video. With
`--videos_per_batch`, a group of videos shares the description batches and is refined in one padded `generate` call.

This script builds the tiny random Qwen2.5-VL and Qwen2 models the tests use (offline), generates SynthSign videos,
and times both ways with the models already loaded (loading is not part of the throughput), one torch thread, passes
alternating, best of `--repeats`:

- **end to end**: decode, describe every segment, refine every video (`describe_video` per video against
  `describe_videos` per group);
- **refinement**: the refiner alone on the same segment texts (`refine` per video against `refine_batch`).

It checks that both ways write the same texts (greedy decoding), prints a table and writes
`bench/results/descriptions.json`.

    python bench/descriptions.py
    python bench/descriptions.py --videos 8 --repeats 1     # quicker
"""

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers


REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from tiny_describers import build_tiny_describers  # noqa: E402

from datasets_scripts.media import SEGMENT_FRAMES  # noqa: E402
from datasets_scripts.preprocessing.describe_hands import (  # noqa: E402
    LocalRefiner,
    SegmentDescriber,
    describe_video,
    describe_videos,
)
from datasets_scripts.preprocessing.jobs import find_videos  # noqa: E402
from datasets_scripts.synthsign import generate_synthsign  # noqa: E402


logger = logging.getLogger("bench.descriptions")


def best_of(runs: dict, repeats: int) -> tuple[dict[str, float], dict[str, list]]:
    """Best wall time of each run over `repeats` alternating passes, and each run's last output."""
    best, outputs = {name: float("inf") for name in runs}, {}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            outputs[name] = run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, outputs


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=16, help="number of generated SynthSign videos")
    parser.add_argument("--videos_per_batch", type=int, default=8, help="group size of the batched run")
    parser.add_argument("--batch_size", type=int, default=4, help="segments per description batch (both runs)")
    parser.add_argument("--max_new_tokens", type=int, default=24, help="longest answer of either model")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per way; the best one counts")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "descriptions.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)  # the tiny models decode token by token: a second thread only adds synchronisation

    with tempfile.TemporaryDirectory(prefix="beyondgloss_bench_") as directory:
        root = Path(directory)
        vision_language_path, refiner_path = build_tiny_describers(root)
        generate_synthsign(
            root / "synthsign", seed=0, num_train=args.videos, num_dev=0, num_test=0, resolution=64, num_workers=1
        )
        sources = find_videos(str(root / "synthsign" / "videos"))
        describer = SegmentDescriber(vision_language_path, "cpu", args.batch_size, args.max_new_tokens)
        refiner = LocalRefiner(refiner_path, "cpu", args.max_new_tokens, batch_size=args.videos_per_batch)
        describer._load()
        refiner._load()
        groups = [
            sources[start : start + args.videos_per_batch] for start in range(0, len(sources), args.videos_per_batch)
        ]

        def one_at_a_time() -> list[dict]:
            return [describe_video(source, describer, refiner) for source in sources]

        def grouped() -> list[dict]:
            contents = []
            for group in groups:
                contents.extend(describe_videos([(source, None) for source in group], describer, refiner))
            return contents

        describe_video(sources[0], describer, refiner)  # warm up
        end_to_end, contents = best_of({"before": one_at_a_time, "after": grouped}, args.repeats)
        failures = [content for content in contents["after"] if isinstance(content, Exception)]
        if failures:
            raise RuntimeError(f"the grouped run failed: {failures[0]!r}")

        chunk_lists = [
            [text for key, text in content.items() if key.startswith("chunk_")] for content in contents["before"]
        ]
        refinement, refined = best_of(
            {
                "before": lambda: [refiner.refine(chunks) for chunks in chunk_lists],
                "after": lambda: refiner.refine_batch(chunk_lists),
            },
            args.repeats,
        )

    num_videos, num_segments = len(sources), sum(len(chunks) for chunks in chunk_lists)
    identical = contents["before"] == contents["after"] and refined["before"] == refined["after"]
    results = {}
    for stage, timings in (("end_to_end", end_to_end), ("refinement", refinement)):
        results[stage] = {
            f"{way}_{unit}_per_second": count / timings[way]
            for way in ("before", "after")
            for unit, count in (("videos", num_videos), ("segments", num_segments))
        }
        results[stage]["speedup"] = timings["before"] / timings["after"]
    report = {
        "settings": {
            "videos": num_videos,
            "segments": num_segments,
            "segment_frames": SEGMENT_FRAMES,
            "videos_per_batch": args.videos_per_batch,
            "segment_batch_size": args.batch_size,
            "max_new_tokens": args.max_new_tokens,
            "repeats": args.repeats,
            "torch_threads": 1,
            "models": "tests/tiny_describers.py (random Qwen2.5-VL and Qwen2, 1 layer, hidden size 32)",
        },
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
        },
        "outputs_identical": identical,
        "results": results,
    }
    print(f"\n{num_videos} videos, {num_segments} segments; groups of {args.videos_per_batch} videos")
    print(f"{'stage':<11} {'way':<22} {'videos/s':>9} {'segments/s':>11}")
    for stage, numbers in results.items():
        for way, label in (("before", "one video per call"), ("after", "grouped")):
            print(
                f"{stage:<11} {label:<22} {numbers[f'{way}_videos_per_second']:>9.2f} "
                f"{numbers[f'{way}_segments_per_second']:>11.2f}"
            )
    print("speed-up: " + ", ".join(f"{stage} {numbers['speedup']:.2f}x" for stage, numbers in results.items()))
    print(f"grouped outputs identical to one video at a time: {identical}")

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    logger.info("Wrote %s", output)
    if not identical:
        raise SystemExit("grouped outputs differ from one video at a time")
    return report


if __name__ == "__main__":
    main()
