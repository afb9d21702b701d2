"""The end of a training run: resuming, saving the model and metrics, and making the output directory a complete
model repository."""

import json
import logging
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path

from safetensors import SafetensorError
from transformers import Seq2SeqTrainer
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .checkpoints import TRAINABLE_WEIGHTS_NAME, check_sources_exist, read_metadata
from .model_card import write_model_card


__all__ = [
    "check_frozen_weights_sources",
    "check_output_dir",
    "checkpoint_problem",
    "finish_run",
    "log_and_save_metrics",
    "resolve_checkpoint",
    "train_and_save",
]

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


def resolve_checkpoint(training_args, log: bool = True) -> str | None:
    """The checkpoint `--resume_from_checkpoint` names: a path, or `last`/`true` for the newest complete
    `checkpoint-*` in `--output_dir` (incomplete or unreadable ones are passed over, with the reason logged unless
    `log` is false)."""
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is None:
        return None
    if checkpoint.lower() not in ("last", "true"):
        problem = checkpoint_problem(checkpoint)
        if problem is not None:
            raise ValueError(f"--resume_from_checkpoint {checkpoint}: {problem}.")
        return checkpoint
    output_dir = training_args.output_dir
    candidates = []
    if os.path.isdir(output_dir):
        candidates = [
            os.path.join(output_dir, name)
            for name in os.listdir(output_dir)
            if re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-\d+", name) and os.path.isdir(os.path.join(output_dir, name))
        ]
    passed_over = []
    for candidate in sorted(candidates, key=lambda path: int(path.rsplit("-", 1)[1]), reverse=True):
        problem = checkpoint_problem(candidate)
        if problem is None:
            if log:
                logger.info("Resuming from %s", candidate)
            return candidate
        if log:
            logger.warning("Passing over %s: %s.", candidate, problem)
        passed_over.append(f"{candidate}: {problem}")
    details = "".join(f"\n  {line}" for line in passed_over)
    raise FileNotFoundError(
        f"--resume_from_checkpoint {checkpoint}: no {'complete ' if passed_over else ''}checkpoint-* in "
        f"{output_dir}.{details}"
    )


def check_frozen_weights_sources(training_args, source: dict) -> None:
    """Before the model is built: refuse to resume from a checkpoint that holds only the trained weights when the
    local folder or file its frozen weights came from, and this run would take them from again, is gone (`source`
    is this run's `checkpoints.weights_source`). What is wrong with the checkpoint itself is left to
    `resolve_checkpoint`, when training starts."""
    if not training_args.do_train or training_args.resume_from_checkpoint is None:
        return
    try:
        checkpoint = resolve_checkpoint(training_args, log=False)
    except (FileNotFoundError, ValueError):
        return
    check_sources_exist(checkpoint, source)


def checkpoint_problem(checkpoint: str) -> str | None:
    """Why `checkpoint` cannot be resumed from (a missing, truncated or unreadable file), or `None`.

    The Trainer writes `trainer_state.json` last, so its absence marks a save that did not finish; the other files
    are checked for the truncation a kill or a full disk leaves: a safetensors file shorter than its header says,
    a torch zip archive without its closing directory.
    """
    if not os.path.isdir(checkpoint):
        return "no such directory"
    state = os.path.join(checkpoint, TRAINER_STATE_NAME)
    if not os.path.isfile(state):
        return f"no {TRAINER_STATE_NAME}, so its save did not finish"
    try:
        with open(state) as handle:
            json.load(handle)
    except (OSError, ValueError) as error:
        return f"{state} is truncated or unreadable ({error})"
    files = sorted(str(path) for path in Path(checkpoint).rglob("*") if path.is_file())
    if not any(WEIGHT_FILE.fullmatch(os.path.basename(path)) for path in files):
        return "it holds no model weights"
    for path in files:
        problem = _file_problem(path)
        if problem is not None:
            return f"{path} {problem}"
    trainable = os.path.join(checkpoint, TRAINABLE_WEIGHTS_NAME)
    if os.path.isfile(trainable):
        try:
            read_metadata(trainable)
        except (OSError, ValueError, SafetensorError) as error:
            return str(error)
    return None


# The model's weights as save_pretrained, PEFT or DeepSpeed write them, or the trained ones alone (checkpoints.py).
WEIGHT_FILE = re.compile(
    r"(model|pytorch_model|adapter_model)(-[\w-]+)?\.(safetensors|bin)|.*_model_states\.pt|"
    + re.escape(TRAINABLE_WEIGHTS_NAME)
)


def _file_problem(path: str) -> str | None:
    size = os.path.getsize(path)
    if path.endswith(".safetensors"):
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                return f"is truncated ({size} bytes)"
            header_size = struct.unpack("<Q", prefix)[0]
            try:
                header = json.loads(handle.read(header_size))
            except ValueError:
                return f"is truncated or corrupt: its header does not parse ({size} bytes)"
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
        data_size = max(ends, default=0)
        expected = 8 + header_size + data_size
        if size != expected:
            return f"is truncated: {size} bytes where its header promises {expected}"
    elif path.endswith((".pt", ".pth", ".bin")):
        with open(path, "rb") as handle:
            is_zip = handle.read(2) == b"PK"
        if size == 0:
            return "is empty"
        if is_zip:  # torch.save's format; legacy pickles have no directory to check
            try:
                zipfile.ZipFile(path).close()
            except (zipfile.BadZipFile, OSError) as error:
                return f"is truncated or corrupt ({error}, {size} bytes)"
    return None


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
