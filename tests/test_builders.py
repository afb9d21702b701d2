"""Tests for the sign language dataset builders (`datasets_scripts.builders`)."""

import csv
import gzip
import json
import logging
import lzma
import os
import pickle
import shutil
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from datasets_scripts import (
    InvalidSamplesError,
    LabelFormatError,
    Phoenix14T,
    SynthSign,
    UnsafePickleError,
    load_sign_dataset,
)
from datasets_scripts.builders.features import read_hand_features
from datasets_scripts.builders.safe_pickle import safe_load
from datasets_scripts.synthsign import generate_synthsign


@pytest.fixture
def phoenix_dev_labels(phoenix14t_dev_labels):
    """The real Phoenix14T dev labels (519 samples, GFSLT-VLP format)."""
    return str(phoenix14t_dev_labels)


@pytest.fixture
def asl_house(fixtures_dir):
    """A real ASL clip, 73 frames at 25 fps (CC BY 4.0, Nagish Inc., sign-language-processing.github.io)."""
    return str(fixtures_dir / "videos" / "asl_house.mp4")


def write_video(path, num_frames, size=32, codec="libx264"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(num_frames):
            image = np.full((size, size, 3), (index * 20) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_image(path, size=8):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (size, size), (200, 120, 40)).save(path)


def write_labels(path, entries):
    """Write a GFSLT-VLP label file (gzip pickle of name -> entry)."""
    with gzip.open(path, "wb") as handle:
        pickle.dump({entry["name"]: entry for entry in entries}, handle)


def write_synthsign_layout(root, splits=(("train", 2), ("dev", 1)), num_frames=6, text_prefix="", seed=0):
    """A tiny SynthSign folder (contract layout); returns {name: (text, refined, features, mask)}."""
    rng = np.random.default_rng(seed)
    expected = {}
    for split, count in splits:
        entries = []
        for index in range(count):
            name = f"{split}/{index:06d}"
            length = num_frames + index
            text = f"{text_prefix}das wetter {split} {index}"
            refined = f"The right hand moves up ({split} {index})."
            features = rng.standard_normal((length, 288)).astype(np.float32)
            mask = (np.arange(length) % 3 != 0).astype(np.uint8)
            write_video(os.path.join(root, "videos", f"{name}.mp4"), length)
            os.makedirs(os.path.join(root, "descriptions", split), exist_ok=True)
            with open(os.path.join(root, "descriptions", f"{name}.json"), "w") as handle:
                json.dump({"chunk_0": "A hand rises.", "refined": refined}, handle)
            os.makedirs(os.path.join(root, "hand_features", split), exist_ok=True)
            save_file(
                {"hand_features": features, "hand_mask": mask},
                os.path.join(root, "hand_features", f"{name}.safetensors"),
            )
            entries.append({"name": name, "gloss": "WETTER GUT", "text": text, "length": length})
            expected[name] = (text, refined, features, mask.astype(bool))
        write_labels(os.path.join(root, f"labels.{split}"), entries)
    return expected


def write_frames_corpus(root, names, num_frames=3, texts=None):
    """A CSL-Daily-style corpus: labels in root, frames in root/frames/<name>/NNN.png."""
    for name in names:
        for index in range(num_frames):
            write_image(os.path.join(root, "frames", name, f"{index:03d}.png"))
    entries = [
        {"name": name, "gloss": "A B", "text": (texts or {}).get(name, f"sentence {name}"), "length": num_frames}
        for name in names
    ]
    write_labels(os.path.join(root, "labels.dev"), entries)
    return os.path.join(root, "frames")


# ---------------------------------------------------------------------------------------------------------------------
# Real Phoenix14T labels, CSL-Daily, SynthSign, custom manifests
# ---------------------------------------------------------------------------------------------------------------------


def test_phoenix14t_real_dev_labels(tmp_path, phoenix_dev_labels):
    labels = safe_load(phoenix_dev_labels)
    # Stand-in frames: every imgs_path entry is a hard link to one tiny PNG, so the real lengths are kept cheaply.
    image = tmp_path / "frame.png"
    write_image(image)
    frames_dir = tmp_path / "frames"
    for entry in labels.values():
        (frames_dir / os.path.dirname(entry["imgs_path"][0])).mkdir(parents=True, exist_ok=True)
        for relative in entry["imgs_path"]:
            os.link(image, frames_dir / relative)

    dataset = load_sign_dataset(
        "phoenix14t", data_dir=os.path.dirname(phoenix_dev_labels), frames_dir=frames_dir, cache_dir=tmp_path / "c"
    )

    assert list(dataset) == ["validation"]
    split = dataset["validation"]
    assert split.num_rows == 519
    examples = {example["id"]: example for example in split}
    assert set(examples) == {entry["name"] for entry in labels.values()}
    for entry in labels.values():
        example = examples[entry["name"]]
        assert example["text"] == entry["text"]
        assert example["gloss"] == entry["gloss"]
        assert example["num_frames"] == entry["length"]
        assert example["frames"] == [str(frames_dir / relative) for relative in entry["imgs_path"]]
        assert example["video"] is None
        assert example["description"] is None and example["hand_features"] is None and example["hand_mask"] is None


def test_csl_daily_chinese_text_and_natural_frame_order(tmp_path):
    names = ["train/S000001_P0000_T00", "train/S000002_P0001_T00"]
    texts = {names[0]: "今天天气很好", names[1]: "我想喝一杯茶"}
    entries = [{"name": name, "gloss": "今天 天气 好", "text": texts[name], "length": 12} for name in names]
    write_labels(tmp_path / "labels.train", entries)
    # One folder under the full name, one under the basename only; file names that sort wrongly as text.
    for folder in (tmp_path / "frames" / names[0], tmp_path / "frames" / os.path.basename(names[1])):
        for index in range(12):
            write_image(str(folder / f"frame_{index}.jpg"))

    dataset = load_sign_dataset("csl_daily", data_dir=tmp_path, cache_dir=tmp_path / "c")

    assert list(dataset) == ["train"]
    by_id = {example["id"]: example for example in dataset["train"]}
    assert {name: by_id[name]["text"] for name in names} == texts
    assert by_id[names[0]]["gloss"] == "今天 天气 好"
    frames = by_id[names[1]]["frames"]
    assert by_id[names[1]]["num_frames"] == 12
    assert [os.path.basename(path) for path in frames] == [f"frame_{index}.jpg" for index in range(12)]
    assert frames[0] == str(tmp_path / "frames" / "S000002_P0001_T00" / "frame_0.jpg")


def test_synthsign_layout_with_all_extras(tmp_path):
    expected = write_synthsign_layout(tmp_path / "synth")

    dataset = load_sign_dataset("synthsign", data_dir=tmp_path / "synth", cache_dir=tmp_path / "c")

    assert list(dataset) == ["train", "validation"]
    assert dataset["train"].num_rows == 2 and dataset["validation"].num_rows == 1
    for split in dataset.values():
        for example in split:
            text, refined, features, mask = expected[example["id"]]
            assert example["text"] == text
            assert example["gloss"] == "WETTER GUT"
            assert example["video"] == str(tmp_path / "synth" / "videos" / f"{example['id']}.mp4")
            assert example["frames"] is None
            assert example["num_frames"] == features.shape[0]
            assert example["description"] == refined
            np.testing.assert_allclose(np.array(example["hand_features"]), features, atol=2e-3, rtol=1e-3)
            assert example["hand_mask"] == mask.tolist()


def test_synthsign_generator_output_loads(tmp_path):
    generate_synthsign(tmp_path / "synth", seed=0, num_train=4, num_dev=2, num_test=2, resolution=64)

    dataset = load_sign_dataset("synthsign", data_dir=tmp_path / "synth", cache_dir=tmp_path / "c")

    assert {split: part.num_rows for split, part in dataset.items()} == {"train": 4, "validation": 2, "test": 2}
    for example in dataset["train"]:
        assert example["text"] and example["video"].endswith(".mp4")
        assert example["description"]
        assert len(example["hand_features"]) == example["num_frames"] == len(example["hand_mask"])
        assert len(example["hand_features"][0]) == 288


def test_custom_jsonl_with_video_frame_folder_and_frame_list(tmp_path, asl_house):
    root = tmp_path / "manifests"
    shutil.copy(asl_house, tmp_path / "house.mp4")
    for index in range(4):
        write_image(str(root / "clips" / "b" / f"{index}.png"))
    rows = [
        # Relative paths resolve against the manifest's folder.
        {"id": "house", "video": "../house.mp4", "text": "House.", "gloss": "HOUSE", "description": "Two flat hands."},
        {"id": "b", "frames": "clips/b", "text": "Frames from a folder."},
        {"id": "c", "frames": ["clips/b/0.png", "clips/b/1.png"], "text": "Frames from a list."},
    ]
    with open(root / "train.jsonl", "w") as handle:
        handle.write("\n".join(json.dumps(row) for row in rows) + "\n")
    with open(root / "test.jsonl", "w") as handle:
        handle.write(json.dumps({"id": "t", "frames": "clips/b", "text": "Test."}) + "\n")

    dataset = load_sign_dataset("custom", data_dir=root, cache_dir=tmp_path / "c")

    assert list(dataset) == ["train", "test"]
    house, folder, listed = dataset["train"]
    assert house["video"] == str(tmp_path / "house.mp4")
    assert house["num_frames"] == 73  # from the real clip's container
    assert (house["gloss"], house["description"]) == ("HOUSE", "Two flat hands.")
    assert folder["frames"] == [str(root / "clips" / "b" / f"{index}.png") for index in range(4)]
    assert folder["num_frames"] == 4 and folder["gloss"] is None and folder["description"] is None
    assert listed["frames"] == [str(root / "clips" / "b" / "0.png"), str(root / "clips" / "b" / "1.png")]
    assert listed["num_frames"] == 2
    assert dataset["test"][0]["id"] == "t"


def test_custom_csv_with_real_video_and_hand_features(tmp_path, asl_house, fixtures_dir):
    features = np.random.default_rng(0).standard_normal((73, 288)).astype(np.float32)
    np.save(tmp_path / "house_hands.npy", features)
    with open(tmp_path / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "video", "text", "gloss", "hand_features", "split"])
        writer.writeheader()
        writer.writerow(
            {"id": "house", "video": asl_house, "text": "House.", "gloss": "HOUSE", "hand_features": "house_hands.npy",
             "split": "dev"}
        )
        what = str(fixtures_dir / "videos" / "asl_wrong_what.mp4")
        writer.writerow({"id": "what", "video": what, "text": "What's the matter?", "split": "train"})

    dataset = load_sign_dataset("custom", manifest=tmp_path / "manifest.csv", cache_dir=tmp_path / "c")

    assert list(dataset) == ["train", "validation"]
    house = dataset["validation"][0]
    assert (house["id"], house["video"], house["num_frames"], house["gloss"]) == ("house", asl_house, 73, "HOUSE")
    np.testing.assert_allclose(np.array(house["hand_features"]), features, atol=2e-3, rtol=1e-3)
    assert house["hand_mask"] == [True] * 73
    what = dataset["train"][0]
    assert (what["num_frames"], what["gloss"], what["hand_features"]) == (97, None, None)


