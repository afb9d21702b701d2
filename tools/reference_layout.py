"""The tensor layout of the BeyondGloss reference implementation's checkpoints, filled from a seed.

`reference_state_dict` writes, without the reference code, a state dict named and shaped as the reference's
`PreTrainModel` / `FineTuneModel` (PyTorch Lightning) name theirs, at any sizes. The equivalence tools load it into
the reference modules (strictly, which checks the layout) and `tests/test_convert_reference.py` converts it; both
must see the same tensors, hence one generator. `write_trimmed_mbart` writes a small trimmed-mBART folder in the
format transformers 4 wrote (`pytorch_model.bin`, slow sentencepiece files) or in transformers 5's.
"""

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import MBartConfig, MBartForConditionalGeneration


@dataclass
class ReferenceSizes:
    """Sizes of a reference model (the reference hard-codes the paper's; the tiny ones exist for tests)."""

    vision_hidden: int = 384
    vision_layers: int = 12
    vision_heads: int = 6
    vision_image_size: int = 518
    vision_lora_layers: tuple = (9, 10, 11)
    vision_lora_rank: int = 4
    spatial_dim: int = 512
    hand_dim: int = 288
    temporal_dim: int = 512
    temporal_heads: int = 8
    temporal_blocks: tuple = (2, 2)
    description_dim: int = 1024
    text_lora_rank: int = 16
    text_config: dict = field(default_factory=dict)

    def mbart_config(self) -> MBartConfig:
        return MBartConfig(**self.text_config)

    def dinov2_config(self) -> dict:
        return dict(
            hidden_size=self.vision_hidden,
            num_hidden_layers=self.vision_layers,
            num_attention_heads=self.vision_heads,
            mlp_ratio=4,
            image_size=self.vision_image_size,
            patch_size=14,
            layerscale_value=1.0,
        )


