"""Tests of the video processor and the processor: decoding, sampling, transforms, errors, save/load."""

import json
import math
import shutil

import av
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as tvF
from PIL import Image
from transformers import AutoProcessor, AutoVideoProcessor
from transformers.dynamic_module_utils import get_class_from_dynamic_module
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling

from modeling_beyondgloss.configuration_beyondgloss import BeyondGlossConfig
from modeling_beyondgloss.processing_beyondgloss import BeyondGlossProcessor
from modeling_beyondgloss.video_processing_beyondgloss import BeyondGlossVideoProcessor, _affine_crops
from modeling_beyondgloss.vocabulary import build_tokenizer_from_corpus


# The three ASL fixture clips (CC BY 4.0, © 2026 Nagish Inc., from the Sign Language Processing survey's website):
# name -> (frames, frames per second), as their containers declare them.
FIXTURE_CLIPS = {
    "asl_different.mp4": (64, 30000 / 1001),
    "asl_house.mp4": (73, 25.0),
    "asl_wrong_what.mp4": (97, 30000 / 1001),
}
SENTENCES = ["am tag regnet es im norden", "morgen scheint die sonne", "heute abend wird es kalt"]


def tiny_processor(**kwargs) -> BeyondGlossVideoProcessor:
    return BeyondGlossVideoProcessor(**{"size": 32, "crop_size": 28, **kwargs})


def numbered_clip(num_frames: int, size: int = 32) -> np.ndarray:
    """A clip whose frame i is filled with the value i (so kept frames can be identified after sampling)."""
    return np.broadcast_to(
        np.arange(num_frames, dtype=np.uint8)[:, None, None, None], (num_frames, size, size, 3)
    ).copy()


def noise_clip(num_frames: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8)


def frame_ids(processor: BeyondGlossVideoProcessor, frames: torch.Tensor) -> list[int]:
    """Undo the normalisation of numbered frames to recover which source frame each output frame is."""
    mean, std = IMAGENET_DEFAULT_MEAN[0], IMAGENET_DEFAULT_STD[0]
    return [round((value * std + mean) * 255) for value in frames[:, 0, 0, 0].tolist()]


def write_video(path, num_frames=8, size=32, codec="libx264", rate=25, pix_fmt="yuv420p"):
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = size, size, pix_fmt
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), index * 20, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


# ---------------------------------------------------------------------------------------------------------- transforms


def test_clip_shapes_dtypes_and_indices():
    processor = tiny_processor()
    clip = processor.preprocess_clip(noise_clip(5, size=40))
    assert clip.pixel_values.shape == (5, 3, 28, 28)
    assert clip.pixel_values.dtype == torch.float32
    assert clip.frame_indices.tolist() == [0, 1, 2, 3, 4]


def test_constant_colour_maps_to_normalised_value():
    processor = tiny_processor()
    colour = np.array([255, 128, 0], dtype=np.uint8)
    clip = np.broadcast_to(colour, (3, 40, 50, 3)).copy()
    pixel_values = processor.preprocess_clip(clip).pixel_values
    for channel in range(3):
        expected = (colour[channel] / 255 - IMAGENET_DEFAULT_MEAN[channel]) / IMAGENET_DEFAULT_STD[channel]
        torch.testing.assert_close(pixel_values[:, channel], torch.full((3, 28, 28), expected), rtol=0, atol=1e-5)


def test_rescale_and_normalize_flags():
    clip = np.full((2, 32, 32, 3), 51, dtype=np.uint8)
    raw = tiny_processor(do_rescale=False, do_normalize=False).preprocess_clip(clip).pixel_values
    assert torch.all(raw == 51)
    rescaled = tiny_processor(do_normalize=False).preprocess_clip(clip).pixel_values
    torch.testing.assert_close(rescaled, torch.full_like(rescaled, 51 / 255))


