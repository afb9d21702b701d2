"""Convert a checkpoint of the BeyondGloss reference implementation into a BeyondGloss model folder.

The reference implementation (`elsobhano/BeyondGloss`, `slt_framework/`) trains with PyTorch Lightning. Its
pre-training checkpoints hold a `PreTrainModel` (`model.model_images.*`, `model.model_txt.*`, `model.logit_scale`),
its fine-tuning checkpoints a `FineTuneModel` (`model.backbone.*`, `model.mbart.*`). This script maps every tensor
onto [`BeyondGlossForPreTraining`] or [`BeyondGlossForConditionalGeneration`] by name, refuses a checkpoint with
missing, unknown or mis-shaped tensors, and writes a complete model folder (weights, config, processor, tokenizer,
generation config, model card). `docs/fidelity.md` shows that the converted model computes what the reference
computes.

Usage:

```bash
beyondgloss-convert-reference --checkpoint best.ckpt --mbart pretrain_models/MBart_trimmed --output_dir converted
```
"""

import argparse
import hashlib
import json
import logging
import math
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoTokenizer, Dinov2Config, GenerationConfig, MBartConfig
from transformers.image_utils import PILImageResampling

from .configuration_beyondgloss import DINOV2_SMALL, BeyondGlossConfig
from .modeling_beyondgloss import (
    BeyondGlossForConditionalGeneration,
    BeyondGlossForPreTraining,
    rotary_tables,
    sinusoidal_positions,
)
from .processing_beyondgloss import BeyondGlossProcessor
from .video_processing_beyondgloss import BeyondGlossVideoProcessor
from .vocabulary import _tokenizer_from_vocab


logger = logging.getLogger(__name__)

PRETRAINING, TRANSLATION = "pre-training", "translation"
# Prefixes of the reference's module tree, by stage.
VISUAL_PREFIX = {PRETRAINING: "model.model_images.model.", TRANSLATION: "model.backbone."}
SIGN_ENCODER_PREFIX = "model.model_images.trans_encoder.base_model.model."
TEXT_ENCODER_PREFIX = "model.model_txt.model_txt."
TRANSLATION_MODEL_PREFIX = "model.mbart.base_model.model."
# The paper's values, used where a checkpoint's `hyper_parameters` do not say otherwise (the reference scripts'
# own defaults differ: loss weights 1.0 / 1.0, 4 beams).
PAPER_HYPERPARAMETERS = {"landa_desc": 0.5, "landa_hamer": 0.3, "label_smoothing": 0.2, "num_beams": 5}
MAX_NEW_TOKENS = 150
# Tables the reference stores as buffers although they are fixed functions of the sizes; the model recomputes them.
SINUSOIDAL_TABLE = re.compile(r"conv_1d\.pos_embedding\.pe$")
ROTARY_TABLE = re.compile(r"conv_1d\.layers\.(\d+)\.attention\.rotary_emb\.(sin|cos)$")


class ReferenceCheckpointError(ValueError):
    """A checkpoint that cannot be converted; the message names the file and the offending tensors."""


@dataclass
class ConversionReport:
    """What became of each tensor of the reference checkpoint."""

    stage: str
    mapped: dict[str, list[str]] = field(default_factory=dict)  # target name -> source names
    dropped: dict[str, str] = field(default_factory=dict)  # source name -> reason
    hyperparameters: dict[str, tuple[float, str]] = field(default_factory=dict)  # name -> (value, origin)


# ---------------------------------------------------------------------------------------------------------------------
# Reading the checkpoint
# ---------------------------------------------------------------------------------------------------------------------


