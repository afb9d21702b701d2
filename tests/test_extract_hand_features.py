import importlib.machinery
import lzma
import os
import pickle
import shutil
import sys
import types

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from datasets_scripts import load_sign_dataset
from datasets_scripts.preprocessing.extract_hand_features import (
    HAMER_FEATURE_DIM,
    MEDIAPIPE_FEATURE_DIM,
    DetectedHand,
    HamerExtractor,
    hamer_frame_features,
    main,
    mediapipe_frame_features,
)


def write_reference_pickle(root, name, features):
    """The reference implementation's layout: <root>/<split>/<video>/<video>.lzma."""
    split, video = name.split("/")
    path = os.path.join(root, split, video, f"{video}.lzma")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with lzma.open(path, "wb") as handle:
        pickle.dump({"features": features, "name": video}, handle)
    return path


def temporary_files(root):
    return [name for _, _, files in os.walk(root) for name in files if ".tmp" in name]


class ShellCommand:
    """Unpickling this would run a shell command: the restricted unpickler must refuse it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_import_hamer_masks_undetected_frames_and_is_resumable(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.uniform(-1, 1, (6, HAMER_FEATURE_DIM)).astype(np.float32)
    features[[0, 4]] = 0.0  # frames where HaMeR found no hand
    write_reference_pickle(tmp_path / "hamer", "dev/video_a", features)
    write_reference_pickle(tmp_path / "hamer", "test/video_b", features[:3])

    summary = main(["import-hamer", "--input", str(tmp_path / "hamer"), "--output_dir", str(tmp_path / "out")])

    assert sorted(summary.written) == ["dev/video_a", "test/video_b"] and not summary.failed
    output = tmp_path / "out" / "dev" / "video_a.safetensors"
    tensors = load_file(output)
    np.testing.assert_allclose(tensors["hand_features"].astype(np.float32), features, atol=1e-3)
    assert tensors["hand_mask"].tolist() == [False, True, True, True, False, True]
    with safe_open(output, "np") as handle:
        assert handle.metadata()["teacher"] == "hamer" and handle.metadata()["feature_dim"] == "288"

    modified = output.stat().st_mtime_ns
    again = main(["import-hamer", "--input", str(tmp_path / "hamer"), "--output_dir", str(tmp_path / "out")])
    assert again.written == [] and sorted(again.skipped) == ["dev/video_a", "test/video_b"]
    assert output.stat().st_mtime_ns == modified
    redone = main(["import-hamer", "--input", str(tmp_path / "hamer"), "--output_dir", str(tmp_path / "out"),
                   "--overwrite", "--num_shards", "2", "--shard_index", "1"])
    assert redone.written == ["test/video_b"]



@pytest.mark.parametrize("damage", ["truncated", "empty", "other width", "nan"])
def test_rerun_verifies_existing_outputs_and_redoes_corrupt_ones(tmp_path, damage, caplog):
    features = np.random.default_rng(0).uniform(-1, 1, (6, HAMER_FEATURE_DIM)).astype(np.float32)
    for name in ("dev/video_a", "dev/video_b"):
        write_reference_pickle(tmp_path / "hamer", name, features)
    arguments = ["import-hamer", "--input", str(tmp_path / "hamer"), "--output_dir", str(tmp_path / "out")]
    main(arguments)
    damaged = tmp_path / "out" / "dev" / "video_b.safetensors"
    if damage == "truncated":
        damaged.write_bytes(damaged.read_bytes()[:-100])
    elif damage == "empty":
        damaged.write_bytes(b"")
    elif damage == "other width":
        save_file({"hand_features": features[:, :100]}, str(damaged))
    else:
        save_file({"hand_features": np.full_like(features, np.nan)}, str(damaged))

    with caplog.at_level("WARNING"):
        rerun = main(arguments)

    assert rerun.skipped == ["dev/video_a"] and rerun.written == ["dev/video_b"]
    assert f"redoing {damaged}: " in caplog.text
    assert load_file(damaged)["hand_features"].shape == (6, HAMER_FEATURE_DIM)

def test_import_hamer_bad_files_fail_alone_and_leave_nothing_half_written(tmp_path):
    good = np.ones((4, HAMER_FEATURE_DIM), dtype=np.float32)
    write_reference_pickle(tmp_path / "hamer", "dev/good", good)
    write_reference_pickle(tmp_path / "hamer", "dev/narrow", np.ones((4, 10), dtype=np.float32))
    marker = tmp_path / "pwned"
    malicious = tmp_path / "hamer" / "dev" / "evil" / "evil.lzma"
    malicious.parent.mkdir(parents=True)
    with lzma.open(malicious, "wb") as handle:
        pickle.dump(ShellCommand(marker), handle)
    truncated = tmp_path / "hamer" / "dev" / "cut" / "cut.lzma"
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(lzma.compress(pickle.dumps({"features": good}))[:40])

    summary = main(["import-hamer", "--input", str(tmp_path / "hamer"), "--output_dir", str(tmp_path / "out")])

    assert summary.written == ["dev/good"]
    failures = dict(summary.failed)
    assert sorted(failures) == ["dev/cut", "dev/evil", "dev/narrow"]
    assert "evil.lzma" in failures["dev/evil"] and "os" in failures["dev/evil"]
    assert "expected 288 HaMeR values per frame, got 10" in failures["dev/narrow"]
    assert "cut.lzma" in failures["dev/cut"]
    assert not marker.exists()
    assert sorted(os.listdir(tmp_path / "out" / "dev")) == ["good.safetensors"]
    assert temporary_files(tmp_path / "out") == []


def test_interrupted_run_keeps_finished_outputs(tmp_path, monkeypatch):
    from datasets_scripts.preprocessing import extract_hand_features

    for index in range(3):
        write_reference_pickle(tmp_path / "hamer", f"dev/v{index}", np.ones((2, HAMER_FEATURE_DIM), np.float32))
    real_save_file = extract_hand_features.save_file
    calls = []

    def save_then_interrupt(tensors, path, metadata):
        calls.append(path)
        if len(calls) == 2:  # killed while writing the second video
            with open(path, "wb") as handle:
                handle.write(b"half")
            raise KeyboardInterrupt
        real_save_file(tensors, path, metadata=metadata)

    monkeypatch.setattr(extract_hand_features, "save_file", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        main(["import-hamer", "--input", str(tmp_path / "hamer"), "--output_dir", str(tmp_path / "out")])

    assert os.listdir(tmp_path / "out" / "dev") == ["v0.safetensors"]
    assert load_file(tmp_path / "out" / "dev" / "v0.safetensors")["hand_features"].shape == (2, HAMER_FEATURE_DIM)
    monkeypatch.setattr(extract_hand_features, "save_file", real_save_file)
    resumed = main(["import-hamer", "--input", str(tmp_path / "hamer"), "--output_dir", str(tmp_path / "out")])
    assert resumed.skipped == ["dev/v0"] and resumed.written == ["dev/v1", "dev/v2"]


def hand(is_right, score=0.9, offset=0.0):
    landmarks = np.full((21, 3), offset, dtype=np.float32)
    return DetectedHand(landmarks, is_right, score, (0.0, 0.0, 10.0, 10.0))


def test_mediapipe_layout_slots():
    both = mediapipe_frame_features([hand(True, 0.8, 0.2), hand(False, 0.9, 0.1)])
    assert both.shape == (MEDIAPIPE_FEATURE_DIM,)
    np.testing.assert_allclose(both[:63], 0.1)
    np.testing.assert_allclose([both[63], both[127]], [0.9, 0.8])
    np.testing.assert_allclose(both[64:127], 0.2)
    only_right = mediapipe_frame_features([hand(True, 0.7, 0.3)])
    assert not only_right[:64].any() and only_right[127] == pytest.approx(0.7)
    # Two hands labelled alike: the more confident keeps its side, the other takes the free slot.
    same_side = mediapipe_frame_features([hand(False, 0.6, 0.4), hand(False, 0.95, 0.5)])
    np.testing.assert_allclose(same_side[:63], 0.5)
    np.testing.assert_allclose(same_side[64:127], 0.4)
    assert not mediapipe_frame_features([]).any()


def test_hamer_layout_matches_the_reference():
    pose_left, orient_left = np.full((15, 3, 3), 1.0), np.full((3, 3), 2.0)
    pose_right, orient_right = np.full((15, 3, 3), 3.0), np.full((3, 3), 4.0)
    both = hamer_frame_features({False: (pose_left, orient_left), True: (pose_right, orient_right)})
    assert both.shape == (HAMER_FEATURE_DIM,)
    assert (both[:135] == 1).all() and (both[135:270] == 3).all()
    assert (both[270:279] == 2).all() and (both[279:288] == 4).all()
    single = hamer_frame_features({True: (pose_right, orient_right)})  # copied into both slots
    assert (single[:270] == 3).all() and (single[270:] == 4).all()
    assert not hamer_frame_features({}).any()


@pytest.fixture
def fake_hamer(monkeypatch):
    """A stand-in `hamer` package with HaMeR's interface: the pose it predicts encodes the box and the side."""
    import torch

    class FakeDataset(torch.utils.data.Dataset):
        def __init__(self, model_config, image_bgr, boxes, right, rescale_factor=2.0):
            assert image_bgr.shape[-1] == 3 and len(boxes) == len(right)
            self.boxes, self.right = boxes, right

        def __len__(self):
            return len(self.boxes)

        def __getitem__(self, index):
            return {"box_width": torch.tensor(self.boxes[index][2]), "right": torch.tensor(self.right[index])}

    class FakeHamer(torch.nn.Module):
        def forward(self, batch):
            size = len(batch["right"])
            value = batch["box_width"].float() + batch["right"].float()
            return {"pred_mano_params": {
                "hand_pose": value.view(size, 1, 1, 1).expand(size, 15, 3, 3),
                "global_orient": -value.view(size, 1, 1, 1).expand(size, 1, 3, 3),
            }}

    modules = {}
    for name in ("hamer", "hamer.models", "hamer.utils", "hamer.datasets", "hamer.datasets.vitdet_dataset"):
        modules[name] = types.ModuleType(name)
        modules[name].__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, modules[name])
    modules["hamer.models"].DEFAULT_CHECKPOINT = "hamer.ckpt"
    modules["hamer.models"].load_hamer = lambda checkpoint: (FakeHamer(), {"checkpoint": checkpoint})
    modules["hamer.utils"].recursive_to = lambda batch, device: batch
    modules["hamer.datasets.vitdet_dataset"].ViTDetDataset = FakeDataset


