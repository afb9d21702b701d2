"""From arguments to training inputs: the corpus splits, the tokenizer, a config for random initialisation and
the processor."""

import logging
from pathlib import Path

from transformers import AutoTokenizer

from datasets_scripts import load_sign_dataset
from datasets_scripts.preprocessing.description_embeddings import add_description_embeddings
from modeling_beyondgloss import BeyondGlossConfig, BeyondGlossProcessor, BeyondGlossVideoProcessor
from modeling_beyondgloss.vocabulary import build_tokenizer_from_corpus

from .arguments import DataArguments
from .data_collator import BeyondGlossDataCollator


__all__ = [
    "AUXILIARY_COLUMNS",
    "auxiliary_widths",
    "build_processor",
    "config_for_random_init",
    "corpus_sentences",
    "drop_columns",
    "load_dataset_splits",
    "load_or_build_tokenizer",
    "log_model_and_data",
    "trainer_inputs",
]

logger = logging.getLogger(__name__)

# Inputs of the pre-training losses besides the sentence.
AUXILIARY_COLUMNS = ("description", "description_embeds", "hand_features", "hand_mask")


def load_dataset_splits(data_args: DataArguments):
    """The corpus as a `DatasetDict`, optionally with description embeddings, truncated as asked."""
    options = {
        key: getattr(data_args, key)
        for key in (
            "frames_dir",
            "videos_dir",
            "descriptions_dir",
            "hand_features_dir",
            "manifest",
            "min_segment_seconds",
            "max_segment_seconds",
            "verify_media",
        )
        if getattr(data_args, key) is not None
    }
    dataset = load_sign_dataset(
        data_args.dataset_name,
        data_dir=data_args.data_dir,
        cache_dir=data_args.dataset_cache_dir,
        drop_invalid=data_args.drop_invalid,
        **options,
    )
    if data_args.description_encoder is not None:
        dataset = add_description_embeddings(dataset, encoder_name_or_path=data_args.description_encoder)
    if not data_args.use_hand_features:
        dataset = drop_columns(dataset, ("hand_features", "hand_mask"))
    for split, limit in (("train", data_args.max_train_samples), ("validation", data_args.max_eval_samples),
                         ("test", data_args.max_predict_samples)):
        if limit is not None and split in dataset:
            dataset[split] = dataset[split].select(range(min(limit, len(dataset[split]))))
    return dataset


def drop_columns(dataset, names):
    """`dataset` without the columns in `names` that it has (each split checked on its own)."""
    return type(dataset)(
        {
            split: rows.remove_columns([name for name in names if name in rows.column_names])
            for split, rows in dataset.items()
        }
    )


def corpus_sentences(dataset) -> list[str]:
    """The sentences a vocabulary is fitted to: the training split's, as the reference implementation trims mBART;
    the dev and test sentences must not shape the model."""
    if "train" not in dataset:
        raise ValueError("A vocabulary is fitted to the training sentences, but the dataset has no train split.")
    return list(dataset["train"]["text"])


def load_or_build_tokenizer(model_name_or_path: str, dataset, language_code: str):
    """The checkpoint's tokenizer when it has one, else a corpus tokenizer built offline (random-init runs)."""
    path = Path(model_name_or_path)
    if path.is_dir() and any((path / name).exists() for name in ("tokenizer.json", "tokenizer_config.json")):
        tokenizer = AutoTokenizer.from_pretrained(path)
    else:
        tokenizer = build_tokenizer_from_corpus(corpus_sentences(dataset), src_lang=language_code)
        logger.info("Built a %d-piece tokenizer from the corpus.", len(tokenizer))
    tokenizer.src_lang = language_code
    tokenizer.tgt_lang = language_code
    return tokenizer


def config_for_random_init(config_path: str, tokenizer, language_code: str, overrides: dict):
    """A config from JSON, fitted to the tokenizer (vocabulary, special ids), then given `overrides`."""
    config = BeyondGlossConfig.from_json_file(config_path)
    config.text_config.update(
        {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "forced_eos_token_id": tokenizer.eos_token_id,
            "decoder_start_token_id": tokenizer.convert_tokens_to_ids(language_code),
        }
    )
    # Built anew, so that the config validates the combination.
    return BeyondGlossConfig.from_dict({**config.to_dict(), **overrides})


def auxiliary_widths(dataset) -> dict[str, int]:
    """`description_dim` and `hand_feature_dim` as the dataset's description embeddings and hand features have them
    (each teacher has its own width: 288 for HaMeR, 128 for MediaPipe), for the columns it has."""
    widths = {}
    for field_name, column in (("description_dim", "description_embeds"), ("hand_feature_dim", "hand_features")):
        for split in dataset.values():
            if column not in split.column_names:
                continue
            value = next((value for value in split[column] if value is not None), None)
            if value is not None:
                widths[field_name] = len(value) if column == "description_embeds" else len(value[0])
                break
    return widths


def build_processor(config, tokenizer, data_args: DataArguments):
    crop = data_args.image_size or config.vision_config.image_size
    if crop > 224 and data_args.image_size is None:
        crop = 224  # DINOv2 checkpoints report their pre-training size (518); the paper crops 224.
    resize = data_args.resize_size or round(crop * 256 / 224)
    video_processor = BeyondGlossVideoProcessor(
        size=resize,
        crop_size=crop,
        max_frames=data_args.max_frames,
        frame_sampling=data_args.frame_sampling,
        do_augment=data_args.augment,
    )
    return BeyondGlossProcessor(video_processor=video_processor, tokenizer=tokenizer)


def trainer_inputs(dataset, processor, task: str, data_args: DataArguments, training_args) -> dict:
    """The Trainer's data arguments: the splits `--do_train` and `--do_eval` ask for, an augmenting collator for
    training and a plain one for evaluation and prediction, and the processor."""
    options = {
        "processor": processor,
        "task": task,
        "max_target_length": data_args.max_target_length,
        "decoded_clip_cache_mb": data_args.decoded_clip_cache_mb,
    }
    return {
        "train_dataset": dataset["train"] if training_args.do_train else None,
        "eval_dataset": dataset["validation"] if training_args.do_eval and "validation" in dataset else None,
        "data_collator": BeyondGlossDataCollator(
            training=True, skip_undecodable=data_args.skip_undecodable_samples, **options
        ),
        "eval_data_collator": BeyondGlossDataCollator(training=False, **options),
        "processing_class": processor,
    }


def log_model_and_data(model, dataset) -> None:
    num_trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    logger.info(
        "Model: %d parameters, %d trainable. Data: %s",
        model.num_parameters(),
        num_trainable,
        {split: len(rows) for split, rows in dataset.items()},
    )
