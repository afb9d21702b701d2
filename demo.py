#!/usr/bin/env python
"""The main job on the embedded default: SynthSign → pre-training → translation fine-tuning → evaluation → translating
a clip, next to a blind baseline fine-tuned the same way on constant frames.

    python demo.py --output_dir outputs/demo

Everything is built offline, at the sizes of `configs/beyondgloss-tiny.json`: the corpus is rendered by
`datasets_scripts.synthsign`; the backbones stand in for the checkpoints the paper starts from (a randomly initialised
DINOv2 that trains whole, and an mBART pre-trained here as a denoising autoencoder on the training sentences, with a
tokenizer built from the corpus); the description encoder is a small random mBART encoder in place of
mBART-large-50. The results table is printed and written to `results.json`.
"""

import argparse
import concurrent.futures
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

import av
import datasets
import numpy as np
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file
from tqdm.auto import tqdm
from transformers import Dinov2Config, Dinov2Model, MBartConfig, MBartForConditionalGeneration

import run_pretrain
import run_translation
from datasets_scripts.builders.safe_pickle import safe_load
from datasets_scripts.preprocessing.description_embeddings import save_random_text_encoder
from datasets_scripts.synthsign import generate_synthsign
from modeling_beyondgloss import (
    BeyondGlossForConditionalGeneration,
    BeyondGlossVideoProcessor,
    build_tokenizer_from_corpus,
)


logger = logging.getLogger("demo")

REPO_ROOT = Path(__file__).resolve().parent
FIXTURE_VIDEOS = REPO_ROOT / "tests" / "fixtures" / "videos"


