"""End-to-end tests of `run_pretrain.py` and `run_translation.py` on a tiny SynthSign corpus."""

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file

import run_pretrain
import run_translation
from datasets_scripts import load_sign_dataset
from training_beyondgloss.checkpoints import TRAINABLE_WEIGHTS_NAME, read_metadata
from training_beyondgloss.outputs import resolve_checkpoint


COMMON_FLAGS = [
    "--dataset_name", "synthsign",
    "--per_device_train_batch_size", "4",
    "--per_device_eval_batch_size", "4",
    "--logging_steps", "1",
    "--report_to", "none",
    "--dataloader_num_workers", "0",
    "--seed", "0",
    "--disable_tqdm", "true",
]


@pytest.fixture(scope="module")
def corpus(synthsign_corpus):
    return synthsign_corpus


def data_flags(corpus):
    return ["--data_dir", corpus["data_dir"], "--dataset_cache_dir", corpus["cache_dir"]]


@pytest.fixture(scope="module")
def pretrained(corpus, tmp_path_factory, repo_root):
    """A pre-training run with every loss, shared by the translation tests."""
    output_dir = tmp_path_factory.mktemp("pretrain")
    metrics = run_pretrain.main([
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"),
        *data_flags(corpus), "--description_encoder", corpus["encoder"],
        "--output_dir", str(output_dir), "--do_train", "--do_eval", "--num_train_epochs", "2", *COMMON_FLAGS,
    ])
    return output_dir, metrics


def logged_terms(output_dir):
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [entry for entry in history if "loss" in entry and "step" in entry]


def test_pretraining_logs_every_loss_term_and_retrieval(pretrained):
    output_dir, metrics = pretrained
    steps = logged_terms(output_dir)
    assert len(steps) == 4
    for entry in steps:
        assert {"loss_align", "loss_desc", "loss_hand"} <= entry.keys()
    for key in ("eval_loss_align", "eval_loss_desc", "eval_loss_hand", "eval_video_to_text_r1",
                "eval_text_to_video_r5"):
        assert key in metrics
    assert 0 <= metrics["eval_video_to_text_r1"] <= metrics["eval_video_to_text_r5"] <= 100
    assert json.loads((output_dir / "eval_results.json").read_text())["eval_loss_desc"] == metrics["eval_loss_desc"]
    assert (output_dir / "loss_terms.png").stat().st_size > 0


