"""Tests of the data collator: model inputs for both tasks, label padding, descriptions, hand-feature alignment."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from transformers.models.mbart.modeling_mbart import shift_tokens_right

from modeling_beyondgloss.processing_beyondgloss import BeyondGlossProcessor
from modeling_beyondgloss.video_processing_beyondgloss import BeyondGlossVideoProcessor
from modeling_beyondgloss.vocabulary import build_tokenizer_from_corpus
from training_beyondgloss.data_collator import BeyondGlossDataCollator


SENTENCES = ["am tag regnet es im norden", "morgen scheint die sonne", "heute abend wird es kalt und windig"]
HAND_DIM = 6


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer_from_corpus(SENTENCES)


def make_processor(tokenizer, **video_kwargs):
    video_processor = BeyondGlossVideoProcessor(**{"size": 32, "crop_size": 28, **video_kwargs})
    return BeyondGlossProcessor(video_processor=video_processor, tokenizer=tokenizer)


def frame_folder(root, name, num_frames):
    folder = root / name
    folder.mkdir()
    paths = []
    for index in range(num_frames):
        path = folder / f"images{index:04d}.png"
        Image.fromarray(np.full((30, 34, 3), index, np.uint8)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def examples(tmp_path, fixtures_dir):
    """Three examples in the dataset format: two frame folders and one real video file."""
    hand_mask = [index % 3 != 0 for index in range(20)]
    return [
        {
            "id": "dev/sample-a",
            "frames": frame_folder(tmp_path, "a", 20),
            "video": None,
            "text": SENTENCES[0],
            "num_frames": 20,
            # Row i holds the value i, so the collated rows tell which source frames they came from.
            "hand_features": [[float(index)] * HAND_DIM for index in range(20)],
            "hand_mask": hand_mask,
            "description_embeds": [0.5] * 4,
        },
        {
            "id": "dev/sample-b",
            "frames": frame_folder(tmp_path, "b", 3),
            "video": None,
            "text": SENTENCES[1],
            "num_frames": 3,
            "hand_features": None,
            "hand_mask": None,
            "description_embeds": None,
        },
        {
            "id": "dev/sample-c",
            "frames": None,
            "video": str(fixtures_dir / "videos" / "asl_house.mp4"),
            "text": SENTENCES[2],
            "num_frames": 73,
            "hand_features": np.tile(np.arange(73, dtype=np.float16)[:, None], (1, HAND_DIM)),
            "hand_mask": None,
            "description_embeds": None,
        },
    ]


def test_translation_batch(tokenizer, examples):
    collator = BeyondGlossDataCollator(processor=make_processor(tokenizer, max_frames=8), task="translation")
    batch = collator(examples)
    assert set(batch) == {
        "pixel_values",
        "pixel_mask",
        "labels",
        "decoder_input_ids",
        "description_embeds",
        "description_mask",
        "hand_features",
        "hand_mask",
    }
    assert batch["pixel_values"].shape == (3, 8, 3, 28, 28)
    assert batch["pixel_values"].dtype == torch.float32
    assert batch["pixel_mask"].tolist() == [[1] * 8, [1] * 3 + [0] * 5, [1] * 8]
    assert torch.all(batch["pixel_values"][1, 3:] == 0)

    targets = tokenizer(text_target=SENTENCES, padding=True, return_tensors="pt")
    labels = batch["labels"]
    assert labels.shape == targets["input_ids"].shape
    assert torch.equal(labels == -100, targets["attention_mask"] == 0)
    assert torch.equal(labels[labels != -100], targets["input_ids"][targets["attention_mask"] == 1])
    assert (labels == -100).any(), "the shorter sentences must be padded with -100"
    # mBART's decoder input: the language code first, then the sentence without its final token.
    assert torch.equal(batch["decoder_input_ids"], shift_tokens_right(labels, tokenizer.pad_token_id))


def test_pretraining_batch(tokenizer, examples):
    collator = BeyondGlossDataCollator(processor=make_processor(tokenizer, max_frames=8), task="pretraining")
    batch = collator(examples)
    assert "labels" not in batch
    tokens = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], tokens["input_ids"])
    assert torch.equal(batch["attention_mask"], tokens["attention_mask"])


def test_max_target_length_truncates(tokenizer, examples):
    collator = BeyondGlossDataCollator(processor=make_processor(tokenizer, max_frames=4), max_target_length=4)
    assert collator(examples)["labels"].shape == (3, 4)


def test_descriptions(tokenizer, examples):
    collator = BeyondGlossDataCollator(processor=make_processor(tokenizer, max_frames=4))
    batch = collator(examples)
    assert batch["description_mask"].dtype == torch.bool
    assert batch["description_mask"].tolist() == [True, False, False]
    assert batch["description_embeds"].shape == (3, 4)
    assert batch["description_embeds"][0].tolist() == [0.5] * 4
    assert torch.all(batch["description_embeds"][1:] == 0)

    without = collator([{**example, "description_embeds": None} for example in examples])
    assert "description_embeds" not in without and "description_mask" not in without


def test_hand_features_follow_uniform_sampling(tokenizer, examples):
    processor = make_processor(tokenizer, max_frames=5, frame_sampling="uniform")
    batch = BeyondGlossDataCollator(processor=processor, training=True)(examples)
    kept_a = processor.video_processor.sample_frame_indices(20)  # [2, 6, 10, 14, 18]
    kept_c = processor.video_processor.sample_frame_indices(73)
    hand_features, hand_mask = batch["hand_features"], batch["hand_mask"]
    assert hand_features.shape == (3, 5, HAND_DIM) and hand_features.dtype == torch.float32
    assert hand_mask.dtype == torch.long
    assert hand_features[0, :, 0].tolist() == kept_a.astype(float).tolist()
    assert hand_mask[0].tolist() == [int(index % 3 != 0) for index in kept_a]
    # An example without hand features contributes zeros and no valid frames.
    assert torch.all(hand_features[1] == 0) and torch.all(hand_mask[1] == 0)
    # A video file: the features of the sampled frames, all valid when the example has no hand_mask.
    assert hand_features[2, :, 0].tolist() == kept_c.astype(float).tolist()
    assert hand_mask[2].tolist() == [1] * 5

    without = BeyondGlossDataCollator(processor=processor)(
        [{**example, "hand_features": None} for example in examples]
    )
    assert "hand_features" not in without and "hand_mask" not in without


def test_hand_mask_stops_at_padding_and_missing_features(tokenizer, examples, caplog):
    processor = make_processor(tokenizer, max_frames=None)
    short = {**examples[0], "hand_features": examples[0]["hand_features"][:15], "hand_mask": None}
    with caplog.at_level(logging.WARNING, logger="training_beyondgloss.data_collator"):
        batch = BeyondGlossDataCollator(processor=processor)([short, examples[1]])
    assert batch["pixel_mask"][0].sum() == 20
    assert batch["hand_mask"][0].tolist() == [1] * 15 + [0] * 5
    assert torch.all(batch["hand_features"][0, 15:] == 0)
    assert "dev/sample-a" in caplog.text


def test_video_processor_and_tokenizer_without_processor(tokenizer, examples):
    video_processor = BeyondGlossVideoProcessor(size=32, crop_size=28, max_frames=4)
    collator = BeyondGlossDataCollator(video_processor=video_processor, tokenizer=tokenizer, task="pretraining")
    assert collator(examples[:2])["pixel_values"].shape == (2, 4, 3, 28, 28)


def test_bad_examples_and_settings(tokenizer, examples):
    collator = BeyondGlossDataCollator(processor=make_processor(tokenizer))
    with pytest.raises(ValueError, match="dev/sample-b"):
        collator([examples[0], {**examples[1], "frames": None}])
    with pytest.raises(ValueError, match="dev/sample-b"):
        collator([examples[0], {**examples[1], "text": None}])
    with pytest.raises(ValueError, match="dev/sample-b"):
        collator([examples[0], {**examples[1], "description_embeds": [0.1] * 3}])
    with pytest.raises(ValueError, match="task"):
        BeyondGlossDataCollator(processor=make_processor(tokenizer), task="captioning")
    with pytest.raises(ValueError, match="processor"):
        BeyondGlossDataCollator(tokenizer=tokenizer)


def test_unlabelled_clips(tokenizer, examples):
    collator = BeyondGlossDataCollator(processor=make_processor(tokenizer, max_frames=4))
    batch = collator([{**example, "text": None} for example in examples])
    assert "labels" not in batch and "input_ids" not in batch


def test_in_dataloader_workers(tokenizer, examples):
    collator = BeyondGlossDataCollator(processor=make_processor(tokenizer, max_frames=6), training=True)
    loader = DataLoader(examples * 2, batch_size=3, num_workers=2, collate_fn=collator)
    batches = list(loader)
    assert len(batches) == 2
    for batch in batches:
        assert batch["pixel_values"].shape == (3, 6, 3, 28, 28)
        assert batch["labels"].shape[0] == 3


def test_decoded_clip_cache_decodes_each_clip_once(tokenizer, examples, monkeypatch):
    processor = make_processor(tokenizer, max_frames=8, frame_sampling="uniform")
    plain = BeyondGlossDataCollator(processor=processor, training=True)
    cached = BeyondGlossDataCollator(processor=processor, training=True, decoded_clip_cache_mb=64)
    decoded = []
    decode_clip = processor.video_processor.decode_clip
    monkeypatch.setattr(
        processor.video_processor,
        "decode_clip",
        lambda video, **timing: decoded.append(video) or decode_clip(video, **timing),
    )

    for epoch in range(2):
        torch.manual_seed(epoch)
        expected = plain(examples)
        torch.manual_seed(epoch)
        batch = cached(examples)
        for key in expected:  # the same random crops and augmentation as without the cache
            torch.testing.assert_close(batch[key], expected[key])
    assert len(decoded) == 2 * len(examples) + len(examples)  # plain: every epoch; cached: once

    # Over budget, the least recently used clips go first.
    small = BeyondGlossDataCollator(processor=processor, decoded_clip_cache_mb=0.01)
    small(examples)
    assert len(small._decoded_clips) == 1 and list(small._decoded_clips)[0][0] == examples[2]["video"]


def test_undecodable_examples_are_left_out_when_asked(tokenizer, examples, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    examples[1] = {**examples[1], "frames": None, "video": str(broken)}
    strict = BeyondGlossDataCollator(make_processor(tokenizer), training=True)
    with pytest.raises(ValueError, match="Cannot decode video .*broken.mp4"):
        strict(examples)

    collator = BeyondGlossDataCollator(make_processor(tokenizer), training=True, skip_undecodable=True)
    batch = collator(examples)
    assert batch["pixel_values"].shape[0] == batch["labels"].shape[0] == batch["hand_features"].shape[0] == 2
    [(name, error)] = batch["skipped_samples"]
    assert name == "dev/sample-b" and "broken.mp4" in error
    assert "skipped_samples" not in collator([examples[0], examples[2]])
    with pytest.raises(ValueError, match="No example of the batch could be decoded:\n  dev/sample-b: Cannot"):
        collator([examples[1]])
