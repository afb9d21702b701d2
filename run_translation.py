#!/usr/bin/env python
"""BeyondGloss translation fine-tuning and evaluation (DESIGN §1): the pre-trained visual pipeline feeds an mBART
encoder-decoder with LoRA. Flags follow `transformers.Seq2SeqTrainingArguments`; defaults follow the paper.

    python run_translation.py --model_name_or_path outputs/pretrain \
        --dataset_name synthsign --data_dir data/synthsign --output_dir outputs/translation \
        --do_train --do_eval --do_predict --predict_with_generate
"""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import evaluate
from transformers import Seq2SeqTrainingArguments, set_seed

from modeling_beyondgloss import BeyondGlossConfig, BeyondGlossForConditionalGeneration
from modeling_beyondgloss.data_collator import BeyondGlossDataCollator
from modeling_beyondgloss.trainer_beyondgloss import BeyondGlossSeq2SeqTrainer, decode_predictions
from modeling_beyondgloss.training_utils import (
    AUXILIARY_COLUMNS,
    METRIC_TOKENIZE,
    DataArguments,
    build_processor,
    complete_output_dir,
    config_for_random_init,
    drop_columns,
    load_dataset_splits,
    load_or_build_tokenizer,
    log_and_save_metrics,
    parse_arguments,
    setup_logging,
    train_and_save,
)


logger = logging.getLogger(__name__)

METRIC_PATH = str(Path(__file__).resolve().parent / "metrics" / "sign_translation")

# The reference implementation's fine-tuning (DESIGN §1): AdamW 4e-4, 20 % warm-up, beams 5, at most 150 new tokens.
PAPER_DEFAULTS = {
    "learning_rate": 4e-4,
    "warmup_steps": 0.2,
    "lr_scheduler_type": "cosine",
    "max_grad_norm": 1.0,
    "generation_num_beams": 5,
    "remove_unused_columns": False,
}


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
        metadata={"help": "mBART checkpoint for the decoder when starting from pre-training (default: the one the "
                  "pre-training model was built from)."},
    )
    label_smoothing: float = field(default=0.2, metadata={"help": "Label smoothing of the cross-entropy (paper: 0.2)."})
    max_new_tokens: int = field(default=150, metadata={"help": "Longest generated translation (paper: 150)."})
    text_lora_rank: int | None = field(default=None, metadata={"help": "mBART LoRA rank (the paper: 16)."})


def build_model(model_args, data_args, dataset):
    language_code = data_args.language_code()
    source = model_args.model_name_or_path
    tokenizer = load_or_build_tokenizer(source, dataset, language_code)
    overrides = {"label_smoothing": model_args.label_smoothing}
    if model_args.text_lora_rank is not None:
        overrides["text_lora_rank"] = model_args.text_lora_rank
    if source.endswith(".json"):
        config = config_for_random_init(source, tokenizer, language_code, overrides)
        model = BeyondGlossForConditionalGeneration(config)
    elif BeyondGlossConfig.from_pretrained(source).architectures == ["BeyondGlossForPreTraining"]:
        model = BeyondGlossForConditionalGeneration.from_pretraining(source, model_args.text_model_name_or_path)
        for key, value in overrides.items():
            setattr(model.config, key, value)
    else:
        model = BeyondGlossForConditionalGeneration.from_pretrained(source, **overrides)
    model.generation_config.decoder_start_token_id = tokenizer.convert_tokens_to_ids(language_code)
    model.generation_config.max_new_tokens = model_args.max_new_tokens
    model.train()
    return model, tokenizer


