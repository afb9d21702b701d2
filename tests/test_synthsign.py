"""Tests for the SynthSign generator (`datasets_scripts.synthsign`)."""

import gzip
import hashlib
import io
import json
import os
import pickle
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from datasets_scripts.builders.safe_pickle import safe_load
from datasets_scripts.media import segment_bounds
from datasets_scripts.synthsign import (
    build_lexicon,
    generate_synthsign,
    main,
    make_contact_sheet,
    select_glosses,
)
from datasets_scripts.synthsign.grammar import Grammar, plan_sentences, realise
from datasets_scripts.synthsign.lexicon import HANDSHAPES, LOCATIONS, MINIMAL_PAIRS, MOVEMENTS, ORIENTATIONS
from datasets_scripts.synthsign.motion import (
    ClipTiming,
    clip_hand_features,
    clip_motion,
    sample_style,
)
from datasets_scripts.synthsign.render import SignerPainter, available_codec, write_video


TINY = {"num_train": 6, "num_dev": 3, "num_test": 3, "resolution": 64, "num_workers": 1}
SPLITS = ("train", "dev", "test")


class _PlainDataUnpickler(pickle.Unpickler):
    """Refuses every global: only plain containers, str, int and float can be loaded."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"label file references {module}.{name}")


def read_labels(path) -> dict:
    with gzip.open(path, "rb") as handle:
        return _PlainDataUnpickler(io.BytesIO(handle.read())).load()


def decode(path, format="rgb24") -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format=format) for frame in container.decode(video=0)]


def fingerprint(root: Path) -> dict[str, str]:
    """Hash of every file; videos are compared by their decoded frames (in the stream's own pixel format, so no
    colour conversion takes part)."""
    digests = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            if path.suffix == ".mp4":
                content = b"".join(frame.tobytes() for frame in decode(path, format=None))
            else:
                content = path.read_bytes()
            digests[str(path.relative_to(root))] = hashlib.sha256(content).hexdigest()
    return digests


@pytest.fixture(scope="module")
def lexicon():
    return build_lexicon()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny dataset (seed 0) and the metadata `generate_synthsign` returned."""
    root = tmp_path_factory.mktemp("synthsign") / "seed0"
    return root, generate_synthsign(root, seed=0, **TINY)


@pytest.fixture(scope="module")
def tiny_labels(tiny):
    root, _ = tiny
    return {split: read_labels(root / f"labels.{split}") for split in SPLITS}


# ---------------------------------------------------------------------------------------------------------------------
# Lexicon and vocabulary subsets
# ---------------------------------------------------------------------------------------------------------------------
def test_lexicon_size_and_parameter_inventory(lexicon):
    assert len(lexicon) >= 150
    assert all(gloss == gloss.upper() and sign.gloss == gloss for gloss, sign in lexicon.items())
    forms = [form for sign in lexicon.values() for form in (sign.right, sign.left) if form is not None]
    assert len({form.handshape for form in forms}) >= 10
    assert len({form.location for form in forms}) >= 8
    assert len({MOVEMENTS[form.movement][0] for form in forms}) >= 6
    assert {"hold", "straight", "arc", "circle", "zigzag", "repeat"} <= {MOVEMENTS[f.movement][0] for f in forms}
    assert len({form.orientation for form in forms}) >= 4
    assert len(HANDSHAPES) >= 10 and len(LOCATIONS) >= 8 and len(ORIENTATIONS) >= 4


def test_lexicon_has_one_and_two_handed_signs(lexicon):
    kinds = Counter(sign.hands for sign in lexicon.values())
    assert kinds["one"] >= 20
    assert kinds["symmetric"] + kinds["alternating"] + kinds["base"] >= 20
    for sign in lexicon.values():
        assert (sign.left is None) == (sign.hands == "one")


def test_minimal_pairs_differ_only_in_handshape(lexicon):
    pairs = {tuple(sorted((gloss, sign.minimal_pair))) for gloss, sign in lexicon.items() if sign.minimal_pair}
    assert pairs == {tuple(sorted(pair)) for pair in MINIMAL_PAIRS} and len(pairs) >= 10
    for first, second in pairs:
        a, b = lexicon[first], lexicon[second]
        assert a.minimal_pair == second and b.minimal_pair == first
        assert a.hands == b.hands and a.category == b.category
        assert a.right.handshape != b.right.handshape
        for field in ("location", "movement", "orientation"):
            assert getattr(a.right, field) == getattr(b.right, field)
        if a.hands == "base":
            assert a.left == b.left  # the passive base hand is the same
        elif a.left is not None:
            assert a.left.handshape == a.right.handshape and b.left.handshape == b.right.handshape


