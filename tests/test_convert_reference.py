"""Conversion of the reference implementation's checkpoints (`beyondgloss-convert-reference`).

Reference-layout checkpoints are written from a seed at tiny sizes (`tools/reference_layout.py`: DINOv2 32-wide,
4 blocks with LoRA on blocks 1-3, 56 px position grid seen at 28 px; hand 12, spatial and temporal 16 with 4 heads,
description 24; mBART 32-wide, 2 + 2 layers, 63 pieces, LoRA rank 16). `tests/fixtures/reference_tiny.json` holds
what the reference code computes on those checkpoints (`tools/make_reference_fixture.py`); the reference code
itself is not needed here.
"""

import argparse
import json
import logging
import re
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_modeling_beyondgloss import run_in_fresh_process
from transformers import Dinov2Config
from transformers.image_utils import PILImageResampling

from modeling_beyondgloss import BeyondGlossForConditionalGeneration, BeyondGlossForPreTraining
from modeling_beyondgloss.convert_reference_checkpoint import (
    ReferenceCheckpointError,
    convert_reference_checkpoint,
    main,
)


TOOLS = str(Path(__file__).resolve().parents[1] / "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from reference_harness import converted_outputs, make_inputs  # noqa: E402
from reference_layout import (  # noqa: E402
    TINY_SIZES,
    lightning_checkpoint,
    reference_state_dict,
    write_trimmed_mbart,
)


FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "reference_tiny.json").read_text())
MODEL_CLASSES = {"pre-training": BeyondGlossForPreTraining, "translation": BeyondGlossForConditionalGeneration}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    path = tmp_path_factory.mktemp("reference")
    write_trimmed_mbart(path / "mbart", TINY_SIZES, legacy_format=True)
    write_trimmed_mbart(path / "mbart_v5", TINY_SIZES, legacy_format=False)
    Dinov2Config(**TINY_SIZES.dinov2_config()).save_pretrained(path / "dinov2")
    return path


def write_checkpoint(path, stage, state_dict=None, hyper_parameters=None):
    settings = FIXTURE["stages"][stage]
    if state_dict is None:
        state_dict = reference_state_dict(stage, TINY_SIZES, settings["seed"])
    if hyper_parameters is None:
        hyper_parameters = dict(settings["hyper_parameters"])
        if stage == "translation":  # as FineTuneModel.save_hyperparameters() records the script's arguments
            hyper_parameters["args"] = argparse.Namespace(lr=4e-4, num_beams=hyper_parameters["num_beams"])
    torch.save(lightning_checkpoint(state_dict, hyper_parameters), path)
    return path


def convert(workspace, tmp_path, stage, mbart="mbart", **checkpoint_kwargs):
    tmp_path.mkdir(parents=True, exist_ok=True)
    checkpoint = write_checkpoint(tmp_path / f"{stage}.ckpt", stage, **checkpoint_kwargs)
    dinov2 = str(workspace / "dinov2")
    report = convert_reference_checkpoint(checkpoint, workspace / mbart, tmp_path / "out", dinov2=dinov2)
    return report, tmp_path / "out"


@pytest.mark.parametrize("stage", ["pre-training", "translation"])
def test_converted_model_computes_what_the_reference_computes(workspace, tmp_path, stage):
    report, output_dir = convert(workspace, tmp_path, stage)
    model = MODEL_CLASSES[stage].from_pretrained(output_dir)
    inputs = make_inputs(TINY_SIZES, TINY_SIZES.mbart_config().vocab_size, **FIXTURE["inputs"])
    outputs, gradients = converted_outputs(stage, model, inputs, FIXTURE["max_new_tokens"])
    expected = FIXTURE["stages"][stage]["outputs"]
    assert set(outputs) == set(expected)
    for name, value in outputs.items():
        if name == "tokens":
            assert value.tolist() == expected[name]
        else:
            torch.testing.assert_close(value, torch.tensor(expected[name]), atol=1e-5, rtol=1e-4, msg=name)
    assert gradients
    if stage == "translation":
        assert model.generation_config.decoder_start_token_id == FIXTURE["decoder_start_token_id"]
        assert model.generation_config.num_beams == 3 and model.generation_config.max_new_tokens == 150


