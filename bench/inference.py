"""Inference speed of BeyondGloss on CPU: one 4-second clip (100 frames at 25 fps, 224 px, already decoded) → text.

The model is the base config (`configs/beyondgloss-base.json`: DINOv2 ViT-S/14, mBART-large-sized text model) with
random weights and a vocabulary of about 3,000 pieces built offline, translated with 5 beams. Each stage is timed on
its own (best of `--repeats`), then the whole `generate()` at the realistic length:

- DINOv2 over the frames;
- the temporal encoder with the hand and description branches;
- the mBART encoder over the sign sequence;
- beam search (the decoder), from the encoder output.

Random weights never emit the end-of-sentence token, so beam search always runs to `max_new_tokens`: the table
gives it at the paper's 150 new tokens and at a fixed `--realistic_tokens` (25, the length of a long Phoenix14T
sentence), and the cost per new token, so any length can be read off.

Variants (`--variants`): `fp32`; `int8`, dynamic int8 quantisation of the frozen `nn.Linear` layers
(`BeyondGlossForConditionalGeneration.quantize_for_inference`: weights int8, activations quantised on the fly;
LoRA adapters stay float); `bf16`, the model in bfloat16 (the backbones are nearly all of it). With `--demo_model` and
`--demo_data`, each variant's test BLEU-4 on the demo corpus is measured too.

    python bench/inference.py                      # about 3 minutes on 2 cores
    python bench/inference.py --demo_model outputs/demo/video_translation --demo_data outputs/demo/synthsign
    python bench/inference.py --tiny               # tiny config, seconds (for tests)
"""

import argparse
import datetime
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import torch


REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tools"))

from reference_harness import random_word_tokenizer  # noqa: E402

from modeling_beyondgloss import BeyondGlossForConditionalGeneration  # noqa: E402
from modeling_beyondgloss.modeling_beyondgloss import BeyondGlossEncoderOutput  # noqa: E402
from training_beyondgloss.data import config_for_random_init  # noqa: E402


logger = logging.getLogger("bench.inference")
VARIANTS = ("fp32", "int8", "bf16")


def machine_info() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def build_model(config_path: str, vocabulary_words: int, seed: int):
    tokenizer = random_word_tokenizer(vocabulary_words, seed)
    config = config_for_random_init(config_path, tokenizer, "de_DE", {})
    torch.manual_seed(seed)
    return BeyondGlossForConditionalGeneration(config).eval(), tokenizer


def apply_variant(model, variant: str):
    """The model as `variant` runs it (changed in place). bf16 casts the whole model: the backbones hold all but a
    few percent of its weights and time, and one dtype keeps the pipeline's input cast (`model.dtype`) right."""
    if variant == "int8":
        return model.quantize_for_inference()
    if variant == "bf16":
        return model.to(torch.bfloat16)
    return model


def best_time(function, repeats: int, name: str = ""):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    if name:
        logger.info("  %s: %.2f s", name, best)
    return best, result


def time_stages(model, pixel_values, num_beams: int, max_new_tokens: int, realistic_tokens: int, repeats: int):
    """Seconds per stage (best of `repeats`) and the tokens of a full `generate()`."""
    vision = model.visual_encoder
    mask = torch.ones(pixel_values.shape[:2], dtype=torch.bool)
    vision_dtype = next(vision.vision_model.parameters()).dtype
    frames = pixel_values[0].to(vision_dtype)
    timings = {}
    with torch.inference_mode():
        timings["dinov2"], cls_tokens = best_time(lambda: vision.encode_frames(frames), repeats, "dinov2")

        # The visual encoder's forward after DINOv2 (spatial projection, hand branch, temporal encoder, description
        # branch), with DINOv2's output computed above.
        vision.encode_frames = lambda frames: cls_tokens
        try:
            timings["temporal_and_branches"], visual = best_time(
                lambda: vision(pixel_values, mask), repeats, "temporal"
            )
        finally:
            del vision.encode_frames
        text_dtype = next(model.translation_model.parameters()).dtype
        encoder = model.translation_model.get_encoder()
        sign_mask = visual.sign_mask.long()
        timings["mbart_encoder"], encoded = best_time(
            lambda: encoder(inputs_embeds=visual.sign_embeds.to(text_dtype), attention_mask=sign_mask),
            repeats,
            "mbart encoder",
        )
        encoder_outputs = BeyondGlossEncoderOutput(
            last_hidden_state=encoded.last_hidden_state, attention_mask=sign_mask
        )

        def beam_search(tokens):
            return lambda: model.generate(
                encoder_outputs=BeyondGlossEncoderOutput(**encoder_outputs),
                attention_mask=sign_mask,
                num_beams=num_beams,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
            )

        timings["beam_search"], _ = best_time(beam_search(max_new_tokens), repeats, "beam search")
        timings["beam_search_realistic"], _ = best_time(beam_search(realistic_tokens), repeats, "beam search, short")
        # The whole generate() once, at the realistic length (the 150-token total is the stages summed).
        timings["total_realistic"], sequences = best_time(
            lambda: model.generate(
                pixel_values=pixel_values.to(vision_dtype), num_beams=num_beams, max_new_tokens=realistic_tokens,
                min_new_tokens=realistic_tokens,
            ),
            repeats,
        )
    extra_tokens = max(max_new_tokens - realistic_tokens, 1)
    timings["per_new_token"] = (timings["beam_search"] - timings["beam_search_realistic"]) / extra_tokens
    encode = timings["dinov2"] + timings["temporal_and_branches"] + timings["mbart_encoder"]
    timings["total"] = encode + timings["beam_search"]
    return timings, sequences


