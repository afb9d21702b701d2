#!/usr/bin/env python
"""BeyondGloss visual-language pre-training: video ↔ sentence alignment, description alignment and hand feature
distillation (see docs/method.md). Flags follow `transformers.TrainingArguments`; defaults follow the paper.

    python run_pretrain.py --model_name_or_path configs/beyondgloss-tiny.json \
        --dataset_name synthsign --data_dir data/synthsign --output_dir outputs/pretrain --do_train --do_eval
"""

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainingArguments

from modeling_beyondgloss import BeyondGlossForPreTraining
from training_beyondgloss import data
from training_beyondgloss.arguments import REFERENCE_OPTIMISATION, DataArguments, start_run
from training_beyondgloss.checkpoints import weights_source
from training_beyondgloss.outputs import (
    check_frozen_weights_sources,
    finish_run,
    log_and_save_metrics,
    train_and_save,
)
from training_beyondgloss.plots import plot_loss_terms
from training_beyondgloss.trainers import BeyondGlossPretrainingTrainer


logger = logging.getLogger(__name__)

# The reference implementation's pre-training recipe (docs/fidelity.md): AdamW 3e-4 with weight decay 0.01 on every
# trained tensor, cosine annealing without warm-up, gradient clipping 1.0, batch 16.
PAPER_DEFAULTS = {
    **REFERENCE_OPTIMISATION,
    "learning_rate": 3e-4,
    "warmup_steps": 0,
    "lr_scheduler_type": "cosine",
}


@dataclass
class ModelArguments:
    """Which model to pre-train and how."""

    model_name_or_path: str = field(
        metadata={
            "help": "A config JSON (random initialisation, e.g. configs/beyondgloss-tiny.json), a pre-training "
            "output directory, or 'backbones' to build around --vision_model_name_or_path and "
            "--text_model_name_or_path."
        }
    )
    vision_model_name_or_path: str = field(
        default="facebook/dinov2-small", metadata={"help": "DINOv2 checkpoint used with 'backbones'."}
    )
    text_model_name_or_path: str = field(
        default="facebook/mbart-large-cc25", metadata={"help": "mBART checkpoint used with 'backbones'."}
    )
    config_name: str | None = field(
        default=None,
        metadata={
            "help": "With 'backbones', a BeyondGloss config JSON whose fields other than the backbone sub-configs "
            "(sizes, LoRA, loss weights) are used (default: the paper's)."
        },
    )
    trim_vocabulary: bool = field(
        default=True, metadata={"help": "With 'backbones', trim mBART's vocabulary to the corpus (hf-trim)."}
    )
    description_loss_weight: float | None = field(default=None, metadata={"help": "λ_desc (the paper: 0.5)."})
    hand_loss_weight: float | None = field(default=None, metadata={"help": "λ_hand (the paper: 0.3)."})
    vision_lora_rank: int | None = field(default=None, metadata={"help": "DINOv2 LoRA rank (the paper: 4)."})
    text_lora_rank: int | None = field(default=None, metadata={"help": "mBART LoRA rank (the paper: 16)."})
    align_with_text: bool = field(
        default=True,
        metadata={
            "help": "Align videos with their target sentences (L_align); turn off to pre-train from the "
            "descriptions and hand features alone."
        },
    )
    gather_embeddings: bool | None = field(
        default=None,
        metadata={"help": "Contrast with the embeddings of all processes (default: each process's own batch)."},
    )


def config_overrides(model_args: ModelArguments) -> dict:
    names = ("description_loss_weight", "hand_loss_weight", "vision_lora_rank", "text_lora_rank", "gather_embeddings")
    return {name: getattr(model_args, name) for name in names if getattr(model_args, name) is not None}


def non_backbone_fields(config_path: str) -> dict:
    """The fields of a config JSON that do not describe the backbones (those come from their checkpoints)."""
    fields = json.loads(Path(config_path).read_text())
    backbone_keys = ("vision_config", "text_config", "text_model_name_or_path")
    for key in backbone_keys + ("model_type", "architectures", "auto_map", "transformers_version"):
        fields.pop(key, None)
    return fields