def test_pretraining_output_is_a_complete_model_repository(pretrained):
    output_dir, _ = pretrained
    for name in ("model.safetensors", "config.json", "processor_config.json", "tokenizer.json", "README.md",
                 "modeling_beyondgloss.py", "processing_beyondgloss.py", "video_processing_beyondgloss.py"):
        assert (output_dir / name).is_file(), name
    config = json.loads((output_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModelForPreTraining"] == "modeling_beyondgloss.BeyondGlossForPreTraining"
    assert config["description_dim"] == 32  # fitted to the description encoder
    card = (output_dir / "README.md").read_text()
    assert "interpreter" in card and "trust_remote_code=True" in card and "@inproceedings" in card
    assert "lambda_desc" in card


@pytest.mark.parametrize(
    "flags, absent",
    [
        ([], "loss_desc"),  # no description encoder
        (["--description_encoder", "ENCODER", "--use_hand_features", "false"], "loss_hand"),
        (["--description_encoder", "ENCODER", "--align_with_text", "false"], "loss_align"),
    ],
)
def test_pretraining_without_one_input_skips_its_loss(corpus, repo_root, tmp_path, flags, absent):
    flags = [corpus["encoder"] if flag == "ENCODER" else flag for flag in flags]
    metrics = run_pretrain.main([
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"), *data_flags(corpus), *flags,
        "--output_dir", str(tmp_path), "--do_train", "--do_eval", "--max_steps", "2", *COMMON_FLAGS,
    ])
    present = {"loss_align", "loss_desc", "loss_hand"} - {absent}
    for entry in logged_terms(tmp_path):
        assert present <= entry.keys() and absent not in entry
    assert f"eval_{absent}" not in metrics
    assert all(f"eval_{term}" in metrics for term in present)
    assert ("eval_video_to_text_r1" in metrics) == (absent != "loss_align")


def test_gradient_checkpointing_trains_the_same(corpus, repo_root, tmp_path, monkeypatch):
    import transformers.modeling_utils

    checkpointed_calls = []

    def counting_checkpoint(function, *args, **kwargs):
        checkpointed_calls.append(function)
        return torch.utils.checkpoint.checkpoint(function, *args, **kwargs)

    # What `activation_checkpointing_enable` wraps each block's forward in.
    monkeypatch.setattr(transformers.modeling_utils, "checkpoint", counting_checkpoint)

    def losses(flags, output_dir):
        run_pretrain.main([
            "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"), *data_flags(corpus),
            "--description_encoder", corpus["encoder"], "--output_dir", str(output_dir), "--do_train",
            "--max_steps", "3", *flags, *COMMON_FLAGS,
        ])
        return [entry[term] for entry in logged_terms(output_dir) for term in ("loss", "loss_align", "loss_desc")]

    plain = losses([], tmp_path / "plain")
    assert not checkpointed_calls
    checkpointed = losses(["--gradient_checkpointing", "true"], tmp_path / "checkpointed")
    assert checkpointed_calls
    assert len(plain) == 3 * 3
    assert checkpointed == pytest.approx(plain, abs=1e-4)


@pytest.fixture(scope="module")
def translated(corpus, pretrained, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("translation")
    metrics = run_translation.main([
        "--model_name_or_path", str(pretrained[0]), *data_flags(corpus), "--output_dir", str(output_dir),
        "--do_train", "--do_eval", "--do_predict", "--predict_with_generate", "--generation_num_beams", "2",
        "--max_new_tokens", "12", "--num_train_epochs", "2", *COMMON_FLAGS,
    ])
    return output_dir, metrics


def test_translation_writes_predictions_and_metrics(translated, corpus):
    output_dir, metrics = translated
    predictions = (output_dir / "generated_predictions.txt").read_text(encoding="utf-8").split("\n")
    assert predictions[-1] == "" and len(predictions[:-1]) == 4
    results = json.loads((output_dir / "predict_results.json").read_text())
    for key in ("predict_bleu1", "predict_bleu4", "predict_rouge_l", "predict_loss"):
        assert 0 <= results[key] and key in metrics
    assert "tokenize=13a" in results["predict_metric_convention"]
    assert "eval_bleu4" in json.loads((output_dir / "eval_results.json").read_text())
    card = (output_dir / "README.md").read_text()
    assert "predict_bleu4" in card and "Metric convention" in card and 'pipeline("sign-language-translation"' in card
    assert ModelCard.load(output_dir / "README.md").data.eval_results


def test_translation_checkpoint_loads_in_a_fresh_process_and_translates(translated, corpus):
    output_dir, _ = translated
    data_dir = Path(corpus["data_dir"])
    video = sorted(data_dir.glob("videos/test/*.mp4"))[0]
    script = textwrap.dedent(f"""
        from transformers import AutoModelForSeq2SeqLM, AutoProcessor
        model = AutoModelForSeq2SeqLM.from_pretrained({str(output_dir)!r}, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained({str(output_dir)!r}, trust_remote_code=True)
        inputs = processor(videos=[{str(video)!r}])
        ids = model.generate(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"], max_new_tokens=8)
        print(type(model).__module__, type(processor).__module__)
        print(processor.batch_decode(ids, skip_special_tokens=True))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=data_dir,
                            env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=300)
    assert result.returncode == 0, result.stderr
    modules = result.stdout.splitlines()[0].split()
    assert all(module.startswith("transformers_modules.") for module in modules)


def test_translation_from_a_config_json_trains_without_pretraining(corpus, repo_root, tmp_path):
    metrics = run_translation.main([
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"), *data_flags(corpus),
        "--output_dir", str(tmp_path), "--do_train", "--max_steps", "2", *COMMON_FLAGS,
    ])
    assert metrics["train_loss"] > 0
    assert (tmp_path / "model.safetensors").is_file()


def test_resumed_translation_ends_with_the_same_weights(corpus, pretrained, tmp_path):
    def run(output_dir, *extra):
        return run_translation.main([
            "--model_name_or_path", str(pretrained[0]), *data_flags(corpus), "--output_dir", str(output_dir),
            "--do_train", "--max_steps", "4", "--save_steps", "2", *COMMON_FLAGS, *extra,
        ])

    uninterrupted = tmp_path / "uninterrupted"
    run(uninterrupted)
    # What a run killed after step 2 leaves behind: its first checkpoint.
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    shutil.copytree(uninterrupted / "checkpoint-2", interrupted / "checkpoint-2")
    run(interrupted, "--resume_from_checkpoint", "last")

    expected = load_file(uninterrupted / "model.safetensors")
    resumed = load_file(interrupted / "model.safetensors")
    assert expected.keys() == resumed.keys()
    for name in expected:
        torch.testing.assert_close(resumed[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)


def test_resume_without_a_checkpoint_says_so(corpus, pretrained, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run_translation.main([
            "--model_name_or_path", str(pretrained[0]), *data_flags(corpus), "--output_dir", str(tmp_path),
            "--do_train", "--max_steps", "1", "--resume_from_checkpoint", "last", *COMMON_FLAGS,
        ])


@pytest.mark.parametrize(
    ("dataset_name", "license", "synthsign_note"),
    [("synthsign", "mit", True), ("phoenix14t", "cc-by-nc-sa-3.0", False), ("csl_daily", "other", False)],
)
def test_model_card_metadata_parses_back(tmp_path, dataset_name, license, synthsign_note):
    from transformers import Seq2SeqTrainingArguments

    from modeling_beyondgloss import BeyondGlossConfig
    from training_beyondgloss.arguments import DataArguments
    from training_beyondgloss.model_card import write_model_card

    config = BeyondGlossConfig(text_model_name_or_path="facebook/mbart-large-cc25")
    metrics = {"predict_bleu1": 40.123, "predict_bleu4": 20.5, "predict_rouge_l": 45.0, "predict_loss": 2.0,
               "predict_metric_convention": "sacreBLEU tokenize=13a", "eval_bleu4": 18.0}
    training_args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), hub_model_id="someone/beyondgloss-test",
                                             label_smoothing_factor=0.2)
    write_model_card(tmp_path, stage="translation", dataset_name=dataset_name,
                     data_args=DataArguments(dataset_name=dataset_name), training_args=training_args,
                     metrics=metrics, model_config=config)
    card = ModelCard.load(tmp_path / "README.md")
    data = card.data
    # The Hub's own task for video in, text out; the custom pipeline's name is in the usage section.
    assert data.library_name == "transformers" and data.pipeline_tag == "video-text-to-text"
    assert data.license == license and data.base_model == ["facebook/mbart-large-cc25"]
    assert data.language == ["zh" if dataset_name == "csl_daily" else "de"] and data.metrics == ["bleu", "rouge"]
    results = {(result.dataset_split, result.metric_name): result for result in data.eval_results}
    assert set(results) == {("test", "BLEU-1"), ("test", "BLEU-4"), ("test", "ROUGE-L"), ("validation", "BLEU-4")}
    assert results[("test", "BLEU-1")].metric_value == 40.12
    assert results[("test", "BLEU-4")].metric_config == "sacreBLEU tokenize=13a"
    assert ("SynthSign is this package's procedural signer" in card.text) == synthsign_note
    assert 'pipeline("sign-language-translation", model="someone/beyondgloss-test"' in card.text
    assert "## Try it" in card.text and "python app.py --model someone/beyondgloss-test" in card.text
    assert "BEYONDGLOSS_MODEL=someone/beyondgloss-test" in card.text


KILL_AFTER_SAVE = textwrap.dedent("""
    import os, signal, sys
    from transformers import TrainerCallback
    from training_beyondgloss import trainers

    class KillAfterSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == int(os.environ["KILL_AFTER_STEP"]):
                os.kill(os.getpid(), signal.SIGKILL)

    init = trainers._BeyondGlossTrainerMixin.__init__

    def init_with_kill(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if "KILL_AFTER_STEP" in os.environ:
            self.add_callback(KillAfterSave())

    trainers._BeyondGlossTrainerMixin.__init__ = init_with_kill
    script = __import__(sys.argv[1])
    script.main(sys.argv[2:])
""")


def run_script_in_subprocess(repo_root, script, flags, kill_after_step=None):
    env = {**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}
    if kill_after_step is not None:
        env["KILL_AFTER_STEP"] = str(kill_after_step)
    return subprocess.run([sys.executable, "-c", KILL_AFTER_SAVE, script, *flags], capture_output=True, text=True,
                          cwd=repo_root, env=env, timeout=600)


@pytest.mark.parametrize("script", ["run_translation", "run_pretrain"])
def test_run_killed_after_a_mid_epoch_checkpoint_resumes_exactly(corpus, repo_root, tmp_path, script):
    # 8 examples in batches of 2: 4 steps an epoch, killed after step 3 and resumed into the second epoch, where the
    # augmentation of each example changes. The resumed run loads its examples in a DataLoader worker.
    flags = [
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"), *data_flags(corpus),
        "--do_train", "--num_train_epochs", "2", "--save_steps", "3", *COMMON_FLAGS,
        "--per_device_train_batch_size", "2",
    ]
    if script == "run_pretrain":
        flags += ["--description_encoder", corpus["encoder"]]
    uninterrupted, interrupted = tmp_path / "uninterrupted", tmp_path / "interrupted"
    result = run_script_in_subprocess(repo_root, script, [*flags, "--output_dir", str(uninterrupted)])
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_script_in_subprocess(repo_root, script, [*flags, "--output_dir", str(interrupted)], 3)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert not (interrupted / "model.safetensors").exists()
    # The run resumes from a checkpoint without the frozen weights: they come from the model built again.
    assert (interrupted / "checkpoint-3" / TRAINABLE_WEIGHTS_NAME).is_file()
    assert not (interrupted / "checkpoint-3" / "model.safetensors").exists()
    result = run_script_in_subprocess(repo_root, script, [
        *flags, "--output_dir", str(interrupted), "--resume_from_checkpoint", "last", "--dataloader_num_workers", "1",
    ])
    assert result.returncode == 0, result.stderr[-3000:]

    expected = load_file(uninterrupted / "model.safetensors")
    resumed = load_file(interrupted / "model.safetensors")
    assert expected.keys() == resumed.keys()
    differing = [name for name in expected if not torch.equal(expected[name], resumed[name])]
    assert not differing, f"{len(differing)} of {len(expected)} tensors differ, e.g. {differing[:3]}"


def test_training_into_a_finished_run_is_refused_unless_overwriting(corpus, repo_root, tmp_path):
    flags = [
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"), *data_flags(corpus),
        "--output_dir", str(tmp_path), "--do_train", "--max_steps", "2", "--save_steps", "1", *COMMON_FLAGS,
    ]
    run_translation.main(flags)
    finished = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError) as refusal:
        run_translation.main(flags)
    message = str(refusal.value)
    assert str(tmp_path) in message and "model.safetensors" in message
    assert "--resume_from_checkpoint" in message and "--overwrite_output_dir" in message
    assert (tmp_path / "model.safetensors").read_bytes() == finished

    (tmp_path / "model.safetensors").unlink()  # what a run killed after its checkpoints leaves
    with pytest.raises(FileExistsError, match="checkpoints of an unfinished run \\(checkpoint-1, checkpoint-2\\)"):
        run_translation.main(flags)

    run_translation.main([*flags, "--max_steps", "1", "--overwrite_output_dir", "true"])
    assert json.loads((tmp_path / "trainer_state.json").read_text())["global_step"] == 1
    assert sorted(path.name for path in tmp_path.glob("checkpoint-*")) == ["checkpoint-1"]


@pytest.fixture(scope="module")
def two_checkpoints(corpus, repo_root, tmp_path_factory):
    """The flags of a 2-step translation run saving after each step, and its output directory."""
    output_dir = tmp_path_factory.mktemp("two_checkpoints")
    flags = [
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"), *data_flags(corpus),
        "--do_train", "--max_steps", "2", "--save_steps", "1", *COMMON_FLAGS,
    ]
    run_translation.main([*flags, "--output_dir", str(output_dir)])
    return flags, output_dir


def interrupted_copy(two_checkpoints, tmp_path, damage):
    """What a run leaves when `damage` strikes its second checkpoint: both checkpoints, no final model."""
    _, source = two_checkpoints
    for name in ("checkpoint-1", "checkpoint-2"):
        shutil.copytree(source / name, tmp_path / name)
    checkpoint = tmp_path / "checkpoint-2"
    if damage is None:
        pass
    elif damage == "no trainer_state.json":
        (checkpoint / "trainer_state.json").unlink()
    else:
        path = checkpoint / damage
        path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    return checkpoint


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("trainable_model.safetensors",
         r"trainable_model.safetensors is truncated: \d+ bytes where its header promises \d+"),
        ("optimizer.pt", r"optimizer.pt is truncated or corrupt"),
        ("trainer_state.json", r"trainer_state.json is truncated or unreadable"),
        ("no trainer_state.json", r"no trainer_state.json, so its save did not finish"),
    ],
)
def test_resume_from_last_passes_over_an_incomplete_checkpoint(two_checkpoints, tmp_path, caplog, damage, reason):
    interrupted_copy(two_checkpoints, tmp_path, damage)
    arguments = argparse.Namespace(resume_from_checkpoint="last", output_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="training_beyondgloss.outputs"):
        assert resolve_checkpoint(arguments) == str(tmp_path / "checkpoint-1")
    assert re.search(f"Passing over {re.escape(str(tmp_path / 'checkpoint-2'))}: .*{reason}", caplog.text)

    arguments.resume_from_checkpoint = str(tmp_path / "checkpoint-2")
    with pytest.raises(ValueError, match=reason):
        resolve_checkpoint(arguments)


def test_run_resumes_from_the_newest_complete_checkpoint(two_checkpoints, tmp_path):
    flags, source = two_checkpoints
    interrupted_copy(two_checkpoints, tmp_path, "optimizer.pt")
    run_translation.main([*flags, "--output_dir", str(tmp_path), "--resume_from_checkpoint", "last"])
    assert json.loads((tmp_path / "trainer_state.json").read_text())["global_step"] == 2
    expected, resumed = load_file(source / "model.safetensors"), load_file(tmp_path / "model.safetensors")
    assert all(torch.equal(expected[name], resumed[name]) for name in expected)


def test_checkpoints_hold_the_trained_weights_and_a_record_of_the_frozen_ones(two_checkpoints):
    from modeling_beyondgloss import BeyondGlossForConditionalGeneration

    _, output_dir = two_checkpoints
    checkpoint = output_dir / "checkpoint-2"
    assert not (checkpoint / "model.safetensors").exists()
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "config.json"):
        assert (checkpoint / name).is_file(), name
    # The final model of this 2-step run is the checkpoint's: trained tensors and buffers equal, frozen ones
    # recorded by dtype, shape and hash.
    model = BeyondGlossForConditionalGeneration.from_pretrained(output_dir)
    saved = load_file(checkpoint / TRAINABLE_WEIGHTS_NAME)
    trained = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    frozen = {name: parameter for name, parameter in model.named_parameters() if not parameter.requires_grad}
    buffers = {name for name, _ in model.named_buffers()}
    assert trained and frozen and saved.keys() == trained | buffers
    state = model.state_dict()
    assert all(torch.equal(saved[name], state[name]) for name in saved)
    record = read_metadata(str(checkpoint / TRAINABLE_WEIGHTS_NAME))
    assert record["frozen"].keys() == frozen.keys()
    for name, parameter in frozen.items():
        dtype, shape, digest = record["frozen"][name]
        assert (dtype, shape) == ("float32", list(parameter.shape))
        assert digest == hashlib.sha256(parameter.detach().contiguous().numpy().tobytes()).hexdigest(), name
    assert record["source"]["model_name_or_path"].endswith("beyondgloss-tiny.json") and record["source"]["seed"] == 0
    weights = (checkpoint / TRAINABLE_WEIGHTS_NAME).stat().st_size
    assert weights < (output_dir / "model.safetensors").stat().st_size / 3


def test_the_final_model_is_whole(two_checkpoints):
    from modeling_beyondgloss import BeyondGlossForConditionalGeneration

    _, output_dir = two_checkpoints
    model, info = BeyondGlossForConditionalGeneration.from_pretrained(output_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    weights = load_file(output_dir / "model.safetensors")
    assert any(not parameter.requires_grad and name in weights for name, parameter in model.named_parameters())


def test_resuming_onto_other_frozen_weights_is_refused(two_checkpoints, tmp_path):
    flags, _ = two_checkpoints
    interrupted_copy(two_checkpoints, tmp_path, None)
    # Another seed initialises the frozen backbones differently from those the checkpoint was trained on.
    with pytest.raises(ValueError) as refusal:
        run_translation.main([*flags, "--output_dir", str(tmp_path), "--resume_from_checkpoint", "last",
                              "--seed", "1"])
    message = str(refusal.value)
    assert f"Cannot resume from {tmp_path / 'checkpoint-2' / TRAINABLE_WEIGHTS_NAME}" in message
    assert re.search(r"\d+ of \d+ frozen tensor\(s\) hold other values", message)
    assert "--seed" in message and "beyondgloss-tiny.json" in message
    assert not (tmp_path / "model.safetensors").exists()


def test_resuming_when_the_frozen_weights_are_gone_says_so(corpus, pretrained, tmp_path):
    base = tmp_path / "pretrain"
    shutil.copytree(pretrained[0], base, ignore=shutil.ignore_patterns("checkpoint-*"))
    flags = [
        "--model_name_or_path", str(base), *data_flags(corpus), "--output_dir", str(tmp_path / "run"),
        "--do_train", "--max_steps", "2", "--save_steps", "1", *COMMON_FLAGS,
    ]
    run_translation.main(flags)
    (tmp_path / "run" / "model.safetensors").unlink()
    shutil.rmtree(base)
    with pytest.raises(FileNotFoundError) as refusal:
        run_translation.main([*flags, "--resume_from_checkpoint", "last"])
    message = str(refusal.value)
    assert str(tmp_path / "run" / "checkpoint-2" / TRAINABLE_WEIGHTS_NAME) in message
    assert f"model_name_or_path={base}, which no longer exists" in message


def test_the_best_checkpoint_is_loaded_at_the_end_onto_the_frozen_weights(corpus, repo_root, tmp_path):
    # The highest evaluation loss is the best: with three evaluations, it is rarely the last checkpoint's.
    run_translation.main([
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"), *data_flags(corpus),
        "--output_dir", str(tmp_path), "--do_train", "--max_steps", "3", "--save_steps", "1", "--eval_strategy",
        "steps", "--eval_steps", "1", "--load_best_model_at_end", "true", "--metric_for_best_model", "loss",
        "--greater_is_better", "true", *COMMON_FLAGS,
    ])
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    losses = {entry["step"]: entry["eval_loss"] for entry in state["log_history"] if "eval_loss" in entry}
    best_step = max(losses, key=losses.get)
    assert state["best_model_checkpoint"] == str(tmp_path / f"checkpoint-{best_step}")
    trained = load_file(tmp_path / f"checkpoint-{best_step}" / TRAINABLE_WEIGHTS_NAME)
    final = load_file(tmp_path / "model.safetensors")
    assert set(trained) < set(final)
    assert all(torch.equal(final[name], trained[name]) for name in trained)
    if best_step != 3:
        last = load_file(tmp_path / "checkpoint-3" / TRAINABLE_WEIGHTS_NAME)
        assert any(not torch.equal(final[name], last[name]) for name in last)


def test_a_save_that_runs_out_of_space_says_so(two_checkpoints, repo_root, tmp_path):
    flags, _ = two_checkpoints
    # A 1 MiB file system, mounted in a user namespace, holds the trained weights of a checkpoint but not its optimizer
    # state.
    mount = tmp_path / "small_disk"
    mount.mkdir()
    probe = subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {probe.stderr.strip()}")
    output_dir = mount / "run"
    script = f'mount -t tmpfs -o size=1m tmpfs {mount} && exec {sys.executable} -c "$0" "$@"'
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, KILL_AFTER_SAVE, "run_translation", *flags,
         "--output_dir", str(output_dir)],
        capture_output=True, text=True, cwd=repo_root, timeout=600,
        env={**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("OSError: [Errno 28] No space left on device while saving"), result.stderr[-3000:]
    assert error.endswith(f"passes over this incomplete save: '{output_dir / 'checkpoint-1'}'")


def test_training_leaves_out_a_sample_that_does_not_decode(corpus, repo_root, tmp_path):
    data_dir = tmp_path / "synthsign"
    shutil.copytree(corpus["data_dir"], data_dir)
    load_sign_dataset("synthsign", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"), drop_invalid=False)
    # Damaged after the corpus was checked and cached, e.g. on a flaky network file system.
    broken = sorted((data_dir / "videos" / "train").glob("*.mp4"))[0]
    broken.write_bytes(broken.read_bytes()[:100])
    flags = [
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"), "--data_dir", str(data_dir),
        "--dataset_cache_dir", str(tmp_path / "cache"), "--do_train", "--max_steps", "2", *COMMON_FLAGS,
    ]
    metrics = run_translation.main([*flags, "--output_dir", str(tmp_path / "skipping")])
    assert metrics["train_skipped_samples"] == 1
    [line] = (tmp_path / "skipping" / "skipped_samples.txt").read_text().splitlines()
    assert broken.stem in line and f"Cannot decode video {broken}" in line

    with pytest.raises(ValueError, match=f"Cannot decode video {re.escape(str(broken))}"):
        run_translation.main([*flags, "--output_dir", str(tmp_path / "strict"), "--skip_undecodable_samples", "false"])
