"""The end of a training run: resuming, saving the model and metrics, and making the output directory a complete
model repository."""

import json
import logging
import os
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from .model_card import write_model_card


__all__ = ["check_output_dir", "finish_run", "log_and_save_metrics", "resolve_checkpoint", "train_and_save"]

logger = logging.getLogger(__name__)


MODEL_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def _previous_run(output_dir: str) -> tuple[list[str], list[str]]:
    """The model files and `checkpoint-*` folders a previous run left in `output_dir`."""
    if not os.path.isdir(output_dir):
        return [], []
    models = [name for name in MODEL_FILES if os.path.isfile(os.path.join(output_dir, name))]
    checkpoints = sorted(
        name for name in os.listdir(output_dir)
        if name.startswith(f"{PREFIX_CHECKPOINT_DIR}-") and os.path.isdir(os.path.join(output_dir, name))
    )
    return models, checkpoints


def check_output_dir(training_args, overwrite: bool) -> None:
    """Refuse to train into an output directory holding a previous run's model or checkpoints, unless resuming or
    told to overwrite; with `overwrite`, the old checkpoints are removed so that `last` never picks one of them."""
    if not training_args.do_train or training_args.resume_from_checkpoint is not None:
        return
    models, checkpoints = _previous_run(training_args.output_dir)
    if not models and not checkpoints:
        return
    if not overwrite:
        if models:
            held = f"a trained model ({', '.join(models)})"
        else:
            held = f"checkpoints of an unfinished run ({', '.join(checkpoints)})"
        raise FileExistsError(
            f"{training_args.output_dir} already holds {held}; training would overwrite it. Continue that run with "
            "--resume_from_checkpoint last (or a checkpoint folder), replace it with --overwrite_output_dir true, or "
            "choose another --output_dir."
        )
    if training_args.process_index == 0:
        for name in checkpoints:
            logger.info("--overwrite_output_dir: removing %s", os.path.join(training_args.output_dir, name))
            shutil.rmtree(os.path.join(training_args.output_dir, name))


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


def finish_run(trainer, processor, stage: str, source: str, data_args, training_args, metrics: dict) -> dict:
    """Make the output directory a complete model repository (processor, model card, data arguments), push it when
    asked, and return the run's `metrics`."""
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