def parse_args(argv=None, defaults: dict | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default="outputs/demo")
    parser.add_argument("--config", default=str(REPO_ROOT / "configs" / "beyondgloss-tiny.json"),
                        help="Model config: its sub-configs size the backbones built here.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_train", type=int, default=400, help="SynthSign training clips.")
    parser.add_argument("--num_dev", type=int, default=40)
    parser.add_argument("--num_test", type=int, default=50)
    parser.add_argument("--num_glosses", type=int, default=40, help="SynthSign vocabulary size.")
    parser.add_argument("--resolution", type=int, default=128, help="SynthSign frame size in pixels.")
    parser.add_argument("--num_signers", type=int, default=9, help="SynthSign signers (Phoenix14T has 9).")
    parser.add_argument("--vision_pretraining_steps", type=int, default=2500,
                        help="Steps of the small DINOv2 that stands in for dinov2-small.")
    parser.add_argument("--vision_frames_per_clip", type=int, default=32,
                        help="Frames of each training clip the stand-in DINOv2 learns from.")
    parser.add_argument("--vision_motion_target_weight", type=float, default=4.0,
                        help="Weight of the stand-in DINOv2's second target, where each frame differs from its "
                        "clip's mean frame (0: hand features only).")
    parser.add_argument("--vision_lora_layers", type=int, nargs="+", default=[2, 3],
                        help="DINOv2 blocks with LoRA (of the 4 of the tiny config; the paper: the last 3 of 12).")
    parser.add_argument("--text_pretraining_steps", type=int, default=600,
                        help="Denoising steps of the small mBART that stands in for mbart-large-cc25.")
    parser.add_argument("--pretrain_epochs", type=float, default=8,
                        help="Pre-training epochs (400 steps at the defaults); the alignment losses need them.")
    parser.add_argument("--translation_epochs", type=float, default=20)
    parser.add_argument("--learning_rate", type=float, default=2e-3, help="Both stages (the tiny model trains fast).")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--hand_loss_weight", type=float, default=0.3, help="λ_hand (the paper: 0.3).")
    parser.add_argument("--augment", action="store_true",
                        help="The paper's augmentation (off by default: this short schedule learns faster "
                        "without it).")
    parser.add_argument("--max_frames", type=int, default=32, help="Frames per clip, sampled uniformly.")
    parser.add_argument("--num_beams", type=int, default=4)
    parser.add_argument("--logging_steps", type=int, default=10)
    parser.add_argument("--clip", default=None, help="A video to translate at the end (default: a fixture clip).")
    parser.add_argument("--skip_blind", action="store_true", help="Do not train the blind baseline.")
    parser.add_argument("--blind_max_frames", type=int, default=8,
                        help="Frames per clip of the blind baseline: its frames are all the same picture, so their "
                        "number changes only its cost.")
    parser.add_argument("--ablation", action="store_true",
                        help="Run the ablation instead (ablation.py: each pre-training loss on and off, several "
                        "seeds, with its own defaults and output_dir outputs/ablation).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="With --ablation: the training seeds of every row (the corpus and backbones use --seed).")
    parser.set_defaults(**(defaults or {}))
    return parser.parse_args(argv)


def vision_backbone_targets(pixel_values: torch.Tensor, hand_features: torch.Tensor, picked: torch.Tensor,
                            motion_target_weight: float) -> torch.Tensor:
    """What the stand-in DINOv2 learns to predict for the `picked` frames of one clip (`pixel_values`: `(T, C, H, W)`):
    their hand features, then, unless `motion_target_weight` is 0, the absolute difference from the clip's mean frame
    averaged over channels and a 7×7 grid (49 values, times the weight)."""
    targets = [hand_features[picked]]
    if motion_target_weight:
        difference = (pixel_values[picked] - pixel_values.mean(0)).abs().mean(1, keepdim=True)
        targets.append(motion_target_weight * F.adaptive_avg_pool2d(difference, 7).flatten(1))
    return torch.cat(targets, dim=1)


def pretrain_vision_backbone(output_dir: Path, data_dir: Path, vision_config: dict, steps: int, seed: int,
                             frames_per_clip: int = 32, motion_target_weight: float = 4.0) -> str:
    """A small DINOv2 pre-trained here on frames of the training split: the stand-in for `facebook/dinov2-small`,
    whose pretrained features the paper starts from and which the offline demo cannot download. From a frame's pixels
    it learns to predict the frame's hand features (hand shape and orientation) and, weighted by
    `motion_target_weight`, where the frame differs from its clip's mean frame, averaged over a 7×7 grid: where the
    moving hands are, which the hand features do not say and general-purpose features such as DINOv2's do. Frames go
    through the same processing as in training (resize, centre crop, ImageNet normalisation)."""
    rng = np.random.default_rng(seed)
    image_size = vision_config["image_size"]
    video_processor = BeyondGlossVideoProcessor(size=round(image_size * 256 / 224), crop_size=image_size)
    frames, targets = [], []
    names = sorted(safe_load(str(data_dir / "labels.train")))
    for name in tqdm(names, desc="Collecting frames for the vision backbone", unit="clip"):
        pixel_values = video_processor(videos=str(data_dir / "videos" / f"{name}.mp4"))["pixel_values"][0]
        hand_features = load_file(str(data_dir / "hand_features" / f"{name}.safetensors"))["hand_features"].float()
        picked = torch.from_numpy(rng.choice(len(pixel_values), size=min(frames_per_clip, len(pixel_values)),
                                             replace=False))
        frames.append(pixel_values[picked])
        targets.append(vision_backbone_targets(pixel_values, hand_features, picked, motion_target_weight))
    frames, targets = torch.cat(frames), torch.cat(targets)

    torch.manual_seed(seed)
    model = Dinov2Model(Dinov2Config(**vision_config)).train()
    head = torch.nn.Linear(model.config.hidden_size, targets.shape[1])
    parameters = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=2e-3, weight_decay=0.01)
    # A tenth of the steps warm up (at least two: OneCycleLR needs them).
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps,
                                                    pct_start=max(0.1, 2 / steps))
    progress = tqdm(range(steps), desc="Pre-training the vision backbone", unit="step")
    for _ in progress:
        batch = torch.from_numpy(rng.integers(len(frames), size=64))
        loss = (head(model(pixel_values=frames[batch]).pooler_output) - targets[batch]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        progress.set_postfix(loss=f"{loss.item():.4f}")
    model.save_pretrained(output_dir)
    return str(output_dir)


def train_text_backbone(output_dir: Path, train_sentences: list[str], all_sentences: list[str], text_config: dict,
                        steps: int, seed: int, language_code: str = "de_DE") -> str:
    """A small mBART pre-trained here the way mBART was, as a denoising autoencoder (masked words → the sentence), on
    the training sentences only: the stand-in for `facebook/mbart-large-cc25` that the offline demo cannot download.
    Its decoder can already write the language and read an encoder, which is what BeyondGloss takes from mBART."""
    tokenizer = build_tokenizer_from_corpus(all_sentences, src_lang=language_code)
    config = MBartConfig(**{
        **{key: value for key, value in text_config.items() if key != "model_type"},
        "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id, "forced_eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.convert_tokens_to_ids(language_code),
    })
    torch.manual_seed(seed)
    model = MBartForConditionalGeneration(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    progress = tqdm(range(steps), desc="Pre-training the text backbone", unit="step")
    for _ in progress:
        targets = [train_sentences[index] for index in rng.integers(len(train_sentences), size=32)]
        noisy = [" ".join(word if rng.random() > 0.35 else "<mask>" for word in text.split()) for text in targets]
        batch = tokenizer(noisy, text_target=targets, padding=True, return_tensors="pt")
        batch["labels"] = batch["labels"].masked_fill(batch["labels"] == tokenizer.pad_token_id, -100)
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        progress.set_postfix(loss=f"{loss.item():.3f}")
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return str(output_dir)


def write_constant_videos(source_dir: Path, blind_dir: Path) -> None:
    """Copy a SynthSign corpus with every video replaced by one grey frame repeated for the clip's length, so labels,
    descriptions and hand features (and their lengths) stay as they were."""
    if blind_dir.exists():
        shutil.rmtree(blind_dir)
    shutil.copytree(source_dir, blind_dir, ignore=shutil.ignore_patterns("videos"))
    for split_file in sorted(blind_dir.glob("labels.*")):
        for name, entry in safe_load(str(split_file)).items():
            source = source_dir / "videos" / f"{name}.mp4"
            target = blind_dir / "videos" / f"{name}.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            with av.open(str(source)) as container:
                stream = container.streams.video[0]
                size, rate = (stream.codec_context.width, stream.codec_context.height), stream.average_rate
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 128, dtype=np.uint8), format="rgb24")
            with av.open(str(target), "w") as output:
                out_stream = output.add_stream("libx264", rate=rate)
                out_stream.width, out_stream.height, out_stream.pix_fmt = size[0], size[1], "yuv420p"
                for _ in range(entry["length"]):
                    output.mux(out_stream.encode(frame))
                output.mux(out_stream.encode(None))


