"""Show that converted checkpoints compute what the reference implementation computes, at the paper's sizes.

Builds the reference models (`elsobhano/BeyondGloss`, `slt_framework/`, imported from `--reference_dir`, nothing of
it copied) with their own constructors: `SLRCLIP` for pre-training and `gloss_free_model` for translation, around a
DINOv2 ViT-S/14 and an mBART-large-sized text model. Weights are random (pretrained ones cannot be downloaded here):
the DINOv2 file and the trimmed-mBART folder they load are written with random weights first, then every tensor of
the built models is perturbed from a seed, so that adapters and biases are not zero. Each model is saved as the
reference's training saves it (a Lightning checkpoint dict with `state_dict` and `hyper_parameters`), converted
with `beyondgloss-convert-reference`, and both are compared in eval mode on unpadded clips: DINOv2 CLS features,
the sign sequence, every loss term, the pooled embeddings, the translation logits, the beam-search tokens, and the
gradient of the loss for every trained tensor.

```bash
python tools/verify_reference_equivalence.py --reference_dir /path/to/BeyondGloss
```
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch


sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import reference_harness as harness  # noqa: E402
from reference_layout import ReferenceSizes  # noqa: E402
from transformers import MBartConfig, MBartForConditionalGeneration  # noqa: E402

from modeling_beyondgloss.configuration_beyondgloss import MBART_LARGE_CC25  # noqa: E402
from modeling_beyondgloss.convert_reference_checkpoint import (  # noqa: E402
    PRETRAINING,
    TRANSLATION,
    convert_reference_checkpoint,
    load_mbart_tokenizer,
)


# The reference's submission scripts (scripts/pretrain.sub, scripts/finetune.sub) pass these.
HYPER_PARAMETERS = {
    PRETRAINING: {"config": "configs/config.yaml", "lr": 3e-4, "landa_desc": 0.5, "landa_hamer": 0.3, "warmup": 0.05,
                  "scheduler": "cosine"},
    TRANSLATION: {"config": "configs/config.yaml", "eval_freq": 1, "csv_dire": "csv_outputs0/", "label_smoothing": 0.2,
                  "num_beams": 5, "warmup": 0.2},
}


def write_text_model(path: Path, vocabulary_words: int, seed: int) -> int:
    """An mBART-large-sized trimmed mBART folder with random weights and a vocabulary built offline."""
    tokenizer = harness.random_word_tokenizer(vocabulary_words, seed)
    config = MBartConfig(**{**MBART_LARGE_CC25, "vocab_size": len(tokenizer)}, pad_token_id=1, bos_token_id=0,
                         eos_token_id=2)
    torch.manual_seed(seed)
    MBartForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return len(tokenizer)


def write_dinov2(ref, path: Path) -> None:
    """A DINOv2 ViT-S/14 state dict (random) in the original DINOv2 layout, the file the reference loads."""
    vit = ref.vision_transformer.vit_small(img_size=518, patch_size=14, init_values=1.0, block_chunks=0)
    torch.save(vit.state_dict(), path)


def perturb_(module: torch.nn.Module, seed: int, scale: float = 0.02) -> None:
    """Add seeded noise to every tensor (adapters and biases start at zero), except the fixed position tables."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict(keep_vars=True).items():
            if not tensor.is_floating_point() or name.endswith(
                ("pos_embedding.pe", "rotary_emb.sin", "rotary_emb.cos")
            ):
                continue
            tensor.add_(scale * torch.randn(tensor.shape, generator=generator))
            if name.endswith("running_var"):
                tensor.abs_().add_(0.5)


def build_reference(ref, stage: str, mbart_dir: Path, dinov2_file: Path, seed: int):
    config = {
        "model": {
            "transformer": str(mbart_dir),
            "tokenizer": str(mbart_dir),
            "dino": str(dinov2_file),
            "sign_proj": False,
            "embed_dim": 1024,
        },
        "training": {"scale_embedding": False},
    }
    torch.manual_seed(seed)
    if stage == PRETRAINING:
        model = ref.clip_models.SLRCLIP(config)
    else:
        model = ref.clip_models.gloss_free_model(config, args=None)
    module = harness.lightning_module(ref, stage, model, HYPER_PARAMETERS[stage])
    perturb_(module, seed)
    return module


