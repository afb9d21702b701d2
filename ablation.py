#!/usr/bin/env python
"""The paper's ablation in miniature on SynthSign: translation without pre-training, pre-training with L_align alone,
with L_align + L_desc, with L_align + L_distill, and with all three (the paper), several seeds each.

    python demo.py --ablation          # the same as: python ablation.py

One corpus and one pair of stand-in backbones (built as in the demo) serve every run. The rows differ only in the
pre-training loss weights: a term that is off has weight 0, so every row trains the same architecture; the seed
changes the initialisation of the new layers and the order of the data. Writes `results.json`, `results.md` (mean ±
std over the seeds) and `ablation.png` to `--output_dir` (default `outputs/ablation`).
"""

import json
import logging
import time
from pathlib import Path

import numpy as np

import demo


logger = logging.getLogger("ablation")

# Pre-training loss weights of each row; None skips pre-training.
ROWS = {
    "translation only (no pre-training)": None,
    "L_align": {"description_loss_weight": 0.0, "hand_loss_weight": 0.0},
    "L_align + L_desc": {"hand_loss_weight": 0.0},
    "L_align + L_distill": {"description_loss_weight": 0.0},
    "L_align + L_desc + L_distill (the paper)": {},
}

# Against the demo: half the frames per clip, 6 pre-training and 6 translation epochs, so that the 15 runs fit in
# about an hour on 2 CPU cores; the stand-in DINOv2 trains 3000 steps on 8 frames per clip to predict hand features
# only, and has LoRA on its last three blocks. Every flag of demo.py still applies.
ABLATION_DEFAULTS = {
    "output_dir": "outputs/ablation", "max_frames": 16, "pretrain_epochs": 6, "translation_epochs": 6,
    "vision_pretraining_steps": 3000, "vision_frames_per_clip": 8, "vision_motion_target_weight": 0.0,
    "vision_lora_layers": [1, 2, 3],
}

METRICS = {
    "test_bleu4": "test BLEU-4",
    "test_rouge_l": "test ROUGE-L",
    "dev_recall_video_to_text_r1": "dev R@1 video→text",
    "dev_recall_text_to_video_r1": "dev R@1 text→video",
}


def run_name(row: str, seed: int) -> str:
    return f"row{list(ROWS).index(row)}_seed{seed}"


def summarise(runs: list[dict]) -> dict:
    """Mean and (sample) standard deviation of each metric over the seeds of each row; recall only where the row
    pre-trains."""
    summary = {}
    for row in ROWS:
        row_runs = [run for run in runs if run["row"] == row]
        summary[row] = {}
        for key in METRICS:
            values = [run[key] for run in row_runs if run.get(key) is not None]
            if values:
                summary[row][key] = {
                    "mean": float(np.mean(values)),
                    "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                    "values": values,
                }
    return summary


def markdown_table(summary: dict, chance_r1: float, num_seeds: int) -> str:
    header = ["pre-training", *METRICS.values()]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(METRICS)]
    for row, metrics in summary.items():
        cells = [
            f"{metrics[key]['mean']:.2f} ± {metrics[key]['std']:.2f}" if key in metrics else "–" for key in METRICS
        ]
        lines.append("| " + " | ".join([row, *cells]) + " |")
    lines.append("")
    lines.append(f"Mean ± standard deviation over {num_seeds} seed(s); chance level of dev R@1: {chance_r1:.2f} %.")
    return "\n".join(lines) + "\n"


def plot(summary: dict, chance_r1: float, output_path: Path) -> Path | None:
    """Test BLEU-4 and dev R@1 per row: bars for the mean, dots for the seeds, the chance level of R@1 dashed."""
    try:
        import matplotlib
    except ImportError:
        logger.warning("No ablation plot: matplotlib is not installed (pip install 'beyondgloss[logging]').")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(summary)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, key, title in (
        (axes[0], "test_bleu4", "test BLEU-4"),
        (axes[1], "dev_recall_video_to_text_r1", "pre-training dev R@1, video→text (%)"),
    ):
        for position, row in enumerate(rows):
            if key not in summary[row]:
                continue
            values = summary[row][key]
            axis.barh(position, values["mean"], xerr=values["std"], color="tab:blue", alpha=0.6, capsize=3)
            axis.scatter(values["values"], [position] * len(values["values"]), color="black", s=12, zorder=3)
        if key.startswith("dev_recall"):
            axis.axvline(chance_r1, color="tab:red", linestyle="--", label="chance")
            axis.legend(loc="lower right")
        axis.set_title(title)
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(rows)), rows)
    axes[0].invert_yaxis()
    figure.suptitle("BeyondGloss ablation on SynthSign")
    figure.tight_layout()
    figure.savefig(output_path, dpi=110)
    plt.close(figure)
    return output_path


def main(argv=None) -> dict:
    args = demo.parse_args(argv, ABLATION_DEFAULTS)
    start_time = time.perf_counter()
    output_dir = demo.start(args)
    prepared = demo.prepare(args, output_dir)
    chance = demo.chance_recall(args.num_dev)
    runs = []
    total = len(ROWS) * len(args.seeds)
    for row, loss_weights in ROWS.items():
        for seed in args.seeds:
            logger.info("Ablation run %d/%d: %s, seed %d", len(runs) + 1, total, row, seed)
            metrics = demo.train_and_evaluate(run_name(row, seed), prepared["data_dir"], prepared["encoder"],
                                              prepared["backbones"], output_dir, args, loss_weights, seed=seed)
            run = {"row": row, "seed": seed, "test_bleu4": metrics["predict_bleu4"],
                   "test_rouge_l": metrics["predict_rouge_l"], "dev_bleu4": metrics["eval_bleu4"]}
            if loss_weights is not None:
                recall = demo.pretraining_recall(metrics, args.num_dev)
                run.update({f"dev_recall_{key}": value for key, value in recall.items() if "chance" not in key})
            runs.append(run)

    summary = summarise(runs)
    table = markdown_table(summary, chance["chance_r1"], len(args.seeds))
    results = {
        "rows": summary,
        "runs": runs,
        "chance_recall": chance,
        "metric_convention": metrics["predict_metric_convention"],
        "wall_seconds": time.perf_counter() - start_time,
        "settings": {key: value for key, value in vars(args).items() if key != "output_dir"},
    }
    (output_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    (output_dir / "results.md").write_text(table, encoding="utf-8")
    plot(summary, chance["chance_r1"], output_dir / "ablation.png")
    print("\n" + table)
    print(f"Wall time: {results['wall_seconds']:.0f} s. Results: {output_dir / 'results.json'}")
    return results


if __name__ == "__main__":
    main()