TINY_TEXT_CONFIG = dict(
    vocab_size=63,  # the vocabulary `write_trimmed_mbart` writes
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    max_position_embeddings=256,
    scale_embedding=True,
)
TINY_SIZES = ReferenceSizes(
    vision_hidden=32,
    vision_layers=4,
    vision_heads=2,
    vision_image_size=56,
    vision_lora_layers=(1, 2, 3),
    spatial_dim=16,
    hand_dim=12,
    temporal_dim=16,
    temporal_heads=4,
    description_dim=24,
    text_config=TINY_TEXT_CONFIG,
)
TEMPORAL_TABLE_LENGTH = 300  # the reference's tables cover 300 steps


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    position = torch.arange(length).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2) * (-torch.log(torch.tensor(10000.0)) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


def rotary_table(length: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    inverse_frequency = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.einsum("i,j->ij", torch.arange(length).float(), inverse_frequency)
    return angles.sin()[:, None, None], angles.cos()[:, None, None]


def visual_layout(sizes: ReferenceSizes) -> dict[str, tuple]:
    """Names (relative to the reference's `FeatureExtracter`) and shapes of the visual pipeline."""
    hidden, rank = sizes.vision_hidden, sizes.vision_lora_rank
    grid = sizes.vision_image_size // 14
    dino = "conv_2d.dino.spatial_model."
    layout = {
        dino + "cls_token": (1, 1, hidden),
        dino + "pos_embed": (1, 1 + grid * grid, hidden),
        dino + "mask_token": (1, hidden),
        dino + "patch_embed.proj.weight": (hidden, 3, 14, 14),
        dino + "patch_embed.proj.bias": (hidden,),
    }
    for index in range(sizes.vision_layers):
        block = f"{dino}blocks.{index}."
        layout.update({
            block + "norm1.weight": (hidden,), block + "norm1.bias": (hidden,),
            block + "attn.qkv.weight": (3 * hidden, hidden), block + "attn.qkv.bias": (3 * hidden,),
            block + "attn.proj.weight": (hidden, hidden), block + "attn.proj.bias": (hidden,),
            block + "ls1.gamma": (hidden,),
            block + "norm2.weight": (hidden,), block + "norm2.bias": (hidden,),
            block + "mlp.fc1.weight": (4 * hidden, hidden), block + "mlp.fc1.bias": (4 * hidden,),
            block + "mlp.fc2.weight": (hidden, 4 * hidden), block + "mlp.fc2.bias": (hidden,),
            block + "ls2.gamma": (hidden,),
        })
        if index in sizes.vision_lora_layers:
            layout.update({
                block + "attn.lora_w1_l1.weight": (rank, hidden),
                block + "attn.lora_w1_l2.weight": (3 * hidden, rank),
                block + "attn.lora_w2_l1.weight": (rank, hidden),
                block + "attn.lora_w2_l2.weight": (hidden, rank),
                block + "mlp.lora_w1_l1.weight": (rank, hidden),
                block + "mlp.lora_w1_l2.weight": (4 * hidden, rank),
                block + "mlp.lora_w2_l1.weight": (rank, 4 * hidden),
                block + "mlp.lora_w2_l2.weight": (hidden, rank),
            })
    layout.update({dino + "norm.weight": (hidden,), dino + "norm.bias": (hidden,)})
    spatial, hand, temporal, description = sizes.spatial_dim, sizes.hand_dim, sizes.temporal_dim, sizes.description_dim

    def linear(name, out_features, in_features):
        layout.update({name + ".weight": (out_features, in_features), name + ".bias": (out_features,)})

    linear("conv_2d.dino.lin", spatial, hidden)
    for name in ("weight", "bias", "running_mean", "running_var"):
        layout[f"conv_2d.dino.bn.{name}"] = (spatial,)
    layout["conv_2d.dino.bn.num_batches_tracked"] = ()
    linear("hamer_mapper_1", hand, spatial)
    linear("hamer_mapper_2", spatial, hand)
    linear("mapper_1_downsample.0", temporal, 2 * spatial)
    layout["conv_1d.pos_embedding.pe"] = (TEMPORAL_TABLE_LENGTH, temporal)
    index = 0
    for stage, blocks in enumerate(sizes.temporal_blocks):
        for _ in range(blocks):
            layer = f"conv_1d.layers.{index}."
            for projection in ("query_proj", "key_proj", "value_proj", "out_proj"):
                linear(layer + "attention." + projection, temporal, temporal)
            layout[layer + "attention.layer_scale"] = (temporal,)
            half_head = temporal // sizes.temporal_heads // 2
            layout[layer + "attention.rotary_emb.sin"] = (TEMPORAL_TABLE_LENGTH, 1, 1, half_head)
            layout[layer + "attention.rotary_emb.cos"] = (TEMPORAL_TABLE_LENGTH, 1, 1, half_head)
            linear(layer + "ffn.linear1", 4 * temporal, temporal)
            linear(layer + "ffn.linear2", temporal, 4 * temporal)
            layout.update({layer + f"norm{n}.{kind}": (temporal,) for n in (1, 2) for kind in ("weight", "bias")})
            index += 1
        index += 1  # the downsampler between stages holds no tensors
    linear("conv_1d.output_proj", temporal, temporal)
    linear("mapper_1", description, temporal)
    linear("mapper_2", temporal, description)
    return layout


def _lora_wrapped(model: torch.nn.Module, rank: int) -> torch.nn.Module:
    # The reference's mBART adapters, made with peft as the reference makes them.
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=["q_proj", "v_proj"])
    return get_peft_model(model, config)


def text_layouts(sizes: ReferenceSizes, stage: str) -> dict[str, tuple]:
    mbart = MBartForConditionalGeneration(sizes.mbart_config())
    if stage == "translation":
        wrapped = _lora_wrapped(mbart, sizes.text_lora_rank)
        return {"model.mbart." + name: tuple(t.shape) for name, t in wrapped.state_dict().items()}
    sign_encoder = MBartForConditionalGeneration(sizes.mbart_config()).get_encoder()
    sign_encoder = _lora_wrapped(sign_encoder, sizes.text_lora_rank)
    layout = {"model.model_images.trans_encoder." + n: tuple(t.shape) for n, t in sign_encoder.state_dict().items()}
    text_encoder = mbart.get_encoder().state_dict()
    layout.update({"model.model_txt.model_txt." + n: tuple(t.shape) for n, t in text_encoder.items()})
    layout.update({"model.logit_scale": (), "model.logit_scale_desc": ()})
    return layout


def _value(name: str, shape: tuple, generator: torch.Generator) -> torch.Tensor:
    """Random values of the right kind: norms near 1, positive variances, adapters large enough to matter."""
    noise = torch.randn(shape, generator=generator, dtype=torch.float64)
    if name.endswith("num_batches_tracked"):
        return torch.tensor(7)
    if name.endswith("running_var"):
        return (0.5 + noise.abs()).float()
    if "logit_scale" in name:
        return (math.log(1 / 0.07) + 0.1 * noise).float()
    is_norm_weight = "norm" in name and name.endswith("weight")
    if is_norm_weight or name.endswith(("gamma", "layer_scale")):
        return (1.0 + 0.1 * noise).float()
    if "lora" in name:
        return (0.2 * noise).float()
    return (0.1 * noise).float()


def reference_state_dict(stage: str, sizes: ReferenceSizes = TINY_SIZES, seed: int = 0) -> dict[str, torch.Tensor]:
    """A reference `PreTrainModel` (`stage="pre-training"`) or `FineTuneModel` (`"translation"`) state dict with
    random values from `seed`; the fixed position tables hold the values the reference computes."""
    visual_prefix = "model.model_images.model." if stage == "pre-training" else "model.backbone."
    layout = {visual_prefix + name: shape for name, shape in visual_layout(sizes).items()}
    layout.update(text_layouts(sizes, stage))
    generator = torch.Generator().manual_seed(seed)
    state_dict = {name: _value(name, shape, generator) for name, shape in layout.items()}
    head_dim = sizes.temporal_dim // sizes.temporal_heads
    sin, cos = rotary_table(TEMPORAL_TABLE_LENGTH, head_dim)
    for name in state_dict:
        if name.endswith("pos_embedding.pe"):
            state_dict[name] = sinusoidal_table(TEMPORAL_TABLE_LENGTH, sizes.temporal_dim)
        elif name.endswith("rotary_emb.sin"):
            state_dict[name] = sin.clone()
        elif name.endswith("rotary_emb.cos"):
            state_dict[name] = cos.clone()
    if stage == "translation":
        # mBART's tied embeddings: one matrix under four names.
        prefix = "model.mbart.base_model.model."
        shared = state_dict[prefix + "model.shared.weight"]
        for name in ("model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight"):
            state_dict[prefix + name] = shared
    return state_dict


def lightning_checkpoint(state_dict: dict, hyper_parameters: dict) -> dict:
    """A checkpoint dict as PyTorch Lightning's `Trainer.save_checkpoint` writes it (the parts that matter here)."""
    return {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": state_dict,
        "hparams_name": "kwargs",
        "hyper_parameters": hyper_parameters,
    }


TINY_CORPUS = [
    "am morgen regnet es im süden",
    "heute scheint die sonne im norden",
    "der wind weht kräftig an der küste",
    "morgen wird es kälter und nass",
]


def write_trimmed_mbart(
    path: str | Path, sizes: ReferenceSizes = TINY_SIZES, legacy_format: bool = True, seed: int = 0
) -> int:
    """Write a trimmed-mBART folder (random weights) and return its vocabulary size.

    `legacy_format`: `pytorch_model.bin` and the slow `sentencepiece.bpe.model` files, as the reference's `trim.py`
    wrote them with transformers 4; otherwise `model.safetensors` and `tokenizer.json`.
    """
    import sentencepiece

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model_file = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(TINY_CORPUS * 10), model_writer=model_file, vocab_size=36, model_type="unigram",
        bos_id=1, eos_id=2, unk_id=0, pad_id=-1, character_coverage=1.0, num_threads=1, minloglevel=2,
    )
    pieces = sentencepiece.SentencePieceProcessor(model_proto=model_file.getvalue()).get_piece_size()
    vocab_size = pieces + 1 + 25 + 1  # mBART: + <pad> (fairseq offset), 25 language codes, <mask>
    config = sizes.mbart_config()
    if config.vocab_size != vocab_size:
        raise ValueError(f"The sizes' text_config.vocab_size is {config.vocab_size}, the tokenizer has {vocab_size}.")
    torch.manual_seed(seed)
    model = MBartForConditionalGeneration(config)
    (path / "sentencepiece.bpe.model").write_bytes(model_file.getvalue())
    tokenizer_config = {"tokenizer_class": "MBartTokenizer", "src_lang": "de_DE", "tgt_lang": "de_DE"}
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    if legacy_format:
        config.save_pretrained(path)
        torch.save(model.state_dict(), path / "pytorch_model.bin")
    else:
        from modeling_beyondgloss.convert_reference_checkpoint import load_mbart_tokenizer

        tokenizer = load_mbart_tokenizer(path)
        (path / "sentencepiece.bpe.model").unlink()
        (path / "tokenizer_config.json").unlink()
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return vocab_size
