"""One set of media facts for the whole package (`datasets_scripts.media`): the builders, the preprocessing tools
and the video processor accept the same files, in the same order."""

import os

import av
import numpy as np
import pytest
from PIL import Image

from datasets_scripts import load_sign_dataset
from datasets_scripts.media import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    InvalidFileError,
    decode_video,
    list_frame_folder,
    probe_video,
    segment_bounds,
)
from datasets_scripts.preprocessing.jobs import find_videos
from modeling_beyondgloss import BeyondGlossVideoProcessor


def write_mov(path, num_frames=5, size=16):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(str(path), "w", format="mov") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(num_frames):
            frame = np.full((size, size, 3), index * 40, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_tif_frames(folder, count=11):
    os.makedirs(folder)
    for index in range(count):
        Image.new("RGB", (12, 12), (index * 20, 0, 0)).save(os.path.join(folder, f"frame_{index}.tif"))


def test_segments_fold_the_short_tail():
    assert segment_bounds(73) == [(0, 16), (16, 32), (32, 48), (48, 73)]
    assert segment_bounds(64) == [(0, 16), (16, 32), (32, 48), (48, 64)]
    assert segment_bounds(40) == [(0, 16), (16, 40)]
    assert segment_bounds(16) == [(0, 16)]
    assert segment_bounds(5) == [(0, 5)]
    with pytest.raises(ValueError, match="at least one frame"):
        segment_bounds(0)


def test_every_reader_accepts_the_same_extensions(tmp_path):
    assert ".mov" in VIDEO_EXTENSIONS and ".tif" in IMAGE_EXTENSIONS
    write_mov(tmp_path / "videos" / "clip.mov")
    write_tif_frames(str(tmp_path / "frames" / "folder"))
    with open(tmp_path / "train.jsonl", "w") as handle:
        handle.write('{"id": "clip", "text": "a"}\n{"id": "folder", "text": "b"}\n')

    dataset = load_sign_dataset("custom", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    by_id = {row["id"]: row for row in dataset["train"]}
    assert by_id["clip"]["video"].endswith("clip.mov") and by_id["clip"]["num_frames"] == 5
    assert by_id["folder"]["num_frames"] == 11

    assert [source.name for source in find_videos(str(tmp_path / "videos"))] == ["clip"]
    assert [source.name for source in find_videos(str(tmp_path / "frames"))] == ["folder"]
    assert decode_video(str(tmp_path / "videos" / "clip.mov")).shape == (5, 16, 16, 3)


def test_frames_come_in_natural_order_everywhere(tmp_path):
    folder = str(tmp_path / "frames")
    write_tif_frames(folder)
    listed = list_frame_folder(folder)
    assert [os.path.basename(path) for path in listed] == [f"frame_{index}.tif" for index in range(11)]
    decoded = decode_video(folder)
    assert decoded[:, 0, 0, 0].tolist() == [index * 20 for index in range(11)]
    processor = BeyondGlossVideoProcessor(do_resize=False, do_crop=False, max_frames=None)
    assert processor.decode_clip(folder).frames[:, 0, 0, 0].tolist() == decoded[:, 0, 0, 0].tolist()


def test_problems_name_the_file(tmp_path):
    with pytest.raises(InvalidFileError, match="frame folder does not exist"):
        list_frame_folder(str(tmp_path / "missing"))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InvalidFileError, match=f"{empty}: video file is empty"):
        probe_video(str(empty))


def test_16_bit_frames_are_scaled_to_8_bit(tmp_path):
    # A 16-bit greyscale PNG: converting it straight to RGB clips every value above 255 to white.
    grey = np.array([[0, 257, 32896, 65535]], dtype=np.uint16).repeat(2, axis=0)
    Image.fromarray(grey).save(tmp_path / "0.png")
    frames = decode_video(str(tmp_path))
    assert frames.dtype == np.uint8 and frames.shape == (1, 2, 4, 3)
    np.testing.assert_array_equal(frames[0, 0, :, 0], [0, 1, 128, 255])
    np.testing.assert_array_equal(frames[0, :, :, 0], frames[0, :, :, 2])
