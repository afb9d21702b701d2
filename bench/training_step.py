"""One training step (forward, backward, AdamW) of the authors' BeyondGloss code and of this package, on CPU.

Both stages: pre-training (L_align + λ_desc L_desc + λ_hand L_distill) and translation (label-smoothed
cross-entropy), at the paper's sizes (DINOv2 ViT-S/14 at 224 px, an mBART-large-sized text model with a vocabulary of
about 3,000 pieces), float32, a batch of 2 clips × 16 frames with 12-token sentences. The reference models are built
with the reference's own constructors from `--reference_dir` (a checkout of `elsobhano/BeyondGloss`; nothing of it is
copied here) as `tools/verify_reference_equivalence.py` builds them, and converted with
`beyondgloss-convert-reference`, so both sides start from the same weights and see the same batch. Without
`--reference_dir` only this package runs.

Every measurement runs in its own process (so that peak memories do not mix), in training mode with dropout and
stochastic depth switched off on both sides (so that the losses are comparable: they must agree within float32
noise); measurements of the two sides alternate. Per process: one untimed warm-up step (its loss is the one
compared: both sides still have the same weights), then `--steps` timed steps; the peak resident memory (VmHWM) is
that of the steps, reset after the model was built.

Variants of this package (`--variants`):

- `ours`: as `run_pretrain.py` / `run_translation.py` train: SDPA attention, the DINOv2 blocks before the first
  LoRA block run without autograd, the Trainer's default optimiser (`adamw_torch_fused`);
- `ours_cache`: and `cache_text_embeddings=True` (pre-training only; the timed steps reuse the sentences' embeddings
  computed in the warm-up step, as every epoch after the first does);
- `ours_checkpointing`: and activation checkpointing (`--gradient_checkpointing` of the training scripts): each
  DINOv2, temporal and mBART block keeps only its input and recomputes the rest in the backward pass, the same math;
- `ours_unfused`: the plain (for-loop) AdamW instead of the fused one;
- `ours_eager`: eager attention instead of SDPA;
- `ours_no_frozen_prefix`: autograd through every DINOv2 block.

    python bench/training_step.py --reference_dir /work/ref/BeyondGloss    # about 10 minutes on 2 cores
    python bench/training_step.py --variants ours ours_cache ours_checkpointing ours_unfused ours_eager \
        ours_no_frozen_prefix
    python bench/training_step.py --realistic --batch_size 4 \
        --phoenix_dev_labels path/to/labels.dev   # Phoenix14T dev lengths (padded batch)
    python bench/training_step.py --tiny                       # tiny config, seconds (for tests)
"""

import argparse
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn


REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tools"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from inference import machine_info  # noqa: E402
from reference_harness import make_inputs, random_word_tokenizer  # noqa: E402
from reference_layout import TINY_SIZES, ReferenceSizes  # noqa: E402

from modeling_beyondgloss.convert_reference_checkpoint import PRETRAINING, TRANSLATION  # noqa: E402


logger = logging.getLogger("bench.training_step")
OURS_VARIANTS = ("ours", "ours_cache", "ours_checkpointing", "ours_unfused", "ours_eager", "ours_no_frozen_prefix")
LEARNING_RATE, WEIGHT_DECAY = 3e-4, 0.01
# The Phoenix14T dev labels (CC BY-NC-SA 3.0) are not part of the repository: --phoenix_dev_labels or this variable.
PHOENIX_DEV_LABELS_ENV = "BEYONDGLOSS_PHOENIX_DEV_LABELS"


# ------------------------------------------------------------------------------------------------------------ batch


def phoenix_lengths(labels_path: str | None, count: int, seed: int, cap: int = 300) -> list[int]:
    """`count` video lengths drawn from the Phoenix14T dev split's (capped at `cap` frames)."""
    from datasets_scripts.builders.safe_pickle import safe_load

    if not labels_path or not Path(labels_path).is_file():
        raise FileNotFoundError(
            f"--realistic needs the Phoenix14T dev labels (GFSLT-VLP labels.dev): pass --phoenix_dev_labels PATH or "
            f"set {PHOENIX_DEV_LABELS_ENV} (given: {labels_path})."
        )
    labels = safe_load(str(labels_path))
    # GFSLT-VLP label format: {name: {"name", "gloss", "text", "length", "imgs_path"}}, "length" in frames.
    lengths = [min(int(entry["length"]), cap) for entry in labels.values() if entry.get("length")]
    return random.Random(seed).sample(lengths, count)