def demo_bleu(model, model_dir: str, data_dir: str, num_beams: int, max_new_tokens: int) -> dict:
    """Test BLEU-4 / ROUGE-L of `model` (a variant of the demo model) on the demo corpus's test split, through the
    translation pipeline and the package's metric (`metrics/sign_translation`), as `run_translation.py` scores."""
    import evaluate
    from transformers import AutoProcessor

    from datasets_scripts.builders.safe_pickle import safe_load
    from modeling_beyondgloss.pipeline_beyondgloss import SignLanguageTranslationPipeline
    from run_translation import METRIC_PATH

    labels = safe_load(str(Path(data_dir) / "labels.test"))
    videos_dir = Path(data_dir) / "videos" / "test"  # SynthSign's layout
    clips = sorted(path for path in videos_dir.glob("*.mp4") if f"test/{path.stem}" in labels)
    if not clips:
        raise FileNotFoundError(f"{videos_dir} holds no clip named in {data_dir}/labels.test")
    translator = SignLanguageTranslationPipeline(model=model, processor=AutoProcessor.from_pretrained(model_dir))
    with torch.inference_mode():
        results = translator([str(clip) for clip in clips], num_beams=num_beams, max_new_tokens=max_new_tokens)
    predictions = [result["translation_text"] for result in results]
    references = [labels[f"test/{clip.stem}"]["text"] for clip in clips]
    scores = evaluate.load(METRIC_PATH).compute(predictions=predictions, references=references)
    return {"bleu4": scores["bleu4"], "rouge_l": scores["rouge_l"], "clips": len(clips), "predictions": predictions}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO_ROOT / "configs" / "beyondgloss-base.json"))
    parser.add_argument("--tiny", action="store_true", help="Tiny config, short clip, few tokens: a smoke test.")
    parser.add_argument("--seconds", type=float, default=4.0, help="Clip length.")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--vocabulary_words", type=int, default=2950, help="Gives a vocabulary of about 3,000.")
    parser.add_argument("--num_beams", type=int, default=5)
    parser.add_argument("--max_new_tokens", type=int, default=150, help="Random weights always decode this many.")
    parser.add_argument("--realistic_tokens", type=int, default=25, help="Also decode exactly this many.")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=1, help="Timed runs per stage; the best counts.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core).")
    parser.add_argument("--demo_model", help="A trained demo translation model (outputs/demo/video_translation).")
    parser.add_argument("--demo_data", help="Its SynthSign data folder (outputs/demo/synthsign).")
    parser.add_argument("--demo_max_new_tokens", type=int, default=40, help="As the demo evaluates.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "inference.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if bool(args.demo_model) != bool(args.demo_data):
        parser.error("--demo_model and --demo_data go together.")
    if args.tiny:
        args.config = str(REPO_ROOT / "configs" / "beyondgloss-tiny.json")
        args.seconds, args.image_size, args.vocabulary_words = 0.4, 56, 300
        args.max_new_tokens, args.realistic_tokens = 6, 3
    if args.threads:
        torch.set_num_threads(args.threads)

    frames = round(args.seconds * args.fps)
    pixel_values = torch.randn(
        1, frames, 3, args.image_size, args.image_size, generator=torch.Generator().manual_seed(args.seed)
    )
    results = {
        "machine": machine_info(),
        "setup": {
            "config": os.path.relpath(args.config, REPO_ROOT), "frames": frames, "seconds": args.seconds,
            "image_size": args.image_size, "num_beams": args.num_beams, "max_new_tokens": args.max_new_tokens,
            "realistic_tokens": args.realistic_tokens, "repeats": args.repeats,
            "note": "random weights never emit EOS: beam search always runs to the fixed number of new tokens",
        },
        "variants": {},
    }
    reference_tokens = None
    for variant in args.variants:
        model, tokenizer = build_model(args.config, args.vocabulary_words, args.seed)
        results["setup"]["vocab_size"] = len(tokenizer)
        model = apply_variant(model, variant)
        logger.info("timing %s", variant)
        timings, sequences = time_stages(
            model, pixel_values, args.num_beams, args.max_new_tokens, args.realistic_tokens, args.repeats
        )
        entry = {"seconds": timings}
        if reference_tokens is None:
            reference_tokens = sequences
        else:
            same = sequences.shape == reference_tokens.shape
            entry["same_tokens_as_first"] = bool(same and torch.equal(sequences, reference_tokens))
        results["variants"][variant] = entry
        del model

    if args.demo_model:
        from transformers import AutoModelForSeq2SeqLM

        for variant in args.variants:
            logger.info("demo test BLEU-4 with %s", variant)
            model = apply_variant(AutoModelForSeq2SeqLM.from_pretrained(args.demo_model).eval(), variant)
            started = time.perf_counter()
            scores = demo_bleu(model, args.demo_model, args.demo_data, args.num_beams, args.demo_max_new_tokens)
            scores["seconds"] = time.perf_counter() - started
            results["variants"][variant]["demo"] = scores
        first = results["variants"][args.variants[0]]["demo"]["predictions"]
        for variant in args.variants:
            demo = results["variants"][variant]["demo"]
            demo["same_predictions_as_" + args.variants[0]] = sum(
                a == b for a, b in zip(demo.pop("predictions"), first)
            ) / len(first)

    print_table(results)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(results, handle, indent=2)
    logger.info("wrote %s", args.output)
    return results


def print_table(results: dict) -> None:
    setup = results["setup"]
    clip = setup["seconds"]
    frames = setup["frames"]
    realistic = setup["realistic_tokens"]
    print(
        f"\n{frames} frames ({clip:g} s clip) at {setup['image_size']} px, {setup['num_beams']} beams, vocabulary "
        f"{setup['vocab_size']}, {results['machine']['torch_threads']} torch threads; random weights: beam search "
        f"runs to a fixed number of new tokens.\n"
    )
    rows = [
        ("DINOv2", "dinov2"),
        ("temporal encoder + branches", "temporal_and_branches"),
        ("mBART encoder", "mbart_encoder"),
        (f"beam search, {setup['max_new_tokens']} new tokens", "beam_search"),
        (f"beam search, {realistic} new tokens", "beam_search_realistic"),
        ("beam search, per new token", "per_new_token"),
        (f"total, {setup['max_new_tokens']} new tokens (stages summed)", "total"),
        (f"total generate(), {realistic} new tokens", "total_realistic"),
    ]
    variants = list(results["variants"])
    header = "| stage | " + " | ".join(f"{name} s (RTF)" for name in variants) + " |"
    print(header)
    print("|---" * (len(variants) + 1) + "|")
    for label, key in rows:
        cells = []
        for name in variants:
            seconds = results["variants"][name]["seconds"][key]
            per_token = key == "per_new_token"
            cells.append(f"{seconds * 1000:.1f} ms" if per_token else f"{seconds:.2f} ({seconds / clip:.2f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    dinov2 = [f"{name}: {frames / results['variants'][name]['seconds']['dinov2']:.0f}" for name in variants]
    print("\nDINOv2 frames/s: " + ", ".join(dinov2))
    for name in variants[1:]:
        same = results["variants"][name].get("same_tokens_as_first")
        print(f"{name}: same tokens as {variants[0]}: {same}")
    for name in variants:
        demo = results["variants"][name].get("demo")
        if demo:
            print(f"demo {name}: test BLEU-4 {demo['bleu4']:.2f}, ROUGE-L {demo['rouge_l']:.2f} "
                  f"({demo['clips']} clips, {demo['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