def test_custom_finds_sources_and_extras_by_id(tmp_path):
    write_video(str(tmp_path / "videos" / "clip_1.mkv"), 5)
    (tmp_path / "desc").mkdir()
    with open(tmp_path / "desc" / "clip_1.json", "w") as handle:
        json.dump({"refined": "A fist circles."}, handle)
    with open(tmp_path / "validation.jsonl", "w") as handle:
        handle.write(json.dumps({"id": "clip_1", "text": "Hello."}) + "\n")

    dataset = load_sign_dataset(
        "custom",
        data_dir=tmp_path,
        videos_dir=tmp_path / "videos",
        descriptions_dir=tmp_path / "desc",
        cache_dir=tmp_path / "c",
    )

    example = dataset["validation"][0]
    # Matroska announces no frame count: the frames are counted by decoding.
    assert example["video"] == str(tmp_path / "videos" / "clip_1.mkv") and example["num_frames"] == 5
    assert example["description"] == "A fist circles."


# ---------------------------------------------------------------------------------------------------------------------
# Extras: lookup, formats, missing counts
# ---------------------------------------------------------------------------------------------------------------------


def write_hand_features(root, name, features, mask, file_format):
    split, base = name.split("/")
    if file_format == "safetensors":
        path = os.path.join(root, f"{name}.safetensors")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_file({"hand_features": features, "hand_mask": mask.astype(np.uint8)}, path)
    elif file_format == "npy":
        path = os.path.join(root, f"{base}.npy")  # found by basename
        os.makedirs(root, exist_ok=True)
        np.save(path, features)
    elif file_format in ("npz", "npz-features"):
        path = os.path.join(root, f"{name}.npz")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        key = "hand_features" if file_format == "npz" else "features"
        np.savez(path, **{key: features, "hand_mask": mask})
    else:  # the reference implementation's HaMeR files: <root>/<split>/<video>/<video>.lzma
        path = os.path.join(root, split, base, f"{base}.lzma")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with lzma.open(path, "wb") as handle:
            pickle.dump({"features": features, "name": base, "num_hands": np.int64(2)}, handle)
    return path


