"""Encode the refined hand-motion descriptions into fixed-size embeddings.

BeyondGloss aligns its description representation with a text embedding of each video's refined description:
mBART-large-50's encoder, mean-pooled over the non-padding tokens (1024-d). The embeddings are computed once with
`datasets.map`, so they are cached next to the dataset and reused by every training run.

Command line:

    beyondgloss-description-embeddings --dataset_name synthsign --data_dir DIR \\
        --encoder facebook/mbart-large-50 --output_dir OUT
"""

import argparse
import contextlib
import logging
import os

import datasets
import torch
from datasets.fingerprint import Hasher
from transformers import AutoModel, AutoTokenizer
from transformers.integrations import deepspeed as hf_deepspeed

from modeling_beyondgloss.vocabulary import build_tokenizer_from_corpus

from ..builders import BUILDERS, load_sign_dataset


__all__ = ["DescriptionEncoder", "add_description_embeddings", "main", "save_random_text_encoder"]

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "facebook/mbart-large-50"


def _encoder_fingerprint(encoder_name_or_path: str) -> list:
    """Identify an encoder for caching: its name, or for a local folder its path and the state of its files."""
    if not os.path.isdir(encoder_name_or_path):
        return [encoder_name_or_path]
    files = []
    for name in sorted(os.listdir(encoder_name_or_path)):
        path = os.path.join(encoder_name_or_path, name)
        if os.path.isfile(path):
            stat = os.stat(path)
            files.append((name, stat.st_size, stat.st_mtime_ns))
    return [os.path.abspath(encoder_name_or_path), files]


@contextlib.contextmanager
def _whole_weights():
    """Load models with whole weights even while a ZeRO-3 training run is configured: transformers would partition
    them across processes, but the description encoder runs in each process on its own, before training."""
    weak_reference = hf_deepspeed._hf_deepspeed_config_weak_ref
    training_config = weak_reference() if weak_reference is not None else None
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if training_config is not None:
            hf_deepspeed.set_hf_deepspeed_config(training_config)


class DescriptionEncoder:
    """Mean-pooled text encoder; the tokenizer and model load on the first call, so cached results cost nothing.

    Any Hugging Face model loads (`AutoTokenizer` + `AutoModel`, by Hub name or local path); for an
    encoder-decoder such as mBART only its encoder runs.
    """

    def __init__(self, encoder_name_or_path: str = DEFAULT_ENCODER, max_length: int = 256, device: str | None = None):
        self.encoder_name_or_path = encoder_name_or_path
        self.max_length = max_length
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = None
        self.encoder = None

    def _load(self) -> None:
        logger.info(f"Loading description encoder {self.encoder_name_or_path}")
        self.tokenizer = AutoTokenizer.from_pretrained(self.encoder_name_or_path)
        with _whole_weights():
            model = AutoModel.from_pretrained(self.encoder_name_or_path)
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()
        self.encoder = model.to(self.device).eval()

    @torch.inference_mode()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        """Return float32 embeddings `(len(texts), hidden_size)`."""
        if self.encoder is None:
            self._load()
        inputs = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        hidden = self.encoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        return pooled.float().cpu()


def _add_to_dataset(dataset: datasets.Dataset, encoder: DescriptionEncoder, batch_size: int, column: str):
    if column not in dataset.column_names:
        raise ValueError(f"The dataset has no {column!r} column (columns: {dataset.column_names}).")

    def embed(batch: dict) -> dict:
        texts = batch[column]
        present = [index for index, text in enumerate(texts) if isinstance(text, str) and text.strip()]
        embeddings = [None] * len(texts)
        if present:
            vectors = encoder([texts[index] for index in present])
            for index, vector in zip(present, vectors):
                embeddings[index] = vector.numpy()
        return {"description_embeds": embeddings}

    features = dataset.features.copy()
    features["description_embeds"] = datasets.List(datasets.Value("float32"))
    # Fingerprinting the function would hash the model's weights; the encoder's identity says the same, cheaply.
    encoder_identity = _encoder_fingerprint(encoder.encoder_name_or_path)
    fingerprint = Hasher.hash(
        [dataset._fingerprint, "description_embeds", encoder_identity, encoder.max_length, column]
    )
    return dataset.map(
        embed,
        batched=True,
        batch_size=batch_size,
        features=features,
        new_fingerprint=fingerprint,
        desc="Embedding descriptions",
    )


