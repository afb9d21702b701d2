"""Data-loading throughput of the BeyondGloss video processor next to the usual per-frame PIL pipeline.

Both pipelines do the same work per clip: decode every frame, resize to 256x256, draw the paper's augmentation once
per clip (rotation ±30°, scale ±20 %, translation ±10 px, each with probability 0.5) and apply it to every frame,
crop 224x224 at a random position, normalise with the ImageNet statistics and return a `(frames, 3, 224, 224)`
float tensor. The baseline is the common research pipeline: one PIL image at a time through torchvision's PIL
transforms, then `torch.stack` (videos are decoded with PyAV into one PIL image per frame). Ours decodes with threaded
PyAV into one uint8 clip tensor, warps each frame straight into its crop with OpenCV and normalises it while it is in
cache.

Throughput is measured per DataLoader worker: a single process with one torch thread (the processor gives OpenCV the
same number of threads). The clips are generated here
(synthetic signer-like scenes: moving skin-coloured hands over a textured background) as mp4 files and as PNG frame
folders in a temporary directory.

    python bench/data_loading.py                 # 20 clips x 64 frames at 256x256, best of 3 passes
    python bench/data_loading.py --clips 5 --repeats 1
"""

import argparse
import json
import logging
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as TF
import torchvision.transforms.v2 as v2
import torchvision.transforms.v2.functional as tvF
from PIL import Image
from tqdm import tqdm


REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from modeling_beyondgloss.video_processing_beyondgloss import BeyondGlossVideoProcessor, list_frame_files  # noqa: E402


logger = logging.getLogger("bench.data_loading")

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
RESIZE, CROP, MAX_FRAMES = 256, 224, 300


# ------------------------------------------------------------------------------------------------------------ clips


