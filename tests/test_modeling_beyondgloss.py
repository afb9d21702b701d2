"""Tiny-config tests of the BeyondGloss models, in the style of transformers' ModelTester tests."""

import copy
import json
import math
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    Dinov2Config,
    Dinov2Model,
    MBartConfig,
    MBartForConditionalGeneration,
)
from transformers.models.dinov2.modeling_dinov2 import Dinov2Embeddings

from modeling_beyondgloss import (
    BeyondGlossConfig,
    BeyondGlossForConditionalGeneration,
    BeyondGlossForPreTraining,
    BeyondGlossModel,
    ContrastiveAlignmentLoss,
    HandDistillationLoss,
    build_tokenizer_from_corpus,
)
from modeling_beyondgloss.modeling_beyondgloss import BeyondGlossDinov2Embeddings, BeyondGlossVisualEncoder


CORPUS = [
    "am morgen regnet es im süden",
    "heute scheint die sonne im norden",
    "der wind weht kräftig an der küste",
    "morgen wird es kälter und nass",
]


class BeyondGlossModelTester:
    def __init__(self, repo_root, batch_size=3, num_frames=10, text_length=7):
        self.config = BeyondGlossConfig.from_json_file(str(repo_root / "configs" / "beyondgloss-tiny.json"))
        self.batch_size = batch_size
        self.num_frames = num_frames
        self.text_length = text_length

    def prepare_inputs(self, seed=0):
        generator = torch.Generator().manual_seed(seed)
        image_size = self.config.vision_config.image_size
        pixel_values = torch.randn(self.batch_size, self.num_frames, 3, image_size, image_size, generator=generator)
        pixel_mask = torch.ones(self.batch_size, self.num_frames, dtype=torch.long)
        pixel_mask[1, self.num_frames - 3 :] = 0
        pixel_mask[2, self.num_frames // 2 :] = 0
        input_ids = torch.randint(
            4, self.config.text_config.vocab_size, (self.batch_size, self.text_length), generator=generator
        )
        attention_mask = torch.ones_like(input_ids)
        attention_mask[0, -2:] = 0
        return {
            "pixel_values": pixel_values,
            "pixel_mask": pixel_mask,
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "description_embeds": torch.randn(self.batch_size, self.config.description_dim, generator=generator),
            "hand_features": torch.randn(
                self.batch_size, self.num_frames, self.config.hand_feature_dim, generator=generator
            ),
            "hand_mask": pixel_mask.clone(),
        }

    def translation_inputs(self, seed=0):
        inputs = self.prepare_inputs(seed)
        labels = inputs["input_ids"].clone()
        labels[inputs["attention_mask"] == 0] = -100
        return {"pixel_values": inputs["pixel_values"], "pixel_mask": inputs["pixel_mask"], "labels": labels}


@pytest.fixture
def tester(repo_root):
    torch.manual_seed(0)
    return BeyondGlossModelTester(repo_root)


# ------------------------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------------------------


def test_config_defaults_are_the_papers():
    config = BeyondGlossConfig()
    assert config.vision_config.hidden_size == 384 and config.vision_config.patch_size == 14
    assert config.vision_config.layerscale_value == 1.0
    assert config.text_config.d_model == 1024 and config.text_config.encoder_layers == 12
    assert (config.spatial_dim, config.hand_feature_dim, config.temporal_dim, config.description_dim) == (
        512,
        288,
        512,
        1024,
    )
    assert config.temporal_blocks == [2, 2] and config.temporal_heads == 8 and config.temporal_window == 7
    assert config.temporal_ffn_ratio == 4 and config.drop_path_rate == 0.1 and config.layer_scale_init == 1e-5
    assert config.vision_lora_layers == [9, 10, 11]
    assert (config.vision_lora_rank, config.vision_lora_alpha, config.vision_lora_dropout) == (4, 4.0, 0.1)
    assert config.text_lora_target_modules == ["q_proj", "v_proj"]
    assert (config.text_lora_rank, config.text_lora_alpha, config.text_lora_dropout) == (16, 32.0, 0.1)
    assert (config.description_loss_weight, config.hand_loss_weight) == (0.5, 0.3)
    assert config.logit_scale_init_value == pytest.approx(math.log(1 / 0.07))
    assert config.label_smoothing == 0.2
    config.validate_architecture()


def test_shipped_configs_load(repo_root):
    base = BeyondGlossConfig.from_json_file(str(repo_root / "configs" / "beyondgloss-base.json"))
    assert base.to_diff_dict() == BeyondGlossConfig().to_diff_dict()
    tiny = BeyondGlossConfig.from_json_file(str(repo_root / "configs" / "beyondgloss-tiny.json"))
    tiny.validate_architecture()
    num_parameters = sum(p.numel() for p in BeyondGlossForConditionalGeneration(tiny).parameters())
    assert 100_000 < num_parameters < 5_000_000


def test_config_rejects_mismatched_sizes_on_construction_and_load(tmp_path):
    with pytest.raises(ValueError, match="d_model"):
        BeyondGlossConfig(temporal_dim=256)
    with pytest.raises(ValueError, match="odd"):
        BeyondGlossConfig(temporal_window=6)
    BeyondGlossConfig().save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, "vision_lora_layers": [9, 12]}))
    with pytest.raises(ValueError, match="vision_lora_layers"):
        BeyondGlossConfig.from_pretrained(tmp_path)