def add_description_embeddings(
    dataset: datasets.Dataset | datasets.DatasetDict,
    encoder_name_or_path: str = DEFAULT_ENCODER,
    batch_size: int = 32,
    max_length: int = 256,
    device: str | None = None,
    column: str = "description",
) -> datasets.Dataset | datasets.DatasetDict:
    """Add a `description_embeds` column: the mean-pooled encoder states of each example's description.

    Args:
        dataset: a `Dataset` or `DatasetDict` with a description column.
        encoder_name_or_path: any Hugging Face text model, by Hub name or local path (default mBART-large-50, whose
            encoder gives 1024-d embeddings).
        batch_size: descriptions encoded per forward pass.
        max_length: longer descriptions are truncated to this many tokens.
        device: where the encoder runs (CUDA when available, else CPU).
        column: the column holding the description text.

    Returns:
        The same type as `dataset`, with `description_embeds` (list of float32; None where the description is
        missing). Results are cached by `datasets` under a fingerprint that includes the encoder.
    """
    encoder = DescriptionEncoder(encoder_name_or_path, max_length=max_length, device=device)
    if isinstance(dataset, datasets.DatasetDict):
        return datasets.DatasetDict(
            {split: _add_to_dataset(part, encoder, batch_size, column) for split, part in dataset.items()}
        )
    return _add_to_dataset(dataset, encoder, batch_size, column)


def save_random_text_encoder(output_dir: str, sentences: list[str], hidden_size: int = 64, seed: int = 0) -> str:
    """Save a small randomly initialised mBART encoder with a tokenizer built from `sentences` to `output_dir`.

    An offline stand-in for `facebook/mbart-large-50` in demos and tests: its mean-pooled states still tell
    descriptions apart (each word has its own embedding), so the description loss has something to align with.
    Returns `output_dir`.
    """
    from transformers import MBartConfig, MBartModel

    tokenizer = build_tokenizer_from_corpus(sentences, src_lang="en_XX")
    config = MBartConfig(
        vocab_size=len(tokenizer),
        d_model=hidden_size,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=2 * hidden_size,
        decoder_ffn_dim=2 * hidden_size,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    MBartModel(config).save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: load a sign dataset, add description embeddings and save it with `save_to_disk`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset_name", required=True, choices=sorted(BUILDERS))
    parser.add_argument("--data_dir", required=True, help="Folder with the label files or manifests.")
    parser.add_argument("--output_dir", required=True, help="Where the dataset with the new column is saved.")
    parser.add_argument("--encoder", default=DEFAULT_ENCODER, help="Text encoder, by Hub name or local path.")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_length", type=int, default=256)
    parser.add_argument("--device", default=None)
    parser.add_argument("--cache_dir", default=None, help="datasets cache for the prepared splits.")
    for option in ("frames_dir", "videos_dir", "descriptions_dir", "hand_features_dir", "manifest"):
        parser.add_argument(f"--{option}", default=None)
    parser.add_argument("--drop_invalid", action="store_true", help="Leave invalid samples out instead of failing.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    options = {
        option: getattr(args, option)
        for option in ("frames_dir", "videos_dir", "descriptions_dir", "hand_features_dir", "manifest")
    }
    dataset = load_sign_dataset(
        args.dataset_name, data_dir=args.data_dir, cache_dir=args.cache_dir, drop_invalid=args.drop_invalid, **options
    )
    dataset = add_description_embeddings(
        dataset, args.encoder, batch_size=args.batch_size, max_length=args.max_length, device=args.device
    )
    dataset.save_to_disk(args.output_dir)
    logger.info(f"Saved {dataset} to {args.output_dir}")


if __name__ == "__main__":
    main()
