"""Tests for the description embeddings (`datasets_scripts.preprocessing.description_embeddings`)."""

import json
import os
import shutil

import datasets
import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from datasets_scripts.preprocessing.description_embeddings import (
    add_description_embeddings,
    main,
    save_random_text_encoder,
)


DESCRIPTIONS = [
    "The right hand rises from the chest and opens.",
    "Both hands circle in front of the body.",
    "A fist moves down twice.",
]


@pytest.fixture(scope="module")
def tiny_mbart(tmp_path_factory):
    """A tiny mBART and its tokenizer, saved like a Hub checkpoint."""
    return save_random_text_encoder(str(tmp_path_factory.mktemp("tiny_mbart")), DESCRIPTIONS, hidden_size=32)


def reference_embedding(encoder_path, text):
    """Mean of the encoder's last hidden states for one unpadded text."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(encoder_path)
    model = transformers.AutoModel.from_pretrained(encoder_path).eval()
    encoder = model.get_encoder() if model.config.is_encoder_decoder else model
    with torch.no_grad():
        hidden = encoder(**tokenizer([text], return_tensors="pt")).last_hidden_state
    return hidden[0].mean(dim=0).numpy()


@pytest.fixture
def saved_dataset(tmp_path):
    dataset = datasets.Dataset.from_dict(
        {"id": ["a", "b", "c", "d"], "description": [DESCRIPTIONS[0], None, DESCRIPTIONS[2], DESCRIPTIONS[1]]}
    )
    dataset.save_to_disk(tmp_path / "dataset")
    return datasets.load_from_disk(tmp_path / "dataset")  # backed by files, so `map` results are cached


def test_embeddings_are_mean_pooled_over_real_tokens(tiny_mbart, saved_dataset):
    # Batches of two mix a long and a short description, so padding must be excluded from the mean.
    embedded = add_description_embeddings(saved_dataset, tiny_mbart, batch_size=2)

    assert embedded.features["description_embeds"] == datasets.List(datasets.Value("float32"))
    embeddings = embedded["description_embeds"]
    assert embeddings[1] is None
    for index in (0, 2, 3):
        expected = reference_embedding(tiny_mbart, saved_dataset[index]["description"])
        assert len(embeddings[index]) == 32
        np.testing.assert_allclose(embeddings[index], expected, atol=1e-5)


def test_results_are_cached_per_encoder(tiny_mbart, saved_dataset, tmp_path, monkeypatch):
    first = add_description_embeddings(saved_dataset, tiny_mbart)

    def no_loading(*args, **kwargs):
        raise AssertionError("the encoder should not be loaded when the embeddings are cached")

    with monkeypatch.context() as patch:
        patch.setattr(transformers.AutoModel, "from_pretrained", no_loading)
        cached = add_description_embeddings(saved_dataset, tiny_mbart)
    assert cached._fingerprint == first._fingerprint
    assert cached.cache_files == first.cache_files
    assert cached["description_embeds"] == first["description_embeds"]

    other_encoder = shutil.copytree(tiny_mbart, tmp_path / "other_encoder")
    other = add_description_embeddings(saved_dataset, str(other_encoder))
    assert other._fingerprint != first._fingerprint
    assert add_description_embeddings(saved_dataset, tiny_mbart, max_length=8)._fingerprint != first._fingerprint


def test_dataset_dict_and_encoder_only_models(tiny_mbart, tmp_path):
    path = tmp_path / "tiny_bert"
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_mbart)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    transformers.BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    dataset = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"description": [DESCRIPTIONS[0], ""]}),
            "validation": datasets.Dataset.from_dict({"description": [DESCRIPTIONS[1]]}),
        }
    )

    embedded = add_description_embeddings(dataset, str(path))

    assert list(embedded) == ["train", "validation"]
    assert embedded["train"]["description_embeds"][1] is None  # an empty description counts as missing
    np.testing.assert_allclose(
        embedded["validation"][0]["description_embeds"], reference_embedding(str(path), DESCRIPTIONS[1]), atol=1e-5
    )


def test_missing_column_is_reported(tiny_mbart):
    with pytest.raises(ValueError, match="no 'refined' column"):
        add_description_embeddings(datasets.Dataset.from_dict({"text": ["x"]}), tiny_mbart, column="refined")


def test_command_line_saves_the_dataset_with_embeddings(tiny_mbart, tmp_path):
    corpus = tmp_path / "corpus"
    for name in ("a", "b"):
        for index in range(2):
            os.makedirs(corpus / "clips" / name, exist_ok=True)
            Image.new("RGB", (8, 8)).save(corpus / "clips" / name / f"{index}.png")
    (corpus / "descriptions").mkdir()
    (corpus / "descriptions" / "a.json").write_text(json.dumps({"chunk_0": "x", "refined": DESCRIPTIONS[0]}))
    rows = [{"id": "a", "frames": "clips/a", "text": "Hallo."}, {"id": "b", "frames": "clips/b", "text": "Tschüss."}]
    (corpus / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows))

    arguments = ["--dataset_name", "custom", "--data_dir", str(corpus), "--encoder", tiny_mbart]
    main(arguments + ["--output_dir", str(tmp_path / "out"), "--cache_dir", str(tmp_path / "cache")])

    saved = datasets.load_from_disk(tmp_path / "out")
    assert saved["train"]["id"] == ["a", "b"]
    np.testing.assert_allclose(
        saved["train"][0]["description_embeds"], reference_embedding(tiny_mbart, DESCRIPTIONS[0]), atol=1e-5
    )
    assert saved["train"][1]["description_embeds"] is None