def build_model(model_args, data_args, dataset):
    """Model and tokenizer for the three kinds of `--model_name_or_path`."""
    language_code = data_args.language_code()
    overrides = config_overrides(model_args)
    # The description and hand branches are sized by the data's embeddings and hand teacher.
    widths = data.auxiliary_widths(dataset)
    source = model_args.model_name_or_path
    if source == "backbones":
        if model_args.config_name is not None:
            overrides = {**non_backbone_fields(model_args.config_name), **overrides}
        model, tokenizer = BeyondGlossForPreTraining.from_pretrained_backbones(
            model_args.vision_model_name_or_path,
            model_args.text_model_name_or_path,
            corpus_sentences=data.corpus_sentences(dataset) if model_args.trim_vocabulary else None,
            tgt_lang=language_code,
            **{**overrides, **widths},
        )
        tokenizer.src_lang = language_code
        return model, tokenizer
    tokenizer = data.load_or_build_tokenizer(source, dataset, language_code)
    if source.endswith(".json"):
        config = data.config_for_random_init(source, tokenizer, language_code, {**overrides, **widths})
        return BeyondGlossForPreTraining(config), tokenizer
    model = BeyondGlossForPreTraining.from_pretrained(source, **overrides)
    mismatched = {
        name: (getattr(model.config, name), width)
        for name, width in widths.items()
        if getattr(model.config, name) != width
    }
    if mismatched:
        details = ", ".join(f"{name}={have} but the data has {want}" for name, (have, want) in mismatched.items())
        raise ValueError(f"{source}: the checkpoint does not fit the data ({details}).")
    model.train()
    return model, tokenizer


def frozen_weights_source(model_args, training_args) -> dict:
    """Where the weights the run does not train come from, as its checkpoints record it."""
    sources = {"model_name_or_path": model_args.model_name_or_path}
    if model_args.model_name_or_path == "backbones":
        sources.update(
            vision_model_name_or_path=model_args.vision_model_name_or_path,
            text_model_name_or_path=model_args.text_model_name_or_path,
        )
    return weights_source(seed=training_args.seed, **sources)


def main(argv=None):
    model_args, data_args, training_args = start_run(
        (ModelArguments, DataArguments, TrainingArguments), argv, PAPER_DEFAULTS
    )
    source = frozen_weights_source(model_args, training_args)
    check_frozen_weights_sources(training_args, source)
    dataset = data.load_dataset_splits(data_args)
    model, tokenizer = build_model(model_args, data_args, dataset)
    if not model_args.align_with_text:
        dataset = data.drop_columns(dataset, ("text",))
    processor = data.build_processor(model.config, tokenizer, data_args)
    data.log_model_and_data(model, dataset)

    trainer = BeyondGlossPretrainingTrainer(
        model=model,
        args=training_args,
        **data.trainer_inputs(dataset, processor, "pretraining", data_args, training_args),
        weights_source=source,
    )

    all_metrics = {}
    if training_args.do_train:
        all_metrics.update(train_and_save(trainer, training_args, dataset["train"]))
        if trainer.is_world_process_zero():
            plot = plot_loss_terms(trainer.state.log_history, os.path.join(training_args.output_dir, "loss_terms.png"))
            if plot:
                logger.info("Saved the loss plot to %s", plot)

    if training_args.do_eval and "validation" in dataset:
        metrics = trainer.evaluate()
        metrics["eval_samples"] = len(dataset["validation"])
        log_and_save_metrics(trainer, "eval", metrics)
        all_metrics.update(metrics)

    return finish_run(trainer, processor, model_args.model_name_or_path, data_args, training_args, all_metrics)


def cli() -> None:
    main()  # a console script must not take the returned metrics for an exit status


if __name__ == "__main__":
    cli()