def test_resize_and_centre_crop():
    processor = tiny_processor(do_resize=False)
    frames = noise_clip(4)
    pixel_values = processor.preprocess_clip(frames).pixel_values
    expected = processor.preprocess_clip(frames[:, 2:30, 2:30]).pixel_values  # 28x28 input: nothing to crop
    torch.testing.assert_close(pixel_values, expected)

    resized = tiny_processor(crop_size=32, do_normalize=False, do_rescale=False).preprocess_clip(noise_clip(2, 64))
    assert resized.pixel_values.shape == (2, 3, 32, 32)


def test_random_crop_is_one_window_for_the_whole_clip():
    processor = tiny_processor(do_resize=False, do_augment=False, do_normalize=False, do_rescale=False)
    frames = noise_clip(3)
    windows = set()
    for seed in range(12):
        pixel_values = processor.preprocess_clip(frames, training=True, generator=seed).pixel_values
        matches = [
            (top, left)
            for top in range(5)
            for left in range(5)
            if torch.equal(
                pixel_values, torch.from_numpy(frames[:, top : top + 28, left : left + 28]).permute(0, 3, 1, 2).float()
            )
        ]
        assert len(matches) == 1, "every frame must be cut by the same crop window"
        windows.add(matches[0])
    assert len(windows) > 1, "the training crop must be random"


def test_augmentation_is_consistent_across_a_clip():
    processor = tiny_processor(augment_probability=1.0)
    still = np.repeat(noise_clip(1), 6, axis=0)  # six identical frames
    augmented = processor.preprocess_clip(still, training=True, generator=3).pixel_values
    for frame in augmented[1:]:
        torch.testing.assert_close(frame, augmented[0], rtol=0, atol=0)
    # It did transform the frames: no plain crop of the input matches.
    plain = tiny_processor(do_augment=False)
    crops = [plain.preprocess_clip(still, training=True, generator=seed).pixel_values for seed in range(30)]
    assert not any(torch.allclose(crop, augmented, atol=1e-4) for crop in crops)


def test_augmentation_is_reproducible_and_random():
    processor = tiny_processor(augment_probability=1.0)
    frames = noise_clip(4)
    first = processor.preprocess_clip(frames, training=True, generator=7).pixel_values
    again = processor.preprocess_clip(frames, training=True, generator=7).pixel_values
    other = processor.preprocess_clip(frames, training=True, generator=8).pixel_values
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, other)


def test_augmentation_parameters_follow_the_paper():
    processor = BeyondGlossVideoProcessor()
    generator = torch.Generator().manual_seed(0)
    draws = [processor.sample_augmentation(generator) for _ in range(400)]
    for key, identity, bound in (("angle", 0.0, 30.0), ("scale", 1.0, 0.2), ("translate_x", 0.0, 10.0)):
        values = np.array([draw[key] for draw in draws])
        assert np.all(np.abs(values - identity) <= bound + 1e-9)
        applied = np.mean(values != identity)
        assert 0.4 < applied < 0.6, f"{key} should be applied with probability 0.5, got {applied:.2f}"
    translations = {draw["translate_y"] for draw in draws}
    assert translations <= {float(t) for t in range(-10, 11)}


def test_no_augmentation_outside_training():
    processor = tiny_processor(augment_probability=1.0)
    frames = noise_clip(4, size=40)
    evaluation = processor.preprocess_clip(frames, training=False, generator=1).pixel_values
    centre = tiny_processor(do_augment=False).preprocess_clip(frames).pixel_values
    torch.testing.assert_close(evaluation, centre, rtol=0, atol=0)