def test_hamer_extractor_writes_the_288_layout(fake_hamer):
    def detector(frames):
        return [
            [
                DetectedHand(np.zeros((21, 3)), False, 0.9, (0, 0, 10, 5)),
                DetectedHand(np.zeros((21, 3)), True, 0.8, (0, 0, 20, 5)),
            ],
            [DetectedHand(np.zeros((21, 3)), True, 0.8, (0, 0, 30, 5))],
            [],
        ]

    extractor = HamerExtractor(device="cpu", detector=detector)
    features, mask = extractor(np.zeros((3, 8, 8, 3), dtype=np.uint8))

    assert features.shape == (3, HAMER_FEATURE_DIM) and mask.tolist() == [True, True, False]
    assert (features[0, :135] == 10).all() and (features[0, 135:270] == 21).all()  # left box 10, right box 20 + 1
    assert (features[0, 270:279] == -10).all() and (features[0, 279:] == -21).all()
    assert (features[1, :270] == 31).all()  # one hand fills both slots
    assert not features[2].any()


def test_missing_teachers_say_how_to_install(tmp_path, monkeypatch, fixtures_dir):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in ("hamer", "mediapipe") else real_find_spec(name, *args),
    )
    video = str(fixtures_dir / "videos" / "asl_house.mp4")
    with pytest.raises(ImportError, match=r"beyondgloss\[hands\]"):
        main(["mediapipe", "--input", video, "--output_dir", str(tmp_path / "out")])
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == "hamer" else real_find_spec(name, *args)
    )
    with pytest.raises(ImportError, match="HaMeR is not installed.*MANO"):
        main(["hamer", "--input", video, "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def mediapipe_features(tmp_path_factory, fixtures_dir):
    root = tmp_path_factory.mktemp("mediapipe")
    shutil.copytree(fixtures_dir / "videos", root / "videos")
    summary = main(["mediapipe", "--input", str(root / "videos"), "--output_dir", str(root / "hands")])
    assert sorted(summary.written) == ["asl_different", "asl_house", "asl_wrong_what"] and not summary.failed
    return root


def test_mediapipe_finds_the_signers_hands_in_real_videos(mediapipe_features):
    frames = {"asl_house": 73, "asl_wrong_what": 97, "asl_different": 64}
    for name, num_frames in frames.items():
        tensors = load_file(mediapipe_features / "hands" / f"{name}.safetensors")
        features, mask = tensors["hand_features"].astype(np.float32), tensors["hand_mask"]
        assert features.shape == (num_frames, MEDIAPIPE_FEATURE_DIM)
        assert mask.tolist() == ((features[:, 63] > 0) | (features[:, 127] > 0)).tolist()
        assert 0.3 < mask.mean() < 0.9, name  # hands rise into view to sign and drop out of frame at rest
        found = features[mask]
        landmarks = np.concatenate([found[:, :63], found[:, 64:127]], axis=1).reshape(len(found), 42, 3)
        present = landmarks[:, :, :2][np.abs(landmarks[:, :, :2]).sum(-1) > 0]
        assert ((present > -0.1) & (present < 1.1)).all(), name

    house = load_file(mediapipe_features / "hands" / "asl_house.safetensors")
    features, mask = house["hand_features"].astype(np.float32), house["hand_mask"]
    # HOUSE is signed with both hands (frames 20-50); before it the hands rest below the frame.
    assert not mask[:8].any()
    both = (features[:, 63] > 0) & (features[:, 127] > 0)
    assert both[20:50].mean() > 0.9
    # Facing the camera, the signer's left hand appears on the right of the image.
    left_x = features[20:50, 0:63:3].mean()
    right_x = features[20:50, 64:127:3].mean()
    assert left_x > 0.5 > right_x


def test_mediapipe_features_load_as_hand_features(mediapipe_features, tmp_path):
    manifest = tmp_path / "train.jsonl"
    manifest.write_text(
        f'{{"id": "asl_house", "video": "{mediapipe_features}/videos/asl_house.mp4", "text": "House."}}\n'
    )
    dataset = load_sign_dataset(
        "custom", manifest=str(manifest), hand_features_dir=str(mediapipe_features / "hands"), cache_dir=tmp_path / "c"
    )
    example = dataset["train"][0]
    assert np.array(example["hand_features"]).shape == (73, MEDIAPIPE_FEATURE_DIM)
    assert (
        example["hand_mask"] == load_file(mediapipe_features / "hands" / "asl_house.safetensors")["hand_mask"].tolist()
    )
