"""Video processor for BeyondGloss: decodes sign language clips and turns them into normalised frame tensors.

A clip is a video file (decoded with PyAV), a folder of frame images, a list of frame image paths, or an already
decoded `(frames, height, width, 3)` uint8 array. Frames are capped to `max_frames` (the paper keeps the first 300),
resized to 256×256, cropped to 224×224 (random crop for training, centre crop otherwise) and normalised with the
ImageNet mean and standard deviation. During training one random affine transform (rotation ±30°, scale ±20 %,
translation ±10 px, each applied with probability 0.5) is drawn per clip and applied to every frame, so the motion of
the hands inside the clip is preserved.

A decoded clip is one frame-major uint8 tensor. Each frame is then cropped (with the augmentation, warped by OpenCV
straight into the crop), converted to float and normalised in turn, while it is in cache.
"""

import itertools
import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple, TypedDict

import av
import av.video.reformatter
import cv2
import numpy as np
import torch
import torchvision.transforms.v2.functional as tvF
from PIL import Image, UnidentifiedImageError
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    PILImageResampling,
    pil_torch_interpolation_mapping,
)
from transformers.video_processing_utils import VideoProcessorMixin


logger = logging.getLogger(__name__)

FRAME_SAMPLING_MODES = ("truncate", "uniform")
# The media this package reads; the data code and the preprocessing tools use these too.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov")
# Frames are resized in chunks of this many so a long high-resolution video is never held at full size.
RESIZE_CHUNK_FRAMES = 32
IDENTITY_AUGMENTATION = {"angle": 0.0, "scale": 1.0, "translate_x": 0.0, "translate_y": 0.0}
# Segment bounds and frame times are compared with this slack (seconds), far below any frame interval, so that a
# time written with fewer decimals than the container keeps (1.2 for 1.19999...) selects the frame it means.
TIME_TOLERANCE = 1e-6
# A decoded stream this many frames (or 2 %) shorter than its container declares is a cut-off file.
TRUNCATION_TOLERANCE_FRAMES = 2


class ProcessedClip(NamedTuple):
    """One preprocessed clip: `pixel_values` `(frames, 3, height, width)` float32 and `frame_indices` `(frames,)`
    long, the index in the source of every kept frame (to align per-frame annotations with the sampled frames)."""

    pixel_values: torch.Tensor
    frame_indices: torch.Tensor


class DecodedClip(NamedTuple):
    """A decoded, sampled and resized clip: `frames` `(frames, height, width, 3)` uint8 and `frame_indices`."""

    frames: torch.Tensor
    frame_indices: torch.Tensor


class BeyondGlossVideoProcessorKwargs(TypedDict, total=False):
    """Settings of [`BeyondGlossVideoProcessor`] that `from_pretrained(..., **kwargs)` may override."""

    do_resize: bool
    size: dict[str, int]
    resample: int
    do_crop: bool
    crop_size: dict[str, int]
    do_rescale: bool
    rescale_factor: float
    do_normalize: bool
    image_mean: list[float]
    image_std: list[float]
    do_augment: bool
    augment_probability: float
    augment_rotation: float
    augment_scale: float
    augment_translate: int
    max_frames: int | None
    frame_sampling: str
    target_fps: float | None


def _size_dict(size: int | Sequence[int] | dict, name: str) -> dict[str, int]:
    if isinstance(size, int):
        return {"height": size, "width": size}
    if isinstance(size, dict) and set(size) == {"height", "width"}:
        return {"height": int(size["height"]), "width": int(size["width"])}
    if isinstance(size, Sequence) and len(size) == 2:
        return {"height": int(size[0]), "width": int(size[1])}
    raise ValueError(
        f"`{name}` must be an int, a (height, width) pair or a dict with 'height' and 'width', got {size!r}."
    )


def natural_sort_key(text: str) -> list:
    """Sort key that orders the numbers inside names by value: `frame_2.png` before `frame_10.png`."""
    # re.split with a capturing group alternates text and digits, so the key's types line up between names.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def list_frame_files(folder: str | os.PathLike) -> list[str]:
    """The image files of a frame folder in natural order (`frame_2.png` before `frame_10.png`)."""
    folder = os.fspath(folder)
    names = [name for name in os.listdir(folder) if name.lower().endswith(IMAGE_EXTENSIONS)]
    if not names:
        raise ValueError(f"Frame folder {folder} contains no image files (looked for {', '.join(IMAGE_EXTENSIONS)}).")
    return [os.path.join(folder, name) for name in sorted(names, key=natural_sort_key)]


