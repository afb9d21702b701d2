"""DeepSpeed ZeRO-2/3 runs of `run_pretrain.py` and `run_translation.py`: two CPU processes under `accelerate launch`
(`DS_ACCELERATOR=cpu`, gloo), with saving, resuming from the last checkpoint and, for translation, generation."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file


pytest.importorskip("deepspeed")

from modeling_beyondgloss import BeyondGlossForConditionalGeneration, BeyondGlossForPreTraining  # noqa: E402


REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = str(REPO_ROOT / "configs" / "beyondgloss-tiny.json")
COMMON_FLAGS = [
    "--dataset_name", "synthsign",
    "--per_device_train_batch_size", "2",
    "--per_device_eval_batch_size", "2",
    "--logging_steps", "1",
    "--report_to", "none",
    "--dataloader_num_workers", "0",
    "--seed", "0",
    "--disable_tqdm", "true",
]
# 8 training videos, 2 processes × 2 per batch: 2 steps per epoch; checkpoints at steps 2 and 4.
TRAIN_FLAGS = ["--do_train", "--max_steps", "4", "--save_steps", "2"]
GENERATION_FLAGS = ["--do_predict", "--predict_with_generate", "--max_new_tokens", "8", "--generation_num_beams", "2"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(script: str, zero_config: str, *flags: str) -> str:
    """Run `script` under `accelerate launch` with DeepSpeed on two CPU processes; returns the combined log."""
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--use_deepspeed", "--deepspeed_config_file", str(REPO_ROOT / "configs" / "deepspeed" / zero_config),
        "--num_processes", "2", "--num_machines", "1", "--main_process_port", str(free_port()),
        script, *COMMON_FLAGS, *flags,
    ]
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return log


def global_step(directory: Path) -> int:
    return json.loads((directory / "trainer_state.json").read_text())["global_step"]


def logged_losses(directory: Path) -> list[dict]:
    history = json.loads((directory / "trainer_state.json").read_text())["log_history"]
    return [entry for entry in history if "loss" in entry and "step" in entry]


def launch_and_resume(script: str, zero_config: str, root: Path, *flags: str) -> dict:
    """An uninterrupted 4-step run, and a run resumed (`--resume_from_checkpoint last`) from what an interruption
    after step 2 leaves behind: the uninterrupted run's first checkpoint."""
    uninterrupted, interrupted = root / "uninterrupted", root / "interrupted"
    launch(script, zero_config, "--output_dir", str(uninterrupted), *TRAIN_FLAGS, *flags)
    interrupted.mkdir()
    shutil.copytree(uninterrupted / "checkpoint-2", interrupted / "checkpoint-2")
    log = launch(script, zero_config, "--output_dir", str(interrupted), *TRAIN_FLAGS, *flags,
                 "--resume_from_checkpoint", "last")
    return {"uninterrupted": uninterrupted, "resumed": interrupted, "log": log}