def main(argv=None):
    model_args, data_args, training_args = parse_arguments(
        (ModelArguments, DataArguments, Seq2SeqTrainingArguments), argv, PAPER_DEFAULTS
    )
    setup_logging(training_args)
    if training_args.remove_unused_columns:
        raise ValueError("--remove_unused_columns must stay False: the collator reads the dataset's video columns.")
    if training_args.label_smoothing_factor:
        raise ValueError("Use --label_smoothing: the model computes its own label-smoothed loss.")
    set_seed(training_args.seed)

    # Translation uses the video alone; the pre-training extras would only slow the collator down.
    dataset = drop_columns(load_dataset_splits(data_args), AUXILIARY_COLUMNS)
    model, tokenizer = build_model(model_args, data_args, dataset)
    processor = build_processor(model.config, tokenizer, data_args)
    logger.info(
        "Model: %d parameters, %d trainable. Data: %s",
        model.num_parameters(), sum(p.numel() for p in model.parameters() if p.requires_grad),
        {split: len(rows) for split, rows in dataset.items()},
    )

    metric = evaluate.load(METRIC_PATH)
    metric_tokenize = METRIC_TOKENIZE.get(data_args.language_code(), "13a")

    conventions = {}

    def compute_metrics(eval_prediction):
        predictions = eval_prediction.predictions[0] if isinstance(eval_prediction.predictions, tuple) else eval_prediction.predictions
        hypotheses, references = decode_predictions(tokenizer, predictions, eval_prediction.label_ids)
        scores = metric.compute(predictions=hypotheses, references=references, tokenize=metric_tokenize)
        conventions["last"] = scores.pop("metric_convention")
        return scores

    collator_kwargs = {
        "processor": processor,
        "task": "translation",
        "max_target_length": data_args.max_target_length,
        "decoded_clip_cache_mb": data_args.decoded_clip_cache_mb,
    }
    trainer = BeyondGlossSeq2SeqTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset["train"] if training_args.do_train else None,
        eval_dataset=dataset["validation"] if training_args.do_eval and "validation" in dataset else None,
        data_collator=BeyondGlossDataCollator(training=True, **collator_kwargs),
        eval_data_collator=BeyondGlossDataCollator(training=False, **collator_kwargs),
        processing_class=processor,
        compute_metrics=compute_metrics if training_args.predict_with_generate else None,
    )
    generation_kwargs = {"max_new_tokens": model_args.max_new_tokens, "num_beams": training_args.generation_num_beams}

    all_metrics = {}
    if training_args.do_train:
        all_metrics.update(train_and_save(trainer, training_args, dataset["train"]))

    if training_args.do_eval and "validation" in dataset:
        metrics = trainer.evaluate(metric_key_prefix="eval", **generation_kwargs)
        metrics["eval_samples"] = len(dataset["validation"])
        if "last" in conventions:
            metrics["eval_metric_convention"] = conventions["last"]
        log_and_save_metrics(trainer, "eval", metrics)
        all_metrics.update(metrics)

    if training_args.do_predict and "test" in dataset:
        if not training_args.predict_with_generate:
            raise ValueError("--do_predict writes translations: add --predict_with_generate.")
        results = trainer.predict(dataset["test"], metric_key_prefix="predict", **generation_kwargs)
        metrics = results.metrics
        metrics["predict_samples"] = len(dataset["test"])
        hypotheses, _ = decode_predictions(tokenizer, results.predictions)
        metrics["predict_metric_convention"] = conventions.get("last")
        log_and_save_metrics(trainer, "predict", metrics)
        all_metrics.update(metrics)
        if trainer.is_world_process_zero():
            with open(os.path.join(training_args.output_dir, "generated_predictions.txt"), "w", encoding="utf-8") as handle:
                handle.writelines(hypothesis.replace("\n", " ") + "\n" for hypothesis in hypotheses)

    card_metrics = {key: value for key, value in all_metrics.items() if "bleu" in key or "rouge" in key}
    card_metrics["metric_convention"] = all_metrics.get("predict_metric_convention") or all_metrics.get(
        "eval_metric_convention"
    )
    complete_output_dir(trainer, processor, stage="translation", source=model_args.model_name_or_path,
                        data_args=data_args, training_args=training_args, metrics=card_metrics)
    return all_metrics


if __name__ == "__main__":
    main()
