#!/usr/bin/env python
"""BeyondGloss translation fine-tuning and evaluation (see docs/method.md): the pre-trained visual pipeline feeds an
mBART encoder-decoder with LoRA. Flags follow `transformers.Seq2SeqTrainingArguments`; defaults follow the paper.

    python run_translation.py --model_name_or_path outputs/pretrain \
        --dataset_name synthsign --data_dir data/synthsign --output_dir outputs/translation \
        --do_train --do_eval --do_predict --predict_with_generate
"""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import evaluate
from transformers import Seq2SeqTrainingArguments

from modeling_beyondgloss import BeyondGlossConfig, BeyondGlossForConditionalGeneration
from training_beyondgloss import data
from training_beyondgloss.arguments import METRIC_TOKENIZE, REFERENCE_OPTIMISATION, DataArguments, start_run
from training_beyondgloss.checkpoints import weights_source
from training_beyondgloss.outputs import (
    check_frozen_weights_sources,
    finish_run,
    log_and_save_metrics,
    train_and_save,
)
from training_beyondgloss.trainers import BeyondGlossSeq2SeqTrainer, decode_predictions


logger = logging.getLogger(__name__)

METRIC_PATH = str(Path(__file__).resolve().parent / "metrics" / "sign_translation")

# The reference implementation's fine-tuning recipe (docs/fidelity.md): AdamW 4e-4 with weight decay 0.01 on every
# trained tensor, a one-cycle schedule whose first 20 % warm up (`--one_cycle`), gradient clipping 1.0, batch 16,
# label smoothing 0.2 (the Trainer's label smoother). Beam search (5 beams, at most 150 new tokens) is the model's
# generation config.
PAPER_DEFAULTS = {**REFERENCE_OPTIMISATION, "learning_rate": 4e-4, "warmup_steps": 0.2, "label_smoothing_factor": 0.2}


@dataclass
class ModelArguments:
    """Which model to fine-tune and how."""

    model_name_or_path: str = field(
        metadata={
            "help": "A pre-training output directory (visual pipeline and sign-side encoder are carried over), a "
            "translation checkpoint, or a config JSON (random initialisation)."
        }
    )
    text_model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "mBART checkpoint for the decoder when starting from pre-training (default: the one the "
            "pre-training model was built from)."
        },
    )
    label_smoothing: float | None = field(
        default=None, metadata={"help": "Deprecated: use --label_smoothing_factor (the paper: 0.2)."}
    )
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Longest generated translation (default: the generation config's, 150)."}
    )
    text_lora_rank: int | None = field(default=None, metadata={"help": "mBART LoRA rank (the paper: 16)."})
    one_cycle: bool = field(
        default=True,
        metadata={"help": "The reference one-cycle schedule (warm-up fraction --warmup_steps, cosine annealing, "
                  "Adam's β1 cycled 0.95-0.85); false uses --lr_scheduler_type."},
    )


def build_model(model_args, data_args, dataset):
    language_code = data_args.language_code()
    source = model_args.model_name_or_path
    tokenizer = data.load_or_build_tokenizer(source, dataset, language_code)
    overrides = {
        name: getattr(model_args, name)
        for name in ("text_lora_rank",)
        if getattr(model_args, name) is not None
    }
    if source.endswith(".json"):
        config = data.config_for_random_init(source, tokenizer, language_code, overrides)
        model = BeyondGlossForConditionalGeneration(config)
    elif BeyondGlossConfig.from_pretrained(source).architectures == ["BeyondGlossForPreTraining"]:
        model = BeyondGlossForConditionalGeneration.from_pretraining(source, model_args.text_model_name_or_path)
        for key, value in overrides.items():
            setattr(model.config, key, value)
    else:
        model = BeyondGlossForConditionalGeneration.from_pretrained(source, **overrides)
    model.generation_config.decoder_start_token_id = tokenizer.convert_tokens_to_ids(language_code)
    if model_args.max_new_tokens is not None:
        model.generation_config.max_new_tokens = model_args.max_new_tokens
    model.train()
    return model, tokenizer


def main(argv=None):
    model_args, data_args, training_args = start_run(
        (ModelArguments, DataArguments, Seq2SeqTrainingArguments), argv, PAPER_DEFAULTS
    )
    source = weights_source(
        seed=training_args.seed,
        model_name_or_path=model_args.model_name_or_path,
        text_model_name_or_path=model_args.text_model_name_or_path,
    )
    check_frozen_weights_sources(training_args, source)
    if model_args.label_smoothing is not None:
        logger.warning("--label_smoothing is deprecated: use --label_smoothing_factor.")
        training_args.label_smoothing_factor = model_args.label_smoothing
    # Translation uses the video alone; the pre-training extras would only slow the collator down.
    dataset = data.drop_columns(data.load_dataset_splits(data_args), data.AUXILIARY_COLUMNS)
    model, tokenizer = build_model(model_args, data_args, dataset)
    # The Trainer applies label smoothing; the config records it for the model card.
    model.config.label_smoothing = training_args.label_smoothing_factor
    processor = data.build_processor(model.config, tokenizer, data_args)
    data.log_model_and_data(model, dataset)

    metric = evaluate.load(METRIC_PATH)
    metric_tokenize = METRIC_TOKENIZE.get(data_args.language_code(), "13a")

    conventions = {}

    def compute_metrics(eval_prediction):
        predictions = (
            eval_prediction.predictions[0]
            if isinstance(eval_prediction.predictions, tuple)
            else eval_prediction.predictions
        )
        hypotheses, references = decode_predictions(tokenizer, predictions, eval_prediction.label_ids)
        scores = metric.compute(predictions=hypotheses, references=references, tokenize=metric_tokenize)
        conventions["last"] = scores.pop("metric_convention")
        return scores

    trainer = BeyondGlossSeq2SeqTrainer(
        model=model,
        args=training_args,
        **data.trainer_inputs(dataset, processor, "translation", data_args, training_args),
        compute_metrics=compute_metrics if training_args.predict_with_generate else None,
        one_cycle=model_args.one_cycle,
        weights_source=source,
    )

    all_metrics = {}
    if training_args.do_train:
        all_metrics.update(train_and_save(trainer, training_args, dataset["train"]))

    if training_args.do_eval and "validation" in dataset:
        metrics = trainer.evaluate(metric_key_prefix="eval")
        metrics["eval_samples"] = len(dataset["validation"])
        if "last" in conventions:
            metrics["eval_metric_convention"] = conventions["last"]
        log_and_save_metrics(trainer, "eval", metrics)
        all_metrics.update(metrics)

    if training_args.do_predict and "test" in dataset:
        if not training_args.predict_with_generate:
            raise ValueError("--do_predict writes translations: add --predict_with_generate.")
        results = trainer.predict(dataset["test"], metric_key_prefix="predict")
        metrics = results.metrics
        metrics["predict_samples"] = len(dataset["test"])
        hypotheses, _ = decode_predictions(tokenizer, results.predictions)
        metrics["predict_metric_convention"] = conventions.get("last")
        log_and_save_metrics(trainer, "predict", metrics)
        all_metrics.update(metrics)
        if trainer.is_world_process_zero():
            with open(
                os.path.join(training_args.output_dir, "generated_predictions.txt"), "w", encoding="utf-8"
            ) as handle:
                handle.writelines(hypothesis.replace("\n", " ") + "\n" for hypothesis in hypotheses)

    return finish_run(trainer, processor, model_args.model_name_or_path, data_args, training_args, all_metrics)


def cli() -> None:
    main()  # a console script must not take the returned metrics for an exit status


if __name__ == "__main__":
    cli()