def test_warp_matches_torchvision_affine_then_crop():
    frames = torch.from_numpy(noise_clip(3, size=48))
    for augmentation in (
        {"angle": 23.0, "scale": 0.87, "translate_x": -6.0, "translate_y": 9.0},
        {"angle": -11.5, "scale": 1.16, "translate_x": 10.0, "translate_y": 0.0},
        {"angle": 0.0, "scale": 1.0, "translate_x": 3.0, "translate_y": -2.0},
    ):
        warped = torch.stack([crop.clone() for crop in _affine_crops(frames, augmentation, 5, 7, 40, 36)])
        assert warped.dtype == torch.uint8 and warped.shape == (3, 40, 36, 3)
        reference = tvF.affine(
            frames.permute(0, 3, 1, 2).float(),
            angle=augmentation["angle"],
            translate=[augmentation["translate_x"], augmentation["translate_y"]],
            scale=augmentation["scale"],
            shear=[0.0, 0.0],
            interpolation=tvF.InterpolationMode.BILINEAR,
        )[:, :, 5:45, 7:43]
        # Equal up to rounding to whole grey levels (OpenCV writes uint8).
        torch.testing.assert_close(warped.permute(0, 3, 1, 2).float(), reference, rtol=0, atol=0.51)


def test_bicubic_resize_matches_pillow():
    # Converted reference checkpoints resize as the reference does, with Pillow's bicubic filter (docs/fidelity.md);
    # the frames are Phoenix14T-sized (210 x 260), smooth with mild noise as camera frames are.
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:260, 0:210] / 50.0
    smooth = np.stack([np.sin(xs + phase) * np.cos(0.7 * ys - phase) for phase in (0.0, 1.0, 2.0)], axis=-1)
    frames = np.clip(128 + 90 * smooth[None] + rng.normal(0, 4, (2, 260, 210, 3)), 0, 255).astype(np.uint8)
    processor = BeyondGlossVideoProcessor(resample=PILImageResampling.BICUBIC)
    resized = processor.decode_clip(frames).frames.numpy().astype(np.int16)
    pillow = np.stack([np.asarray(Image.fromarray(frame).resize((256, 256), Image.BICUBIC)) for frame in frames])
    difference = np.abs(resized - pillow)
    assert difference.max() <= 1 and difference.mean() < 0.25


