"""The demo (`make demo`) end to end at a very small size: every stage runs and the results file is complete."""

import json

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
    assert written["data"]["train"] == 8 and written["model"]["parameters"] > 0
    clips = list(written["translations"])
    assert len(clips) == 2 and clips[1].endswith("asl_house.mp4")
    assert all(isinstance(text, str) for text in written["translations"].values())
    assert written["references"][clips[0]]  # the SynthSign clip's reference sentence

    # The blind corpus keeps labels and lengths but its videos are one constant frame.
    for name in ("video", "blind"):
        assert (output_dir / f"{name}_pretrain" / "loss_terms.png").is_file()
        assert (output_dir / f"{name}_translation" / "generated_predictions.txt").is_file()
    blind_clip = sorted((output_dir / "synthsign_blind" / "videos" / "train").glob("*.mp4"))[0]
    frames = BeyondGlossProcessor.from_pretrained(output_dir / "video_translation").video_processor.decode_clip(
        str(blind_clip)
    ).frames
    assert frames.float().std(dim=0).max() < 2  # the same picture in every frame (up to codec noise)


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
