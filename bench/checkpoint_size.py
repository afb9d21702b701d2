"""Size of an intermediate training checkpoint: whole (`before`: every weight, as the Trainer saves by default) and
trimmed to what trains (`after`: trained weights and buffers, the record of the frozen ones; see
`training_beyondgloss/checkpoints.py`), each with the optimizer, scheduler, RNG and trainer states.

The models are built at random from `configs/beyondgloss-base.json` (with a 3,000-token vocabulary, about what a
sign language corpus keeps of mBART's) and `configs/beyondgloss-tiny.json`. Each checkpoint is written by the
training scripts' Trainers through their own `_save_checkpoint`, after one optimizer step, so that AdamW's moments
are in it as they are in any checkpoint of a run. No data, no forward pass and no network are needed.

    python bench/checkpoint_size.py                  # base and tiny, pre-training and translation
    python bench/checkpoint_size.py --configs tiny
"""

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import torch


REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from transformers import Seq2SeqTrainingArguments, TrainerState, TrainingArguments  # noqa: E402
from transformers.trainer_callback import ExportableState  # noqa: E402

from modeling_beyondgloss import (  # noqa: E402
    BeyondGlossConfig,
    BeyondGlossForConditionalGeneration,
    BeyondGlossForPreTraining,
)
from training_beyondgloss.checkpoints import weights_source  # noqa: E402
from training_beyondgloss.trainers import BeyondGlossPretrainingTrainer, BeyondGlossSeq2SeqTrainer  # noqa: E402


logger = logging.getLogger("bench.checkpoint_size")

CONFIGS = {name: REPO_ROOT / "configs" / f"beyondgloss-{name}.json" for name in ("base", "tiny")}
VOCABULARY = {"base": 3000, "tiny": None}  # the tiny config's own 512
STAGES = {
    "pretraining": (BeyondGlossForPreTraining, BeyondGlossPretrainingTrainer, TrainingArguments),
    "translation": (BeyondGlossForConditionalGeneration, BeyondGlossSeq2SeqTrainer, Seq2SeqTrainingArguments),
}


def build(config_name: str, stage: str):
    config = BeyondGlossConfig.from_json_file(str(CONFIGS[config_name]))
    if VOCABULARY[config_name] is not None:
        config.text_config.vocab_size = VOCABULARY[config_name]
    torch.manual_seed(0)
    return STAGES[stage][0](config)


def checkpoint_bytes(model, stage: str, output_dir: str, trimmed: bool) -> dict[str, int]:
    """Write `checkpoint-1` of `model` into `output_dir` as the stage's Trainer does; its files and their sizes."""
    _, trainer_class, arguments_class = STAGES[stage]
    arguments = arguments_class(output_dir=output_dir, report_to="none", use_cpu=True)
    trainer = trainer_class(
        model=model, args=arguments, save_frozen_weights=not trimmed, weights_source=weights_source(seed=0)
    )
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    # One step, so that AdamW's two moments exist for every trained parameter, as in any checkpoint of a run.
    for parameter in model.parameters():
        if parameter.requires_grad:
            parameter.grad = torch.full_like(parameter, 1e-3)
    trainer.optimizer.step()
    trainer.lr_scheduler.step()
    model.zero_grad(set_to_none=True)
    trainer.state = TrainerState(
        stateful_callbacks=[
            callback for callback in trainer.callback_handler.callbacks + [trainer.control]
            if isinstance(callback, ExportableState)
        ]
    )
    trainer.state.global_step = 1
    trainer._save_checkpoint(model, trial=None)
    checkpoint = Path(output_dir) / "checkpoint-1"
    files = sorted(path for path in checkpoint.rglob("*") if path.is_file())
    return {str(path.relative_to(checkpoint)): path.stat().st_size for path in files}


def measure(config_name: str, stage: str, scratch: str) -> dict:
    model = build(config_name, stage)
    sizes = {}
    for kind, trimmed in (("before", False), ("after", True)):
        output_dir = os.path.join(scratch, f"{config_name}-{stage}-{kind}")
        sizes[kind] = checkpoint_bytes(model, stage, output_dir, trimmed)
        shutil.rmtree(output_dir)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    before, after = (sum(files.values()) / 2**20 for files in (sizes["before"], sizes["after"]))
    return {
        "parameters": parameters,
        "trainable_parameters": trainable,
        "before_mb": round(before, 2),
        "after_mb": round(after, 2),
        "ratio": round(after / before, 4),
        "files_before_mb": {name: round(size / 2**20, 3) for name, size in sizes["before"].items()},
        "files_after_mb": {name: round(size / 2**20, 3) for name, size in sizes["after"].items()},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["base", "tiny"])
    parser.add_argument("--stages", nargs="+", choices=sorted(STAGES), default=sorted(STAGES))
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "checkpoint_size.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("transformers").setLevel(logging.WARNING)
    logging.getLogger("training_beyondgloss").setLevel(logging.WARNING)

    results = {}
    # In memory where there is room for the base model's whole checkpoint (written, measured and removed one at a
    # time), so that the disk's speed does not matter.
    memory = "/dev/shm" if os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free > 4 * 2**30 else None
    with tempfile.TemporaryDirectory(prefix="checkpoint_size_", dir=memory) as scratch:
        for config_name in args.configs:
            for stage in args.stages:
                result = measure(config_name, stage, scratch)
                results.setdefault(config_name, {})[stage] = result
                logger.info(
                    "%-4s %-11s %11d parameters, %9d trained: %9.2f MB before, %8.2f MB after (%.1f %%)",
                    config_name, stage, result["parameters"], result["trainable_parameters"], result["before_mb"],
                    result["after_mb"], 100 * result["ratio"],
                )
    report = {
        "what": "size of checkpoint-1 (all its files) written by the stage's Trainer after one optimizer step: "
        "before = every weight, after = trained weights and buffers with the record of the frozen ones",
        "vocabulary": {name: VOCABULARY[name] for name in args.configs},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "results": results,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    logger.info("Wrote %s", args.output)
    return report


if __name__ == "__main__":
    main()