@pytest.mark.parametrize("file_format", ["safetensors", "npy", "npz", "npz-features", "lzma"])
def test_hand_feature_formats(tmp_path, file_format):
    names = ["dev/sample_a"]
    frames_dir = write_frames_corpus(tmp_path, names, num_frames=5)
    features = np.linspace(-1, 1, 5 * 288, dtype=np.float32).reshape(5, 288)
    mask = np.array([True, False, True, True, False])
    write_hand_features(str(tmp_path / "hands"), names[0], features, mask, file_format)

    hands = tmp_path / "hands"
    dataset = load_sign_dataset(
        "csl_daily", data_dir=tmp_path, frames_dir=frames_dir, hand_features_dir=hands, cache_dir=tmp_path / "c"
    )

    example = dataset["validation"][0]
    np.testing.assert_allclose(np.array(example["hand_features"]), features, atol=1e-3)
    has_mask = file_format in ("safetensors", "npz", "npz-features")
    assert example["hand_mask"] == (mask.tolist() if has_mask else [True] * 5)


def test_extras_found_and_missing_counted(tmp_path, caplog):
    names = ["dev/a", "dev/b", "dev/c"]
    frames_dir = write_frames_corpus(tmp_path, names, num_frames=4)
    os.makedirs(tmp_path / "desc")
    with open(tmp_path / "desc" / "a.json", "w") as handle:  # descriptor output is flat: <basename>.json
        json.dump({"chunk_0": "x", "chunk_1": "y", "refined": "  Both hands open.  "}, handle)
    write_hand_features(str(tmp_path / "hands"), "dev/b", np.zeros((4, 288), np.float32), np.ones(4, bool), "npy")

    with caplog.at_level(logging.INFO, logger="datasets_scripts.builders.sign_datasets"):
        dataset = load_sign_dataset(
            "csl_daily",
            data_dir=tmp_path,
            frames_dir=frames_dir,
            descriptions_dir=tmp_path / "desc",
            hand_features_dir=tmp_path / "hands",
            cache_dir=tmp_path / "c",
        )

    by_id = {example["id"]: example for example in dataset["validation"]}
    assert by_id["dev/a"]["description"] == "Both hands open."
    assert by_id["dev/b"]["description"] is None and by_id["dev/c"]["description"] is None
    assert by_id["dev/b"]["hand_features"] == [[0.0] * 288] * 4
    assert by_id["dev/a"]["hand_features"] is None and by_id["dev/a"]["hand_mask"] is None
    assert "validation: 2 of 3 samples have no description" in caplog.text
    assert "validation: 2 of 3 samples have no hand features" in caplog.text