def make_batch(sizes, vocab_size: int, args) -> dict:
    """The harness's inputs (every clip `frames` long), or with `--realistic` clips of Phoenix14T dev lengths,
    zero-padded to the longest, with `pixel_mask`."""
    if not args.realistic:
        inputs = make_inputs(sizes, vocab_size, args.batch_size, args.frames, args.image_size, args.text_length,
                             args.seed)
        inputs["pixel_mask"] = torch.ones(inputs["pixel_values"].shape[:2], dtype=torch.long)
        return inputs
    lengths = phoenix_lengths(args.phoenix_dev_labels, args.batch_size, args.seed)
    inputs = make_inputs(sizes, vocab_size, args.batch_size, max(lengths), args.image_size, args.text_length,
                         args.seed)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    inputs["pixel_values"] = inputs["pixel_values"] * mask[:, :, None, None, None]
    inputs["hand_features"] = inputs["hand_features"] * mask[:, :, None]
    inputs["pixel_mask"] = mask.long()
    return inputs


# ------------------------------------------------------------------------------------------------------------ steps


def switch_off_dropout(module: nn.Module) -> None:
    """Dropout and stochastic depth off everywhere (modules, peft's LoRA dropout, mBART's float rates)."""
    for submodule in module.modules():
        if isinstance(submodule, nn.Dropout):
            submodule.p = 0.0
        for name in ("dropout", "activation_dropout", "attention_dropout", "drop_prob", "layerdrop"):
            if isinstance(getattr(submodule, name, None), float):
                setattr(submodule, name, 0.0)


def reference_step_function(ref, stage: str, module, inputs: dict):
    lengths = inputs["pixel_mask"].sum(dim=1).tolist()
    valid = inputs["pixel_mask"].bool()
    src_input = {
        "input_ids": inputs["pixel_values"][valid],
        "src_length_batch": lengths,
        "attention_mask": inputs["pixel_mask"],
    }
    tgt_input = {"input_ids": inputs["input_ids"], "attention_mask": torch.ones_like(inputs["input_ids"])}
    logged = {}
    module.log = lambda name, value, **kwargs: logged.__setitem__(name, value)
    if stage == PRETRAINING:
        batch = (src_input, tgt_input, inputs["description_embeds"], inputs["hand_features"],
                 inputs["pixel_mask"].float())
        return lambda: ref.PreTrainModel.training_step(module, batch, 0)
    return lambda: ref.FineTuneModel.training_step(module, (src_input, tgt_input), 0)


def our_step_function(stage: str, model, inputs: dict):
    if stage == PRETRAINING:
        return lambda: model(
            pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"], input_ids=inputs["input_ids"],
            description_embeds=inputs["description_embeds"], hand_features=inputs["hand_features"],
        ).loss
    from transformers.trainer_pt_utils import LabelSmoother

    smoother = LabelSmoother(epsilon=model.config.label_smoothing)

    def step():
        # The Trainer's label smoothing, as run_translation.py trains.
        outputs = model(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"],
                        labels=inputs["input_ids"])
        return smoother(outputs, inputs["input_ids"])

    return step