def test_config_round_trip(tmp_path, tester):
    tester.config.save_pretrained(tmp_path)
    loaded = BeyondGlossConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == tester.config.to_dict()


# ------------------------------------------------------------------------------------------------------------------
# Forward / backward and losses
# ------------------------------------------------------------------------------------------------------------------


def test_pretraining_forward_backward(tester):
    model = BeyondGlossForPreTraining(tester.config)
    inputs = tester.prepare_inputs()
    outputs = model(**inputs)
    for term in ("loss", "loss_align", "loss_desc", "loss_hand"):
        assert torch.isfinite(getattr(outputs, term)), term
    expected = outputs.loss_align + 0.5 * outputs.loss_desc + 0.3 * outputs.loss_hand
    torch.testing.assert_close(outputs.loss, expected)
    batch = tester.batch_size
    assert outputs.logits_per_video.shape == (batch, batch)
    assert outputs.video_embeds.shape == (batch, tester.config.text_config.d_model)
    assert outputs.predicted_hand_features.shape == (batch, tester.num_frames, 288)
    torch.testing.assert_close(outputs.video_embeds.norm(dim=-1), torch.ones(batch))
    outputs.loss.backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable) > 0.8 * len(trainable)


@pytest.mark.parametrize("absent", ["input_ids", "description_embeds", "hand_features"])
def test_absent_inputs_skip_their_loss(tester, absent):
    model = BeyondGlossForPreTraining(tester.config).eval()
    inputs = tester.prepare_inputs()
    inputs.pop(absent)
    if absent == "input_ids":
        inputs.pop("attention_mask")
    if absent == "hand_features":
        inputs.pop("hand_mask")
    outputs = model(**inputs)
    term = {"input_ids": "loss_align", "description_embeds": "loss_desc", "hand_features": "loss_hand"}[absent]
    assert getattr(outputs, term) is None
    present = {"loss_align": 1.0, "loss_desc": 0.5, "loss_hand": 0.3}
    present.pop(term)
    torch.testing.assert_close(outputs.loss, sum(w * getattr(outputs, t) for t, w in present.items()))


def test_no_auxiliary_input_gives_no_loss(tester):
    inputs = tester.prepare_inputs()
    outputs = BeyondGlossForPreTraining(tester.config)(
        pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"]
    )
    assert outputs.loss is None and outputs.loss_align is None
    assert outputs.video_embeds is not None


def test_alignment_loss_matches_reference_formula():
    torch.manual_seed(0)
    video, text = F.normalize(torch.randn(4, 8), dim=-1), F.normalize(torch.randn(4, 8), dim=-1)
    scale = torch.tensor(1 / 0.07)
    output = ContrastiveAlignmentLoss(soft_target_scale=10.0)(video, text, scale)
    # The reference: KLDivLoss(mean over all elements)(log_softmax(logits), softmax(10 * I)) * batch size, per
    # direction.
    target = F.softmax(10 * torch.eye(4), dim=1)
    kl_mean = torch.nn.KLDivLoss(reduction="mean")
    per_video = kl_mean(F.log_softmax(scale * video @ text.t(), dim=1), target) * 4
    per_text = kl_mean(F.log_softmax(scale * text @ video.t(), dim=1), target) * 4
    torch.testing.assert_close(output.loss, (per_video + per_text) / 2)


def test_alignment_loss_ignores_invalid_rows():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(5, 8), dim=-1), F.normalize(torch.randn(5, 8), dim=-1)
    valid = torch.tensor([True, False, True, True, False])
    loss = ContrastiveAlignmentLoss()(a, b, torch.tensor(10.0), valid=valid).loss
    subset = ContrastiveAlignmentLoss()(a[valid], b[valid], torch.tensor(10.0)).loss
    torch.testing.assert_close(loss, subset)


def test_hand_distillation_loss_formula():
    predicted, target = torch.randn(2, 4, 6), torch.randn(2, 4, 6)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])
    expected = sum(((predicted[i, j] - target[i, j]) ** 2).sum() for i in range(2) for j in range(4) if mask[i, j]) / (
        3 * 6
    )
    torch.testing.assert_close(HandDistillationLoss()(predicted, target, mask), expected)
    with pytest.raises(ValueError, match="hand_features has shape"):
        HandDistillationLoss()(predicted, target[:, :3], mask)


