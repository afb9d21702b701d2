"""Hand features from pose-format `.pose` files (MediaPipe Holistic landmarks) and their import with `--from_pose`."""

import re
import sys

import numpy as np
import pytest
from pose_files import default_hand, write_pose_file
from safetensors import safe_open
from safetensors.numpy import load_file

from datasets_scripts.builders.features import (
    HAND_FEATURE_EXTENSIONS,
    find_sample_file,
    read_hand_features,
    read_pose_hand_features,
)
from datasets_scripts.media import InvalidFileError
from datasets_scripts.preprocessing.extract_hand_features import MEDIAPIPE_FEATURE_DIM, main


def test_landmarks_become_the_mediapipe_layout(tmp_path):
    left = np.empty((4, 21, 3))
    left[:] = [320.0, 240.0, -0.05]  # every point at the centre of a 640x480 image
    left[:, 20] = [480.0, 120.0, 0.02]
    right = np.empty((4, 21, 3))
    right[:] = [64.0, 432.0, 0.1]
    right[1] = np.nan  # frame 1: MediaPipe found no right hand
    left[2] = right[2] = np.nan  # frame 2: no hand at all
    left[3, :7] = np.nan  # frame 3: a third of the left hand's points without confidence
    path = write_pose_file(tmp_path / "clip.pose", 4, 25.0, 640, 480, left=left, right=right)

    features, mask, fps = read_pose_hand_features(str(path))

    assert features.shape == (4, MEDIAPIPE_FEATURE_DIM) and features.dtype == np.float32 and fps == 25.0
    # x / width, y / height, z as MediaPipe gave it (pose-format stores it unscaled), then the hand's score.
    np.testing.assert_allclose(features[0, 0:3], [0.5, 0.5, -0.05], rtol=1e-6)
    np.testing.assert_allclose(features[0, 60:63], [0.75, 0.25, 0.02], rtol=1e-6)
    np.testing.assert_allclose(features[0, 64:67], [0.1, 0.9, 0.1], rtol=1e-6)
    assert features[0, 63] == 1.0 and features[0, 127] == 1.0
    assert features[1, 63] == 1.0 and not features[1, 64:].any()
    assert not features[2].any()
    assert not features[3, :21].any()
    np.testing.assert_allclose(features[3, 21:24], [0.5, 0.5, -0.05], rtol=1e-6)
    assert features[3, 63] == pytest.approx(14 / 21)
    assert mask.tolist() == [True, True, False, True]


def test_read_hand_features_reads_pose_files(tmp_path):
    path = write_pose_file(tmp_path / "clip.pose", 6, 24.0, 1280, 720)
    hand = read_hand_features(str(path), 6, fps=24.0)
    assert hand.features.dtype == np.float16 and hand.features.shape == (6, MEDIAPIPE_FEATURE_DIM)
    assert hand.mask.all() and hand.fps == 24.0
    expected = default_hand(6, 1280, 720, right=True) / [1280, 720, 1]
    np.testing.assert_allclose(hand.features[:, 64:127].astype(np.float32), expected.reshape(6, 63), atol=1e-3)
    # Converted landmarks are the last choice when a sample has other feature files too.
    assert HAND_FEATURE_EXTENSIONS[-1] == ".pose"
    assert find_sample_file(str(tmp_path), "dev/clip", HAND_FEATURE_EXTENSIONS) == str(path)
    np.save(tmp_path / "clip.npy", np.zeros((6, 128), np.float32))
    assert find_sample_file(str(tmp_path), "dev/clip", HAND_FEATURE_EXTENSIONS) == str(tmp_path / "clip.npy")


def test_pose_file_without_hands_is_refused_by_name(tmp_path):
    path = write_pose_file(tmp_path / "body.pose", 3, 25.0, 640, 480, hands=False)
    expected = f"{path}: has no LEFT_HAND_LANDMARKS/RIGHT_HAND_LANDMARKS components (found: POSE_LANDMARKS, FACE"
    with pytest.raises(InvalidFileError, match=re.escape(expected)):
        read_hand_features(str(path))


@pytest.mark.parametrize("damage", ["random bytes", "truncated body", "truncated header", "empty"])
def test_unreadable_pose_files_are_named(tmp_path, damage):
    path = tmp_path / "clip.pose"
    write_pose_file(path, 5, 25.0, 640, 480)
    data = path.read_bytes()
    damaged = {
        "random bytes": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated body": data[:-100],
        "truncated header": data[:300],
        "empty": b"",
    }[damage]
    path.write_bytes(damaged)
    with pytest.raises(InvalidFileError, match=rf"^{re.escape(str(path))}: (not a readable \.pose file|is empty)"):
        read_hand_features(str(path), 5)


def test_frame_rate_must_match_the_video(tmp_path):
    path = write_pose_file(tmp_path / "clip.pose", 5, 25.0, 640, 480)
    with pytest.raises(InvalidFileError, match=rf"{re.escape(str(path))}: is at 25 fps but the video is at 30 fps"):
        read_hand_features(str(path), 5, fps=30.0)
    assert read_hand_features(str(path), 5, fps=25.005).features.shape[0] == 5