def _is_path_list(video) -> bool:
    return (
        isinstance(video, (list, tuple))
        and len(video) > 0
        and all(isinstance(item, (str, os.PathLike)) for item in video)
    )


def _is_frame_path_list(video) -> bool:
    # Tells one clip given as frame paths from a batch of video paths.
    return _is_path_list(video) and all(os.fspath(item).lower().endswith(IMAGE_EXTENSIONS) for item in video)


def _is_single_clip(videos) -> bool:
    if isinstance(videos, (str, os.PathLike)) or _is_frame_path_list(videos):
        return True
    return isinstance(videos, (np.ndarray, torch.Tensor)) and videos.ndim == 4


class BeyondGlossVideoProcessor(VideoProcessorMixin):
    r"""
    Decodes sign language clips and prepares them for BeyondGloss models.

    It derives from `VideoProcessorMixin` (the serialisation half of transformers' `BaseVideoProcessor`) rather than
    from `BaseVideoProcessor` itself: the mixin gives `save_pretrained`/`from_pretrained` (as
    `video_preprocessor_config.json` or nested in `processor_config.json`), `register_for_auto_class` with
    `AutoVideoProcessor`, and the type `ProcessorMixin` expects for a `video_processor`, while decoding (PyAV, frame
    folders), frame sampling and the clip-consistent augmentation are this class's own; `BaseVideoProcessor`'s
    pipeline decodes with torchcodec and has no notion of training-time augmentation or of which source frames were
    kept.

    Args:
        do_resize (`bool`, *optional*, defaults to `True`):
            Whether to resize every frame to `size`.
        size (`dict[str, int]` or `int`, *optional*, defaults to `{"height": 256, "width": 256}`):
            Size of the frames after resizing (antialiased).
        resample (`PILImageResampling`, *optional*, defaults to `PILImageResampling.BILINEAR`):
            Resampling filter of the resize.
        do_crop (`bool`, *optional*, defaults to `True`):
            Whether to crop `crop_size` out of the resized frames: a random crop (one per clip) when training, the
            centre crop otherwise.
        crop_size (`dict[str, int]` or `int`, *optional*, defaults to `{"height": 224, "width": 224}`):
            Size of the crop.
        do_rescale (`bool`, *optional*, defaults to `True`):
            Whether to multiply pixel values by `rescale_factor`.
        rescale_factor (`float`, *optional*, defaults to `1/255`):
            Rescaling factor.
        do_normalize (`bool`, *optional*, defaults to `True`):
            Whether to normalise with `image_mean` and `image_std`.
        image_mean (`list[float]`, *optional*, defaults to the ImageNet mean):
            Per-channel mean.
        image_std (`list[float]`, *optional*, defaults to the ImageNet standard deviation):
            Per-channel standard deviation.
        do_augment (`bool`, *optional*, defaults to `True`):
            Whether to apply the random affine augmentation when called with `training=True`. The augmentation is
            never applied outside training.
        augment_probability (`float`, *optional*, defaults to 0.5):
            Probability of each of rotation, scaling and translation, drawn independently per clip.
        augment_rotation (`float`, *optional*, defaults to 30.0):
            Maximum rotation in degrees (uniform in `[-augment_rotation, augment_rotation]`).
        augment_scale (`float`, *optional*, defaults to 0.2):
            Maximum relative change of scale (uniform in `[1 - augment_scale, 1 + augment_scale]`).
        augment_translate (`int`, *optional*, defaults to 10):
            Maximum translation in pixels of the resized frame, per axis.
        max_frames (`int`, *optional*, defaults to 300):
            Maximum number of frames per clip; `None` keeps every frame.
        frame_sampling (`str`, *optional*, defaults to `"truncate"`):
            How a clip longer than `max_frames` is shortened: `"truncate"` keeps the first `max_frames` frames (as
            the paper does), `"uniform"` keeps `max_frames` frames evenly spread over the clip.
        target_fps (`float`, *optional*):
            Resample the frame sequence to this frame rate (using the video container's rate) before capping to
            `max_frames`. Inputs without a frame rate (frame folders, arrays) need `fps=` at call time.
    """

    model_input_names = ["pixel_values", "pixel_mask"]
    valid_kwargs = BeyondGlossVideoProcessorKwargs
    # `to_dict` drops attributes set to None unless the class default differs; keeping this default on the class makes
    # `max_frames=None` (no cap) survive a save/load round trip.
    max_frames = 300

    def __init__(
        self,
        do_resize: bool = True,
        size: int | dict[str, int] | None = None,
        resample: int = PILImageResampling.BILINEAR,
        do_crop: bool = True,
        crop_size: int | dict[str, int] | None = None,
        do_rescale: bool = True,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = True,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        do_augment: bool = True,
        augment_probability: float = 0.5,
        augment_rotation: float = 30.0,
        augment_scale: float = 0.2,
        augment_translate: int = 10,
        max_frames: int | None = 300,
        frame_sampling: str = "truncate",
        target_fps: float | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if frame_sampling not in FRAME_SAMPLING_MODES:
            raise ValueError(f"`frame_sampling` must be one of {FRAME_SAMPLING_MODES}, got {frame_sampling!r}.")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"`max_frames` must be a positive integer or None, got {max_frames}.")
        if target_fps is not None and target_fps <= 0:
            raise ValueError(f"`target_fps` must be positive, got {target_fps}.")
        if int(resample) not in pil_torch_interpolation_mapping:
            raise ValueError(f"Unsupported `resample` filter {resample!r}.")
        self.do_resize = do_resize
        self.size = _size_dict(size if size is not None else 256, "size")
        self.resample = int(resample)
        self.do_crop = do_crop
        self.crop_size = _size_dict(crop_size if crop_size is not None else 224, "crop_size")
        if (
            do_resize
            and do_crop
            and (self.crop_size["height"] > self.size["height"] or self.crop_size["width"] > self.size["width"])
        ):
            raise ValueError(f"`crop_size` {self.crop_size} is larger than the resized frames {self.size}.")
        self.do_rescale = do_rescale
        self.rescale_factor = rescale_factor
        self.do_normalize = do_normalize
        self.image_mean = list(image_mean if image_mean is not None else IMAGENET_DEFAULT_MEAN)
        self.image_std = list(image_std if image_std is not None else IMAGENET_DEFAULT_STD)
        self.do_augment = do_augment
        self.augment_probability = augment_probability
        self.augment_rotation = augment_rotation
        self.augment_scale = augment_scale
        self.augment_translate = augment_translate
        self.max_frames = max_frames
        self.frame_sampling = frame_sampling
        self.target_fps = target_fps

    # ------------------------------------------------------------------ frame sampling

    def sample_frame_indices(self, num_frames: int, fps: float | None = None) -> np.ndarray:
        """Indices of the source frames a clip of `num_frames` frames at `fps` frames per second is reduced to.

        The sequence is first resampled to `target_fps` (frames are repeated when `target_fps` exceeds `fps`), then
        capped to `max_frames` by `frame_sampling`.
        """
        if num_frames < 1:
            raise ValueError(f"A clip needs at least one frame, got {num_frames}.")
        indices = np.arange(num_frames)
        if self.target_fps is not None:
            if not fps:
                raise ValueError(
                    f"`target_fps={self.target_fps}` needs the source frame rate: pass `fps=` for inputs that carry "
                    "none (frame folders, frame lists, arrays)."
                )
            steps = max(1, math.ceil(num_frames * self.target_fps / fps - 1e-9))
            indices = np.floor(np.arange(steps) * (fps / self.target_fps) + 1e-9).astype(np.int64)
            indices = indices[indices < num_frames]
        if self.max_frames is not None and len(indices) > self.max_frames:
            if self.frame_sampling == "truncate":
                indices = indices[: self.max_frames]
            else:
                # The centre of each of `max_frames` equal bins of the sequence.
                picks = np.floor((np.arange(self.max_frames) + 0.5) * len(indices) / self.max_frames).astype(np.int64)
                indices = indices[picks]
        return indices

    # ------------------------------------------------------------------ decoding

    def decode_clip(
        self, video, fps: float | None = None, start: float | None = None, end: float | None = None
    ) -> DecodedClip:
        """Decode one clip, keep the frames [`~BeyondGlossVideoProcessor.sample_frame_indices`] picks, resize them.

        Args:
            video: a video file path (anything FFmpeg reads: mp4, webm, avi, ...), a frame folder path, a list of frame
                image paths, or a `(frames, height, width, 3)` uint8 `np.ndarray`/`torch.Tensor`.
            fps: frame rate of the source; needed with `target_fps` for inputs that carry none. For video files the
                container's rate is used unless `fps` is given.
            start, end: for a video file, decode only the segment `[start, end)` (seconds of presentation time): the
                decoder seeks to the keyframe before `start` and reads no further than `end`. Frame indices then
                count from the segment's first frame.

        Returns:
            A [`DecodedClip`]: `frames` `(kept, height, width, 3)` uint8 (resized to `size` when `do_resize`) and
            `frame_indices`, the source index of every kept frame. Only the kept frames are converted (video) or read
            (frame folders).
        """
        segment = None
        if start is not None or end is not None:
            if start is None or end is None:
                raise ValueError(f"A segment needs both start and end, got start={start} and end={end}.")
            if not end > start >= 0:
                raise ValueError(f"A segment needs 0 <= start < end, got [{start}, {end}).")
            if not isinstance(video, (str, os.PathLike)) or os.path.isdir(video):
                raise ValueError(f"A segment [{start}, {end}) can only be cut from a video file, got {video!r}.")
            segment = (float(start), float(end))
        if isinstance(video, (np.ndarray, torch.Tensor)):
            return self._decode_array(video, fps)
        if _is_path_list(video):
            return self._decode_frame_files([os.fspath(path) for path in video], fps, source="frame list")
        if isinstance(video, (str, os.PathLike)):
            path = os.fspath(video)
            if os.path.isdir(path):
                return self._decode_frame_files(list_frame_files(path), fps, source=f"frame folder {path}")
            if not os.path.exists(path):
                raise FileNotFoundError(f"Video file not found: {path}")
            return self._decode_video_file(path, fps, segment)
        raise TypeError(
            "A clip must be a video file path, a frame folder path, a list of frame image paths or a (frames, height, "
            f"width, 3) uint8 array; got {type(video).__name__}."
        )

    def _decode_video_file(
        self, path: str, fps: float | None, segment: tuple[float, float] | None = None
    ) -> DecodedClip:
        source = f"video {path}" if segment is None else f"segment [{segment[0]:g}, {segment[1]:g}) of video {path}"
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise ValueError(f"Video {path} has no video stream.")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                source_fps = fps if fps is not None else (float(rate) if rate else None)
                if segment is None:
                    declared_frames = stream.frames
                else:
                    # Demuxing the segment's packets (no decoding) counts its frames, which sampling needs first.
                    declared_frames = len(segment_frame_times(container, stream, *segment))
            # Containers without a frame count (webm) are counted by demuxing, which is much cheaper than decoding.
            num_frames = declared_frames if declared_frames > 0 or segment else count_video_packets(path)
            if num_frames == 0:
                raise ValueError(f"The {source} contains no frames.")
            indices = self.sample_frame_indices(num_frames, source_fps)

            builder = _ClipBuilder(self, indices, source=source)
            decoded = 0
            last_needed = int(indices[-1])
            with av.open(path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                frames = container.decode(stream) if segment is None else segment_frames(container, stream, *segment)
                # One converter for the whole clip: `frame.to_ndarray(format=...)` builds a new swscale context for
                # every frame, which costs several times the conversion itself at these sizes.
                reformatter = av.video.reformatter.VideoReformatter()
                size = None
                for decoded, frame in enumerate(frames, start=1):
                    source_index = decoded - 1
                    if builder.wants(source_index):
                        size = size or (frame.width, frame.height)
                        # Frames that are not kept are decoded (the codec needs them) but never converted to RGB.
                        rgb = reformatter.reformat(frame, format="rgb24", width=size[0], height=size[1])
                        builder.add(source_index, rgb.to_ndarray())
                    if source_index >= last_needed:
                        break
        except av.error.FFmpegError as error:
            raise ValueError(f"Cannot decode {source}: {error}") from error
        if decoded == 0:
            raise ValueError(f"The {source} contains no decodable frames.")
        if declared_frames > 0 and decoded <= last_needed:
            if is_truncated(declared_frames, decoded):
                raise ValueError(
                    f"The {source} is truncated or corrupt: its container declares {declared_frames} frames but "
                    f"decoding stopped after {decoded}."
                )
        return builder.finish()

    def _decode_frame_files(self, paths: list[str], fps: float | None, source: str) -> DecodedClip:
        indices = self.sample_frame_indices(len(paths), fps)
        builder = _ClipBuilder(self, indices, source=source)
        first_size = None
        for source_index in np.unique(indices).tolist():
            path = paths[source_index]
            try:
                with Image.open(path) as image:
                    if self.do_resize and image.format == "JPEG":
                        # Let the JPEG decoder downscale by a power of two while staying above the target size.
                        image.draft("RGB", (self.size["width"], self.size["height"]))
                    pixels = _rgb_pixels(image)
            except FileNotFoundError as error:
                raise FileNotFoundError(f"Frame image not found: {path}") from error
            except (OSError, UnidentifiedImageError, ValueError) as error:
                raise ValueError(f"Cannot read frame image {path}: {error}") from error
            if first_size is None:
                first_size = pixels.shape[:2]
            elif pixels.shape[:2] != first_size:
                raise ValueError(
                    f"Frame image {path} is {pixels.shape[1]}x{pixels.shape[0]} but the first frame of the {source} "
                    f"is {first_size[1]}x{first_size[0]}; all frames of a clip must have one size."
                )
            builder.add(source_index, pixels)
        return builder.finish()

    def _decode_array(self, video: np.ndarray | torch.Tensor, fps: float | None) -> DecodedClip:
        frames = torch.as_tensor(video)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"A clip array must be uint8 with shape (frames, height, width, 3), got {frames.dtype} "
                f"{tuple(frames.shape)}."
            )
        if frames.shape[0] == 0:
            raise ValueError("The clip array has no frames.")
        indices = self.sample_frame_indices(frames.shape[0], fps)
        builder = _ClipBuilder(self, indices, source="clip array")
        for source_index in np.unique(indices).tolist():
            builder.add(source_index, frames[source_index])
        return builder.finish()

    def _needs_resize(self, frame_size: Sequence[int]) -> bool:
        return self.do_resize and tuple(frame_size) != (self.size["height"], self.size["width"])

    def _resize_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Resize `(frames, height, width, 3)` uint8 frames to `size`, batched over frames."""
        height, width = self.size["height"], self.size["width"]
        if not self._needs_resize(frames.shape[1:3]):
            return frames
        # A channels-last view: torch's antialiased uint8 resize has a fast path for this layout.
        resized = tvF.resize(
            frames.permute(0, 3, 1, 2),
            [height, width],
            interpolation=pil_torch_interpolation_mapping[self.resample],
            antialias=True,
        )
        return resized.permute(0, 2, 3, 1)

    # ------------------------------------------------------------------ transforms

    def sample_augmentation(self, generator: torch.Generator | None = None) -> dict[str, float]:
        """Draw one clip's augmentation: `angle` (degrees), `scale`, `translate_x`, `translate_y` (pixels).

        Each of rotation, scaling and translation is applied with probability `augment_probability`; the identity
        is `angle=0, scale=1, translate=0`. The same number of random values is drawn whatever the outcome, so a
        seeded generator gives reproducible parameters.
        """
        draws = torch.rand(7, generator=generator, dtype=torch.float64).tolist()
        rotate, rescale, translate = (draw < self.augment_probability for draw in draws[:3])

        def whole_pixels(draw: float) -> float:  # uniform over -augment_translate..augment_translate
            return float(math.floor(draw * (2 * self.augment_translate + 1)) - self.augment_translate)

        return {
            "angle": (2 * draws[3] - 1) * self.augment_rotation if rotate else 0.0,
            "scale": 1 + (2 * draws[4] - 1) * self.augment_scale if rescale else 1.0,
            "translate_x": whole_pixels(draws[5]) if translate else 0.0,
            "translate_y": whole_pixels(draws[6]) if translate else 0.0,
        }

    def transform_clip(
        self,
        frames: torch.Tensor,
        training: bool = False,
        generator: torch.Generator | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Crop, augment (training only) and normalise a decoded clip.

        Args:
            frames: `(frames, height, width, 3)` uint8, as returned by [`~BeyondGlossVideoProcessor.decode_clip`].
            training: random crop and (with `do_augment`) the random affine augmentation, one draw for the clip.
            generator: random generator for the crop and augmentation (the global torch generator when `None`).
            out: optional contiguous float32 `(frames, 3, crop height, crop width)` tensor to write into, e.g. a slice
                of a padded batch.

        Returns:
            `(frames, 3, crop height, crop width)` float32.
        """
        num_frames, height, width, _ = frames.shape
        if self.do_crop:
            crop_height, crop_width = self.crop_size["height"], self.crop_size["width"]
            if crop_height > height or crop_width > width:
                raise ValueError(f"Cannot crop {crop_height}x{crop_width} out of {height}x{width} frames.")
        else:
            crop_height, crop_width = height, width
        if training:
            top = int(torch.randint(height - crop_height + 1, (1,), generator=generator))
            left = int(torch.randint(width - crop_width + 1, (1,), generator=generator))
        else:
            top, left = (height - crop_height) // 2, (width - crop_width) // 2
        if out is None:
            out = torch.empty(num_frames, 3, crop_height, crop_width)
        elif out.shape != (num_frames, 3, crop_height, crop_width) or not out.is_contiguous():
            raise ValueError(f"`out` must be contiguous with shape {(num_frames, 3, crop_height, crop_width)}.")
        augmentation = self.sample_augmentation(generator) if training and self.do_augment else None
        if augmentation is None or augmentation == IDENTITY_AUGMENTATION:
            crops = frames[:, top : top + crop_height, left : left + crop_width]
        else:
            crops = _affine_crops(frames, augmentation, top, left, crop_height, crop_width)
        channel_scale, channel_shift = (values.view(3, 1, 1) for values in self._value_transform())
        # Frame by frame, so that each output frame is converted and normalised while it is in cache.
        for output_frame, crop in zip(out, crops):
            output_frame.copy_(crop.permute(2, 0, 1))
            output_frame.mul_(channel_scale).add_(channel_shift)
        return out

    def _value_transform(self) -> tuple[torch.Tensor, torch.Tensor]:
        # Rescaling and normalisation fused into one per-channel multiply-add: x * scale + shift.
        scale = torch.full((3,), float(self.rescale_factor) if self.do_rescale else 1.0)
        shift = torch.zeros(3)
        if self.do_normalize:
            mean, std = torch.tensor(self.image_mean), torch.tensor(self.image_std)
            scale, shift = scale / std, -mean / std
        return scale, shift

    # ------------------------------------------------------------------ public entry points

    def preprocess_clip(
        self,
        video,
        training: bool = False,
        generator: torch.Generator | int | None = None,
        fps: float | None = None,
    ) -> ProcessedClip:
        """Decode and transform one clip (see [`~BeyondGlossVideoProcessor.decode_clip`] for the accepted inputs).

        Returns:
            A [`ProcessedClip`]: `pixel_values` `(frames, 3, height, width)` float32 and `frame_indices` (the source
            index of every kept frame).
        """
        decoded = self.decode_clip(video, fps=fps)
        pixel_values = self.transform_clip(decoded.frames, training=training, generator=_as_generator(generator))
        return ProcessedClip(pixel_values, decoded.frame_indices)

    def preprocess(
        self,
        videos,
        training: bool = False,
        generator: torch.Generator | int | None = None,
        fps: float | Sequence[float | None] | None = None,
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        """Preprocess one clip or a batch of clips into padded model inputs.

        Args:
            videos: one clip or a list of clips: video file paths, frame folder paths, lists of frame image paths, or
                `(frames, height, width, 3)` uint8 arrays (a 5-d array is a batch).
            training: apply the random crop and augmentation (one draw per clip).
            generator: a `torch.Generator` or an int seed for reproducible crops and augmentation.
            fps: source frame rate (one value, or one per clip) for inputs that carry none; used with `target_fps`.
            return_tensors: `"pt"` (default) or `"np"`.

        Returns:
            [`BatchFeature`] with `pixel_values` `(batch, frames, 3, height, width)` float32, zero-padded to the
            longest clip, and `pixel_mask` `(batch, frames)` long (1 = real frame).
        """
        clips = [videos] if _is_single_clip(videos) else list(videos)
        if not clips:
            raise ValueError("No clips to process.")
        rates = list(fps) if isinstance(fps, Sequence) else [fps] * len(clips)
        if len(rates) != len(clips):
            raise ValueError(f"Got {len(rates)} frame rates for {len(clips)} clips.")
        decoded = [self.decode_clip(clip, fps=rate).frames for clip, rate in zip(clips, rates)]
        pixel_values, pixel_mask = self.transform_batch(decoded, training=training, generator=_as_generator(generator))
        return BatchFeature({"pixel_values": pixel_values, "pixel_mask": pixel_mask}, tensor_type=return_tensors)

    def __call__(self, videos, **kwargs) -> BatchFeature:
        return self.preprocess(videos, **kwargs)

    def transform_batch(
        self,
        clips: list[torch.Tensor],
        training: bool = False,
        generator: torch.Generator | list[torch.Generator | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform decoded clips straight into one zero-padded batch.

        `generator` is one generator for the whole batch, or a list with one per clip.

        Returns:
            `pixel_values` `(batch, longest clip, 3, height, width)` float32 and `pixel_mask` `(batch, longest clip)`
            long (1 = real frame).
        """
        if self.do_crop:
            height, width = self.crop_size["height"], self.crop_size["width"]
        else:
            height, width = clips[0].shape[1:3]
            if any(tuple(clip.shape[1:3]) != (height, width) for clip in clips):
                raise ValueError("Clips of different frame sizes cannot be batched without resizing or cropping.")
        lengths = [clip.shape[0] for clip in clips]
        pixel_values = torch.empty(len(clips), max(lengths), 3, height, width)
        pixel_mask = torch.zeros(len(clips), max(lengths), dtype=torch.long)
        generators = generator if isinstance(generator, (list, tuple)) else [generator] * len(clips)
        for row, (clip, length, clip_generator) in enumerate(zip(clips, lengths, generators)):
            self.transform_clip(clip, training=training, generator=clip_generator, out=pixel_values[row, :length])
            pixel_values[row, length:].zero_()
            pixel_mask[row, :length] = 1
        return pixel_values, pixel_mask


class _ClipBuilder:
    """Collects the kept frames of a clip as they are decoded into one `(frames, height, width, 3)` uint8 tensor.

    Frames that need resizing are resized in chunks.
    """

    def __init__(self, processor: BeyondGlossVideoProcessor, indices: np.ndarray, source: str):
        self.processor = processor
        self.indices = indices
        self.source = source
        # A source frame can fill several output positions when `target_fps` repeats frames.
        self.positions: dict[int, list[int]] = {}
        for position, source_index in enumerate(indices.tolist()):
            self.positions.setdefault(source_index, []).append(position)
        self.storage: torch.Tensor | None = None
        self.pending: list[tuple[int, torch.Tensor]] = []
        self.filled = 0

    def wants(self, source_index: int) -> bool:
        return source_index in self.positions

    def add(self, source_index: int, pixels: np.ndarray | torch.Tensor) -> None:
        """Add source frame `source_index`, `(height, width, 3)` uint8; frames must come in source order."""
        pixels = torch.as_tensor(pixels)
        if not self.processor._needs_resize(pixels.shape[:2]):
            self._write(pixels[None], [source_index])
            return
        self.pending.append((source_index, pixels))
        if len(self.pending) == RESIZE_CHUNK_FRAMES:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            chunk = self.processor._resize_frames(torch.stack([pixels for _, pixels in self.pending]))
            self._write(chunk, [source_index for source_index, _ in self.pending])
            self.pending = []

    def _write(self, frames: torch.Tensor, source_indices: list[int]) -> None:
        if self.storage is None:
            height, width = frames.shape[1:3]
            self.storage = torch.empty(len(self.indices), height, width, 3, dtype=torch.uint8)
        # Sources arrive in order, so these frames fill the next positions in order.
        rows = [row for row, source_index in enumerate(source_indices) for _ in self.positions[source_index]]
        if len(rows) != len(source_indices):
            frames = frames.index_select(0, torch.tensor(rows))
        self.storage[self.filled : self.filled + len(rows)].copy_(frames)
        self.filled += len(rows)

    def finish(self) -> DecodedClip:
        self._flush()
        if self.storage is None:
            raise ValueError(f"The {self.source} has no frames to keep.")
        # Positions follow the source order, so frames a short stream could not provide are a suffix.
        return DecodedClip(self.storage[: self.filled], torch.from_numpy(self.indices[: self.filled]))


def _rgb_pixels(image: Image.Image) -> np.ndarray:
    """An image as `(height, width, 3)` uint8. 16-bit greyscale (`I;16*`, or `I` as Pillow opens such PNGs) is
    scaled to 8 bit: `convert("RGB")` would clip every value above 255 to white."""
    if image.mode.startswith("I"):
        grey = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        return np.repeat(((grey * 255 + 32767) // 65535).astype(np.uint8)[..., None], 3, axis=2)
    return np.array(image if image.mode == "RGB" else image.convert("RGB"))


def is_truncated(declared_frames: int, available_frames: int) -> bool:
    """Whether a stream that yields `available_frames` of the `declared_frames` its container declares is cut off
    (short by more than `TRUNCATION_TOLERANCE_FRAMES` or 2 %)."""
    missing = declared_frames - available_frames
    return missing > max(TRUNCATION_TOLERANCE_FRAMES, declared_frames // 50)


def frame_time(frame_or_packet) -> float | None:
    """Presentation time in seconds of a decoded frame or a demuxed packet (None when the container gives none)."""
    pts = frame_or_packet.pts
    if pts is None or frame_or_packet.time_base is None:
        return None
    return float(pts * frame_or_packet.time_base)


def _seek_before(container, stream, time: float) -> None:
    """Position the demuxer on the keyframe at or before `time` (seconds), or at the start of the stream."""
    if time > 0 and stream.time_base:
        container.seek(int(time / stream.time_base), stream=stream, backward=True, any_frame=False)


def segment_frame_times(container, stream, start: float, end: float) -> list[float]:
    """Presentation times of the frames of `[start, end)`, in order, found by demuxing from the keyframe before
    `start` (no decoding). A packet's decoding time never exceeds its presentation time, so the first packet decoded
    at or after `end` ends the search."""
    _seek_before(container, stream, start)
    times = []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        time = frame_time(packet)
        if time is not None and start - TIME_TOLERANCE <= time < end - TIME_TOLERANCE:
            times.append(time)
        decode_time = None if packet.dts is None else float(packet.dts * packet.time_base)
        if decode_time is not None and decode_time >= end - TIME_TOLERANCE:
            break
    return sorted(times)


def segment_frames(container, stream, start: float, end: float) -> Iterator:
    """The decoded frames of `[start, end)`, from the keyframe before `start`. A container whose seek lands past
    `start` (the frames the segment needs would be lost) is decoded from its beginning instead."""
    _seek_before(container, stream, start)
    frames = container.decode(stream)
    first = next(frames, None)
    if first is None:
        return
    first_time = frame_time(first)
    if start > 0 and first_time is not None and first_time > start + TIME_TOLERANCE:
        container.seek(0, stream=stream, backward=True, any_frame=False)
        frames = container.decode(stream)
    else:
        frames = itertools.chain([first], frames)
    for frame in frames:
        time = frame_time(frame)
        if time is None or time < start - TIME_TOLERANCE:
            continue
        if time >= end - TIME_TOLERANCE:
            return
        yield frame


def count_video_packets(path: str) -> int:
    """The number of non-empty packets of a video file's first video stream (one per frame), found by demuxing
    alone, which is much cheaper than decoding."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size > 0)


def _as_generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    if isinstance(generator, int):
        return torch.Generator().manual_seed(generator)
    return generator


def _affine_crops(
    frames: torch.Tensor, augmentation: dict[str, float], top: int, left: int, crop_height: int, crop_width: int
) -> Iterator[torch.Tensor]:
    """Apply one affine transform to every frame and crop: yields each frame's `(crop_height, crop_width, 3)` uint8
    crop in turn, in one buffer that the next frame overwrites.

    The same as `torchvision`'s `affine` (rotation and scaling about the frame centre, then translation, bilinear,
    zero fill) on the full frame followed by the crop at `(top, left)`, up to rounding to whole grey levels; only the
    cropped pixels are computed.
    """
    height, width = frames.shape[1:3]
    angle = math.radians(augmentation["angle"])
    cos, sin = math.cos(angle) / augmentation["scale"], math.sin(angle) / augmentation["scale"]
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    # The inverse map, from a crop pixel to its source: undo the translation, then the rotation and scaling.
    offset_x = left - centre_x - augmentation["translate_x"]
    offset_y = top - centre_y - augmentation["translate_y"]
    inverse = np.array(
        [
            [cos, sin, cos * offset_x + sin * offset_y + centre_x],
            [-sin, cos, -sin * offset_x + cos * offset_y + centre_y],
        ]
    )
    # OpenCV keeps its own thread pool; follow torch's setting (one thread in a DataLoader worker).
    if cv2.getNumThreads() != torch.get_num_threads():
        cv2.setNumThreads(torch.get_num_threads())
    crop = torch.empty(crop_height, crop_width, 3, dtype=torch.uint8)
    target = crop.numpy()
    for source in frames.contiguous().numpy():
        cv2.warpAffine(
            source,
            inverse,
            (crop_width, crop_height),
            dst=target,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        yield crop


# `save_pretrained` writes `auto_map` and copies this file, so a saved model loads with `trust_remote_code=True`.
BeyondGlossVideoProcessor.register_for_auto_class()

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "BeyondGlossVideoProcessor",
    "DecodedClip",
    "ProcessedClip",
    "count_video_packets",
    "is_truncated",
    "list_frame_files",
    "natural_sort_key",
]
