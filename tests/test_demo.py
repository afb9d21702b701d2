"""The demo (`make demo`) end to end at a very small size: every stage runs and the results file is complete."""

import json

import torch

import ablation
import demo
from modeling_beyondgloss import BeyondGlossProcessor


def test_demo_runs_every_stage_and_writes_its_results(tmp_path, fixtures_dir):
    output_dir = tmp_path / "demo"
    results = demo.main([
        "--output_dir", str(output_dir), "--num_train", "8", "--num_dev", "2", "--num_test", "4",
        "--num_glosses", "20", "--resolution", "64", "--vision_pretraining_steps", "10", "--pretrain_epochs", "1",
        "--translation_epochs", "1", "--batch_size", "4",
        "--num_beams", "2", "--logging_steps", "1", "--clip", str(fixtures_dir / "videos" / "asl_house.mp4"),
    ])

    written = json.loads((output_dir / "results.json").read_text())
    assert written["test_bleu4"] == results["test_bleu4"]
    for key in ("test_bleu4", "blind_test_bleu4", "wall_seconds", "test_rouge_l", "blind_test_rouge_l"):
        assert isinstance(written[key], float) and written[key] >= 0
    assert "tokenize=13a" in written["metric_convention"]
    recall = written["pretraining_dev_recall"]  # 2 dev clips: chance is 50 % at rank 1, 100 % at rank 5
    assert recall["chance_r1"] == 50.0 and recall["chance_r5"] == 100.0
    assert all(0 <= recall[f"{direction}_r1"] <= 100 for direction in ("video_to_text", "text_to_video"))
    assert written["data"]["train"] == 8 and written["model"]["parameters"] > 0
    clips = list(written["translations"])
    assert len(clips) == 2 and clips[1].endswith("asl_house.mp4")
    assert all(isinstance(text, str) for text in written["translations"].values())
    assert written["references"][clips[0]]  # the SynthSign clip's reference sentence

    # The blind corpus keeps labels and lengths but its videos are one constant frame.
    assert (output_dir / "video_pretrain" / "loss_terms.png").is_file()
    for name in ("video", "blind"):
        assert (output_dir / f"{name}_translation" / "generated_predictions.txt").is_file()
    blind_clip = sorted((output_dir / "synthsign_blind" / "videos" / "train").glob("*.mp4"))[0]
    frames = BeyondGlossProcessor.from_pretrained(output_dir / "video_translation").video_processor.decode_clip(
        str(blind_clip)
    ).frames
    assert frames.float().std(dim=0).max() < 2  # the same picture in every frame (up to codec noise)


def test_vision_backbone_targets_add_where_the_frame_moves():
    """The stand-in DINOv2's targets: the picked frames' hand features, then 49 values that are zero where the frame
    equals its clip's mean and largest where it differs."""
    pixel_values = torch.zeros(4, 3, 14, 14)
    pixel_values[0, :, :2, :2] = 8.0  # frame 0 differs from the clip's mean in its top-left corner only
    hand_features = torch.arange(4 * 5, dtype=torch.float32).reshape(4, 5)
    picked = torch.tensor([0, 2])

    targets = demo.vision_backbone_targets(pixel_values, hand_features, picked, motion_target_weight=4.0)
    assert targets.shape == (2, 5 + 49)
    assert torch.equal(targets[:, :5], hand_features[picked])
    motion = targets[:, 5:].reshape(2, 7, 7)
    assert motion[0, 0, 0] == 4.0 * 6.0  # |8 - 8/4| in the corner cell, times the weight
    assert motion[0].flatten()[1:].eq(0).all() and motion[1].flatten()[1:].eq(0).all()
    assert motion[1, 0, 0] == 4.0 * 2.0  # frame 2 is zero, the mean is 2 there
    assert torch.equal(demo.vision_backbone_targets(pixel_values, hand_features, picked, 0.0), hand_features[picked])


def test_demo_gives_the_same_results_for_the_same_seed(tmp_path):
    """Two runs with one seed agree on every score and translation (the wall time aside)."""
    small = [
        "--num_train", "6", "--num_dev", "2", "--num_test", "3", "--num_glosses", "12", "--resolution", "48",
        "--vision_pretraining_steps", "5", "--text_pretraining_steps", "20", "--pretrain_epochs", "2",
        "--translation_epochs", "2", "--batch_size", "3", "--num_beams", "2", "--skip_blind",
    ]
    runs = [demo.main(["--output_dir", str(tmp_path / name), *small]) for name in ("first", "second")]
    for run in runs:
        # Paths differ between the runs; what is at them must not.
        run["translations"] = list(run["translations"].values())
        run["references"] = list(run["references"].values())
        for key in ("wall_seconds", "results_file", "settings", "model"):
            run.pop(key)
    assert runs[0] == runs[1]


def test_ablation_writes_every_row_to_both_result_files(tmp_path):
    output_dir = tmp_path / "ablation"
    results = demo.main([
        "--ablation", "--output_dir", str(output_dir), "--seeds", "0", "1",
        "--num_train", "6", "--num_dev", "2", "--num_test", "3", "--num_glosses", "12", "--resolution", "48",
        "--vision_pretraining_steps", "5", "--text_pretraining_steps", "20", "--pretrain_epochs", "1",
        "--translation_epochs", "1", "--batch_size", "3", "--num_beams", "1",
    ])

    written = json.loads((output_dir / "results.json").read_text())
    assert written["rows"] == results["rows"] and list(written["rows"]) == list(ablation.ROWS)
    assert len(written["runs"]) == 2 * len(ablation.ROWS)
    assert written["chance_recall"]["chance_r1"] == 50.0
    for row, loss_weights in ablation.ROWS.items():
        metrics = written["rows"][row]
        assert len(metrics["test_bleu4"]["values"]) == 2 and metrics["test_bleu4"]["std"] >= 0
        # Recall is measured after pre-training; the row without it has none.
        assert ("dev_recall_video_to_text_r1" in metrics) == (loss_weights is not None)
    table = (output_dir / "results.md").read_text().splitlines()
    assert all(any(line.startswith(f"| {row} |") for line in table) for row in ablation.ROWS)
    assert (output_dir / "ablation.png").stat().st_size > 0
    # Each row pre-trained with its own loss weights.
    for row, loss_weights in ablation.ROWS.items():
        config = json.loads((output_dir / f"{ablation.run_name(row, 0)}_pretrain" / "config.json").read_text())
        for name, weight in (loss_weights or {}).items():
            assert config[name] == weight