def load_reference_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict and the `hyper_parameters` of a Lightning checkpoint (or of a bare state dict: `{}`).

    Loaded with `weights_only=True`; the fine-tuning checkpoint's hyper-parameters hold the training script's
    `argparse.Namespace`, the one class allowed besides tensors and containers.
    """
    path = Path(path)
    if not path.is_file():
        raise ReferenceCheckpointError(f"{path}: no such checkpoint file.")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ReferenceCheckpointError(
            f"{path}: refused to load with weights_only=True (it holds objects other than tensors, containers and "
            f"argparse.Namespace): {error}"
        ) from error
    except (RuntimeError, EOFError) as error:
        raise ReferenceCheckpointError(f"{path}: not a readable PyTorch checkpoint: {error}") from error
    if not isinstance(checkpoint, dict):
        raise ReferenceCheckpointError(f"{path}: expected a dict, found a {type(checkpoint).__name__}.")
    if "state_dict" in checkpoint:
        state_dict, hyperparameters = checkpoint["state_dict"], checkpoint.get("hyper_parameters") or {}
    else:
        state_dict, hyperparameters = checkpoint, {}
    not_tensors = [name for name, value in state_dict.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise ReferenceCheckpointError(f"{path}: the state dict holds non-tensor entries: {_names(not_tensors)}.")
    if not any(name.startswith("model.") for name in state_dict):
        # The state dict of the `SLRCLIP` / `gloss_free_model` module itself rather than of its Lightning module.
        state_dict = {f"model.{name}": tensor for name, tensor in state_dict.items()}
    return dict(state_dict), dict(hyperparameters)


def detect_stage(state_dict: dict, path: str | Path = "checkpoint") -> str:
    """`"pre-training"` for a `PreTrainModel`, `"translation"` for a `FineTuneModel`."""
    is_pretraining = any(name.startswith(VISUAL_PREFIX[PRETRAINING]) for name in state_dict)
    is_translation = any(name.startswith(VISUAL_PREFIX[TRANSLATION]) for name in state_dict)
    if is_pretraining == is_translation:
        raise ReferenceCheckpointError(
            f"{path}: cannot tell the stage: expected tensors under either '{VISUAL_PREFIX[PRETRAINING]}' "
            f"(pre-training) or '{VISUAL_PREFIX[TRANSLATION]}' (fine-tuning), found "
            f"{'both' if is_pretraining else 'neither'} (first names: {_names(sorted(state_dict), 5)})."
        )
    return PRETRAINING if is_pretraining else TRANSLATION


def _names(names, limit: int = 50) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" ... and {len(names) - limit} more" if len(names) > limit else "")


# ---------------------------------------------------------------------------------------------------------------------
# Name mapping
# ---------------------------------------------------------------------------------------------------------------------


def _temporal_layer_index(config: BeyondGlossConfig, stage_index: int, block_index: int) -> int:
    # The reference keeps blocks and downsamplers in one list: [blocks of stage 0, downsampler, blocks of stage 1...]
    return sum(blocks + 1 for blocks in config.temporal_blocks[:stage_index]) + block_index


def _visual_sources(name: str, config: BeyondGlossConfig) -> tuple[list[str], int | None]:
    """Reference names (relative to the visual pipeline) of one visual-encoder tensor, and, for DINOv2's query/key/
    value projections, which third of the fused `qkv` tensor it is."""
    dino = "conv_2d.dino.spatial_model."
    layer, block = r"vision_model\.encoder\.layer\.(\d+)\.", dino + r"blocks.\1."
    renames = [
        (r"vision_model\.embeddings\.cls_token", dino + "cls_token"),
        (r"vision_model\.embeddings\.mask_token", dino + "mask_token"),
        (r"vision_model\.embeddings\.position_embeddings", dino + "pos_embed"),
        (r"vision_model\.embeddings\.patch_embeddings\.projection\.(\w+)", dino + r"patch_embed.proj.\1"),
        (layer + r"(norm[12])\.(\w+)", block + r"\2.\3"),
        (layer + r"layer_scale([12])\.lambda1", block + r"ls\2.gamma"),
        # The paper's fused-qkv adapter and the adapters of the attention output projection and the MLP.
        (layer + r"attention\.qkv_lora\.lora_A\.weight", block + "attn.lora_w1_l1.weight"),
        (layer + r"attention\.qkv_lora\.lora_B\.weight", block + "attn.lora_w1_l2.weight"),
        (layer + r"attention\.o_proj(?:\.base_layer)?\.(\w+)", block + r"attn.proj.\2"),
        (layer + r"attention\.o_proj\.lora_A\.default\.weight", block + "attn.lora_w2_l1.weight"),
        (layer + r"attention\.o_proj\.lora_B\.default\.weight", block + "attn.lora_w2_l2.weight"),
        (layer + r"mlp\.(fc[12])(?:\.base_layer)?\.(\w+)", block + r"mlp.\2.\3"),
        (layer + r"mlp\.fc1\.lora_A\.default\.weight", block + "mlp.lora_w1_l1.weight"),
        (layer + r"mlp\.fc1\.lora_B\.default\.weight", block + "mlp.lora_w1_l2.weight"),
        (layer + r"mlp\.fc2\.lora_A\.default\.weight", block + "mlp.lora_w2_l1.weight"),
        (layer + r"mlp\.fc2\.lora_B\.default\.weight", block + "mlp.lora_w2_l2.weight"),
        (r"vision_model\.layernorm\.(\w+)", dino + r"norm.\1"),
        (r"spatial_projection\.(\w+)", r"conv_2d.dino.lin.\1"),
        (r"spatial_norm\.(\w+)", r"conv_2d.dino.bn.\1"),
        (r"hand_predictor\.(\w+)", r"hamer_mapper_1.\1"),
        (r"hand_projection\.(\w+)", r"hamer_mapper_2.\1"),
        (r"fusion\.(\w+)", r"mapper_1_downsample.0.\1"),
        (r"temporal_encoder\.output_projection\.(\w+)", r"conv_1d.output_proj.\1"),
        (r"description_predictor\.(\w+)", r"mapper_1.\1"),
        (r"description_projection\.(\w+)", r"mapper_2.\1"),
    ]
    for pattern, replacement in renames:
        if re.fullmatch(pattern, name):
            return [re.sub(pattern, replacement, name)], None
    match = re.fullmatch(layer + r"attention\.([qkv])_proj(?:\.base_layer)?\.(\w+)", name)
    if match:
        index, projection, kind = match.groups()
        return [f"{dino}blocks.{index}.attn.qkv.{kind}"], "qkv".index(projection)
    match = re.fullmatch(r"temporal_encoder\.stages\.(\d+)\.(\d+)\.(.+)", name)
    if match:
        temporal_layer = f"conv_1d.layers.{_temporal_layer_index(config, int(match[1]), int(match[2]))}."
        rest = match[3]
        qkv = re.fullmatch(r"attention\.qkv\.(\w+)", rest)
        if qkv:
            return [f"{temporal_layer}attention.{part}_proj.{qkv[1]}" for part in ("query", "key", "value")], None
        for ours, theirs in (
            (r"attention\.(out_proj\.\w+|layer_scale)", r"attention.\1"),
            (r"feed_forward\.0\.(\w+)", r"ffn.linear1.\1"),
            (r"feed_forward\.3\.(\w+)", r"ffn.linear2.\1"),
            (r"attention_norm\.(\w+)", r"norm1.\1"),
            (r"feed_forward_norm\.(\w+)", r"norm2.\1"),
        ):
            if re.fullmatch(ours, rest):
                return [temporal_layer + re.sub(ours, theirs, rest)], None
    raise ReferenceCheckpointError(f"No reference tensor is known for the visual-encoder tensor '{name}'.")


def reference_sources(target_name: str, stage: str, config: BeyondGlossConfig) -> tuple[list[str], int | None]:
    """The reference tensor names that make up one tensor of the converted model (several are concatenated; a
    chunk index selects one third of a fused DINOv2 `qkv` tensor)."""
    visual_prefix = "beyondgloss.visual_encoder." if stage == PRETRAINING else "visual_encoder."
    if target_name.startswith(visual_prefix):
        sources, chunk = _visual_sources(target_name[len(visual_prefix) :], config)
        return [VISUAL_PREFIX[stage] + source for source in sources], chunk
    for ours, theirs in (
        ("beyondgloss.sign_encoder.", SIGN_ENCODER_PREFIX),
        ("text_encoder.", TEXT_ENCODER_PREFIX),
        ("translation_model.", TRANSLATION_MODEL_PREFIX),
    ):
        if target_name.startswith(ours):
            return [theirs + target_name[len(ours) :]], None
    if target_name == "logit_scale":
        return ["model.logit_scale"], None
    raise ReferenceCheckpointError(f"No reference tensor is known for '{target_name}'.")


def _check_fixed_table(name: str, tensor: torch.Tensor, config: BeyondGlossConfig) -> str | None:
    """Why a fixed table of the reference can be dropped, or None if it is not one (or differs from ours)."""
    if SINUSOIDAL_TABLE.search(name):
        expected = sinusoidal_positions(tensor.shape[0], config.temporal_dim, "cpu", torch.float32)
        if tensor.shape == expected.shape and torch.allclose(tensor.float(), expected, atol=1e-5):
            return "fixed sinusoidal position table; the model computes the same values"
        return None
    if ROTARY_TABLE.search(name):
        head_dim = config.temporal_dim // config.temporal_heads
        cos, sin = rotary_tables(tensor.shape[0], head_dim, config.rope_theta, "cpu")
        expected = sin if name.endswith("sin") else cos
        values = tensor.float().reshape(tensor.shape[0], -1)
        if values.shape == expected.shape and torch.allclose(values, expected, atol=1e-5):
            return "fixed rotary position table; the model computes the same values"
        return None
    return None


def _reason_to_drop(name: str, tensor: torch.Tensor, stage: str, config: BeyondGlossConfig) -> str | None:
    if stage == PRETRAINING and name == SIGN_ENCODER_PREFIX + "embed_tokens.weight":
        return "token embedding of the sign-side encoder, which reads the sign sequence as inputs_embeds only"
    if stage == PRETRAINING and name == "model.logit_scale_desc":
        return "unused by the reference: its description alignment scales its logits with model.logit_scale"
    if name.startswith(VISUAL_PREFIX[stage]):
        return _check_fixed_table(name, tensor, config)
    return None


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], model: torch.nn.Module, stage: str, path: str | Path = "checkpoint"
) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Map a reference state dict onto `model`'s tensor names; refuse it, naming the tensors, if any is missing,
    unknown or mis-shaped."""
    config = model.config
    report = ConversionReport(stage=stage)
    converted, missing, mis_shaped, used = {}, [], [], set()
    for target_name, target in model.state_dict().items():
        sources, chunk = reference_sources(target_name, stage, config)
        absent = [source for source in sources if source not in state_dict]
        if absent:
            missing.extend(absent)
            continue
        tensor = torch.cat([state_dict[source] for source in sources]) if len(sources) > 1 else state_dict[sources[0]]
        if chunk is not None:
            if tensor.shape[0] % 3:
                mis_shaped.append(f"{sources[0]} {tuple(tensor.shape)} (a fused qkv must split into three)")
                continue
            tensor = tensor.chunk(3)[chunk]
        if target_name == "logit_scale" and tensor.numel() == 1:
            tensor = tensor.reshape(target.shape)  # 0-d in the reference
        if tensor.shape != target.shape:
            mis_shaped.append(f"{'+'.join(sources)} {tuple(tensor.shape)} -> {target_name} {tuple(target.shape)}")
            continue
        converted[target_name] = tensor
        report.mapped[target_name] = sources
        used.update(sources)
    unknown = []
    for name, tensor in state_dict.items():
        if name in used:
            continue
        reason = _reason_to_drop(name, tensor, stage, config)
        if reason is None:
            unknown.append(name)
        else:
            report.dropped[name] = reason
    problems = []
    if missing:
        problems.append(f"missing tensors: {_names(sorted(set(missing)))}")
    if unknown:
        problems.append(f"unknown tensors: {_names(sorted(unknown))}")
    if mis_shaped:
        problems.append(f"wrong shapes: {_names(mis_shaped)}")
    if problems:
        raise ReferenceCheckpointError(
            f"{path} is not a BeyondGloss reference {stage} checkpoint of the expected sizes; "
            + "; ".join(problems)
            + "."
        )
    if stage == TRANSLATION:
        _check_tied_embeddings(state_dict, path)
    return converted, report