def test_hyperparameters_come_from_the_checkpoint_or_the_paper(workspace, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        report, output_dir = convert(workspace, tmp_path, "pre-training")
    config = BeyondGlossForPreTraining.config_class.from_pretrained(output_dir)
    assert (config.description_loss_weight, config.hand_loss_weight, config.label_smoothing) == (0.7, 0.2, 0.2)
    assert report.hyperparameters["landa_desc"] == (0.7, "checkpoint hyper_parameters")
    assert report.hyperparameters["num_beams"] == (5, "paper")
    assert "label_smoothing = 0.2 (paper)" in caplog.text

    report, output_dir = convert(workspace, tmp_path / "bare", "translation", hyper_parameters={})
    assert report.hyperparameters["label_smoothing"] == (0.2, "paper")
    assert json.loads((output_dir / "generation_config.json").read_text())["num_beams"] == 5


def test_every_tensor_is_mapped_or_dropped_with_a_reason(workspace, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        report, _ = convert(workspace, tmp_path, "pre-training")
    state_dict = reference_state_dict("pre-training", TINY_SIZES, FIXTURE["stages"]["pre-training"]["seed"])
    used = {source for sources in report.mapped.values() for source in sources}
    assert used | set(report.dropped) == set(state_dict) and not used & set(report.dropped)
    assert "model.logit_scale_desc" in report.dropped
    assert "model.model_images.trans_encoder.base_model.model.embed_tokens.weight" in report.dropped
    for name in report.dropped:
        assert f"Dropped {name}: " in caplog.text


def test_both_trimmed_mbart_formats(workspace, tmp_path):
    _, legacy = convert(workspace, tmp_path / "legacy", "translation", mbart="mbart")
    _, current = convert(workspace, tmp_path / "current", "translation", mbart="mbart_v5")
    legacy_model = BeyondGlossForConditionalGeneration.from_pretrained(legacy)
    current_model = BeyondGlossForConditionalGeneration.from_pretrained(current)
    for (name, tensor), other in zip(legacy_model.state_dict().items(), current_model.state_dict().values()):
        torch.testing.assert_close(tensor, other, msg=name)
    assert json.loads((legacy / "tokenizer_config.json").read_text())["tgt_lang"] == "de_DE"
    # A pre-training model's translation decoder comes from the trimmed mBART, here a pytorch_model.bin.
    _, pretraining = convert(workspace, tmp_path / "pretraining", "pre-training")
    translation = BeyondGlossForConditionalGeneration.from_pretraining(str(pretraining))
    assert translation.config.text_config.decoder_start_token_id == FIXTURE["decoder_start_token_id"]


def _corrupted(stage, change):
    state_dict = reference_state_dict(stage, TINY_SIZES, FIXTURE["stages"][stage]["seed"])
    change(state_dict)
    return state_dict


VISUAL = "model.model_images.model."


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda sd: sd.pop(VISUAL + "mapper_2.bias"), f"missing tensors: {VISUAL}mapper_2.bias"),
        (lambda sd: sd.update({VISUAL + "extra.weight": torch.zeros(2)}), f"unknown tensors: {VISUAL}extra.weight"),
        (
            lambda sd: sd.update({VISUAL + "mapper_2.bias": torch.zeros(9)}),
            f"wrong shapes: {VISUAL}mapper_2.bias (9,)",
        ),
        # A position table other than the one the model computes cannot be dropped.
        (
            lambda sd: sd.update({VISUAL + "conv_1d.pos_embedding.pe": torch.zeros(300, 16)}),
            f"unknown tensors: {VISUAL}conv_1d.pos_embedding.pe",
        ),
    ],
    ids=["missing", "unknown", "shape", "changed-table"],
)
def test_bad_checkpoints_are_refused_with_names(workspace, tmp_path, change, message):
    with pytest.raises(ReferenceCheckpointError, match=re.escape(message)):
        convert(workspace, tmp_path, "pre-training", state_dict=_corrupted("pre-training", change))


def test_untied_embeddings_and_unknown_layouts_are_refused(workspace, tmp_path):
    def untie(state_dict):
        name = "model.mbart.base_model.model.lm_head.weight"
        state_dict[name] = state_dict[name] + 1

    with pytest.raises(ReferenceCheckpointError, match="lm_head.weight differ"):
        convert(workspace, tmp_path, "translation", state_dict=_corrupted("translation", untie))
    with pytest.raises(ReferenceCheckpointError, match="cannot tell the stage"):
        convert(workspace, tmp_path, "translation", state_dict={"model.other.weight": torch.zeros(1)})


def test_checkpoints_are_loaded_without_unpickling_arbitrary_objects(workspace, tmp_path):
    checkpoint = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": logging.Formatter()}}, checkpoint)
    arguments = ["--checkpoint", str(checkpoint), "--mbart", str(workspace / "mbart"), "--output_dir", str(tmp_path)]
    with pytest.raises(SystemExit, match="weights_only"):
        main(arguments)


def test_converted_folder_loads_as_remote_code_in_fresh_process(workspace, tmp_path):
    _, output_dir = convert(workspace, tmp_path, "translation")
    script = textwrap.dedent(
        f"""
        import sys
        from transformers import AutoModelForSeq2SeqLM, AutoProcessor
        model = AutoModelForSeq2SeqLM.from_pretrained({str(output_dir)!r}, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained({str(output_dir)!r}, trust_remote_code=True)
        assert "modeling_beyondgloss" not in sys.modules
        print(type(model).__name__, model.generation_config.decoder_start_token_id, processor.tokenizer.tgt_lang,
              processor.video_processor.resample)
        """
    )
    stdout = run_in_fresh_process(script, tmp_path)
    bicubic = str(int(PILImageResampling.BICUBIC))  # the reference's frame resize
    assert stdout.split() == [
        "BeyondGlossForConditionalGeneration", str(FIXTURE["decoder_start_token_id"]), "de_DE", bicubic
    ]