def resident_memory(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak_memory() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM to the current resident size
        return True
    except OSError:
        return False


def run_child(spec: dict) -> dict:
    """Build one side's model, take the warm-up and timed steps, and return the measurements."""
    torch.manual_seed(spec["seed"])
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    stage, variant, folder = spec["stage"], spec["variant"], Path(spec["folder"])
    inputs = torch.load(folder / "batch.pt")
    if variant == "reference":
        import reference_harness as harness
        from verify_reference_equivalence import build_reference

        ref = harness.import_reference(spec["reference_dir"])
        # The reference's own constructors (which set what trains), then the weights the conversion started from.
        model = build_reference(ref, stage, folder / "mbart", folder / "dinov2.pth", spec["seed"])
        model.load_state_dict(torch.load(folder / stage / "reference.pt"))
        step = reference_step_function(ref, stage, model, inputs)
        # The reference's configure_optimizers: AdamW (PyTorch's default implementation) with weight decay on the
        # weights it selects.
        parameters = model.add_weight_decay(weight_decay=WEIGHT_DECAY) if hasattr(model, "add_weight_decay") else [
            parameter for parameter in model.parameters() if parameter.requires_grad
        ]
        optimizer = torch.optim.AdamW(parameters, lr=LEARNING_RATE)
    else:
        from modeling_beyondgloss import BeyondGlossForConditionalGeneration, BeyondGlossForPreTraining

        model_class = BeyondGlossForPreTraining if stage == PRETRAINING else BeyondGlossForConditionalGeneration
        overrides = {"cache_text_embeddings": True} if variant == "ours_cache" else {}
        if variant == "ours_eager":
            overrides["attn_implementation"] = "eager"
        model = model_class.from_pretrained(folder / stage / "ours", **overrides)
        if variant == "ours_no_frozen_prefix":
            model.base_model.visual_encoder._first_trainable_vision_layer = lambda: 0
        if variant == "ours_checkpointing":
            model.activation_checkpointing_enable()
        step = our_step_function(stage, model, inputs)
        trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
        optimizer = torch.optim.AdamW(trained, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY,
                                      fused=variant != "ours_unfused")
    model.train()
    switch_off_dropout(model)
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = step()
        loss.backward()
        optimizer.step()
        return loss.item()

    loss = train_step()  # warm-up; both sides still hold the same weights here
    resident_before = resident_memory("VmRSS")
    peak_resettable = reset_peak_memory()
    seconds = []
    for _ in range(spec["steps"]):
        start = time.perf_counter()
        train_step()
        seconds.append(time.perf_counter() - start)
    peak = resident_memory("VmHWM") if peak_resettable else resident_memory("VmPeak")
    return {
        "loss": loss,
        "seconds_per_step": statistics.median(seconds),
        "step_seconds": seconds,
        "peak_rss_bytes": peak,
        "rss_before_steps_bytes": resident_before,
        "peak_is_of_the_steps": peak_resettable,
        "trainable_parameters": trainable,
    }


# ------------------------------------------------------------------------------------------------------ preparation


def prepare(folder: Path, args) -> dict:
    """Write the batch and, per stage, the weights both sides load; returns what the report needs."""
    if args.reference_dir:
        import reference_harness as harness
        from verify_reference_equivalence import HYPER_PARAMETERS, build_reference, write_dinov2, write_text_model

        from modeling_beyondgloss.convert_reference_checkpoint import convert_reference_checkpoint

        ref = harness.import_reference(args.reference_dir)
        vocab_size = write_text_model(folder / "mbart", args.vocabulary_words, args.seed)
        write_dinov2(ref, folder / "dinov2.pth")
        sizes = ReferenceSizes()
        for stage in args.stages:
            logger.info("building the reference %s model and converting it", stage)
            (folder / stage).mkdir()
            module = build_reference(ref, stage, folder / "mbart", folder / "dinov2.pth", args.seed)
            torch.save(module.state_dict(), folder / stage / "reference.pt")
            torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(HYPER_PARAMETERS[stage])},
                       folder / stage / "reference.ckpt")
            del module
            convert_reference_checkpoint(folder / stage / "reference.ckpt", folder / "mbart", folder / stage / "ours",
                                         tgt_lang="de_DE")
            (folder / stage / "reference.ckpt").unlink()
    else:
        from modeling_beyondgloss import BeyondGlossForConditionalGeneration, BeyondGlossForPreTraining
        from training_beyondgloss.data import config_for_random_init

        tokenizer = random_word_tokenizer(args.vocabulary_words, args.seed)
        vocab_size = len(tokenizer)
        config = config_for_random_init(args.config, tokenizer, "de_DE", {})
        sizes = TINY_SIZES if args.tiny else ReferenceSizes()
        sizes = ReferenceSizes(**{**sizes.__dict__, "hand_dim": config.hand_feature_dim,
                                  "description_dim": config.description_dim})
        for stage in args.stages:
            torch.manual_seed(args.seed)
            model_class = BeyondGlossForPreTraining if stage == PRETRAINING else BeyondGlossForConditionalGeneration
            model_class(config).save_pretrained(folder / stage / "ours")
            tokenizer.save_pretrained(folder / stage / "ours")
    torch.save(make_batch(sizes, vocab_size, args), folder / "batch.pt")
    return {"vocab_size": vocab_size}