def test_signs_that_are_not_minimal_pairs_differ_in_location_or_movement(lexicon):
    seen = {}
    for sign in lexicon.values():
        key = (sign.right.location, sign.right.movement)
        if key in seen:
            assert seen[key].minimal_pair == sign.gloss, f"{seen[key].gloss} and {sign.gloss} look alike"
        seen[key] = sign


def test_lexicon_is_fixed(lexicon):
    assert build_lexicon() == lexicon


def test_every_vocabulary_subset_keeps_minimal_pairs_and_is_usable(lexicon):
    for size in range(12, len(lexicon) + 1):
        glosses = select_glosses(size)
        assert len(glosses) == size == len(set(glosses)), size
        members = [gloss for gloss in glosses if lexicon[gloss].minimal_pair]
        assert 0.15 <= len(members) / size <= 0.5, f"{size} glosses hold {len(members)} minimal pair members"
        assert all(lexicon[gloss].minimal_pair in glosses for gloss in members), size
        assert Grammar(glosses).usable_glosses == set(glosses), size
    assert select_glosses(None) == select_glosses(len(lexicon)) and set(select_glosses(None)) == set(lexicon)
    assert select_glosses(40) == select_glosses(40)


def test_vocabulary_size_out_of_range():
    with pytest.raises(ValueError, match="num_glosses must be between 12"):
        select_glosses(5)
    with pytest.raises(ValueError, match="num_glosses must be between"):
        select_glosses(10_000)


# ---------------------------------------------------------------------------------------------------------------------
# Grammar
# ---------------------------------------------------------------------------------------------------------------------
def test_sentences_reorder_and_have_unsigned_words():
    grammar = Grammar(select_glosses(None))
    rng = np.random.default_rng(0)
    sentences = [grammar.sample(rng, int(rng.integers(2, 5))) for _ in range(500)]
    assert np.mean([sentence.reordered for sentence in sentences]) > 0.4
    function_words = {"es", "die", "der", "das", "im", "am", "in", "bei", "an", "ein", "wird", "gibt", "und"}
    for sentence in sentences:
        words = sentence.text.split()
        assert sentence.text == sentence.text.lower() and sentence.gloss == sentence.gloss.upper()
        assert len(words) > len(sentence.glosses)
    assert np.mean([bool(function_words & set(sentence.text.split())) for sentence in sentences]) > 0.9


def test_grammar_examples():
    grammar = Grammar(select_glosses(None))
    texts = {}
    rng = np.random.default_rng(1)
    for _ in range(3000):
        sentence = grammar.sample(rng, 3)
        texts[sentence.gloss] = sentence.text
    assert texts.get("HEUTE NORD REGEN", "heute regnet es im norden") == "heute regnet es im norden"
    assert realise("STARK", "acc", "REGEN") == "starken"  # inflection: "es gibt starken regen"
    assert realise("STARK", "acc", "WOLKE") == "starke"
    assert realise("STARK", "nom") == "starker"


def test_longer_sentences_join_clauses():
    grammar = Grammar(select_glosses(40))
    sentence = grammar.sample(np.random.default_rng(0), 7)
    assert len(sentence.glosses) == 7 and " und " in sentence.text


def test_dev_and_test_sentences_unseen_in_train_with_seen_glosses():
    grammar = Grammar(select_glosses(40))
    plan = plan_sentences(grammar, np.random.default_rng(0), {"train": 200, "dev": 30, "test": 30}, 2, 4)
    train_glosses = {gloss for sentence in plan["train"] for gloss in sentence.glosses}
    assert train_glosses == set(grammar.glosses)  # train covers the vocabulary
    seen = {sentence.gloss for sentence in plan["train"]} | {sentence.text for sentence in plan["train"]}
    held_out = plan["dev"] + plan["test"]
    assert len({sentence.gloss for sentence in held_out}) == len({sentence.text for sentence in held_out}) == 60
    for sentence in held_out:
        assert sentence.gloss not in seen and sentence.text not in seen
        assert set(sentence.glosses) <= train_glosses


def test_too_few_distinct_sentences_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="too few distinct sentences"):
        generate_synthsign(tmp_path, num_train=50, num_dev=500, num_test=0, num_glosses=12, max_signs=2, num_workers=1)