def test_translation_forward_backward_and_token_level_loss(tester):
    model = BeyondGlossForConditionalGeneration(tester.config).eval()  # no dropout: two forwards give one loss
    inputs = tester.translation_inputs()
    outputs = model(**inputs)
    assert outputs.logits.shape == (tester.batch_size, tester.text_length, tester.config.text_config.vocab_size)
    flat_logits, flat_labels = outputs.logits.flatten(0, 1), inputs["labels"].flatten()
    torch.testing.assert_close(outputs.loss, F.cross_entropy(flat_logits, flat_labels, ignore_index=-100))
    # Under gradient accumulation the Trainer passes the token count of all accumulated batches.
    accumulated = model(**inputs, num_items_in_batch=torch.tensor(40))
    torch.testing.assert_close(
        accumulated.loss, F.cross_entropy(flat_logits, flat_labels, ignore_index=-100, reduction="sum") / 40
    )
    assert model.accepts_loss_kwargs
    outputs.loss.backward()
    assert model.visual_encoder.fusion.weight.grad is not None
    assert model.translation_model.model.decoder.layers[0].self_attn.q_proj.lora_A["default"].weight.grad is not None


def test_generation_with_beams(tester):
    model = BeyondGlossForConditionalGeneration(tester.config).eval()
    inputs = tester.translation_inputs()
    sequences = model.generate(
        pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"], num_beams=3, max_new_tokens=6
    )
    assert sequences.shape[0] == tester.batch_size and 2 <= sequences.shape[1] <= 7
    assert (sequences[:, 0] == model.generation_config.decoder_start_token_id).all()
    assert model.generation_config.num_beams == 5 and model.generation_config.max_new_tokens == 150
    again = model.generate(
        pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"], num_beams=3, max_new_tokens=6
    )
    torch.testing.assert_close(sequences, again)
    scored = model.generate(
        pixel_values=inputs["pixel_values"],
        pixel_mask=inputs["pixel_mask"],
        num_beams=3,
        max_new_tokens=6,
        return_dict_in_generate=True,
        output_scores=True,
    )
    assert scored.sequences_scores.shape == (tester.batch_size,)


@pytest.fixture
def trained_translation_model(tester):
    """A tiny translation model after a few optimisation steps on `tester`'s batch, decoding from a language code."""
    torch.manual_seed(0)
    model = BeyondGlossForConditionalGeneration(tester.config)
    model.generation_config.decoder_start_token_id = 5
    inputs = tester.translation_inputs()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-2)
    for _ in range(60):
        model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval(), inputs


@pytest.mark.parametrize("generation_kwargs", [{}, {"num_beams": 1}, {"num_beams": 3, "max_new_tokens": 4}])
def test_stock_generate_equals_mbart_generate_on_the_sign_sequence(trained_translation_model, generation_kwargs):
    """transformers' `generate()` through `get_encoder()` gives the tokens of the former path: encode the video, then
    let the mBART model generate from the sign sequence as `inputs_embeds`."""
    model, inputs = trained_translation_model
    video = {"pixel_values": inputs["pixel_values"], "pixel_mask": inputs["pixel_mask"]}
    generation_kwargs = {"max_new_tokens": 8, **generation_kwargs}
    with torch.no_grad():
        sequences = model.generate(**video, **generation_kwargs)
        inputs_embeds, attention_mask = model.encode_video(**video)
        expected = model.translation_model.generate(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            generation_config=copy.deepcopy(model.generation_config),
            **generation_kwargs,
        )
    torch.testing.assert_close(sequences, expected)
    assert (sequences[:, 0] == 5).all()
    assert "generate" not in vars(BeyondGlossForConditionalGeneration)