def render_clip(num_frames: int, size: int, seed: int) -> np.ndarray:
    """A `(frames, size, size, 3)` uint8 clip: a textured background, a head and two hands moving on smooth paths."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    background = np.stack(
        [
            90 + 60 * np.sin(6 * xs + rng.uniform(0, 6)),
            100 + 50 * np.cos(5 * ys + rng.uniform(0, 6)),
            120 + 40 * np.sin(4 * (xs + ys)),
        ],
        axis=-1,
    )
    background += rng.normal(0, 6, background.shape)
    skin = np.array([224, 172, 140], dtype=np.float32) * rng.uniform(0.7, 1.1)
    phases = rng.uniform(0, 2 * np.pi, 4)
    clip = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for index in range(num_frames):
        frame = background.copy()
        time_step = index / num_frames * 2 * np.pi
        blobs = [(0.5, 0.25, 0.11)]  # head
        for hand in range(2):
            centre_x = 0.5 + (0.22 if hand else -0.22) + 0.12 * np.sin(2 * time_step + phases[hand])
            centre_y = 0.62 + 0.18 * np.cos(3 * time_step + phases[hand + 2])
            blobs.append((centre_x, centre_y, 0.06))
        for centre_x, centre_y, radius in blobs:
            inside = (xs - centre_x) ** 2 + (ys - centre_y) ** 2 < radius**2
            frame[inside] = skin
        frame += rng.normal(0, 3, frame.shape)
        clip[index] = np.clip(frame, 0, 255).astype(np.uint8)
    return clip


def write_clips(directory: Path, num_clips: int, num_frames: int, size: int) -> tuple[list[str], list[str]]:
    """Write each clip as an H.264 mp4 (25 fps, yuv420p) and as a folder of PNG frames."""
    videos, folders = [], []
    for clip_index in tqdm(range(num_clips), desc="writing clips", unit="clip"):
        clip = render_clip(num_frames, size, seed=clip_index)
        video_path = directory / f"clip_{clip_index:03d}.mp4"
        with av.open(str(video_path), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
            for frame in clip:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        folder = directory / f"clip_{clip_index:03d}"
        folder.mkdir()
        for frame_index, frame in enumerate(clip):
            Image.fromarray(frame).save(folder / f"images{frame_index:04d}.png")
        videos.append(str(video_path))
        folders.append(str(folder))
    return videos, folders


# --------------------------------------------------------------------------------------------------------- baseline


def baseline_video_frames(path: str):
    with av.open(path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == MAX_FRAMES:
                break
            yield frame.to_image()


def baseline_folder_frames(folder: str):
    for path in list_frame_files(folder)[:MAX_FRAMES]:
        with Image.open(path) as image:
            yield image.convert("RGB")


def baseline_clip(images, rng: random.Random) -> torch.Tensor:
    """The per-frame PIL pipeline: one augmentation draw per clip, applied image by image."""
    angle = rng.uniform(-30, 30) if rng.random() < 0.5 else 0.0
    scale = rng.uniform(0.8, 1.2) if rng.random() < 0.5 else 1.0
    translate = [rng.randint(-10, 10), rng.randint(-10, 10)] if rng.random() < 0.5 else [0, 0]
    augment = angle != 0 or scale != 1 or translate != [0, 0]
    top, left = rng.randint(0, RESIZE - CROP), rng.randint(0, RESIZE - CROP)
    tensors = []
    for image in images:
        image = TF.resize(image, [RESIZE, RESIZE], interpolation=TF.InterpolationMode.BILINEAR)
        if augment:
            image = TF.affine(
                image,
                angle=angle,
                translate=translate,
                scale=scale,
                shear=[0.0, 0.0],
                interpolation=TF.InterpolationMode.BILINEAR,
            )
        image = TF.crop(image, top, left, CROP, CROP)
        tensors.append(TF.normalize(TF.to_tensor(image), IMAGENET_MEAN, IMAGENET_STD))
    return torch.stack(tensors)


# ------------------------------------------------------------------------------------------------------ torchvision


class ClipAffine(v2.Transform):
    """The paper's augmentation as a torchvision v2 transform: one draw per call (so one per clip when the whole
    `(T, C, H, W)` clip is passed), from the same distribution as the processor's `sample_augmentation`, applied with
    `v2.functional.affine`; an identity draw is skipped, as the processor skips it."""

    def __init__(self, processor: BeyondGlossVideoProcessor, generator: torch.Generator):
        super().__init__()
        self.processor, self.generator = processor, generator

    def make_params(self, flat_inputs):
        return self.processor.sample_augmentation(self.generator)

    def transform(self, inpt, params):
        if params["angle"] == 0 and params["scale"] == 1 and params["translate_x"] == params["translate_y"] == 0:
            return inpt
        return tvF.affine(
            inpt,
            angle=params["angle"],
            translate=[params["translate_x"], params["translate_y"]],
            scale=params["scale"],
            shear=[0.0, 0.0],
            interpolation=v2.InterpolationMode.BILINEAR,
        )


def torchvision_pipeline(processor: BeyondGlossVideoProcessor, generator: torch.Generator) -> v2.Compose:
    """torchvision's batched path: v2 transforms applied to the whole uint8 clip at once."""
    return v2.Compose(
        [
            v2.Resize([RESIZE, RESIZE], antialias=True),
            ClipAffine(processor, generator),
            v2.RandomCrop(CROP),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


# ------------------------------------------------------------------------------------------------------ measurement


def measure(pipelines: dict, sources: list[str], repeats: int, description: str) -> dict[str, tuple[float, int]]:
    """Best wall time (seconds) over `repeats` passes through all sources, and the frames produced per pass, for each
    pipeline. Passes of the pipelines alternate so that both see the same background load."""
    best = {name: (float("inf"), 0) for name in pipelines}
    for process in pipelines.values():
        process(sources[0])  # warm up
    for _ in tqdm(range(repeats), desc=description, unit="pass", leave=False):
        for name, process in pipelines.items():
            start = time.perf_counter()
            frames = sum(process(source).shape[0] for source in sources)
            best[name] = min(best[name], (time.perf_counter() - start, frames))
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=20, help="number of generated clips")
    parser.add_argument("--frames", type=int, default=64, help="frames per clip")
    parser.add_argument("--size", type=int, default=256, help="width and height of the generated clips")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per pipeline; the best one counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "data_loading.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    torch.set_num_threads(1)  # what a DataLoader worker gets
    processor = BeyondGlossVideoProcessor(size=RESIZE, crop_size=CROP, max_frames=MAX_FRAMES)
    results = {}
    with tempfile.TemporaryDirectory(prefix="beyondgloss_bench_") as directory:
        videos, folders = write_clips(Path(directory), args.clips, args.frames, args.size)
        for kind, sources, baseline_frames in (
            ("video", videos, baseline_video_frames),
            ("frames", folders, baseline_folder_frames),
        ):
            generator = torch.Generator().manual_seed(args.seed)
            rng = random.Random(args.seed)

            def ours(source, generator=generator):
                return processor.preprocess_clip(source, training=True, generator=generator).pixel_values

            def baseline(source, read_frames=baseline_frames, rng=rng):
                return baseline_clip(read_frames(source), rng)

            transforms = torchvision_pipeline(processor, torch.Generator().manual_seed(args.seed))

            def torchvision_v2(source, transforms=transforms):
                # The processor's own decoder, so that only the transforms differ; `(T, C, H, W)` made contiguous
                # because torchvision's kernels ran faster on it than on a channels-last view.
                return transforms(processor.decode_clip(source).frames.permute(0, 3, 1, 2).contiguous())

            torch.manual_seed(args.seed)  # v2.RandomCrop draws from the global generator
            pipelines = {"ours": ours, "torchvision": torchvision_v2, "baseline": baseline}
            timings = measure(pipelines, sources, args.repeats, kind)
            results[kind] = {}
            for name, (seconds, frames) in timings.items():
                results[kind][f"{name}_frames_per_second"] = frames / seconds
                results[kind][f"{name}_ms_per_clip"] = 1000 * seconds / len(sources)
            ours_rate = results[kind]["ours_frames_per_second"]
            results[kind]["ratio"] = ours_rate / results[kind]["baseline_frames_per_second"]
            results[kind]["ratio_torchvision"] = ours_rate / results[kind]["torchvision_frames_per_second"]

    report = {
        "settings": {
            "clips": args.clips,
            "frames_per_clip": args.frames,
            "clip_size": args.size,
            "resize": RESIZE,
            "crop": CROP,
            "repeats": args.repeats,
            "training": True,
            "torch_threads": 1,
        },
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "av": av.__version__,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
        },
        "results": results,
    }
    labels = {
        "ours": "BeyondGlossVideoProcessor",
        "torchvision": "torchvision v2 on the clip",
        "baseline": "per-frame PIL baseline",
    }
    print(f"\n{'source':<8} {'pipeline':<26} {'frames/s':>10} {'ms/clip':>9}")
    for kind, numbers in results.items():
        for name, label in labels.items():
            print(
                f"{kind:<8} {label:<26} {numbers[f'{name}_frames_per_second']:>10.0f} "
                f"{numbers[f'{name}_ms_per_clip']:>9.1f}"
            )
    print("ours / baseline: " + ", ".join(f"{kind} {numbers['ratio']:.2f}x" for kind, numbers in results.items()))
    print(
        "ours / torchvision: "
        + ", ".join(f"{kind} {numbers['ratio_torchvision']:.2f}x" for kind, numbers in results.items())
    )

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    logger.info("Wrote %s", output)
    return report


if __name__ == "__main__":
    main()