def compare(stage, ours, theirs, model, gradients_ours, gradients_theirs) -> list[tuple[str, str, bool]]:
    rows = []
    for name in theirs:
        if name == "tokens":
            same = ours[name].shape == theirs[name].shape and torch.equal(ours[name], theirs[name])
            rows.append((name, f"identical ({tuple(theirs[name].shape)})" if same else "DIFFERENT", same))
            continue
        difference = (ours[name].double() - theirs[name].double().reshape(ours[name].shape)).abs().max().item()
        scale = theirs[name].abs().max().item()
        rows.append((name, f"{difference:.2e} (values up to {scale:.3g})", difference <= 1e-5))
    largest, compared, unmatched = harness.gradient_differences(stage, model, gradients_ours, gradients_theirs)
    rows.append((f"gradients ({compared} trained tensors)", f"{largest:.2e}", largest <= 1e-5 and not unmatched))
    if unmatched:
        rows.append(("trained tensors without a counterpart gradient", ", ".join(unmatched[:5]), False))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference_dir", required=True, help="Checkout of elsobhano/BeyondGloss.")
    parser.add_argument("--reference_commit", default="11eed23", help="Commit of that checkout, for the record.")
    parser.add_argument("--frames", type=int, default=16, help="Frames per clip.")
    parser.add_argument("--batch_size", type=int, default=2)
    parser.add_argument("--text_length", type=int, default=12)
    parser.add_argument("--vocabulary_words", type=int, default=2950, help="Gives a vocabulary of about 3,000.")
    parser.add_argument("--max_new_tokens", type=int, default=150, help="The reference decodes 150 new tokens.")
    parser.add_argument("--stages", nargs="+", default=[PRETRAINING, TRANSLATION])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    ref = harness.import_reference(args.reference_dir)
    sizes = ReferenceSizes()
    started = time.time()
    report = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        vocab_size = write_text_model(folder / "mbart", args.vocabulary_words, args.seed)
        write_dinov2(ref, folder / "dinov2.pth")
        inputs = harness.make_inputs(sizes, vocab_size, args.batch_size, args.frames, 224, args.text_length, args.seed)
        decoder_start = load_mbart_tokenizer(folder / "mbart", "de_DE").convert_tokens_to_ids("de_DE")
        for stage in args.stages:
            module = build_reference(ref, stage, folder / "mbart", folder / "dinov2.pth", args.seed)
            checkpoint = folder / f"{stage}.ckpt"
            torch.save(
                {"state_dict": module.state_dict(), "hyper_parameters": dict(HYPER_PARAMETERS[stage])}, checkpoint
            )
            theirs, gradients_theirs = harness.reference_outputs(
                ref, stage, module, inputs, decoder_start, args.max_new_tokens
            )
            del module
            convert_reference_checkpoint(checkpoint, folder / "mbart", folder / stage, tgt_lang="de_DE")
            from modeling_beyondgloss import BeyondGlossForConditionalGeneration, BeyondGlossForPreTraining

            model_class = BeyondGlossForPreTraining if stage == PRETRAINING else BeyondGlossForConditionalGeneration
            model = model_class.from_pretrained(folder / stage)
            ours, gradients_ours = harness.converted_outputs(stage, model, inputs, args.max_new_tokens)
            report.append((stage, compare(stage, ours, theirs, model, gradients_ours, gradients_theirs)))
            del model
    print(
        f"Reference: elsobhano/BeyondGloss @ {args.reference_commit}; float32, eval mode, unpadded clips of "
        f"{args.batch_size} x {args.frames} frames at 224 px, sentences of {args.text_length} tokens, "
        f"vocabulary {vocab_size}, {args.max_new_tokens} new tokens; {time.time() - started:.0f} s."
    )
    print("| stage | quantity | max abs difference | within 1e-5 / identical |\n|---|---|---|---|")
    for stage, rows in report:
        for name, value, ok in rows:
            print(f"| {stage} | {name} | {value} | {'yes' if ok else 'NO'} |")
    if not all(ok for _, rows in report for *_, ok in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
