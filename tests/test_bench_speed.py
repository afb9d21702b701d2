"""The inference, training-step and segment benchmarks run end to end on small settings (behaviour only, never
timings)."""

import importlib.util
import json


def load_bench(repo_root, name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", repo_root / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_inference_bench_tiny(repo_root, tmp_path, capsys):
    bench = load_bench(repo_root, "inference")
    output = tmp_path / "inference.json"
    results = bench.main(["--tiny", "--variants", "fp32", "int8", "--output", str(output)])
    assert json.loads(output.read_text())["machine"]["cpu_count"] >= 1
    for variant in ("fp32", "int8"):
        seconds = results["variants"][variant]["seconds"]
        assert {"dinov2", "temporal_and_branches", "mbart_encoder", "beam_search", "total"} <= set(seconds)
        assert all(value >= 0 for value in seconds.values())
    assert "same_tokens_as_first" in results["variants"]["int8"]
    assert "| DINOv2 |" in capsys.readouterr().out


def test_training_step_bench_tiny_without_reference(repo_root, tmp_path, capsys):
    bench = load_bench(repo_root, "training_step")
    output = tmp_path / "training_step.json"
    variants = ["ours", "ours_cache", "ours_checkpointing"]
    results = bench.main(["--tiny", "--variants", *variants, "--steps", "1", "--in_process", "--output", str(output)])
    assert json.loads(output.read_text())["setup"]["reference"] is None
    pretraining, translation = results["stages"]["pre-training"], results["stages"]["translation"]
    assert set(pretraining) == set(variants)
    assert set(translation) == {"ours", "ours_checkpointing"}  # the cache is a pre-training option
    # Dropout is off and the weights are the same: neither the cache nor checkpointing changes the loss.
    for stage in (pretraining, translation):
        for variant in set(stage) - {"ours"}:
            assert abs(stage[variant]["loss"] - stage["ours"]["loss"]) < 1e-6
    for entry in (*pretraining.values(), *translation.values()):
        assert entry["seconds_per_step"] > 0 and entry["peak_rss_bytes"] > 0
    assert "| pre-training | ours |" in capsys.readouterr().out


def test_segments_bench_small(repo_root, tmp_path):
    bench = load_bench(repo_root, "segments")
    output = tmp_path / "segments.json"
    results = bench.main([
        "--minutes", "0.2", "--segments", "2", "--segment_seconds", "1", "--naive_segments", "1", "--repeats", "1",
        "--manifest_segments", "20", "--manifest_videos", "2", "--output", str(output),
    ])
    decode = json.loads(output.read_text())["results"]["decode"]
    assert decode == results["results"]["decode"]
    assert decode["frames_per_segment"] == [25, 25]  # 1 s at 25 fps, the same from the pre-cut clip (asserted there)
    assert decode["seek_ms_per_segment"] > 0 and decode["from_beginning_segments"] == 1
    assert results["results"]["prepare_manifest"]["segments"] == 20