def test_augmented_clip_is_normalised_warp():
    processor = tiny_processor(augment_probability=1.0)
    frames = torch.from_numpy(noise_clip(4, size=40))
    generator = torch.Generator().manual_seed(3)
    top, left = (int(torch.randint(40 - 28 + 1, (1,), generator=generator)) for _ in range(2))
    augmentation = processor.sample_augmentation(generator)
    pixels = processor.transform_clip(frames, training=True, generator=torch.Generator().manual_seed(3))
    warped = torch.stack([crop.clone() for crop in _affine_crops(frames, augmentation, top, left, 28, 28)])
    warped = warped.permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(processor.image_mean).view(1, 3, 1, 1), torch.tensor(processor.image_std).view(1, 3, 1, 1)
    torch.testing.assert_close(pixels, (warped - mean) / std, rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------------------ frame sampling


def test_truncate_and_uniform_sampling():
    truncate = tiny_processor(max_frames=4)
    uniform = tiny_processor(max_frames=4, frame_sampling="uniform")
    assert truncate.sample_frame_indices(10).tolist() == [0, 1, 2, 3]
    assert uniform.sample_frame_indices(10).tolist() == [1, 3, 6, 8]
    assert uniform.sample_frame_indices(3).tolist() == [0, 1, 2]  # short clips are kept whole

    for processor in (truncate, uniform):
        clip = processor.preprocess_clip(numbered_clip(10))
        assert frame_ids(processor, clip.pixel_values) == clip.frame_indices.tolist()
    assert tiny_processor(max_frames=None).sample_frame_indices(1000).tolist() == list(range(1000))


def test_target_fps_resampling():
    processor = tiny_processor(target_fps=12.5, max_frames=None)
    assert processor.sample_frame_indices(10, fps=25).tolist() == [0, 2, 4, 6, 8]
    assert processor.sample_frame_indices(4, fps=6.25).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    clip = processor.preprocess_clip(numbered_clip(9), fps=25)
    assert clip.frame_indices.tolist() == [0, 2, 4, 6, 8]
    assert frame_ids(processor, clip.pixel_values) == [0, 2, 4, 6, 8]
    # The cap applies after resampling.
    capped = tiny_processor(target_fps=12.5, max_frames=3)
    assert capped.sample_frame_indices(100, fps=25).tolist() == [0, 2, 4]
    with pytest.raises(ValueError, match="fps"):
        processor.preprocess_clip(numbered_clip(9))


def test_batch_padding_and_pixel_mask():
    processor = tiny_processor()
    batch = processor([noise_clip(3), noise_clip(5, seed=1)])
    assert batch["pixel_values"].shape == (2, 5, 3, 28, 28)
    assert batch["pixel_values"].dtype == torch.float32
    assert batch["pixel_mask"].dtype == torch.long
    assert batch["pixel_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert torch.all(batch["pixel_values"][0, 3:] == 0)
    torch.testing.assert_close(batch["pixel_values"][0, :3], processor.preprocess_clip(noise_clip(3)).pixel_values)

    single = processor(noise_clip(2))
    assert single["pixel_values"].shape == (1, 2, 3, 28, 28)
    stacked = processor(np.stack([noise_clip(2), noise_clip(2, seed=1)]))
    assert stacked["pixel_values"].shape == (2, 2, 3, 28, 28)


# ------------------------------------------------------------------------------------------------------------ decoding


@pytest.mark.parametrize("name", sorted(FIXTURE_CLIPS))
def test_decodes_fixture_videos(fixtures_dir, name):
    path = fixtures_dir / "videos" / name
    num_frames, fps = FIXTURE_CLIPS[name]
    assert 2.0 <= num_frames / fps <= 3.5

    native = BeyondGlossVideoProcessor(do_resize=False, max_frames=None).decode_clip(path)
    assert native.frames.shape == (num_frames, 240, 320, 3)
    assert native.frame_indices.tolist() == list(range(num_frames))

    capped = tiny_processor(max_frames=16, frame_sampling="uniform").preprocess_clip(path)
    assert capped.pixel_values.shape == (16, 3, 28, 28)
    assert capped.frame_indices[-1] >= num_frames - num_frames // 16 - 1
    # Uniformly sampled frames are the same pixels as the matching frames of a full decode.
    full = tiny_processor(max_frames=None).preprocess_clip(path).pixel_values
    torch.testing.assert_close(capped.pixel_values, full[capped.frame_indices])

    halved = tiny_processor(max_frames=None, target_fps=fps / 2).decode_clip(path)
    assert halved.frame_indices.tolist() == list(range(0, num_frames, 2))


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt"),
    [("clip.webm", "libvpx", "yuv420p"), ("clip.avi", "mpeg4", "yuv420p"), ("clip.mp4", "libx264", "yuv420p")],
)
def test_decodes_other_containers(tmp_path, name, codec, pix_fmt):
    path = write_video(tmp_path / name, num_frames=8, codec=codec, pix_fmt=pix_fmt)
    processor = tiny_processor(max_frames=4, frame_sampling="uniform", target_fps=12.5)
    clip = processor.preprocess_clip(path)
    assert clip.frame_indices.tolist() == [0, 2, 4, 6]
    assert clip.pixel_values.shape == (4, 3, 28, 28)
    # Frame i was filled with 20 * i (up to codec error).
    red = clip.pixel_values[:, 0].mean(dim=(1, 2)) * IMAGENET_DEFAULT_STD[0] + IMAGENET_DEFAULT_MEAN[0]
    torch.testing.assert_close(red * 255, torch.tensor([0.0, 40.0, 80.0, 120.0]), rtol=0, atol=6)


def test_frame_folder_and_frame_list(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(12):  # frame_2 must sort before frame_10
        Image.fromarray(np.full((36, 44, 3), index * 10, np.uint8)).save(folder / f"frame_{index}.png")
    (folder / "notes.txt").write_text("not a frame")
    processor = tiny_processor(do_normalize=False, do_rescale=False, max_frames=5, frame_sampling="uniform")
    clip = processor.preprocess_clip(str(folder))
    assert clip.frame_indices.tolist() == [1, 3, 6, 8, 10]
    assert clip.pixel_values[:, 0, 0, 0].tolist() == [10.0, 30.0, 60.0, 80.0, 100.0]

    paths = [str(folder / f"frame_{index}.png") for index in (4, 0, 7)]
    listed = processor.preprocess_clip(paths)
    assert listed.pixel_values[:, 0, 0, 0].tolist() == [40.0, 0.0, 70.0]
    assert processor([paths, paths])["pixel_values"].shape == (2, 3, 3, 28, 28)


def test_large_jpeg_frames_are_decoded_at_reduced_scale(tmp_path):
    for index in range(3):
        Image.fromarray(np.full((256, 320, 3), 100, np.uint8)).save(tmp_path / f"{index:03d}.jpg", quality=95)
    decoded = tiny_processor().decode_clip(tmp_path)
    assert decoded.frames.shape == (3, 32, 32, 3)
    assert torch.all((decoded.frames.int() - 100).abs() <= 2)


# ---------------------------------------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    path = tmp_path / "missing.mp4"
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        tiny_processor().preprocess_clip(str(path))


@pytest.mark.parametrize("content", [b"", b"this is not a video" * 50], ids=["empty", "garbage"])
def test_undecodable_file(tmp_path, content):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.mp4"):
        tiny_processor().preprocess_clip(str(path))


def test_truncated_file(tmp_path, fixtures_dir):
    source = (fixtures_dir / "videos" / "asl_house.mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(source[: len(source) * 6 // 10])
    with pytest.raises(ValueError, match=r"cut\.mp4 is truncated"):
        tiny_processor(max_frames=None).preprocess_clip(str(path))


def test_zero_frame_video(tmp_path):
    path = tmp_path / "zero.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.start_encoding()
    with pytest.raises(ValueError, match="zero.avi contains no frames"):
        tiny_processor().preprocess_clip(str(path))


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "speech.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(ValueError, match="speech.wav has no video stream"):
        tiny_processor().preprocess_clip(str(path))


def test_bad_frame_folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty contains no image files"):
        tiny_processor().preprocess_clip(str(empty))

    broken = tmp_path / "broken"
    broken.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(broken / "0.png")
    (broken / "1.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"Cannot read frame image .*1\.png"):
        tiny_processor().preprocess_clip(str(broken))

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(mixed / "0.png")
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(mixed / "1.png")
    with pytest.raises(ValueError, match=r"1\.png is 8x9"):
        tiny_processor().preprocess_clip(str(mixed))

    with pytest.raises(FileNotFoundError, match="gone.png"):
        tiny_processor().preprocess_clip([str(mixed / "0.png"), str(mixed / "gone.png")])


def test_bad_arrays():
    with pytest.raises(ValueError, match="uint8"):
        tiny_processor().preprocess_clip(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        tiny_processor().preprocess_clip(np.zeros((2, 3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="no frames"):
        tiny_processor().preprocess_clip(np.zeros((0, 8, 8, 3), np.uint8))


def test_invalid_settings():
    with pytest.raises(ValueError, match="frame_sampling"):
        BeyondGlossVideoProcessor(frame_sampling="random")
    with pytest.raises(ValueError, match="crop_size"):
        BeyondGlossVideoProcessor(size=32, crop_size=64)
    with pytest.raises(ValueError, match="max_frames"):
        BeyondGlossVideoProcessor(max_frames=0)


# ------------------------------------------------------------------------------------------------------ save and load


def test_video_processor_round_trip(tmp_path):
    processor = tiny_processor(max_frames=None, frame_sampling="uniform", target_fps=12.5, augment_rotation=10.0)
    processor.save_pretrained(tmp_path)
    loaded = BeyondGlossVideoProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()
    assert loaded.max_frames is None
    assert BeyondGlossVideoProcessor.from_pretrained(tmp_path, max_frames=16).max_frames == 16


@pytest.fixture
def processor():
    return BeyondGlossProcessor(
        video_processor=tiny_processor(max_frames=8), tokenizer=build_tokenizer_from_corpus(SENTENCES)
    )


def test_processor_call_and_decode(processor):
    batch = processor(videos=[noise_clip(3), noise_clip(5)], text=SENTENCES[:2], text_target=SENTENCES[:2])
    assert set(batch) == {"pixel_values", "pixel_mask", "input_ids", "attention_mask", "labels"}
    assert batch["pixel_values"].shape == (2, 5, 3, 28, 28)
    assert processor.batch_decode(batch["labels"], skip_special_tokens=True) == SENTENCES[:2]
    assert processor.decode(batch["input_ids"][1], skip_special_tokens=True) == SENTENCES[1]
    text_only = processor(text=SENTENCES)
    assert set(text_only) == {"input_ids", "attention_mask"}
    with pytest.raises(ValueError, match="at least one"):
        processor()


def test_processor_round_trip(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    loaded = BeyondGlossProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded.video_processor, BeyondGlossVideoProcessor)
    assert loaded.video_processor.to_dict() == processor.video_processor.to_dict()
    assert loaded.tokenizer.get_vocab() == processor.tokenizer.get_vocab()
    clip = noise_clip(4)
    torch.testing.assert_close(loaded(videos=clip)["pixel_values"], processor(videos=clip)["pixel_values"])
    assert loaded(text_target=SENTENCES)["labels"].tolist() == processor(text_target=SENTENCES)["labels"].tolist()


def test_auto_classes_after_registration(processor, tmp_path):
    AutoVideoProcessor.register(BeyondGlossConfig, BeyondGlossVideoProcessor, exist_ok=True)
    AutoProcessor.register(BeyondGlossConfig, BeyondGlossProcessor, exist_ok=True)
    processor.save_pretrained(tmp_path)
    assert isinstance(AutoProcessor.from_pretrained(tmp_path), BeyondGlossProcessor)
    assert isinstance(AutoVideoProcessor.from_pretrained(tmp_path), BeyondGlossVideoProcessor)


def test_remote_code_round_trip(processor, tmp_path, monkeypatch):
    # What a Hub repository with `trust_remote_code` does: the processor files are copied next to the config and
    # imported from there, so they must only import each other with single-dot imports.
    monkeypatch.setattr(BeyondGlossProcessor, "_auto_class", None)
    monkeypatch.setattr(BeyondGlossVideoProcessor, "_auto_class", None)
    BeyondGlossProcessor.register_for_auto_class()
    BeyondGlossVideoProcessor.register_for_auto_class()
    repository = tmp_path / "repository"
    processor.save_pretrained(repository)
    config = json.loads((repository / "processor_config.json").read_text())
    assert config["auto_map"]["AutoProcessor"] == "processing_beyondgloss.BeyondGlossProcessor"
    assert (repository / "video_processing_beyondgloss.py").is_file()

    # Resolve the class from the repository's copy, as `AutoProcessor(..., trust_remote_code=True)` does when no local
    # class is registered (registrations made by other tests would otherwise take precedence).
    remote_class = get_class_from_dynamic_module(config["auto_map"]["AutoProcessor"], repository)
    loaded = remote_class.from_pretrained(repository)
    assert type(loaded).__module__.startswith("transformers_modules.")
    assert type(loaded.video_processor).__module__.startswith("transformers_modules.")
    clip = noise_clip(3)
    torch.testing.assert_close(loaded(videos=clip)["pixel_values"], processor(videos=clip)["pixel_values"])
    shutil.rmtree(repository)


def test_fixture_frame_rates_match_containers(fixtures_dir):
    for name, (num_frames, fps) in FIXTURE_CLIPS.items():
        with av.open(str(fixtures_dir / "videos" / name)) as container:
            stream = container.streams.video[0]
            assert stream.frames == num_frames
            assert math.isclose(float(stream.average_rate), fps, rel_tol=1e-6)