# ---------------------------------------------------------------------------------------------------------------------
# Bad input: one error per problem, naming the sample and the file
# ---------------------------------------------------------------------------------------------------------------------


def prepare_error(name, tmp_path, **options):
    with pytest.raises(InvalidSamplesError) as info:
        load_sign_dataset(name, cache_dir=tmp_path / "cache", **options)
    return str(info.value)


@pytest.fixture
def synth(tmp_path):
    write_synthsign_layout(tmp_path / "synth")
    return tmp_path / "synth"


def test_missing_video(synth, tmp_path):
    os.remove(synth / "videos" / "train" / "000001.mp4")
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert "1 invalid sample in synthsign" in message
    assert "[train] train/000001" in message
    assert f"{synth / 'videos' / 'train' / '000001'}.{{mp4,webm,avi,mkv,mov}}: no such video file" in message


def test_empty_video(synth, tmp_path):
    video = synth / "videos" / "dev" / "000000.mp4"
    video.write_bytes(b"")
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert f"[validation] dev/000000: {video}: video file is empty" in message


def test_truncated_video(synth, tmp_path, asl_house):
    # Fast-start layout (index first): a cut file still opens, and decoding finds the missing frames.
    video = synth / "videos" / "train" / "000000.mp4"
    data = Path(asl_house).read_bytes()
    video.write_bytes(data[: len(data) // 2])
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert f"[train] train/000000: {video}: video is truncated or corrupt" in message
    assert "decoding failed after 29 of 73 declared frames" in message


def test_truncated_video_without_index(synth, tmp_path):
    video = synth / "videos" / "train" / "000000.mp4"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # PyAV writes the index last: it is cut off
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert f"[train] train/000000: {video}: cannot be opened as a video" in message


def test_undecodable_video_container(synth, tmp_path):
    video = synth / "videos" / "train" / "000000.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(4000))  # an mp4 signature and nothing usable
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert f"[train] train/000000: {video}: cannot be opened as a video" in message


def test_undecodable_video_frames(synth, tmp_path):
    video = synth / "videos" / "train" / "000000.mp4"
    data = bytearray(video.read_bytes())
    start = data.find(b"mdat")
    size = struct.unpack(">I", data[start - 4 : start])[0]
    data[start + 4 : start - 4 + size] = bytes(size - 8)  # the container is intact, the coded frames are zeros
    video.write_bytes(bytes(data))
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert f"[train] train/000000: {video}: the first video frame cannot be decoded" in message


def test_video_without_video_stream(synth, tmp_path):
    video = synth / "videos" / "train" / "000000.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert f"[train] train/000000: {video}: has no video stream" in message


def test_missing_frame_folder(tmp_path):
    frames_dir = write_frames_corpus(tmp_path, ["dev/a", "dev/b"])
    shutil.rmtree(os.path.join(frames_dir, "dev", "b"))
    message = prepare_error("csl_daily", tmp_path, data_dir=tmp_path)
    missing = f"{os.path.join(frames_dir, 'dev', 'b')}{os.sep}"
    assert f"[validation] dev/b: {missing}: frame folder does not exist" in message


def test_empty_frame_folder(tmp_path):
    frames_dir = write_frames_corpus(tmp_path, ["dev/a", "dev/b"])
    folder = os.path.join(frames_dir, "dev", "b")
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    message = prepare_error("csl_daily", tmp_path, data_dir=tmp_path)
    assert f"[validation] dev/b: {folder}: frame folder holds no image files" in message


def test_unreadable_frame(tmp_path):
    frames_dir = write_frames_corpus(tmp_path, ["dev/a"])
    last = os.path.join(frames_dir, "dev", "a", "002.png")
    with open(last, "r+b") as handle:
        handle.truncate(30)
    message = prepare_error("csl_daily", tmp_path, data_dir=tmp_path)
    assert f"[validation] dev/a: {last}: frame cannot be read as an image" in message


def test_missing_frame_listed_in_labels(tmp_path):
    image = tmp_path / "frames" / "dev" / "x" / "images0001.png"
    write_image(str(image))
    imgs_path = ["dev/x/images0001.png", "dev/x/images0002.png"]
    entry = {"name": "dev/x", "gloss": "A", "text": "t", "length": 2, "imgs_path": imgs_path}
    write_labels(tmp_path / "labels.dev", [entry])
    message = prepare_error("phoenix14t", tmp_path, data_dir=tmp_path, frames_dir=tmp_path / "frames")
    assert f"[validation] dev/x: {image.parent / 'images0002.png'}: frame file is missing (1 of 2" in message


@pytest.mark.parametrize(
    "content, problem",
    [
        (["dev/a"], "expected a dict mapping sample names"),
        ({"dev/a": {"name": "dev/a", "gloss": "A"}}, "entry 'dev/a' is not a dict with a 'text' field"),
        ({"dev/a": {"name": "dev/a", "text": "t", "length": "12"}}, "entry 'dev/a' has a str 'length'"),
        (None, "is not a GFSLT-VLP label file"),
    ],
    ids=["list", "no-text", "bad-length", "not-a-pickle"],
)
def test_label_file_in_wrong_format(tmp_path, content, problem):
    write_frames_corpus(tmp_path, ["dev/a"])
    labels = tmp_path / "labels.dev"
    if content is None:
        labels.write_text("name,text\ndev/a,hello\n")
    else:
        with gzip.open(labels, "wb") as handle:
            pickle.dump(content, handle)
    with pytest.raises(LabelFormatError) as info:
        load_sign_dataset("csl_daily", data_dir=tmp_path, cache_dir=tmp_path / "c")
    assert str(labels) in str(info.value) and problem in str(info.value)


def test_label_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    write_frames_corpus(tmp_path, ["dev/a"])
    with gzip.open(tmp_path / "labels.dev", "wb") as handle:
        pickle.dump({"dev/a": {"name": "dev/a", "text": Payload()}}, handle)
    with pytest.raises(UnsafePickleError) as info:
        load_sign_dataset("csl_daily", data_dir=tmp_path, cache_dir=tmp_path / "c")
    assert str(tmp_path / "labels.dev") in str(info.value) and "system" in str(info.value)
    assert not marker.exists()


def test_hand_features_length_disagrees_with_frames(synth, tmp_path):
    path = synth / "hand_features" / "train" / "000001.safetensors"
    save_file({"hand_features": np.zeros((3, 288), np.float32)}, str(path))
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert f"[train] train/000001: {path}: has hand features for 3 frames but the video has 7 frames" in message


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_hand_features_with_nan_or_inf(synth, tmp_path, bad_value):
    path = synth / "hand_features" / "dev" / "000000.safetensors"
    features = np.zeros((6, 288), np.float32)
    features[4, 10] = bad_value
    save_file({"hand_features": features}, str(path))
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert f"[validation] dev/000000: {path}: hand features contain 1 NaN/inf values (first in frame 4)" in message


def test_hand_feature_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    frames_dir = write_frames_corpus(tmp_path, ["dev/a"])
    path = tmp_path / "hands" / "dev" / "a.lzma"
    path.parent.mkdir(parents=True)
    with lzma.open(path, "wb") as handle:
        pickle.dump({"features": Payload()}, handle)
    message = prepare_error(
        "csl_daily", tmp_path, data_dir=tmp_path, frames_dir=frames_dir, hand_features_dir=tmp_path / "hands"
    )
    assert f"[validation] dev/a: {path}: Refusing to load {path}" in message
    assert not marker.exists()


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_target_sentence(tmp_path, text):
    write_frames_corpus(tmp_path, ["dev/a", "dev/b"], texts={"dev/b": text})
    message = prepare_error("csl_daily", tmp_path, data_dir=tmp_path)
    assert f"[validation] dev/b: {tmp_path / 'labels.dev'}: the target sentence (text) is empty" in message


def test_empty_target_sentence_in_csv_manifest(tmp_path):
    write_image(str(tmp_path / "clip" / "0.png"))
    (tmp_path / "train.csv").write_text("id,frames,text\nok,clip,Hello.\nempty,clip,\n")
    message = prepare_error("custom", tmp_path, data_dir=tmp_path)
    assert f"[train] empty: {tmp_path / 'train.csv'}:3: the target sentence (text) is empty" in message


def test_bad_manifest_line(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"id": "a", "frames": "x", "text": "t"}\nnot json\n')
    with pytest.raises(LabelFormatError, match=rf"{tmp_path / 'train.jsonl'}:2: not a JSON object"):
        load_sign_dataset("custom", data_dir=tmp_path, cache_dir=tmp_path / "c")


def test_every_invalid_sample_is_reported_at_once(synth, tmp_path):
    os.remove(synth / "videos" / "train" / "000000.mp4")
    (synth / "videos" / "dev" / "000000.mp4").write_bytes(b"")
    bad_features = synth / "hand_features" / "train" / "000001.safetensors"
    save_file({"hand_features": np.full((7, 288), np.nan, np.float32)}, str(bad_features))

    message = prepare_error("synthsign", tmp_path, data_dir=synth)

    assert message.startswith("3 invalid samples in synthsign")
    assert "[train] train/000000:" in message and "no such video file" in message
    assert "[train] train/000001:" in message and f"{bad_features}: hand features contain" in message
    assert "[validation] dev/000000:" in message and "video file is empty" in message
    assert not [name for _, _, files in os.walk(tmp_path / "cache") for name in files if name.endswith(".arrow")]


def test_drop_invalid_leaves_samples_out_with_a_logged_count(synth, tmp_path, caplog):
    os.remove(synth / "videos" / "train" / "000000.mp4")
    (synth / "videos" / "dev" / "000000.mp4").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="datasets_scripts.builders.sign_datasets"):
        dataset = load_sign_dataset("synthsign", data_dir=synth, drop_invalid=True, cache_dir=tmp_path / "c")
    assert list(dataset) == ["train"]  # the only validation sample is invalid: the split is left out
    assert dataset["train"]["id"] == ["train/000001"]
    assert "train: dropped 1 of 2 invalid samples" in caplog.text and "train/000000" in caplog.text
    assert "validation: dropped 1 of 1 invalid samples" in caplog.text

    os.remove(synth / "videos" / "train" / "000001.mp4")
    with pytest.raises(InvalidSamplesError, match="3 invalid samples in synthsign; no valid sample is left"):
        load_sign_dataset("synthsign", data_dir=synth, drop_invalid=True, cache_dir=tmp_path / "c2")


# ---------------------------------------------------------------------------------------------------------------------
# Caching
# ---------------------------------------------------------------------------------------------------------------------


def test_failed_preparation_leaves_existing_cache_intact(synth, tmp_path):
    cache = tmp_path / "cache"
    before = load_sign_dataset("synthsign", data_dir=synth, cache_dir=cache)
    expected = {split: part.to_dict() for split, part in before.items()}
    arrow_files = sorted(os.path.join(d, f) for d, _, files in os.walk(cache) for f in files if f.endswith(".arrow"))
    contents = {path: Path(path).read_bytes() for path in arrow_files}

    (synth / "videos" / "train" / "000000.mp4").write_bytes(b"")
    # Preparing the same configuration again into the same cache fails before anything is written ...
    with pytest.raises(InvalidSamplesError):
        load_sign_dataset("synthsign", data_dir=synth, cache_dir=cache, download_mode="force_redownload")
    # ... and so does a different (broken) corpus prepared into that cache.
    other = tmp_path / "other"
    write_synthsign_layout(other, text_prefix="other ")
    os.remove(other / "videos" / "dev" / "000000.mp4")
    with pytest.raises(InvalidSamplesError):
        load_sign_dataset("synthsign", data_dir=other, cache_dir=cache)

    assert {path: Path(path).read_bytes() for path in arrow_files} == contents
    after = load_sign_dataset("synthsign", data_dir=synth, cache_dir=cache)
    assert {split: part.to_dict() for split, part in after.items()} == expected


def test_two_data_dirs_share_a_cache_dir_without_colliding(tmp_path):
    write_synthsign_layout(tmp_path / "one", text_prefix="eins ")
    write_synthsign_layout(tmp_path / "two", splits=(("train", 3),), text_prefix="zwei ")
    one = load_sign_dataset("synthsign", data_dir=tmp_path / "one", cache_dir=tmp_path / "cache")
    two = load_sign_dataset("synthsign", data_dir=tmp_path / "two", cache_dir=tmp_path / "cache")
    assert list(one) == ["train", "validation"] and list(two) == ["train"]
    assert all(text.startswith("eins ") for text in one["train"]["text"])
    assert two["train"].num_rows == 3 and all(text.startswith("zwei ") for text in two["train"]["text"])


def test_builder_used_directly_caches_and_notices_new_labels(tmp_path):
    root = tmp_path / "synth"
    write_synthsign_layout(root)

    builder = SynthSign(config_name="synthsign", data_dir=str(root), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    first = builder.as_dataset()
    assert first["train"]["text"] == ["das wetter train 0", "das wetter train 1"]

    # A second builder finds the prepared data without preparing again (the sources are not even read).
    shutil.move(root / "videos", tmp_path / "videos_elsewhere")
    again = SynthSign(config_name="synthsign", data_dir=str(root), cache_dir=str(tmp_path / "cache"))
    again.download_and_prepare()
    assert again.as_dataset()["train"]["text"] == first["train"]["text"]
    shutil.move(tmp_path / "videos_elsewhere", root / "videos")

    # Regenerated labels in the same folder are a different dataset.
    write_synthsign_layout(root, text_prefix="neu ")
    regenerated = SynthSign(data_dir=str(root), cache_dir=str(tmp_path / "cache"))
    regenerated.download_and_prepare()
    assert regenerated.as_dataset()["train"]["text"] == ["neu das wetter train 0", "neu das wetter train 1"]


def test_splits_option_and_parallel_preparation(synth, tmp_path):
    only_dev = load_sign_dataset("synthsign", data_dir=synth, splits=["dev"], cache_dir=tmp_path / "c")
    assert list(only_dev) == ["validation"]
    parallel = load_sign_dataset("synthsign", data_dir=synth, num_proc=2, cache_dir=tmp_path / "c2")
    serial = load_sign_dataset("synthsign", data_dir=synth, cache_dir=tmp_path / "c3")
    assert parallel["train"].to_dict() == serial["train"].to_dict()


def test_phoenix14t_needs_a_source_folder(tmp_path, phoenix_dev_labels):
    shutil.copy(phoenix_dev_labels, tmp_path / "labels.dev")
    with pytest.raises(ValueError, match="phoenix14t needs frames_dir"):
        Phoenix14T(data_dir=str(tmp_path), cache_dir=str(tmp_path / "c")).download_and_prepare()


def test_unknown_dataset_and_option(tmp_path):
    with pytest.raises(ValueError, match="Unknown sign dataset 'phoenix'"):
        load_sign_dataset("phoenix", data_dir=tmp_path)
    with pytest.raises(TypeError, match="frame_dir"):
        load_sign_dataset("phoenix14t", data_dir=tmp_path, frame_dir=tmp_path)


def test_read_hand_features_rejects_wrong_shape(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros(10, np.float32))
    with pytest.raises(ValueError, match=r"flat.npy: hand features must have shape \[frames, dims\], got \[10\]"):
        read_hand_features(str(tmp_path / "flat.npy"))


# ---------------------------------------------------------------------------------------------------------------------
# What training would crash on is refused before preparation
# ---------------------------------------------------------------------------------------------------------------------


def video_packets(path):
    with av.open(str(path)) as container:
        return [(packet.pos, packet.size) for packet in container.demux(container.streams.video[0]) if packet.size]


def write_noise_video(path, num_frames=60, size=64):
    """Random pixels: every frame is a large packet, so bytes in the middle belong to coded frames."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for _ in range(num_frames):
            image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_video_cut_at_a_packet_boundary(synth, tmp_path):
    # The index (written first) declares 60 frames; the file ends cleanly after 30 packets.
    video = synth / "videos" / "train" / "000000.mp4"
    write_noise_video(video)
    video.write_bytes(video.read_bytes()[: video_packets(video)[30][0]])
    # Features for the 30 frames that decode, so nothing but the video is wrong.
    features = {"hand_features": np.zeros((30, 288), np.float32)}
    save_file(features, str(synth / "hand_features" / "train" / "000000.safetensors"))
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    assert f"[train] train/000000: {video}: video is truncated or corrupt" in message
    assert "its container declares 60 frames but only 30 decode" in message


def test_corrupt_packets_in_the_middle_need_full_verification(synth, tmp_path):
    video = synth / "videos" / "train" / "000000.mp4"
    write_noise_video(video)
    for hand in ("train/000000", "train/000001"):
        features = {"hand_features": np.zeros((60, 288), np.float32)}
        save_file(features, str(synth / "hand_features" / f"{hand}.safetensors"))
    write_noise_video(synth / "videos" / "train" / "000001.mp4")
    data = bytearray(video.read_bytes())
    rng = np.random.default_rng(1)
    for position, size in video_packets(video)[30:34]:
        data[position + 4 : position + size] = rng.integers(0, 255, size - 4, dtype=np.uint8).tobytes()
    video.write_bytes(bytes(data))
    assert load_sign_dataset("synthsign", data_dir=synth, cache_dir=tmp_path / "cache")["train"].num_rows == 2
    message = prepare_error("synthsign", tmp_path, data_dir=synth, verify_media="full")
    assert f"[train] train/000000: {video}: video is truncated or corrupt: decoding failed after" in message
    assert "train/000001" not in message


def test_frame_of_another_size(tmp_path):
    frames_dir = write_frames_corpus(tmp_path, ["dev/a"], num_frames=4)
    odd = os.path.join(frames_dir, "dev", "a", "001.png")
    write_image(odd, size=10)
    message = prepare_error("csl_daily", tmp_path, data_dir=tmp_path)
    first = os.path.join(frames_dir, "dev", "a", "000.png")
    assert f"[validation] dev/a: {odd}: frame is 10x10 but the first frame {first} is 8x8" in message


def test_truncated_frame_in_the_middle_needs_full_verification(tmp_path):
    frames_dir = write_frames_corpus(tmp_path, ["dev/a"], num_frames=4)
    middle = os.path.join(frames_dir, "dev", "a", "001.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(middle)
    with open(middle, "r+b") as handle:
        handle.truncate(os.path.getsize(middle) - 60)  # the header survives, the pixels do not
    assert load_sign_dataset("csl_daily", data_dir=tmp_path, cache_dir=tmp_path / "cache")["validation"].num_rows == 1
    message = prepare_error("csl_daily", tmp_path, data_dir=tmp_path, verify_media="full")
    assert f"[validation] dev/a: {middle}: frame cannot be read as an image" in message


def test_verify_media_must_be_known(tmp_path):
    write_frames_corpus(tmp_path, ["dev/a"])
    with pytest.raises(ValueError, match="verify_media must be one of"):
        load_sign_dataset("csl_daily", data_dir=tmp_path, cache_dir=tmp_path / "cache", verify_media="thorough")


def test_hand_features_of_another_width(synth, tmp_path):
    path = synth / "hand_features" / "dev" / "000000.safetensors"
    save_file({"hand_features": np.zeros((6, 99), np.float32)}, str(path))
    message = prepare_error("synthsign", tmp_path, data_dir=synth)
    expected = f"[validation] dev/000000: {path}: hand features are 99 wide, but 2 of the 3 samples with hand features"
    assert expected in message and "1 invalid sample" in message


# ---------------------------------------------------------------------------------------------------------------------
# Label files, manifests and extras: errors that name the file
# ---------------------------------------------------------------------------------------------------------------------


def test_corrupt_gzip_label_file(tmp_path):
    write_frames_corpus(tmp_path, ["dev/a"])
    path = tmp_path / "labels.dev"
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(LabelFormatError, match=rf"{path} is not a GFSLT-VLP label file: {path} is not a readable"):
        load_sign_dataset("csl_daily", data_dir=tmp_path, cache_dir=tmp_path / "c")


def test_corrupt_hand_feature_pickle(tmp_path):
    frames_dir = write_frames_corpus(tmp_path, ["dev/a"])
    path = tmp_path / "hands" / "dev" / "a.pkl"
    path.parent.mkdir(parents=True)
    data = bytearray(gzip.compress(pickle.dumps({"features": np.ones((3, 288), np.float32)})))
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    hands = path.parents[1]
    message = prepare_error("csl_daily", tmp_path, data_dir=tmp_path, frames_dir=frames_dir, hand_features_dir=hands)
    assert f"[validation] dev/a: {path}: not a readable hand feature pickle" in message


def test_hand_features_nested_too_deep(tmp_path):
    path = tmp_path / "deep.pkl"
    depth = 100
    nested = pickle.PROTO + b"\x04" + pickle.EMPTY_DICT + pickle.SHORT_BINUNICODE + b"\x08features"
    nested += (pickle.EMPTY_LIST + pickle.MARK) * depth + pickle.BININT1 + b"\x00" + pickle.APPENDS * depth
    path.write_bytes(nested + pickle.SETITEM + pickle.STOP)
    with pytest.raises(ValueError, match=rf"{path}: 'features' is not a numeric array \[frames, dims\]"):
        read_hand_features(str(path))


def test_csv_manifest_with_byte_order_mark(tmp_path):
    write_image(str(tmp_path / "clip" / "0.png"))
    (tmp_path / "train.csv").write_text("id,frames,text\na,clip,Hallo.\n", encoding="utf-8-sig")
    assert load_sign_dataset("custom", data_dir=tmp_path, cache_dir=tmp_path / "c")["train"][0]["text"] == "Hallo."


@pytest.mark.parametrize("text", [5, ["a"], {"de": "a"}])
def test_non_string_text_in_manifest(tmp_path, text):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"id": "a", "frames": "clip", "text": text}) + "\n")
    with pytest.raises(LabelFormatError, match=rf"{path}:1: 'text' must be a string"):
        load_sign_dataset("custom", data_dir=tmp_path, cache_dir=tmp_path / "c")


@pytest.mark.parametrize("content", ["", "\n\n", "id,frames,text\n"])
def test_empty_manifest_names_the_file(tmp_path, content):
    path = tmp_path / ("train.csv" if content.startswith("id") else "train.jsonl")
    path.write_text(content)
    with pytest.raises(LabelFormatError, match=rf"{path}: the manifest lists no samples"):
        load_sign_dataset("custom", data_dir=tmp_path, cache_dir=tmp_path / "c")


def test_empty_label_file_names_the_file(tmp_path):
    write_frames_corpus(tmp_path, ["dev/a"])
    write_labels(tmp_path / "labels.test", [])
    with pytest.raises(LabelFormatError, match=rf"{tmp_path / 'labels.test'}: the label file lists no samples"):
        load_sign_dataset("csl_daily", data_dir=tmp_path, cache_dir=tmp_path / "c")


def test_same_video_in_train_and_test_is_reported(tmp_path, caplog):
    write_video(tmp_path / "clip.mp4", 4)
    (tmp_path / "train.jsonl").write_text('{"id": "a", "video": "clip.mp4", "text": "eins"}\n')
    (tmp_path / "test.jsonl").write_text('{"id": "b", "video": "clip.mp4", "text": "zwei"}\n')
    with caplog.at_level(logging.WARNING):
        load_sign_dataset("custom", data_dir=tmp_path, cache_dir=tmp_path / "c")
    assert "1 videos or frame folders are used by more than one split" in caplog.text
    assert f"{tmp_path / 'clip.mp4'}: [train] a, [test] b" in caplog.text


@pytest.mark.parametrize("sample_id", ["../outside", "/etc/passwd", "a/../../outside"])
def test_sample_id_outside_the_source_folder_is_refused(tmp_path, sample_id):
    write_video(tmp_path / "data" / "outside.mp4", 4)  # where `videos/../outside` leads
    write_video(tmp_path / "data" / "videos" / "inside.mp4", 4)
    (tmp_path / "data" / "train.jsonl").write_text(
        json.dumps({"id": "inside", "text": "gut"}) + "\n" + json.dumps({"id": sample_id, "text": "böse"}) + "\n"
    )
    message = prepare_error("custom", tmp_path, data_dir=tmp_path / "data")
    manifest = tmp_path / "data" / "train.jsonl"
    assert f"[train] {sample_id}: {manifest}:2: sample id {sample_id!r} resolves to" in message
    assert f"outside {tmp_path / 'data' / 'videos'}" in message
