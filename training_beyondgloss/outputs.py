"""The end of a training run: resuming, saving the model and metrics, and making the output directory a complete
model repository."""

import json
import logging
import os
from pathlib import Path

from transformers import Seq2SeqTrainer
from transformers.trainer_utils import get_last_checkpoint

from .model_card import write_model_card


__all__ = ["finish_run", "log_and_save_metrics", "resolve_checkpoint", "train_and_save"]

logger = logging.getLogger(__name__)


def resolve_checkpoint(training_args) -> str | None:
    """The checkpoint `--resume_from_checkpoint` names: a path, or `last`/`true` for the newest `checkpoint-*` in
    `--output_dir`."""
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is None or checkpoint.lower() not in ("last", "true"):
        return checkpoint
    last = get_last_checkpoint(training_args.output_dir) if os.path.isdir(training_args.output_dir) else None
    if last is None:
        raise FileNotFoundError(
            f"--resume_from_checkpoint {checkpoint}: no checkpoint-* in {training_args.output_dir}."
        )
    logger.info("Resuming from %s", last)
    return last


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


def finish_run(trainer, processor, source: str, data_args, training_args, metrics: dict) -> dict:
    """Make the output directory a complete model repository (processor, model card, data arguments), push it when
    asked, and return the run's `metrics`."""
    stage = "translation" if isinstance(trainer, Seq2SeqTrainer) else "pre-training"
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
    return metrics
