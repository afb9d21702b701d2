"""The inference and training-step benchmarks run end to end on the tiny config (behaviour only, never timings)."""

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