def train_and_evaluate(name: str, data_dir: Path, encoder: str, backbones: dict, work_dir: Path, args,
                       loss_weights: dict | None, seed: int | None = None) -> dict:
    """Pre-train, fine-tune and evaluate on `data_dir`. `loss_weights` overrides λ_desc / λ_hand of the config and
    `--hand_loss_weight` (0 turns a term off; the architecture stays the same); `loss_weights=None` skips
    pre-training (the backbones go straight into fine-tuning). Returns the translation run's metrics and, after
    pre-training, its dev metrics."""
    seed = args.seed if seed is None else seed
    common = [
        "--dataset_name", "synthsign", "--data_dir", str(data_dir),
        "--dataset_cache_dir", str(work_dir / "cache"),
        "--per_device_train_batch_size", str(args.batch_size), "--per_device_eval_batch_size", str(args.batch_size),
        "--learning_rate", str(args.learning_rate), "--warmup_steps", "0.1",
        "--logging_steps", str(args.logging_steps), "--save_strategy", "no", "--report_to", "tensorboard",
        "--max_frames", str(args.max_frames), "--frame_sampling", "uniform", "--augment", str(args.augment).lower(),
        "--dataloader_num_workers", "0", "--decoded_clip_cache_mb", "4096", "--seed", str(seed),
        "--overwrite_output_dir", "true",  # a rerun of the demo replaces its previous results
    ]
    weights = {"hand_loss_weight": args.hand_loss_weight, **(loss_weights or {})}
    pretraining = loss_weights is not None
    epochs = args.pretrain_epochs if pretraining else 0
    logger.info("[%s] pre-training (%s epochs, %s)", name, epochs,
                ", ".join(f"{key} {value}" for key, value in weights.items()) if pretraining else "skipped")
    pretrain_dir = work_dir / f"{name}_pretrain"
    pretrain_metrics = run_pretrain.main([
        "--model_name_or_path", "backbones", "--vision_model_name_or_path", backbones["vision"],
        "--text_model_name_or_path", backbones["text"], "--trim_vocabulary", "false", "--config_name", args.config,
        "--description_encoder", encoder, *[f"--{key}={value}" for key, value in weights.items()],
        "--output_dir", str(pretrain_dir), "--do_train", "--num_train_epochs", str(epochs),
        *(["--do_eval"] if pretraining else []), *common,
    ])
    logger.info("[%s] translation fine-tuning (%s epochs) and evaluation", name, args.translation_epochs)
    metrics = run_translation.main([
        "--model_name_or_path", str(pretrain_dir), "--output_dir", str(work_dir / f"{name}_translation"),
        "--do_train", "--do_eval", "--do_predict", "--predict_with_generate", "--generation_num_beams",
        str(args.num_beams), "--max_new_tokens", "40", "--label_smoothing_factor", "0",
        "--num_train_epochs", str(args.translation_epochs), *common,
    ])
    if pretraining:
        metrics.update({f"pretrain_{key}": value for key, value in pretrain_metrics.items()
                        if key.startswith("eval_")})
    return metrics