def assert_saved_and_resumed(run: dict) -> None:
    resumed = run["resumed"]
    for name in ("model.safetensors", "config.json"):
        assert (resumed / name).is_file(), name
    # DeepSpeed's own checkpoint layout: the engine, not plain DDP, trained and saved.
    assert (resumed / "checkpoint-4" / "global_step4").is_dir()
    assert f"Resuming from {resumed / 'checkpoint-2'}" in run["log"]
    assert global_step(resumed / "checkpoint-2") == 2 and global_step(resumed) == 4
    expected = load_file(run["uninterrupted"] / "model.safetensors")
    weights = load_file(resumed / "model.safetensors")
    assert expected.keys() == weights.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(weights[name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def assert_loads_completely(model_class, directory: Path) -> None:
    model, info = model_class.from_pretrained(directory, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    weights = load_file(directory / "model.safetensors")
    for name, parameter in model.named_parameters():
        if name in weights:
            torch.testing.assert_close(parameter.data, weights[name], msg=name)


def assert_translated(directory: Path) -> None:
    """Every test video got a line in `generated_predictions.txt` and the translation was scored."""
    assert len((directory / "generated_predictions.txt").read_text(encoding="utf-8").split("\n")) == 4 + 1
    assert "predict_bleu4" in json.loads((directory / "predict_results.json").read_text())


@pytest.fixture(scope="module")
def corpus(synthsign_corpus):
    data = ["--data_dir", synthsign_corpus["data_dir"], "--dataset_cache_dir", synthsign_corpus["cache_dir"]]
    return {"data": data, "pretraining": [*data, "--description_encoder", synthsign_corpus["encoder"]]}


@pytest.fixture(scope="module")
def zero2_pretraining(corpus, tmp_path_factory):
    return launch_and_resume("run_pretrain.py", "zero2.json", tmp_path_factory.mktemp("zero2_pretraining"),
                             "--model_name_or_path", TINY_CONFIG, "--do_eval", *corpus["pretraining"])


@pytest.fixture(scope="module")
def zero3_pretraining(corpus, tmp_path_factory):
    return launch_and_resume("run_pretrain.py", "zero3.json", tmp_path_factory.mktemp("zero3_pretraining"),
                             "--model_name_or_path", TINY_CONFIG, *corpus["pretraining"])


def test_zero2_pretraining_saves_resumes_and_evaluates(zero2_pretraining):
    assert_saved_and_resumed(zero2_pretraining)
    assert_loads_completely(BeyondGlossForPreTraining, zero2_pretraining["resumed"])
    logged = logged_losses(zero2_pretraining["resumed"])
    assert [entry["step"] for entry in logged] == [1, 2, 3, 4]  # steps 1-2 come with the checkpoint's state
    assert all({"loss_align", "loss_desc", "loss_hand"} <= entry.keys() for entry in logged)
    results = json.loads((zero2_pretraining["resumed"] / "eval_results.json").read_text())
    assert 0 <= results["eval_video_to_text_r1"] <= results["eval_video_to_text_r5"] <= 100


def test_zero2_translation_from_pretraining_saves_resumes_and_generates(zero2_pretraining, corpus, tmp_path):
    run = launch_and_resume(
        "run_translation.py", "zero2.json", tmp_path, "--model_name_or_path", str(zero2_pretraining["resumed"]),
        *corpus["data"], *GENERATION_FLAGS,
    )
    assert_saved_and_resumed(run)
    assert_loads_completely(BeyondGlossForConditionalGeneration, run["resumed"])
    assert_translated(run["resumed"])


def test_zero3_pretraining_saves_whole_weights_and_resumes(zero3_pretraining, zero2_pretraining):
    assert_saved_and_resumed(zero3_pretraining)
    assert_loads_completely(BeyondGlossForPreTraining, zero3_pretraining["resumed"])
    # ZeRO-3 partitions the parameters but computes the same model: the first steps (the warm-up's zero learning
    # rate, then one update) log the losses of ZeRO-2.
    zero2, zero3 = (logged_losses(run["uninterrupted"])[:2] for run in (zero2_pretraining, zero3_pretraining))
    for zero2_entry, zero3_entry in zip(zero2, zero3, strict=True):
        for term in ("loss", "loss_align", "loss_desc", "loss_hand"):
            assert zero3_entry[term] == pytest.approx(zero2_entry[term], rel=1e-3), term


def test_zero3_translation_from_pretraining_generates_with_synced_processes(zero3_pretraining, corpus, tmp_path):
    launch("run_translation.py", "zero3.json", "--model_name_or_path", str(zero3_pretraining["resumed"]),
           *corpus["data"], "--output_dir", str(tmp_path), "--do_train", "--max_steps", "2", "--do_eval",
           *GENERATION_FLAGS)
    assert_loads_completely(BeyondGlossForConditionalGeneration, tmp_path)
    assert_translated(tmp_path)
    assert "eval_bleu4" in json.loads((tmp_path / "eval_results.json").read_text())