def run_in_subprocess(spec: dict) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, cwd=REPO_ROOT
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{spec['variant']} {spec['stage']} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference_dir", help="Checkout of elsobhano/BeyondGloss; without it only ours runs.")
    parser.add_argument("--reference_commit", default="11eed23", help="Commit of that checkout, for the record.")
    parser.add_argument("--config", default=str(REPO_ROOT / "configs" / "beyondgloss-base.json"),
                        help="Our config when there is no reference (random weights).")
    parser.add_argument("--tiny", action="store_true", help="Tiny config and batch, ours only: a smoke test.")
    parser.add_argument("--stages", nargs="+", choices=(PRETRAINING, TRANSLATION), default=[PRETRAINING, TRANSLATION])
    parser.add_argument("--variants", nargs="+", choices=OURS_VARIANTS,
                        default=["ours", "ours_cache", "ours_checkpointing"],
                        help="Variants of this package to measure (the reference is added with --reference_dir).")
    parser.add_argument("--batch_size", type=int, default=None, help="Clips per batch (default 2; 8 --realistic).")
    parser.add_argument("--frames", type=int, default=16, help="Frames per clip (equal-length batch).")
    parser.add_argument("--realistic", action="store_true",
                        help="Clip lengths drawn from the Phoenix14T dev split (capped at 300), padded.")
    parser.add_argument("--phoenix_dev_labels", default=os.environ.get(PHOENIX_DEV_LABELS_ENV),
                        help=f"The Phoenix14T dev labels (GFSLT-VLP labels.dev) for --realistic (default: "
                             f"${PHOENIX_DEV_LABELS_ENV}).")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--text_length", type=int, default=12)
    parser.add_argument("--vocabulary_words", type=int, default=2950, help="Gives a vocabulary of about 3,000.")
    parser.add_argument("--steps", type=int, default=2, help="Timed steps per measurement (after one warm-up).")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per process (default: torch's).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "training_step.json"))
    parser.add_argument("--in_process", action="store_true",
                        help="Measure in this process, one after the other (quick; peak memories then mix).")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return {}
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.tiny:
        if args.reference_dir:
            parser.error("--tiny runs this package only (the reference hard-codes the paper's sizes).")
        args.config = str(REPO_ROOT / "configs" / "beyondgloss-tiny.json")
        args.image_size, args.frames, args.text_length, args.vocabulary_words = 56, 8, 6, 300
    if args.batch_size is None:
        args.batch_size = 8 if args.realistic else 2
    if not args.reference_dir:
        logger.info("No --reference_dir: measuring this package only (no reference side, no loss comparison).")

    results = {"machine": machine_info(), "setup": {}, "stages": {}}
    with tempfile.TemporaryDirectory(prefix="beyondgloss_bench_") as folder:
        folder = Path(folder)
        prepared = prepare(folder, args)
        batch = torch.load(folder / "batch.pt")
        results["setup"] = {
            "reference": f"elsobhano/BeyondGloss @ {args.reference_commit}" if args.reference_dir else None,
            "config": "tiny" if args.tiny else "paper sizes (beyondgloss-base)",
            "vocab_size": prepared["vocab_size"], "batch_size": args.batch_size, "image_size": args.image_size,
            "frames": batch["pixel_mask"].sum(dim=1).tolist(), "text_length": args.text_length,
            "realistic": args.realistic, "steps": args.steps, "dtype": "float32",
            "note": "training mode, dropout and stochastic depth off on both sides; one warm-up step, then the "
                    "median of the timed steps; peak RSS of the steps, each measurement in its own process",
        }
        sides = (["reference"] if args.reference_dir else []) + list(args.variants)
        for stage in args.stages:
            stage_sides = [side for side in sides if not (side == "ours_cache" and stage == TRANSLATION)]
            results["stages"][stage] = {}
            for side in stage_sides:  # the sides alternate, stage by stage
                logger.info("%s: %s", stage, side)
                spec = {"stage": stage, "variant": side, "folder": str(folder), "steps": args.steps,
                        "seed": args.seed, "threads": args.threads, "reference_dir": args.reference_dir}
                results["stages"][stage][side] = run_child(spec) if args.in_process else run_in_subprocess(spec)
    compare_and_print(results)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(results, handle, indent=2)
    logger.info("wrote %s", args.output)
    return results


def compare_and_print(results: dict) -> None:
    setup = results["setup"]
    print(f"\n{setup['config']}, batch {setup['batch_size']} × frames {setup['frames']} at {setup['image_size']} px, "
          f"{setup['text_length']}-token sentences, vocabulary {setup['vocab_size']}, float32; "
          f"{results['machine']['cpu_count']} CPUs, torch {results['machine']['torch']}.\n")
    print("| stage | side | s / step | peak RSS (GiB) | loss | vs reference: speed-up, memory |")
    print("|---|---|---:|---:|---:|---|")
    for stage, sides in results["stages"].items():
        reference = sides.get("reference")
        for side, entry in sides.items():
            versus = ""
            if reference and side != "reference":
                entry["speedup_vs_reference"] = reference["seconds_per_step"] / entry["seconds_per_step"]
                entry["memory_vs_reference"] = entry["peak_rss_bytes"] / reference["peak_rss_bytes"]
                entry["loss_difference_vs_reference"] = abs(entry["loss"] - reference["loss"])
                versus = (f"{entry['speedup_vs_reference']:.2f}× faster, {entry['memory_vs_reference']:.2f}× memory,"
                          f" |Δloss| {entry['loss_difference_vs_reference']:.1e}")
            print(f"| {stage} | {side} | {entry['seconds_per_step']:.2f} | {entry['peak_rss_bytes'] / 2**30:.2f} | "
                  f"{entry['loss']:.6f} | {versus} |")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