def translate_clips(model_dir: Path, clips: list[Path], num_beams: int) -> dict[str, str]:
    """Load the fine-tuned model as a user would, through its pipeline, and translate each clip."""
    translator = transformers.pipeline("sign-language-translation", model=str(model_dir), trust_remote_code=True)
    results = translator([str(clip) for clip in clips], num_beams=num_beams)
    return {str(clip): result["translation_text"] for clip, result in zip(clips, results)}


def reference_of(data_dir: Path, clip: Path) -> str | None:
    name = f"{clip.parent.name}/{clip.stem}"
    labels = safe_load(str(data_dir / f"labels.{clip.parent.name}"))
    return labels[name]["text"] if name in labels else None


def print_table(results: dict) -> None:
    rows = [("model", "test BLEU-4", "test ROUGE-L")]
    rows.append(("BeyondGloss (video)", f"{results['test_bleu4']:.2f}", f"{results['test_rouge_l']:.2f}"))
    if "blind_test_bleu4" in results:
        rows.append(("blind baseline (constant frames)", f"{results['blind_test_bleu4']:.2f}",
                     f"{results['blind_test_rouge_l']:.2f}"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    print("\n" + "\n".join(lines))
    print(f"\nMetric convention: {results['metric_convention']}")
    recall = results["pretraining_dev_recall"]
    print(f"Pre-training, dev retrieval R@1: video→text {recall['video_to_text_r1']:.1f} %, text→video "
          f"{recall['text_to_video_r1']:.1f} % (chance {recall['chance_r1']:.1f} %)")
    for clip, translation in results["translations"].items():
        reference = results["references"].get(clip)
        print(f"\n{clip}\n  → {translation}" + (f"\n  reference: {reference}" if reference else ""))
    print(f"\nWall time: {results['wall_seconds']:.0f} s. Results: {results['results_file']}")


def prepare(args, output_dir: Path, lane: concurrent.futures.Executor | None = None) -> dict:
    """Render the corpus and build what every model of the run starts from: the model config (written to
    `output_dir/model_config.json` and set as `args.config`), the two stand-in backbones and the description
    encoder. With a `lane` (see `second_lane`), the text side is built there."""
    data_dir = output_dir / "synthsign"
    logger.info("Rendering SynthSign (%d/%d/%d clips, %d glosses) into %s", args.num_train, args.num_dev,
                args.num_test, args.num_glosses, data_dir)
    corpus = generate_synthsign(data_dir, seed=args.seed, num_train=args.num_train, num_dev=args.num_dev,
                                num_test=args.num_test, resolution=args.resolution, num_glosses=args.num_glosses,
                                num_signers=args.num_signers,
                                contact_sheet=output_dir / "contact_sheet.png")
    # Both backbones are pre-trained here (see the two functions above) and then used as the paper uses its own:
    # frozen, with LoRA. New layers are initialised at the scale the paper's widths give them; a model this small and
    # this short a schedule do without regularisation.
    config = json.loads(Path(args.config).read_text())
    config.update(
        initializer_range=0.1, label_smoothing=0.0, temporal_dropout=0.0, drop_path_rate=0.0, branch_dropout=0.0,
        vision_lora_dropout=0.0, text_lora_dropout=0.0,
    )
    config["text_config"]["dropout"] = 0.0
    config["vision_lora_layers"] = args.vision_lora_layers
    # Crop 224/256 of the frame, in whole patches of 16 pixels, as the paper's 256 → 224.
    vision_config = config["vision_config"]
    vision_config.update(initializer_range=0.1, patch_size=16)
    vision_config["image_size"] = max(16, round(args.resolution * 224 / 256 / 16) * 16)
    args.config = str(output_dir / "model_config.json")
    Path(args.config).write_text(json.dumps(config, indent=2))
    # The text side runs in the second lane (when there is one) while the vision backbone trains here.
    text_side = (lane.submit if lane else _run_now)(
        build_text_side, output_dir, data_dir, config["text_config"], args.text_pretraining_steps, args.seed
    )
    vision = pretrain_vision_backbone(output_dir / "backbones" / "dinov2", data_dir, config["vision_config"],
                                      args.vision_pretraining_steps, args.seed, args.vision_frames_per_clip,
                                      args.vision_motion_target_weight)
    text, encoder = text_side.result()
    # The Trainer's logs go to the log file of each run; the demo's own progress stays readable on the console.
    transformers.utils.logging.set_verbosity_warning()
    datasets.disable_progress_bars()
    return {"data_dir": data_dir, "corpus": corpus, "backbones": {"vision": vision, "text": text}, "encoder": encoder}


def build_text_side(output_dir: Path, data_dir: Path, text_config: dict, steps: int, seed: int) -> tuple[str, str]:
    """The stand-in mBART (see `train_text_backbone`) and the description encoder; returns both folders."""
    labels = {split: safe_load(str(data_dir / f"labels.{split}")) for split in ("train", "dev", "test")}
    sentences = {split: [entry["text"] for entry in entries.values()] for split, entries in labels.items()}
    text = train_text_backbone(output_dir / "backbones" / "mbart", sentences["train"],
                               [text for texts in sentences.values() for text in texts], text_config, steps, seed)
    descriptions = [json.loads(path.read_text())["refined"] for path in sorted(data_dir.glob("descriptions/*/*.json"))]
    encoder = save_random_text_encoder(str(output_dir / "description_encoder"), descriptions, hidden_size=64)
    return text, encoder


def _run_now(function, *args) -> concurrent.futures.Future:
    """Run `function` here, with the interface of `Executor.submit`."""
    future = concurrent.futures.Future()
    future.set_result(function(*args))
    return future


def second_lane(log_file: Path) -> concurrent.futures.ProcessPoolExecutor:
    """One worker process, one torch thread, its output in `log_file`: the tiny models gain almost nothing from a
    second thread, so two jobs side by side take about the time of one."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_lane,
        initargs=(str(log_file),),
    )


def _start_lane(log_file: str) -> None:
    stream = open(log_file, "a", buffering=1, encoding="utf-8")
    os.dup2(stream.fileno(), 1)
    os.dup2(stream.fileno(), 2)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO, handlers=[logging.StreamHandler(sys.stdout)])
    torch.set_num_threads(1)
    transformers.utils.logging.set_verbosity_warning()
    datasets.disable_progress_bars()


def train_blind_baseline(data_dir: Path, output_dir: Path, prepared: dict, args) -> dict:
    """The blind baseline: the corpus with constant frames, fine-tuned for translation from the same backbones.
    Constant frames give pre-training nothing to align or distil, so it goes straight to fine-tuning, and since
    every frame is the same picture, their number (`--blind_max_frames`) changes only its cost."""
    blind_dir = output_dir / "synthsign_blind"
    write_constant_videos(data_dir, blind_dir)
    blind_args = argparse.Namespace(**{**vars(args), "max_frames": args.blind_max_frames})
    return train_and_evaluate("blind", blind_dir, prepared["encoder"], prepared["backbones"], output_dir, blind_args,
                              loss_weights=None)


def start(args, threads: int | None = None) -> Path:
    """Readable logs, `threads` torch threads (default: every core), and the run's output folder (returned,
    absolute)."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO, handlers=[logging.StreamHandler(sys.stdout)])
    torch.set_num_threads(threads or max(1, os.cpu_count() or 1))
    output_dir = Path(args.output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.ablation:
        import ablation

        return ablation.main(argv)
    start_time = time.perf_counter()
    # Two lanes of one thread each: this process and a worker (its log: second_lane.log), whatever the cores, so
    # that the results do not depend on the machine's core count.
    output_dir = start(args, threads=1)
    with second_lane(output_dir / "second_lane.log") as lane:
        prepared = prepare(args, output_dir, lane)
        data_dir = prepared["data_dir"]
        if not args.skip_blind:
            logger.info("[blind] fine-tuning in the second lane (log: %s)", output_dir / "second_lane.log")
            blind_job = lane.submit(train_blind_baseline, data_dir, output_dir, prepared, args)
        metrics = train_and_evaluate("video", data_dir, prepared["encoder"], prepared["backbones"], output_dir, args,
                                     loss_weights={})
        blind = None if args.skip_blind else blind_job.result()
    results = {
        "test_bleu4": metrics["predict_bleu4"],
        "test_rouge_l": metrics["predict_rouge_l"],
        "test_bleu1": metrics["predict_bleu1"],
        "metric_convention": metrics["predict_metric_convention"],
        "pretraining_dev_recall": pretraining_recall(metrics, args.num_dev),
    }
    if blind is not None:
        results.update(blind_test_bleu4=blind["predict_bleu4"], blind_test_rouge_l=blind["predict_rouge_l"],
                       blind_test_bleu1=blind["predict_bleu1"])

    clips = [sorted(data_dir.glob("videos/test/*.mp4"))[0]]
    extra_clip = Path(args.clip) if args.clip else next(iter(sorted(FIXTURE_VIDEOS.glob("*.mp4"))), None)
    if extra_clip is not None:
        clips.append(extra_clip)
    results["translations"] = translate_clips(output_dir / "video_translation", clips, args.num_beams)
    results["references"] = {str(clip): reference_of(data_dir, clip) for clip in clips[:1]}

    model = BeyondGlossForConditionalGeneration.from_pretrained(output_dir / "video_translation")
    results.update(
        wall_seconds=time.perf_counter() - start_time,
        data={"train": args.num_train, "dev": args.num_dev, "test": args.num_test, "glosses": args.num_glosses,
              "frames": prepared["corpus"]["num_frames"], "resolution": args.resolution},
        model={"parameters": model.num_parameters(),
               "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
               "config": args.config},
        settings={key: value for key, value in vars(args).items() if key not in ("output_dir",)},
        results_file=str(output_dir / "results.json"),
    )
    (output_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print_table(results)
    return results


def pretraining_recall(metrics: dict, num_dev: int) -> dict:
    """Dev retrieval recall@1/@5 (%) of the pre-trained model in both directions, with the chance level."""
    recall = {
        f"{direction}_r{k}": metrics[f"pretrain_eval_{direction}_r{k}"]
        for direction in ("video_to_text", "text_to_video")
        for k in (1, 5)
    }
    return {**recall, **chance_recall(num_dev)}


def chance_recall(num_dev: int) -> dict:
    """Recall@1/@5 (%) of retrieving one of `num_dev` items at random."""
    return {"chance_r1": 100 / num_dev, "chance_r5": 100 * min(5, num_dev) / num_dev}


if __name__ == "__main__":
    main()