def _check_tied_embeddings(state_dict: dict, path) -> None:
    # mBART ties its token embedding, encoder and decoder input embeddings and output projection; the checkpoint
    # stores the tied matrix under each name.
    names = [
        TRANSLATION_MODEL_PREFIX + suffix
        for suffix in (
            "model.shared.weight",
            "model.encoder.embed_tokens.weight",
            "model.decoder.embed_tokens.weight",
            "lm_head.weight",
        )
    ]
    shared = state_dict[names[0]]
    untied = [name for name in names[1:] if not torch.equal(state_dict[name], shared)]
    if untied:
        raise ReferenceCheckpointError(
            f"{path}: mBART's embeddings are tied, but {_names(untied)} differ from {names[0]}."
        )


# ---------------------------------------------------------------------------------------------------------------------
# Configuration, tokenizer, conversion
# ---------------------------------------------------------------------------------------------------------------------


def resolve_hyperparameters(hyperparameters: dict, stage: str) -> dict[str, tuple[float, str]]:
    """Loss weights (pre-training), label smoothing and beams (fine-tuning) from the checkpoint where it records
    them, the paper's values otherwise; each with where it came from."""
    recorded = {
        PRETRAINING: ("landa_desc", "landa_hamer"),
        TRANSLATION: ("label_smoothing", "num_beams"),
    }[stage]
    resolved = {}
    for name, paper_value in PAPER_HYPERPARAMETERS.items():
        if name in recorded and hyperparameters.get(name) is not None:
            resolved[name] = (hyperparameters[name], "checkpoint hyper_parameters")
        else:
            resolved[name] = (paper_value, "paper")
    return resolved