# ---------------------------------------------------------------------------------------------------------------------
# Generated dataset
# ---------------------------------------------------------------------------------------------------------------------
def test_layout_follows_the_contract(tiny, tiny_labels):
    root, _ = tiny
    expected = {
        "synthsign.json",
        "labels.train",
        "labels.dev",
        "labels.test",
        "videos",
        "descriptions",
        "hand_features",
    }
    assert set(os.listdir(root)) == expected
    for split, size in zip(SPLITS, (6, 3, 3)):
        assert len(tiny_labels[split]) == size
        for name in tiny_labels[split]:
            assert name.startswith(f"{split}/")
            for folder, extension in (("videos", "mp4"), ("descriptions", "json"), ("hand_features", "safetensors")):
                assert (root / folder / f"{name}.{extension}").is_file()
        for folder in ("videos", "descriptions", "hand_features"):
            assert len(os.listdir(root / folder / split)) == size


def test_label_files_hold_plain_containers(tiny, tiny_labels):
    root, _ = tiny
    for split in SPLITS:
        assert safe_load(str(root / f"labels.{split}")) == tiny_labels[split]
        for name, entry in tiny_labels[split].items():
            assert type(entry) is dict and set(entry) == {"name", "gloss", "text", "length"}
            assert entry["name"] == name
            assert type(entry["gloss"]) is str and type(entry["text"]) is str and type(entry["length"]) is int
            assert entry["gloss"] == entry["gloss"].upper() and entry["text"] == entry["text"].lower()
            assert len(entry["text"].split()) > len(entry["gloss"].split())


def test_dev_and_test_sentences_unseen_in_generated_train(tiny_labels):
    train = {entry["gloss"] for entry in tiny_labels["train"].values()}
    train |= {entry["text"] for entry in tiny_labels["train"].values()}
    held_out = list(tiny_labels["dev"].values()) + list(tiny_labels["test"].values())
    assert len({entry["text"] for entry in held_out}) == len(held_out)
    for entry in held_out:
        assert entry["gloss"] not in train and entry["text"] not in train


def test_videos_decode_with_label_length_and_resolution(tiny, tiny_labels):
    root, metadata = tiny
    for split in SPLITS:
        for name, entry in tiny_labels[split].items():
            path = root / "videos" / f"{name}.mp4"
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                assert stream.average_rate == 25
                assert stream.codec_context.name == {"libx264": "h264", "mpeg4": "mpeg4"}[metadata["codec"]]
            frames = decode(path)
            assert len(frames) == entry["length"] >= 16
            assert frames[0].shape == (64, 64, 3)


def _assert_rotations(matrices: np.ndarray, where: str):
    matrices = matrices.astype(np.float64)
    identity = np.broadcast_to(np.eye(3), matrices.shape)
    np.testing.assert_allclose(matrices @ np.swapaxes(matrices, -1, -2), identity, atol=1e-2, err_msg=where)
    np.testing.assert_allclose(np.linalg.det(matrices), 1.0, atol=1e-2, err_msg=where)


def test_hand_features_layout_mask_and_rotations(tiny, tiny_labels):
    root, _ = tiny
    single_hand_frames = both_hand_frames = 0
    for split in SPLITS:
        for name, entry in tiny_labels[split].items():
            tensors = load_file(str(root / "hand_features" / f"{name}.safetensors"))
            features, mask = tensors["hand_features"], tensors["hand_mask"]
            assert features.shape == (entry["length"], 288) and features.dtype in (np.float16, np.float32)
            assert mask.shape == (entry["length"],) and mask.dtype == np.uint8
            assert set(np.unique(mask)) == {0, 1}  # hands start and end at rest, out of view
            assert not features[mask == 0].any()
            visible = features[mask == 1]
            assert np.abs(visible).sum(axis=1).min() > 0
            joints = np.concatenate([visible[:, :135], visible[:, 135:270]], axis=1).reshape(-1, 30, 3, 3)
            _assert_rotations(joints, name)
            _assert_rotations(visible[:, 270:288].reshape(-1, 2, 3, 3), name)
            same = np.all(visible[:, :135] == visible[:, 135:270], axis=1) & np.all(
                visible[:, 270:279] == visible[:, 279:288], axis=1
            )
            single_hand_frames += int(same.sum())
            both_hand_frames += int((~same).sum())
    assert single_hand_frames and both_hand_frames


def test_single_visible_hand_fills_both_slots(lexicon):
    sign = next(sign for sign in lexicon.values() if sign.hands == "one")
    style = sample_style(np.random.default_rng(0))
    motion = clip_motion([sign], ClipTiming(2, 2, [4, 4], [10], [(0.0, 0.0)]), style)
    features, mask = clip_hand_features(motion, style)
    during_sign = slice(6, 16)
    assert mask[during_sign].all()
    np.testing.assert_array_equal(features[during_sign, :135], features[during_sign, 135:270])
    np.testing.assert_array_equal(features[during_sign, 270:279], features[during_sign, 279:288])
    assert not features[:2].any() and not mask[:2].any()