def test_frame_count_mismatch_names_both_counts(tmp_path):
    path = write_pose_file(tmp_path / "clip.pose", 5, 25.0, 640, 480)
    with pytest.raises(InvalidFileError, match=r"has hand features for 5 frames but the video has 7 frames"):
        read_hand_features(str(path), 7)


@pytest.fixture
def whole_video_pose(tmp_path):
    """50 frames at 25 fps whose left hand's y encodes the frame: y / height = frame / 100."""
    left = default_hand(50, 640, 100, right=False)
    left[..., 1] = np.arange(50)[:, None]
    return write_pose_file(tmp_path / "video.pose", 50, 25.0, 640, 100, left=left)


def frames_of(hand):
    return np.rint(hand.features[:, 1].astype(np.float32) * 100).astype(int).tolist()


def test_segment_of_a_whole_video_pose_file(whole_video_pose):
    # [0.4 s, 1.0 s) at 25 fps: frames 10 to 24; frame 25 starts at 1.0 s, outside the segment.
    assert frames_of(read_hand_features(str(whole_video_pose), 15, start=0.4, end=1.0)) == list(range(10, 25))
    assert frames_of(read_hand_features(str(whole_video_pose), start=1.6)) == list(range(40, 50))
    # A file with as many rows as the segment has frames holds the segment's own features.
    assert frames_of(read_hand_features(str(whole_video_pose), 50, start=10.0, end=12.0)) == list(range(50))
    message = (
        f"{whole_video_pose}: has hand features for 15 frames in segment [0.4, 1.0) (of 50 frames at 25 fps) but the "
        "video has 14 frames there"
    )
    with pytest.raises(InvalidFileError, match=re.escape(message)):
        read_hand_features(str(whole_video_pose), 14, start=0.4, end=1.0)


def test_segment_of_other_formats_is_timed_by_the_video(tmp_path):
    path = tmp_path / "video.npy"
    features = np.zeros((50, 128), np.float32)
    features[:, 1] = np.arange(50) / 100
    np.save(path, features)
    assert frames_of(read_hand_features(str(path), 15, fps=25.0, start=0.4, end=1.0)) == list(range(10, 25))
    with pytest.raises(InvalidFileError, match=r"has hand features for 50 frames, not the 15 of the segment, and no"):
        read_hand_features(str(path), 15, start=0.4, end=1.0)


def test_missing_pose_format_says_how_to_install(tmp_path, monkeypatch):
    path = write_pose_file(tmp_path / "clip.pose", 2, 25.0, 640, 480)
    monkeypatch.setitem(sys.modules, "pose_format", None)
    with pytest.raises(ImportError, match="pip install pose-format"):
        read_hand_features(str(path))


def test_from_pose_imports_a_folder_and_is_resumable(tmp_path):
    poses, out = tmp_path / "poses", tmp_path / "hands"
    (poses / "dev").mkdir(parents=True)
    (poses / "test").mkdir()
    write_pose_file(poses / "dev" / "a.pose", 6, 25.0, 640, 480)
    left = default_hand(4, 640, 480, right=False)
    left[1] = np.nan
    right = np.full((4, 21, 3), np.nan)
    write_pose_file(poses / "test" / "b.v2.pose", 4, 29.97, 640, 480, left=left, right=right)
    (poses / "dev" / "broken.pose").write_bytes(b"\x00" * 10)

    summary = main(["--from_pose", str(poses), "--output_dir", str(out)])

    assert summary.written == ["dev/a", "test/b.v2"]
    assert [name for name, _ in summary.failed] == ["dev/broken"]
    assert str(poses / "dev" / "broken.pose") in summary.failed[0][1]
    for name, source in (("dev/a", poses / "dev" / "a.pose"), ("test/b.v2", poses / "test" / "b.v2.pose")):
        output = out / f"{name}.safetensors"
        expected = read_hand_features(str(source))
        written = read_hand_features(str(output))
        np.testing.assert_array_equal(written.features, expected.features)
        assert written.mask.tolist() == expected.mask.tolist()
        with safe_open(output, "np") as handle:
            metadata = handle.metadata()
        assert metadata["teacher"] == "pose-format" and metadata["layout"] == "mediapipe-128"
        assert float(metadata["fps"]) == pytest.approx(expected.fps) and metadata["feature_dim"] == "128"
    assert load_file(out / "test" / "b.v2.safetensors")["hand_mask"].tolist() == [True, False, True, True]

    modified = (out / "dev" / "a.safetensors").stat().st_mtime_ns
    again = main(["--from_pose", str(poses), "--output_dir", str(out)])
    assert again.written == [] and again.skipped == ["dev/a", "test/b.v2"]
    assert (out / "dev" / "a.safetensors").stat().st_mtime_ns == modified
    # `--from_pose DIR` is `import-pose --input DIR`.
    main(["import-pose", "--input", str(poses / "dev" / "a.pose"), "--output_dir", str(tmp_path / "again")])
    for key, value in load_file(out / "dev" / "a.safetensors").items():
        np.testing.assert_array_equal(load_file(tmp_path / "again" / "a.safetensors")[key], value)
