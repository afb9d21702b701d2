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
    results = bench.main(
        ["--tiny", "--variants", "ours", "ours_cache", "--steps", "1", "--in_process", "--output", str(output)]
    )
    assert json.loads(output.read_text())["setup"]["reference"] is None
    pretraining = results["stages"]["pre-training"]
    assert set(pretraining) == {"ours", "ours_cache"}
    assert set(results["stages"]["translation"]) == {"ours"}  # the cache is a pre-training option
    # Dropout is off and the weights are the same: the cache changes nothing in the loss.
    assert abs(pretraining["ours_cache"]["loss"] - pretraining["ours"]["loss"]) < 1e-6
    for entry in (*pretraining.values(), results["stages"]["translation"]["ours"]):
        assert entry["seconds_per_step"] > 0 and entry["peak_rss_bytes"] > 0
    assert "| pre-training | ours |" in capsys.readouterr().out