def test_minimal_pair_differs_in_finger_features_and_pixels_only(lexicon):
    first = next(sign for sign in lexicon.values() if sign.minimal_pair and sign.hands == "one")
    second = lexicon[first.minimal_pair]
    style = sample_style(np.random.default_rng(3))
    timing = ClipTiming(2, 2, [4, 4], [10], [(0.0, 0.0)])
    (motion_a, motion_b) = (clip_motion([sign], timing, style) for sign in (first, second))
    features_a, mask_a = clip_hand_features(motion_a, style)
    features_b, mask_b = clip_hand_features(motion_b, style)
    np.testing.assert_array_equal(mask_a, mask_b)
    np.testing.assert_allclose(features_a[:, 270:], features_b[:, 270:])  # same orientation over time
    assert np.abs(features_a[8, :270] - features_b[8, :270]).max() > 0.5  # different finger joints
    np.testing.assert_allclose(motion_a.hands["right"].position, motion_b.hands["right"].position)
    frame_a = SignerPainter(motion_a, style, 128).frame(10).astype(int)
    frame_b = SignerPainter(motion_b, style, 128).frame(10).astype(int)
    assert (np.abs(frame_a - frame_b).sum(axis=-1) > 30).sum() >= 20  # the handshape is visible at 128 px


def test_descriptions_have_one_chunk_per_segment_and_a_refined_text(tiny, tiny_labels):
    root, _ = tiny
    for split in SPLITS:
        for name, entry in tiny_labels[split].items():
            description = json.loads((root / "descriptions" / f"{name}.json").read_text(encoding="utf-8"))
            count = len(segment_bounds(entry["length"]))
            assert list(description) == [f"chunk_{index}" for index in range(count)] + ["refined"]
            assert all(isinstance(text, str) and text.strip() for text in description.values())
            refined = description["refined"]
            assert "hand" in refined and refined.count(".") >= len(entry["gloss"].split())
            for word in ("purple", "green", "background", "shirt", "face", "woman", "man "):
                assert word not in refined.lower()


def test_metadata_file_matches_returned_metadata(tiny):
    root, metadata = tiny
    assert json.loads((root / "synthsign.json").read_text(encoding="utf-8")) == metadata
    assert metadata["seed"] == 0 and metadata["language"] == "de_DE"
    assert metadata["sizes"] == {"train": 6, "dev": 3, "test": 3}
    assert metadata["fps"] == 25 and metadata["resolution"] == 64 and metadata["codec"] in ("libx264", "mpeg4")
    assert len(metadata["lexicon"]) == metadata["num_glosses"] >= 150
    assert metadata["minimal_pairs"] and metadata["grammar"]["rules"]
    entry = metadata["lexicon"][0]
    assert set(entry) == {"gloss", "category", "hands", "right", "left", "minimal_pair"}
    assert set(entry["right"]) == {"handshape", "location", "movement", "orientation"}


def test_same_seed_gives_identical_files_and_frames(tiny, tmp_path):
    root, _ = tiny
    generate_synthsign(tmp_path / "again", seed=0, **TINY)
    assert fingerprint(tmp_path / "again") == fingerprint(root)


def test_different_seed_gives_a_different_dataset(tiny, tiny_labels, tmp_path):
    root, _ = tiny
    generate_synthsign(tmp_path / "seed1", seed=1, **TINY)
    other = read_labels(tmp_path / "seed1" / "labels.train")
    assert [entry["text"] for entry in other.values()] != [entry["text"] for entry in tiny_labels["train"].values()]
    assert (
        decode(tmp_path / "seed1" / "videos" / "train" / "000000.mp4")[0].tobytes()
        != decode(root / "videos" / "train" / "000000.mp4")[0].tobytes()
    )


def test_worker_processes_do_not_change_the_output(tmp_path):
    options = {"seed": 4, "num_train": 12, "num_dev": 2, "num_test": 2, "resolution": 32}
    generate_synthsign(tmp_path / "serial", num_workers=1, **options)
    generate_synthsign(tmp_path / "parallel", num_workers=2, **options)
    assert fingerprint(tmp_path / "serial") == fingerprint(tmp_path / "parallel")


