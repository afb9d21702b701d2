"""The speed options: the pre-training text-embedding cache and int8 inference (behaviour, never timings)."""

import torch
from torch import nn

from modeling_beyondgloss import BeyondGlossConfig, BeyondGlossForConditionalGeneration, BeyondGlossForPreTraining


def tiny_config(repo_root, **overrides) -> BeyondGlossConfig:
    config = BeyondGlossConfig.from_json_file(str(repo_root / "configs" / "beyondgloss-tiny.json"))
    return BeyondGlossConfig.from_dict({**config.to_dict(), **overrides})


def pretraining_inputs(config, seed=0, batch_size=3, frames=6, length=7):
    generator = torch.Generator().manual_seed(seed)
    size = config.vision_config.image_size
    input_ids = torch.randint(4, config.text_config.vocab_size, (batch_size, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, -2:] = 0
    return {
        "pixel_values": torch.randn(batch_size, frames, 3, size, size, generator=generator),
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "description_embeds": torch.randn(batch_size, config.description_dim, generator=generator),
        "hand_features": torch.randn(batch_size, frames, config.hand_feature_dim, generator=generator),
    }


def switch_off_dropout(module: nn.Module) -> None:
    for submodule in module.modules():
        if isinstance(submodule, nn.Dropout):
            submodule.p = 0.0
        for name in ("dropout", "activation_dropout", "drop_prob"):
            if isinstance(getattr(submodule, name, None), float):
                setattr(submodule, name, 0.0)


def count_calls(module: nn.Module) -> list:
    calls = []
    module.register_forward_hook(lambda *args: calls.append(1))
    return calls


def test_text_embedding_cache_gives_the_same_loss_and_skips_the_encoder(repo_root):
    torch.manual_seed(0)
    plain = BeyondGlossForPreTraining(tiny_config(repo_root)).eval()
    cached = BeyondGlossForPreTraining(tiny_config(repo_root, cache_text_embeddings=True)).eval()
    cached.load_state_dict(plain.state_dict())
    inputs = pretraining_inputs(plain.config)
    calls = count_calls(cached.text_encoder)
    with torch.no_grad():
        expected = plain(**inputs)
        first = cached(**inputs)
        second = cached(**inputs)
    assert len(calls) == 1  # the second batch came from the cache
    assert len(cached.text_embeddings_cache) == 3
    for result in (first, second):
        torch.testing.assert_close(result.loss, expected.loss, rtol=0, atol=1e-6)
        torch.testing.assert_close(result.text_embeds, expected.text_embeds, rtol=0, atol=1e-6)


def test_text_embedding_cache_in_training_mode(repo_root):
    """While training, cached embeddings are the text encoder's clean (eval-mode) output; the loss and the gradients
    equal those of the uncached model whose text encoder has no dropout. A new sentence in a batch of known ones is
    encoded alone; the text encoder's mode is left as it was."""
    torch.manual_seed(0)
    plain = BeyondGlossForPreTraining(tiny_config(repo_root)).train()
    cached = BeyondGlossForPreTraining(tiny_config(repo_root, cache_text_embeddings=True)).train()
    cached.load_state_dict(plain.state_dict())
    plain.text_encoder.eval()
    for model in (plain, cached):  # dropout elsewhere off, so that both runs draw nothing at random
        switch_off_dropout(model.beyondgloss)
    inputs = pretraining_inputs(plain.config)
    warm = dict(inputs, input_ids=inputs["input_ids"][:2], attention_mask=inputs["attention_mask"][:2])
    with torch.no_grad():
        cached.encode_text(warm["input_ids"], warm["attention_mask"])
    calls = count_calls(cached.text_encoder)
    losses = []
    for model in (plain, cached):
        model.zero_grad()
        loss = model(**inputs).loss
        loss.backward()
        losses.append((loss, model.logit_scale.grad.clone()))
    assert len(calls) == 1 and cached.text_encoder.training
    torch.testing.assert_close(losses[1][0], losses[0][0], rtol=0, atol=1e-6)
    torch.testing.assert_close(losses[1][1], losses[0][1], rtol=0, atol=1e-6)


def test_quantize_for_inference_translates(repo_root):
    torch.manual_seed(0)
    model = BeyondGlossForConditionalGeneration(tiny_config(repo_root)).eval()
    size = model.config.vision_config.image_size
    pixel_values = torch.randn(2, 6, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model.visual_encoder(pixel_values, torch.ones(2, 6, dtype=torch.bool)).sign_embeds
    model.quantize_for_inference()
    quantized = torch.ao.nn.quantized.dynamic.Linear
    assert isinstance(model.translation_model.lm_head, quantized)
    assert isinstance(model.visual_encoder.vision_model.encoder.layer[0].mlp.fc1, quantized)
    # LoRA adapters, branches and the temporal encoder stay in float.
    assert type(model.visual_encoder.vision_model.encoder.layer[3].attention.qkv_lora.lora_A) is nn.Linear
    assert type(model.translation_model.model.decoder.layers[0].self_attn.q_proj.lora_A["default"]) is nn.Linear
    assert type(model.visual_encoder.fusion).__name__ == "BeyondGlossBranchLinear"
    with torch.inference_mode():
        sign_embeds = model.visual_encoder(pixel_values, torch.ones(2, 6, dtype=torch.bool)).sign_embeds
        sequences = model.generate(pixel_values=pixel_values, num_beams=3, max_new_tokens=5)
    assert sequences.shape[0] == 2 and 2 <= sequences.shape[1] <= 6
    # int8 weights move the features a little, not wholesale.
    assert torch.nn.functional.cosine_similarity(sign_embeds.flatten(), expected.flatten(), dim=0) > 0.95
