"""What `run_pretrain.py` and `run_translation.py` share: data arguments, argument parsing with the paper's
defaults, data loading, tokenizer and processor set-up, the loss plot and the model card."""

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import transformers
from transformers import AutoTokenizer, HfArgumentParser
from transformers.trainer_utils import get_last_checkpoint

from .configuration_beyondgloss import BeyondGlossConfig
from .vocabulary import build_tokenizer_from_corpus


logger = logging.getLogger(__name__)

LANGUAGE_CODES = {"phoenix14t": "de_DE", "csl_daily": "zh_CN", "synthsign": "de_DE"}
METRIC_TOKENIZE = {"zh_CN": "zh"}
# Inputs of the pre-training losses besides the sentence.
AUXILIARY_COLUMNS = ("description", "description_embeds", "hand_features", "hand_mask")


@dataclass
class DataArguments:
    """Which corpus to read, where its parts lie, and how its videos are turned into frames."""

    dataset_name: str = field(
        default="synthsign", metadata={"help": "phoenix14t, csl_daily, synthsign or custom (see datasets_scripts)."}
    )
    data_dir: str | None = field(default=None, metadata={"help": "The corpus folder (label files or manifests)."})
    frames_dir: str | None = field(default=None, metadata={"help": "Root of per-sample frame folders."})
    videos_dir: str | None = field(default=None, metadata={"help": "Root of per-sample video files."})
    descriptions_dir: str | None = field(default=None, metadata={"help": "Folder of description JSONs."})
    hand_features_dir: str | None = field(default=None, metadata={"help": "Folder of per-video hand features."})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "Cache folder of the prepared dataset."})
    drop_invalid: bool = field(default=False, metadata={"help": "Drop invalid samples (logged) instead of failing."})
    description_encoder: str | None = field(
        default=None,
        metadata={
            "help": "Text encoder (name or path) that embeds the descriptions, e.g. facebook/mbart-large-50; "
            "without it the description loss is not used."
        },
    )
    use_hand_features: bool = field(default=True, metadata={"help": "Distil hand features when the corpus has them."})
    tgt_lang: str | None = field(
        default=None, metadata={"help": "mBART language code of the target text (default: de_DE or zh_CN by corpus)."}
    )
    augment: bool = field(
        default=True,
        metadata={"help": "The paper's training-time augmentation (rotation, scale, translation, each with p=0.5)."},
    )
    max_frames: int = field(default=300, metadata={"help": "At most this many frames per video (the paper: 300)."})
    frame_sampling: str = field(default="truncate", metadata={"help": "truncate (the paper) or uniform."})
    image_size: int | None = field(
        default=None, metadata={"help": "Crop size (default: the vision config's image size, 224 for DINOv2)."}
    )
    resize_size: int | None = field(default=None, metadata={"help": "Resize before cropping (default: crop × 256/224)."})
    max_target_length: int = field(default=128, metadata={"help": "Longest target sentence in tokens."})
    decoded_clip_cache_mb: float = field(
        default=0,
        metadata={"help": "Megabytes of decoded clips kept in memory per data-loading process, so that a corpus that "
                  "fits is decoded once rather than every epoch (0: off; with dataloader workers, add "
                  "--dataloader_persistent_workers)."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only this many training samples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only this many evaluation samples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Use only this many test samples."})

    def language_code(self) -> str:
        return self.tgt_lang or LANGUAGE_CODES.get(self.dataset_name, "de_DE")


def setup_logging(training_args) -> None:
    """Readable logs as in transformers' examples: this package's loggers at INFO on the main process, transformers
    and datasets at `--log_level` (their own default unless given)."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    own_level = logging.INFO if training_args.should_log else logging.WARNING
    for name in ("__main__", "modeling_beyondgloss", "datasets_scripts", "run_pretrain", "run_translation"):
        logging.getLogger(name).setLevel(own_level)
    log_level = training_args.get_process_log_level()
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_explicit_format()


def parse_arguments(dataclass_types, argv=None, paper_defaults=None):
    """Parse command-line flags (or a single `.json` file) into the dataclasses, starting from `paper_defaults`
    for every field that is not given explicitly."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(dataclass_types)
    paper_defaults = dict(paper_defaults or {})
    if os.environ.get("DS_ACCELERATOR") == "cpu":
        # DeepSpeed on its CPU accelerator: accelerate starts the (gloo or oneCCL) process group that DeepSpeed joins
        # only for `use_cpu`; without it, it finds no GPU and runs every process as a world of one.
        paper_defaults.setdefault("use_cpu", True)
    if len(argv) == 1 and argv[0].endswith(".json"):
        given = json.loads(Path(argv[0]).read_text())
        return parser.parse_dict({**paper_defaults, **given})
    # argparse keeps the last occurrence of a flag, so explicit flags override the prepended defaults.
    default_flags = []
    for name, value in paper_defaults.items():
        default_flags += [f"--{name}", str(value)]
    return parser.parse_args_into_dataclasses(args=default_flags + argv)


def resolve_checkpoint(training_args) -> str | None:
    """The checkpoint `--resume_from_checkpoint` names: a path, or `last`/`true` for the newest `checkpoint-*` in
    `--output_dir`."""
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is None or checkpoint.lower() not in ("last", "true"):
        return checkpoint
    last = get_last_checkpoint(training_args.output_dir) if os.path.isdir(training_args.output_dir) else None
    if last is None:
        raise FileNotFoundError(f"--resume_from_checkpoint {checkpoint}: no checkpoint-* in {training_args.output_dir}.")
    logger.info("Resuming from %s", last)
    return last


def load_dataset_splits(data_args: DataArguments):
    """The corpus as a `DatasetDict`, optionally with description embeddings, truncated as asked."""
    from datasets_scripts import load_sign_dataset

    options = {
        key: getattr(data_args, key)
        for key in ("frames_dir", "videos_dir", "descriptions_dir", "hand_features_dir")
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
        from datasets_scripts.description_embeddings import add_description_embeddings

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
        {split: rows.remove_columns([name for name in names if name in rows.column_names]) for split, rows in dataset.items()}
    )


def corpus_sentences(dataset) -> list[str]:
    return [text for split in dataset.values() for text in split["text"]]


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
    text_config = config.text_config
    text_config.vocab_size = len(tokenizer)
    text_config.pad_token_id = tokenizer.pad_token_id
    text_config.bos_token_id = tokenizer.bos_token_id
    text_config.eos_token_id = tokenizer.eos_token_id
    text_config.forced_eos_token_id = tokenizer.eos_token_id
    text_config.decoder_start_token_id = tokenizer.convert_tokens_to_ids(language_code)
    for key, value in overrides.items():
        setattr(config, key, value)
    config.validate_architecture()
    return config


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
    from .processing_beyondgloss import BeyondGlossProcessor
    from .video_processing_beyondgloss import BeyondGlossVideoProcessor

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


def log_and_save_metrics(trainer, split: str, metrics: dict) -> None:
    """`log_metrics` + `save_metrics`, with the metric convention logged on its own line rather than in the table."""
    convention_key = f"{split}_metric_convention"
    trainer.log_metrics(split, {key: value for key, value in metrics.items() if key != convention_key})
    if metrics.get(convention_key):
        logger.info("%s metric convention: %s", split, metrics[convention_key])
    trainer.save_metrics(split, metrics)


def train_and_save(trainer, training_args, train_dataset) -> dict:
    """Train (resuming as `--resume_from_checkpoint` says), save the model and trainer state, log the metrics."""
    train_result = trainer.train(resume_from_checkpoint=resolve_checkpoint(training_args))
    trainer.save_model()
    metrics = train_result.metrics
    metrics["train_samples"] = len(train_dataset)
    log_and_save_metrics(trainer, "train", metrics)
    trainer.save_state()
    return metrics


def complete_output_dir(trainer, processor, *, stage, source, data_args, training_args, metrics) -> None:
    """Make the output directory a complete model repository (processor, model card, data arguments) and push it
    when asked."""
    if trainer.is_world_process_zero():
        Path(training_args.output_dir).mkdir(parents=True, exist_ok=True)
        processor.save_pretrained(training_args.output_dir)
        write_model_card(
            training_args.output_dir,
            stage=stage,
            dataset_name=data_args.dataset_name,
            data_args=data_args,
            training_args=training_args,
            metrics=metrics,
            model_config=trainer.model.config,
        )
        with open(os.path.join(training_args.output_dir, "data_args.json"), "w") as handle:
            json.dump(vars(data_args), handle, indent=2)
    if training_args.push_to_hub:
        trainer.push_to_hub(finetuned_from=source, tags=["sign-language-translation"])


def plot_loss_terms(log_history: list[dict], output_path: str) -> str | None:
    """Plot the training loss and each logged loss term over steps (PNG); returns the path, or None if nothing was
    logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {}
    for entry in log_history:
        if "step" not in entry or "loss" not in entry:
            continue
        for key in ("loss", "loss_align", "loss_desc", "loss_hand"):
            if key in entry:
                series.setdefault(key, ([], []))
                series[key][0].append(entry["step"])
                series[key][1].append(entry[key])
    if not series:
        return None
    figure, axis = plt.subplots(figsize=(7, 4))
    labels = {"loss": "total", "loss_align": "L_align (video-text)", "loss_desc": "L_desc (description)",
              "loss_hand": "L_distill (hand features)"}
    for key, (steps, values) in series.items():
        axis.plot(steps, values, label=labels[key], linewidth=2 if key == "loss" else 1.2)
    axis.set_xlabel("step")
    axis.set_ylabel("training loss")
    axis.set_title("BeyondGloss pre-training losses")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(output_path, dpi=110)
    plt.close(figure)
    return output_path


MODEL_CARD_TEMPLATE = """---
library_name: transformers
pipeline_tag: {pipeline_tag}
tags:
- sign-language-translation
- gloss-free
- beyondgloss
- video
language:
- {language}
license: mit
---

# {title}

A **BeyondGloss** model ({stage}) for gloss-free sign language translation: sign language video in, a
{language_name} sentence out. BeyondGloss (Asasi et al., BMVC 2025) encodes frames with DINOv2 (LoRA on its last
blocks), distils hand features (HaMeR layout) into a hand branch, models time with a local-attention transformer,
aligns a description branch with hand-motion descriptions, and translates with mBART (LoRA on `q_proj`/`v_proj`).

## Intended use and limitations

- Research on sign language translation: benchmarking, ablations, and as a starting point for fine-tuning.
- Sign languages are full languages of Deaf communities. This model translates a narrow domain ({data_summary})
  with limited accuracy; it **must not be presented as, or used in place of, an interpreter**, and it should not be
  used for decisions that affect Deaf people without their involvement.
- It knows only the signers, vocabulary and recording conditions of its training data and generalises poorly
  beyond them. Translations can be fluent and wrong.

## Training data

{data_description}

## Training procedure

{hyperparameters}

## Results

{results}

## How to use

```python
from transformers import AutoModel, AutoModelForSeq2SeqLM, AutoProcessor

model = {auto_class}.from_pretrained("{model_id}", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("{model_id}", trust_remote_code=True)
{usage}
```

## Citation

```bibtex
@inproceedings{{asasi2025beyondgloss,
  title     = {{Beyond Gloss: A Hand-Centric Framework for Gloss-Free Sign Language Translation}},
  author    = {{Asasi, Sobhan and Lakhal, Mohamed Ilyes and Mercanoglu Sincan, Ozge and Bowden, Richard}},
  booktitle = {{British Machine Vision Conference (BMVC)}},
  year      = {{2025}}
}}
```
"""

LANGUAGE_NAMES = {"de_DE": ("de", "German"), "zh_CN": ("zh", "Chinese")}


def write_model_card(output_dir, *, stage, dataset_name, data_args, training_args, metrics, model_config):
    """Write `README.md` (model card) into `output_dir`."""
    language, language_name = LANGUAGE_NAMES.get(data_args.language_code(), ("multilingual", "spoken-language"))
    translation = stage == "translation"
    hyperparameters = {
        "learning_rate": training_args.learning_rate,
        "weight_decay": training_args.weight_decay,
        "warmup": training_args.warmup_steps,
        "lr_scheduler": str(training_args.lr_scheduler_type),
        "max_grad_norm": training_args.max_grad_norm,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "num_train_epochs": training_args.num_train_epochs,
        "max_steps": training_args.max_steps,
        "seed": training_args.seed,
        "max_frames": data_args.max_frames,
        "lambda_desc": model_config.description_loss_weight,
        "lambda_hand": model_config.hand_loss_weight,
        "vision_lora": f"rank {model_config.vision_lora_rank} on blocks {model_config.vision_lora_layers}",
        "text_lora": f"rank {model_config.text_lora_rank} on {model_config.text_lora_target_modules}",
    }
    if translation:
        hyperparameters["label_smoothing"] = model_config.label_smoothing
    hyperparameter_lines = "\n".join(f"- `{key}`: {value}" for key, value in hyperparameters.items())
    convention = metrics.get("metric_convention")
    numeric = {key: value for key, value in metrics.items() if isinstance(value, (int, float))}
    if numeric:
        rows = "\n".join(f"| {key} | {value:.2f} |" for key, value in sorted(numeric.items()))
        results = f"| metric | value |\n|---|---|\n{rows}\n"
        if convention:
            results += f"\nMetric convention: {convention}.\n"
    else:
        results = "No evaluation was run."
    usage = (
        "inputs = processor(videos=[\"signing.mp4\"], return_tensors=\"pt\")\n"
        "ids = model.generate(pixel_values=inputs[\"pixel_values\"], pixel_mask=inputs[\"pixel_mask\"])\n"
        "print(processor.batch_decode(ids, skip_special_tokens=True))"
        if translation
        else "inputs = processor(videos=[\"signing.mp4\"], return_tensors=\"pt\")\n"
        "video_embeds = model(**inputs).video_embeds  # sign representation; fine-tune with run_translation.py"
    )
    card = MODEL_CARD_TEMPLATE.format(
        pipeline_tag="video-text-to-text" if translation else "feature-extraction",
        language=language,
        language_name=language_name,
        title=f"BeyondGloss {'translation' if translation else 'pre-trained'} model ({dataset_name})",
        stage="translation fine-tuned" if translation else "visual-language pre-trained",
        data_summary=dataset_name,
        data_description=(
            f"Trained on `{dataset_name}` (data_dir `{data_args.data_dir}`): paired sign language videos and "
            f"{language_name} sentences"
            + (", with hand-motion descriptions" if data_args.description_encoder else "")
            + (", with per-frame hand features" if data_args.use_hand_features else "")
            + ". SynthSign is this package's procedural signer: its results show that the pipeline learns, not how "
            "well the model translates real signing."
        ),
        hyperparameters=hyperparameter_lines,
        results=results,
        auto_class="AutoModelForSeq2SeqLM" if translation else "AutoModel",
        model_id=os.path.basename(os.path.abspath(output_dir)),
        usage=usage,
    )
    Path(output_dir, "README.md").write_text(card, encoding="utf-8")