def test_vocabulary_subset_and_sentence_lengths(tmp_path):
    metadata = generate_synthsign(
        tmp_path / "small",
        num_train=8,
        num_dev=2,
        num_test=0,
        resolution=32,
        num_glosses=20,
        min_signs=3,
        max_signs=5,
        min_sign_frames=4,
        max_sign_frames=6,
        fps=10,
        num_workers=1,
    )
    vocabulary = {entry["gloss"] for entry in metadata["lexicon"]}
    assert vocabulary == set(select_glosses(20)) and metadata["minimal_pairs"]
    assert not (tmp_path / "small" / "labels.test").exists()
    for split in ("train", "dev"):
        for name, entry in read_labels(tmp_path / "small" / f"labels.{split}").items():
            glosses = entry["gloss"].split()
            assert 3 <= len(glosses) <= 5 and set(glosses) <= vocabulary
            with av.open(str(tmp_path / "small" / "videos" / f"{name}.mp4")) as container:
                assert container.streams.video[0].average_rate == 10


def test_a_signer_pool_limits_the_signers(tmp_path):
    metadata = generate_synthsign(tmp_path / "pool", num_train=12, num_dev=0, num_test=0, resolution=32, num_signers=2,
                                  num_workers=1)
    assert metadata["num_signers"] == 2
    # The top-left corner shows the background, one colour per signer (up to the rendering noise).
    corners = [decode(path)[0][:4, :4].reshape(-1, 3).mean(axis=0)
               for path in sorted((tmp_path / "pool" / "videos" / "train").glob("*.mp4"))]
    clusters = []
    for corner in corners:
        if not any(np.abs(corner - centre).max() < 12 for centre in clusters):
            clusters.append(corner)
    assert len(clusters) == 2


def test_cli_and_contact_sheet(tmp_path):
    sheet = tmp_path / "sheet.png"
    metadata = main(
        [
            "--output_dir",
            str(tmp_path / "cli"),
            "--seed",
            "2",
            "--num_train",
            "4",
            "--num_dev",
            "1",
            "--num_test",
            "1",
            "--resolution",
            "64",
            "--num_glosses",
            "30",
            "--num_workers",
            "1",
            "--contact_sheet",
            str(sheet),
        ]
    )
    assert metadata["seed"] == 2 and metadata["num_glosses"] == 30
    assert (tmp_path / "cli" / "labels.test").is_file()
    with Image.open(sheet) as image:
        assert image.width >= 8 * 64 and image.height >= 4 * 64
    assert sheet.stat().st_size < 300_000
    again = make_contact_sheet(tmp_path / "cli", tmp_path / "dev.png", split="dev", num_clips=1, frames_per_clip=3)
    with Image.open(again) as image:
        assert image.width >= 3 * 64 and 64 <= image.height < 2 * 64


def test_regenerating_replaces_a_previous_dataset(tmp_path):
    generate_synthsign(tmp_path / "data", num_train=3, num_dev=1, num_test=1, resolution=32, num_workers=1)
    (tmp_path / "data" / "notes.txt").write_text("kept")
    generate_synthsign(tmp_path / "data", num_train=2, num_dev=1, num_test=0, resolution=32, num_workers=1)
    assert len(os.listdir(tmp_path / "data" / "videos" / "train")) == 2
    assert not (tmp_path / "data" / "labels.test").exists()
    assert (tmp_path / "data" / "notes.txt").read_text() == "kept"


def test_refuses_to_overwrite_another_corpus(tmp_path):
    (tmp_path / "corpus" / "videos").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a SynthSign dataset"):
        generate_synthsign(tmp_path / "corpus", num_train=2, num_dev=0, num_test=0, resolution=32, num_workers=1)
    assert (tmp_path / "corpus" / "videos").is_dir()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"resolution": 63}, "resolution must be an even number"),
        ({"min_signs": 4, "max_signs": 3}, "min_signs <= max_signs"),
        ({"min_signs": 1}, "2 <= min_signs"),
        ({"num_train": 0}, "num_train must be at least 1"),
        ({"min_sign_frames": 9, "max_sign_frames": 5}, "min_sign_frames <= max_sign_frames"),
        ({"fps": 0}, "fps must be at least 1"),
        ({"num_signers": 0}, "num_signers must be at least 1"),
    ],
)
def test_invalid_options(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        generate_synthsign(tmp_path / "bad", **{**TINY, **options})
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_video_writer_codecs(tmp_path, codec):
    if codec != available_codec() and codec != "mpeg4":
        pytest.skip(f"this PyAV build has no {codec} encoder")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(18)]
    write_video(str(tmp_path / "clip.mp4"), frames, fps=25, codec=codec)
    decoded = decode(tmp_path / "clip.mp4")
    assert len(decoded) == 18 and decoded[0].shape == (32, 48, 3)