def test_generate_encodes_the_video_once(trained_translation_model):
    model, inputs = trained_translation_model
    calls = []
    hook = model.visual_encoder.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    with torch.no_grad():
        model.generate(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"], max_new_tokens=5)
    hook.remove()
    assert calls == [inputs["pixel_values"].shape[0]]


def test_sign_attention_mask_matches_the_temporal_encoder(tester):
    model = BeyondGlossForConditionalGeneration(tester.config).eval()
    inputs = tester.translation_inputs()
    with torch.no_grad():
        encoded = model.get_encoder()(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"])
    assert encoded.attention_mask.shape == encoded.last_hidden_state.shape[:2]
    torch.testing.assert_close(model.sign_attention_mask(inputs["pixel_mask"]), encoded.attention_mask)
    assert not any(name.startswith("encode_video") for name, _ in model.named_modules())


def _corrupt(inputs, case):
    pixel_values, pixel_mask = inputs["pixel_values"], inputs["pixel_mask"].clone()
    if case == "nan":
        pixel_values = pixel_values.clone()
        pixel_values[1, 0, 0, 0, 0] = float("nan")
    elif case == "inf":
        pixel_values = pixel_values.clone()
        pixel_values[2, 1] = float("inf")
    elif case == "uint8":
        pixel_values = (pixel_values.clamp(0, 1) * 255).to(torch.uint8)
    elif case == "channels_last":
        pixel_values = pixel_values.permute(0, 1, 3, 4, 2)
    elif case == "one_channel":
        pixel_values = pixel_values[:, :, :1]
    elif case == "empty_row":
        pixel_mask[2] = 0
    return pixel_values, pixel_mask


@pytest.mark.parametrize(
    "case, message",
    [
        ("nan", r"batch row\(s\) \[1\] hold NaN"),
        ("inf", r"batch row\(s\) \[2\] hold NaN or infinite"),
        ("uint8", r"torch.uint8.*through the processor"),
        ("channels_last", r"got 56\. They look channels-last: use pixel_values.permute\(0, 1, 4, 2, 3\)"),
        ("one_channel", r"3 colour channels, got 1\.$"),
        ("empty_row", r"Batch row\(s\) \[2\] have no valid frame"),
    ],
)
def test_inputs_that_can_only_give_garbage_are_refused(tester, case, message):
    pixel_values, pixel_mask = _corrupt(tester.translation_inputs(), case)
    translation = BeyondGlossForConditionalGeneration(tester.config).eval()
    with pytest.raises(ValueError, match=message):
        translation.generate(pixel_values=pixel_values, pixel_mask=pixel_mask, num_beams=1, max_new_tokens=3)
    with pytest.raises(ValueError, match=message):
        BeyondGlossForPreTraining(tester.config)(pixel_values=pixel_values, pixel_mask=pixel_mask)


def test_non_finite_values_in_padded_frames_are_ignored(tester):
    inputs = tester.translation_inputs()
    inputs["pixel_values"][1, -1] = float("nan")  # a padded frame (pixel_mask 0)
    BeyondGlossModel(tester.config)(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"])


# ------------------------------------------------------------------------------------------------------------------
# Trainable parameters, padding, frozen parts
# ------------------------------------------------------------------------------------------------------------------


def _trainable(model):
    return {name for name, parameter in model.named_parameters() if parameter.requires_grad}


def test_trainable_parameters_are_the_papers(tester):
    config = tester.config
    model = BeyondGlossForPreTraining(config)
    trainable = _trainable(model)
    vision_prefix = "beyondgloss.visual_encoder.vision_model."
    assert config.vision_lora_target_modules == ["attention.qkv", "attention.o_proj", "mlp.fc1", "mlp.fc2"]
    expected_vision = {
        f"{vision_prefix}encoder.layer.{layer}.attention.qkv_lora.lora_{ab}.weight"
        for layer in config.vision_lora_layers
        for ab in "AB"
    } | {
        f"{vision_prefix}encoder.layer.{layer}.{target}.lora_{ab}.default.weight"
        for layer in config.vision_lora_layers
        for target in ("attention.o_proj", "mlp.fc1", "mlp.fc2")
        for ab in "AB"
    }
    assert {n for n in trainable if n.startswith(vision_prefix)} == expected_vision
    assert len(expected_vision) == 3 * 4 * 2
    sign_trainable = {n for n in trainable if n.startswith("beyondgloss.sign_encoder.")}
    assert sign_trainable and all(".lora_" in n and (".q_proj." in n or ".v_proj." in n) for n in sign_trainable)
    assert len(sign_trainable) == config.text_config.encoder_layers * 2 * 2
    assert not any(n.startswith("text_encoder.") for n in trainable)
    new_modules = {
        n
        for n, _ in model.named_parameters()
        if n.startswith("beyondgloss.visual_encoder.") and not n.startswith(vision_prefix)
    }
    assert new_modules and new_modules <= trainable
    assert "logit_scale" in trainable
    assert trainable == expected_vision | sign_trainable | new_modules | {"logit_scale"}

    translation = BeyondGlossForConditionalGeneration(config)
    text_trainable = {n for n in _trainable(translation) if n.startswith("translation_model.")}
    assert all(".lora_" in n and (".q_proj." in n or ".v_proj." in n) for n in text_trainable)
    # q_proj and v_proj in encoder self-attention, decoder self-attention and decoder cross-attention.
    layers = config.text_config.encoder_layers + 2 * config.text_config.decoder_layers
    assert len(text_trainable) == layers * 2 * 2


def _trainable_vision_elements(config):
    visual_encoder = BeyondGlossVisualEncoder(config)
    return sum(p.numel() for n, p in visual_encoder.vision_model.named_parameters() if "lora_" in n)


def test_vision_lora_parameterisation_is_the_papers():
    # One rank-4 adapter on the fused qkv projection (A shared by q, k, v) plus proj, fc1, fc2 on blocks 9-11 of ViT-S.
    assert _trainable_vision_elements(BeyondGlossConfig()) == 73_728
    separate = ["attention.q_proj", "attention.k_proj", "attention.v_proj", "attention.o_proj", "mlp.fc1", "mlp.fc2"]
    assert _trainable_vision_elements(BeyondGlossConfig(vision_lora_target_modules=separate)) == 82_944
    with pytest.raises(ValueError, match="fused adapter"):
        BeyondGlossConfig(vision_lora_target_modules=["attention.qkv", "attention.q_proj"]).validate_architecture()


def test_fused_qkv_lora_adds_one_shared_update(tester):
    torch.manual_seed(0)
    model = BeyondGlossModel(tester.config).eval()
    attention = model.visual_encoder.vision_model.encoder.layer[tester.config.vision_lora_layers[0]].attention
    torch.nn.init.normal_(attention.qkv_lora.lora_B.weight)
    hidden_states = torch.randn(2, 5, tester.config.vision_config.hidden_size)
    seen = {}
    for name in ("q_proj", "k_proj", "v_proj"):
        getattr(attention, name).register_forward_hook(
            lambda module, args, output, name=name: seen.__setitem__(name, output)
        )
    attention(hidden_states)
    update = attention.qkv_lora.lora_B(attention.qkv_lora.lora_A(hidden_states)) * attention.qkv_lora.scaling
    fused_weight = torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight])
    fused_bias = torch.cat([attention.q_proj.bias, attention.k_proj.bias, attention.v_proj.bias])
    expected = F.linear(hidden_states, fused_weight, fused_bias) + update
    torch.testing.assert_close(torch.cat([seen[n] for n in ("q_proj", "k_proj", "v_proj")], -1) + update, expected)


@pytest.mark.parametrize("image_size", [224, 56])
def test_vision_position_interpolation(image_size):
    vision_config = Dinov2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=518, patch_size=14
    )
    torch.manual_seed(0)
    reference = BeyondGlossDinov2Embeddings(vision_config, "scale_factor")
    transformers_style = BeyondGlossDinov2Embeddings(vision_config, "size")
    transformers_style.load_state_dict(reference.state_dict())
    embeddings = torch.zeros(1, 1 + (image_size // 14) ** 2, 32)
    grid = reference.position_embeddings[:, 1:].reshape(1, 37, 37, 32).permute(0, 3, 1, 2)
    side = image_size // 14
    # The original DINOv2 resampling: a bicubic scale factor of (side + 0.1) / 37.
    expected = F.interpolate(grid, scale_factor=((side + 0.1) / 37,) * 2, mode="bicubic").permute(0, 2, 3, 1)
    resampled = reference.interpolate_pos_encoding(embeddings, image_size, image_size)
    torch.testing.assert_close(resampled[:, 1:], expected.reshape(1, -1, 32))
    torch.testing.assert_close(resampled[:, :1], reference.position_embeddings[:, :1])
    plain = Dinov2Embeddings(vision_config)
    plain.load_state_dict(reference.state_dict())
    torch.testing.assert_close(
        transformers_style.interpolate_pos_encoding(embeddings, image_size, image_size),
        plain.interpolate_pos_encoding(embeddings, image_size, image_size),
    )
    assert (resampled - plain.interpolate_pos_encoding(embeddings, image_size, image_size)).abs().max() > 1e-3
    full = torch.zeros(1, 1 + 37 * 37, 32)
    assert reference.interpolate_pos_encoding(full, 518, 518) is reference.position_embeddings


def test_reference_initialisation():
    # Paper widths for the visual pipeline; a one-layer text model of the matching width keeps this quick.
    text_config = dict(vocab_size=64, d_model=1024, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=64)
    config = BeyondGlossConfig(text_config=text_config)
    torch.manual_seed(0)
    visual_encoder = BeyondGlossModel._from_config(config).visual_encoder
    for name in ("spatial_projection", "hand_predictor", "fusion", "description_predictor"):
        linear = getattr(visual_encoder, name)
        bound = 1 / math.sqrt(linear.in_features)  # PyTorch's default nn.Linear initialisation
        assert linear.weight.abs().max() <= bound and linear.weight.abs().max() > 0.9 * bound, name
        assert linear.bias.abs().max() <= bound and linear.bias.abs().max() > 0.5 * bound, name
    attention = visual_encoder.temporal_encoder.stages[0][0].attention
    output_std = 0.02 / math.sqrt(2 * 4)
    assert attention.out_proj.weight.std().item() == pytest.approx(output_std, rel=0.05)
    assert attention.out_proj.bias.std().item() == pytest.approx(output_std, rel=0.3)
    assert attention.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05) and not attention.qkv.bias.any()
    lora_a = visual_encoder.vision_model.encoder.layer[9].attention.qkv_lora.lora_A.weight
    assert lora_a.std().item() == pytest.approx(0.02, rel=0.15)

    config.initializer_scheme = "normal"
    visual_encoder = BeyondGlossModel._from_config(config).visual_encoder
    assert not visual_encoder.fusion.bias.any()
    assert visual_encoder.fusion.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert not visual_encoder.temporal_encoder.stages[0][0].attention.out_proj.bias.any()


def test_random_backbones_can_train_whole(tester, tmp_path):
    config = copy.deepcopy(tester.config)
    config.train_vision_backbone = config.train_text_backbone = True
    model = BeyondGlossForPreTraining(config)
    frozen = {name for name, parameter in model.named_parameters() if not parameter.requires_grad}
    assert frozen and all(name.startswith("text_encoder.") for name in frozen)
    model.save_pretrained(tmp_path)
    reloaded = BeyondGlossForPreTraining.from_pretrained(tmp_path)
    assert {name for name, parameter in reloaded.named_parameters() if not parameter.requires_grad} == frozen
    translation = BeyondGlossForConditionalGeneration.from_pretraining(str(tmp_path))
    assert all(parameter.requires_grad for parameter in translation.parameters())


def test_lora_adapters_start_as_identity(tester):
    model = BeyondGlossForPreTraining(tester.config)
    for name, parameter in model.named_parameters():
        if ".lora_B." in name:
            assert parameter.abs().sum() == 0, name


def test_padding_invariance(tester):
    torch.manual_seed(0)
    pretraining = BeyondGlossForPreTraining(tester.config).eval()
    translation = BeyondGlossForConditionalGeneration(tester.config).eval()
    inputs = tester.prepare_inputs()
    pixel_values, pixel_mask = inputs["pixel_values"], inputs["pixel_mask"]
    with torch.no_grad():
        batched = pretraining.beyondgloss(pixel_values=pixel_values, pixel_mask=pixel_mask)
        batched_sign, batched_mask = translation.encode_video(pixel_values, pixel_mask)
        for index in range(tester.batch_size):
            length = int(pixel_mask[index].sum())
            alone = pretraining.beyondgloss(pixel_values=pixel_values[index : index + 1, :length])
            torch.testing.assert_close(alone.video_embeds[0], batched.video_embeds[index], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(
                alone.description_embeds[0], batched.description_embeds[index], atol=1e-5, rtol=1e-4
            )
            torch.testing.assert_close(
                alone.predicted_hand_features[0], batched.predicted_hand_features[index, :length], atol=1e-5, rtol=1e-4
            )
            sign, mask = translation.encode_video(pixel_values[index : index + 1, :length])
            steps = int(mask.sum())
            assert int(batched_mask[index].sum()) == steps
            torch.testing.assert_close(sign[0, :steps], batched_sign[index, :steps], atol=1e-5, rtol=1e-4)


def test_padded_frames_never_reach_dinov2(tester):
    model = BeyondGlossModel(tester.config).eval()
    inputs = tester.prepare_inputs()
    seen = []
    model.visual_encoder.vision_model.embeddings.register_forward_hook(
        lambda module, args, output: seen.append(args[0].shape[0])
    )
    model(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"])
    assert seen == [int(inputs["pixel_mask"].sum())]


def test_frozen_parts_build_no_autograd_graph(tester):
    model = BeyondGlossForPreTraining(tester.config).train()
    inputs = tester.prepare_inputs()
    requires_grad = {}

    def record(name):
        return lambda module, args, output: requires_grad.__setitem__(name, output.requires_grad)

    vision_layers = model.beyondgloss.visual_encoder.vision_model.encoder.layer
    vision_layers[0].register_forward_hook(record("frozen vision block"))
    vision_layers[-1].register_forward_hook(record("adapted vision block"))
    model.text_encoder.layers[-1].register_forward_hook(record("target text encoder"))
    model(**inputs).loss.backward()
    assert requires_grad == {"frozen vision block": False, "adapted vision block": True, "target text encoder": False}


def test_gradient_checkpointing_gives_same_gradients(tester):
    inputs = tester.prepare_inputs()

    config = tester.config
    config.drop_path_rate = config.temporal_dropout = config.branch_dropout = 0.0
    config.vision_lora_dropout = config.text_lora_dropout = 0.0
    config.text_config.dropout = config.text_config.attention_dropout = config.text_config.activation_dropout = 0.0

    def gradients(checkpointing):
        torch.manual_seed(0)
        model = BeyondGlossForPreTraining(config).train()
        if checkpointing:
            model.activation_checkpointing_enable()
        loss = model(**inputs).loss
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    loss_plain, grads_plain = gradients(False)
    loss_ckpt, grads_ckpt = gradients(True)
    torch.testing.assert_close(loss_plain, loss_ckpt)
    assert grads_plain.keys() == grads_ckpt.keys()
    lora_names = [n for n in grads_plain if "vision_model" in n and "lora_A" in n]
    assert lora_names
    for name in grads_plain:
        torch.testing.assert_close(grads_plain[name], grads_ckpt[name], atol=1e-5, rtol=1e-4)


def test_bf16_autocast(tester):
    model = BeyondGlossForPreTraining(tester.config)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = model(**tester.prepare_inputs())
    assert torch.isfinite(outputs.loss)
    outputs.loss.backward()


# ------------------------------------------------------------------------------------------------------------------
# Learning
# ------------------------------------------------------------------------------------------------------------------


def test_tiny_overfit_lowers_every_loss_term(tester):
    torch.manual_seed(0)
    model = BeyondGlossForPreTraining(tester.config).train()
    inputs = tester.prepare_inputs(seed=1)
    # The hand branch ends in a GELU (as in the paper), so its targets must lie in GELU's range.
    inputs["hand_features"] = inputs["hand_features"].abs()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    history = []
    for _ in range(60):
        outputs = model(**inputs)
        history.append({t: getattr(outputs, t).item() for t in ("loss", "loss_align", "loss_desc", "loss_hand")})
        optimizer.zero_grad()
        outputs.loss.backward()
        optimizer.step()
    for term in history[0]:
        first, last = history[0][term], sum(h[term] for h in history[-5:]) / 5
        assert last < 0.7 * first, f"{term}: {first:.4f} -> {last:.4f}"


# ------------------------------------------------------------------------------------------------------------------
# Saving, loading, Auto classes, remote code
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_class", [BeyondGlossModel, BeyondGlossForPreTraining, BeyondGlossForConditionalGeneration]
)
def test_save_load_round_trip(tmp_path, tester, model_class):
    model = model_class(tester.config).eval()
    inputs = tester.prepare_inputs()
    video_inputs = {"pixel_values": inputs["pixel_values"], "pixel_mask": inputs["pixel_mask"]}
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin"))
    saved_config = json.loads((tmp_path / "config.json").read_text())
    assert saved_config["auto_map"]["AutoConfig"] == "configuration_beyondgloss.BeyondGlossConfig"
    assert (tmp_path / "modeling_beyondgloss.py").is_file() and (tmp_path / "vocabulary.py").is_file()
    loaded = model_class.from_pretrained(tmp_path).eval()
    assert _trainable(loaded) == _trainable(model)
    with torch.no_grad():
        if model_class is BeyondGlossForConditionalGeneration:
            labels = tester.translation_inputs()["labels"]
            torch.testing.assert_close(
                model(**video_inputs, labels=labels).logits, loaded(**video_inputs, labels=labels).logits
            )
        else:
            torch.testing.assert_close(model(**video_inputs).video_embeds, loaded(**video_inputs).video_embeds)


def test_auto_classes_resolve(tmp_path, tester):
    BeyondGlossForConditionalGeneration(tester.config).save_pretrained(tmp_path / "translation")
    BeyondGlossForPreTraining(tester.config).save_pretrained(tmp_path / "pretraining")
    assert type(AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "translation")) is BeyondGlossForConditionalGeneration
    assert type(AutoModelForPreTraining.from_pretrained(tmp_path / "pretraining")) is BeyondGlossForPreTraining
    assert type(AutoModel.from_pretrained(tmp_path / "pretraining")) is BeyondGlossModel


def run_in_fresh_process(script: str, tmp_path) -> str:
    """Run `script` in a new interpreter that cannot import this repository (only remote code); return stdout."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "hf_home")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_trust_remote_code_in_fresh_process(tmp_path, tester):
    model = BeyondGlossForConditionalGeneration(tester.config).eval()
    inputs = tester.translation_inputs()
    model.save_pretrained(tmp_path / "model")
    torch.save({k: inputs[k] for k in ("pixel_values", "pixel_mask")}, tmp_path / "inputs.pt")
    with torch.no_grad():
        expected = model.generate(
            **{k: inputs[k] for k in ("pixel_values", "pixel_mask")}, num_beams=2, max_new_tokens=5
        )
    script = textwrap.dedent(
        f"""
        import sys, torch
        from transformers import AutoModel, AutoModelForSeq2SeqLM
        assert not any(name.startswith("modeling_beyondgloss") for name in sys.modules)
        model = AutoModelForSeq2SeqLM.from_pretrained({str(tmp_path / "model")!r}, trust_remote_code=True).eval()
        assert type(model).__name__ == "BeyondGlossForConditionalGeneration"
        assert "modeling_beyondgloss" not in sys.modules
        inputs = torch.load({str(tmp_path / "inputs.pt")!r})
        print(model.generate(**inputs, num_beams=2, max_new_tokens=5).tolist())
        """
    )
    stdout = run_in_fresh_process(script, tmp_path)
    assert json.loads(stdout.strip().splitlines()[-1]) == expected.tolist()


# ------------------------------------------------------------------------------------------------------------------
# Backbones and initialisation from pre-training
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_backbones(tmp_path):
    """A tiny DINOv2 and a tiny mBART (with a corpus tokenizer) saved locally, standing in for the Hub checkpoints."""
    torch.manual_seed(0)
    vision = Dinov2Model(
        Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, image_size=56, patch_size=14)
    )
    vision.save_pretrained(tmp_path / "dinov2")
    tokenizer = build_tokenizer_from_corpus(CORPUS + ["ein ganz anderer satz mit neuen wörtern"], src_lang="de_DE")
    sizes = {"layers": 2, "attention_heads": 4, "ffn_dim": 128}
    text = MBartForConditionalGeneration(
        MBartConfig(
            vocab_size=len(tokenizer), d_model=64, max_position_embeddings=128, scale_embedding=True,
            **{f"{side}_{name}": value for side in ("encoder", "decoder") for name, value in sizes.items()},
        )
    )
    text.save_pretrained(tmp_path / "mbart")
    tokenizer.save_pretrained(tmp_path / "mbart")
    return tmp_path / "dinov2", tmp_path / "mbart", vision, text, tokenizer


TINY_ARCHITECTURE = dict(
    spatial_dim=32,
    temporal_dim=32,
    temporal_heads=4,
    description_dim=64,
    vision_lora_layers=[1, 2, 3],
    text_lora_rank=8,
)


def test_from_pretrained_backbones_loads_weights_and_trims_vocabulary(tiny_backbones):
    vision_path, text_path, vision, text, tokenizer = tiny_backbones
    model, trimmed = BeyondGlossForPreTraining.from_pretrained_backbones(
        vision_path, text_path, corpus_sentences=CORPUS, tgt_lang="de_DE", **TINY_ARCHITECTURE
    )
    assert len(trimmed) < len(tokenizer)
    assert model.config.text_config.vocab_size == len(trimmed)
    assert model.config.text_config.decoder_start_token_id == trimmed.convert_tokens_to_ids("de_DE")
    for sentence in CORPUS:
        assert trimmed.tokenize(sentence) == tokenizer.tokenize(sentence)
    vision_model = model.beyondgloss.visual_encoder.vision_model
    torch.testing.assert_close(
        vision_model.encoder.layer[2].attention.q_proj.weight, vision.encoder.layer[2].attention.q_proj.weight
    )
    torch.testing.assert_close(vision_model.embeddings.cls_token, vision.embeddings.cls_token)
    torch.testing.assert_close(model.text_encoder.layers[1].fc1.weight, text.model.encoder.layers[1].fc1.weight)
    old_id, new_id = tokenizer.convert_tokens_to_ids("▁regnet"), trimmed.convert_tokens_to_ids("▁regnet")
    torch.testing.assert_close(model.text_encoder.embed_tokens.weight[new_id], text.model.shared.weight[old_id])

    # With LoRA's B = 0, the sign-side and the frozen target-side encoder compute the same function.
    model.eval()
    embeds = torch.randn(2, 5, 64)
    with torch.no_grad():
        sign = model.beyondgloss.sign_encoder(inputs_embeds=embeds).last_hidden_state
        target = model.text_encoder(inputs_embeds=embeds).last_hidden_state
    torch.testing.assert_close(sign, target)


def test_translation_from_pretraining(tmp_path, tiny_backbones):
    vision_path, text_path, _, text, _ = tiny_backbones
    pretraining, tokenizer = BeyondGlossForPreTraining.from_pretrained_backbones(
        vision_path, text_path, corpus_sentences=CORPUS, tgt_lang="de_DE", **TINY_ARCHITECTURE
    )
    with torch.no_grad():  # stand-in for pre-training: make every trainable weight distinctive
        for parameter in pretraining.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    pretraining.save_pretrained(tmp_path / "pretrained")
    tokenizer.save_pretrained(tmp_path / "pretrained")

    model, info = BeyondGlossForConditionalGeneration.from_pretraining(
        tmp_path / "pretrained", output_loading_info=True
    )
    source = pretraining.state_dict()
    target = model.state_dict()
    for name, tensor in source.items():
        if name.startswith("beyondgloss.visual_encoder."):
            torch.testing.assert_close(target[name.replace("beyondgloss.", "", 1)], tensor)
        elif name.startswith("beyondgloss.sign_encoder."):
            torch.testing.assert_close(
                target[name.replace("beyondgloss.sign_encoder.", "translation_model.model.encoder.", 1)], tensor
            )
    # The decoder comes from the mBART the pre-training model was built from (config.text_model_name_or_path).
    assert model.config.text_model_name_or_path == str(text_path)
    torch.testing.assert_close(
        model.translation_model.model.decoder.layers[0].fc1.weight, text.model.decoder.layers[0].fc1.weight
    )
    old_id = AutoTokenizer.from_pretrained(text_path).convert_tokens_to_ids("▁küste")
    new_id = tokenizer.convert_tokens_to_ids("▁küste")
    torch.testing.assert_close(model.translation_model.lm_head.weight[new_id], text.lm_head.weight[old_id])
    assert any("encoder.layers.0.self_attn.q_proj.lora_A" in n for n in info["from_pretraining"])
    assert all("decoder" in n and "lora_" in n for n in info["newly_initialized"]), info["newly_initialized"][:5]
    assert info["newly_initialized"]
    assert _trainable(model) >= set(info["newly_initialized"])

    model.eval()
    with torch.no_grad():
        sequences = model.generate(pixel_values=torch.randn(1, 6, 3, 56, 56), num_beams=2, max_new_tokens=4)
    assert sequences[0, 0] == tokenizer.convert_tokens_to_ids("de_DE")


def test_translation_from_pretraining_without_text_model(tmp_path, tester):
    pretraining = BeyondGlossForPreTraining(tester.config)
    pretraining.save_pretrained(tmp_path)
    model, info = BeyondGlossForConditionalGeneration.from_pretraining(tmp_path, output_loading_info=True)
    torch.testing.assert_close(
        model.translation_model.model.shared.weight, pretraining.text_encoder.embed_tokens.weight
    )
    assert any(".decoder.layers.0.fc1.weight" in n for n in info["newly_initialized"])