def load_mbart_tokenizer(mbart_dir: str | Path, tgt_lang: str | None = None):
    """The tokenizer of a trimmed mBART folder, in either format: `tokenizer.json` (transformers 5) or the slow
    sentencepiece files that transformers 4 writes (`sentencepiece.bpe.model`, read with `sentencepiece`).
    Source and target language are both set to `tgt_lang`, as the reference tokenises its sentences."""
    mbart_dir = Path(mbart_dir)
    config_file = mbart_dir / "tokenizer_config.json"
    tokenizer_config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    tgt_lang = tgt_lang or tokenizer_config.get("tgt_lang")
    if (mbart_dir / "tokenizer.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(mbart_dir)
        tgt_lang = tgt_lang or getattr(tokenizer, "tgt_lang", None)
    elif (mbart_dir / "sentencepiece.bpe.model").is_file():
        import sentencepiece

        processor = sentencepiece.SentencePieceProcessor(model_file=str(mbart_dir / "sentencepiece.bpe.model"))
        # mBART's layout: its four special tokens first, then the sentencepiece pieces after sentencepiece's own
        # <unk>, <s>, </s> (the "fairseq offset").
        vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [
            (processor.id_to_piece(index), processor.get_score(index))
            for index in range(3, processor.get_piece_size())
        ]
        if tgt_lang is None:
            raise ReferenceCheckpointError(f"{mbart_dir}: the tokenizer names no target language; pass --tgt_lang.")
        tokenizer = _tokenizer_from_vocab(vocab, tgt_lang, tgt_lang)
    else:
        raise ReferenceCheckpointError(
            f"{mbart_dir}: no tokenizer found (expected tokenizer.json or sentencepiece.bpe.model)."
        )
    if tgt_lang is None:
        raise ReferenceCheckpointError(f"{mbart_dir}: the tokenizer names no target language; pass --tgt_lang.")
    if tgt_lang not in tokenizer.get_vocab():
        raise ReferenceCheckpointError(f"{mbart_dir}: the tokenizer has no language code '{tgt_lang}'.")
    tokenizer.src_lang = tgt_lang
    tokenizer.tgt_lang = tgt_lang
    return tokenizer


def infer_sizes(state_dict: dict, stage: str, path: str | Path = "checkpoint") -> dict:
    """The `BeyondGlossConfig` sizes of a reference checkpoint, read from its tensor shapes.

    The reference hard-codes the paper's sizes; reading them back lets checkpoints of other sizes convert too. The
    LoRA scaling numerators are the reference's constants (4 for DINOv2, 32 for mBART).
    """
    prefix = VISUAL_PREFIX[stage]

    def shape(name: str) -> torch.Size:
        if prefix + name not in state_dict:
            raise ReferenceCheckpointError(f"{path}: missing tensors: {prefix + name}.")
        return state_dict[prefix + name].shape

    temporal_layers = sorted(
        int(match[1])
        for name in state_dict
        if (match := re.fullmatch(re.escape(prefix) + r"conv_1d\.layers\.(\d+)\.attention\.query_proj\.weight", name))
    )
    if not temporal_layers:
        raise ReferenceCheckpointError(f"{path}: missing tensors: {prefix}conv_1d.layers.*.attention.*.")
    # Blocks are numbered consecutively within a stage; the downsampler between stages takes one index.
    temporal_blocks = [1]
    for previous, index in zip(temporal_layers, temporal_layers[1:]):
        if index == previous + 1:
            temporal_blocks[-1] += 1
        else:
            temporal_blocks.append(1)
    temporal_dim = shape("conv_1d.output_proj.weight")[0]
    head_dim = 2 * shape(f"conv_1d.layers.{temporal_layers[0]}.attention.rotary_emb.sin")[-1]
    adapted_blocks = sorted(
        int(match[1])
        for name in state_dict
        if (match := re.fullmatch(re.escape(prefix) + r".*\.blocks\.(\d+)\.attn\.lora_w1_l1\.weight", name))
    )
    text_lora_ranks = {
        tensor.shape[0] for name, tensor in state_dict.items() if name.endswith("lora_A.default.weight")
    }
    if len(text_lora_ranks) != 1:
        raise ReferenceCheckpointError(f"{path}: expected mBART LoRA adapters of one rank, found {text_lora_ranks}.")
    position_grid = math.isqrt(shape("conv_2d.dino.spatial_model.pos_embed")[1] - 1)
    return {
        "spatial_dim": shape("conv_2d.dino.lin.weight")[0],
        "hand_feature_dim": shape("hamer_mapper_1.weight")[0],
        "temporal_dim": temporal_dim,
        "temporal_blocks": temporal_blocks,
        "temporal_heads": temporal_dim // head_dim,
        "description_dim": shape("mapper_1.weight")[0],
        "vision_lora_layers": adapted_blocks,
        "vision_lora_rank": shape(f"conv_2d.dino.spatial_model.blocks.{adapted_blocks[0]}.attn.lora_w1_l1.weight")[0]
        if adapted_blocks
        else 4,
        "vision_lora_alpha": 4.0,
        "text_lora_rank": text_lora_ranks.pop(),
        "text_lora_alpha": 32.0,
        "vision_image_size": position_grid * shape("conv_2d.dino.spatial_model.patch_embed.proj.weight")[-1],
    }


def build_config(
    mbart_dir: str | Path,
    stage: str,
    hyperparameters: dict,
    tokenizer,
    sizes: dict,
    dinov2: str | None = None,
) -> BeyondGlossConfig:
    """The reference architecture: DINOv2 ViT-S/14 (or `dinov2`'s configuration), the trimmed mBART's, and the
    sizes read from the checkpoint."""
    text_config = MBartConfig.from_pretrained(mbart_dir)
    text_config.decoder_start_token_id = tokenizer.convert_tokens_to_ids(tokenizer.tgt_lang)
    vision_config = Dinov2Config.from_pretrained(dinov2) if dinov2 else Dinov2Config(**DINOV2_SMALL)
    sizes = dict(sizes)
    vision_config.image_size = sizes.pop("vision_image_size")
    resolved = resolve_hyperparameters(hyperparameters, stage)
    return BeyondGlossConfig(
        vision_config=vision_config.to_dict(),
        text_config=text_config.to_dict(),
        **sizes,
        description_loss_weight=float(resolved["landa_desc"][0]),
        hand_loss_weight=float(resolved["landa_hamer"][0]),
        label_smoothing=float(resolved["label_smoothing"][0]),
        text_model_name_or_path=str(Path(mbart_dir).resolve()),
    )


def convert_reference_checkpoint(
    checkpoint: str | Path,
    mbart_dir: str | Path,
    output_dir: str | Path,
    dinov2: str | None = None,
    tgt_lang: str | None = None,
) -> ConversionReport:
    """Convert a reference checkpoint into a model folder that loads with `from_pretrained(...,
    trust_remote_code=True)`; returns what was mapped and dropped."""
    state_dict, hyperparameters = load_reference_checkpoint(checkpoint)
    stage = detect_stage(state_dict, checkpoint)
    tokenizer = load_mbart_tokenizer(mbart_dir, tgt_lang)
    sizes = infer_sizes(state_dict, stage, checkpoint)
    logger.info("Sizes read from the checkpoint: %s.", sizes)
    config = build_config(mbart_dir, stage, hyperparameters, tokenizer, sizes, dinov2)
    model_class = BeyondGlossForPreTraining if stage == PRETRAINING else BeyondGlossForConditionalGeneration
    model = model_class(config)
    converted, report = convert_state_dict(state_dict, model, stage, checkpoint)
    model.load_state_dict(converted, strict=True)
    model.freeze_backbones()
    report.hyperparameters = resolve_hyperparameters(hyperparameters, stage)

    for name, reason in report.dropped.items():
        logger.info("Dropped %s: %s.", name, reason)
    for name, (value, origin) in report.hyperparameters.items():
        logger.info("%s = %s (%s).", name, value, origin)
    logger.info(
        "Converted the %s checkpoint %s: %d tensors of the model from %d of the checkpoint, %d dropped.",
        stage,
        checkpoint,
        len(report.mapped),
        len(state_dict) - len(report.dropped),
        len(report.dropped),
    )

    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    # The reference decodes with the trimmed mBART's generation settings, passing the target language code as
    # decoder start token, the beam count and 150 new tokens itself.
    if (Path(mbart_dir) / "generation_config.json").is_file():
        generation_config = GenerationConfig.from_pretrained(mbart_dir)
    else:
        generation_config = GenerationConfig.from_model_config(MBartConfig.from_pretrained(mbart_dir))
    generation_config.update(
        decoder_start_token_id=config.text_config.decoder_start_token_id,
        num_beams=int(report.hyperparameters["num_beams"][0]),
        max_new_tokens=MAX_NEW_TOKENS,
    )
    if stage == TRANSLATION:
        model.generation_config = generation_config
    # The pre-training model does not generate; its folder still records the decoding settings for translation.
    generation_config.save_pretrained(output_dir)
    # The reference resizes frames with Pillow's default filter, bicubic (docs/fidelity.md, "Frame resizing").
    video_processor = BeyondGlossVideoProcessor(resample=PILImageResampling.BICUBIC)
    BeyondGlossProcessor(video_processor=video_processor, tokenizer=tokenizer).save_pretrained(output_dir)
    model_card = _model_card(checkpoint, stage, model_class, report, tokenizer)
    (output_dir / "README.md").write_text(model_card, encoding="utf-8")
    return report


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_card(checkpoint, stage, model_class, report: ConversionReport, tokenizer) -> str:
    auto_class = "AutoModelForPreTraining" if stage == PRETRAINING else "AutoModelForSeq2SeqLM"
    hyperparameters = "\n".join(
        f"| `{name}` | {value} | {origin} |" for name, (value, origin) in report.hyperparameters.items()
    )
    dropped = "\n".join(f"- `{name}`: {reason}." for name, reason in report.dropped.items()) or "- none"
    return f"""---
library_name: transformers
tags:
- sign-language-translation
- beyondgloss
---

# BeyondGloss ({stage}), converted from the reference implementation

`{model_class.__name__}` converted from the {stage} checkpoint `{Path(checkpoint).name}`
(sha256 `{_sha256(checkpoint)}`) of the BeyondGloss reference implementation (`elsobhano/BeyondGloss`,
PyTorch Lightning) with `beyondgloss-convert-reference`. Every tensor was mapped by name
({len(report.mapped)} tensors of this model); see `docs/fidelity.md` of the `beyondgloss` package for the measured
equivalence with the reference code and for where this implementation deliberately differs (padded batches).

Target language: `{tokenizer.tgt_lang}` (the decoder start token of `generation_config.json`).

| Hyper-parameter | Value | From |
|---|---|---|
{hyperparameters}

Tensors of the checkpoint not carried over:
{dropped}

```python
from transformers import {auto_class}, AutoProcessor

model = {auto_class}.from_pretrained("path/to/this/folder", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("path/to/this/folder", trust_remote_code=True)
```
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description="Convert a BeyondGloss reference checkpoint (pre-training or fine-tuning) into a model folder."
    )
    parser.add_argument("--checkpoint", required=True, help="Lightning .ckpt of the reference code, or a state dict.")
    parser.add_argument("--mbart", required=True, help="The trimmed mBART folder (model config and tokenizer).")
    parser.add_argument("--output_dir", required=True, help="Where to write the model folder.")
    parser.add_argument("--dinov2", default=None, help="DINOv2 configuration (name or path); default ViT-S/14.")
    parser.add_argument("--tgt_lang", default=None, help="Target language code (default: the tokenizer's).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        convert_reference_checkpoint(args.checkpoint, args.mbart, args.output_dir, args.dinov2, args.tgt_lang)
    except ReferenceCheckpointError as error:
        raise SystemExit(f"error: {error}") from error


if __name__ == "__main__":
    main()
