"""PyTorch BeyondGloss models: hand-centric gloss-free sign language translation (Asasi et al., BMVC 2025)."""

import contextlib
import logging
import math
import re
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from peft import LoraConfig, inject_adapter_in_model
from torch import nn
from transformers import (
    AutoTokenizer,
    Dinov2Model,
    GenerationConfig,
    GenerationMixin,
    MBartForConditionalGeneration,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from transformers.loss.loss_utils import fixed_cross_entropy
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.dinov2.modeling_dinov2 import Dinov2Attention, Dinov2Embeddings, eager_attention_forward
from transformers.models.mbart.modeling_mbart import MBartEncoder, shift_tokens_right
from transformers.utils import ModelOutput

from .configuration_beyondgloss import BeyondGlossConfig
from .pipeline_beyondgloss import CUSTOM_PIPELINES
from .vocabulary import kept_token_ids, trim_text_model, trim_vocabulary


logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class BeyondGlossVisualOutput(ModelOutput):
    """
    Output of the visual pipeline (DINOv2 frames → hand branch → temporal encoder → description branch).

    Args:
        sign_embeds (`torch.FloatTensor` of shape `(batch_size, steps, 2 * temporal_dim)`):
            The sign sequence fed to the mBART encoder as `inputs_embeds`.
        sign_mask (`torch.BoolTensor` of shape `(batch_size, steps)`):
            Valid steps of the sign sequence (the frame mask after temporal downsampling).
        predicted_hand_features (`torch.FloatTensor` of shape `(batch_size, frames, hand_feature_dim)`):
            The hand branch's per-frame prediction of the teacher's hand features (distillation output).
        description_hidden_states (`torch.FloatTensor` of shape `(batch_size, steps, description_dim)`):
            The description branch's per-step representation.
    """

    sign_embeds: torch.FloatTensor | None = None
    sign_mask: torch.BoolTensor | None = None
    predicted_hand_features: torch.FloatTensor | None = None
    description_hidden_states: torch.FloatTensor | None = None


@dataclass
class BeyondGlossEncoderOutput(BaseModelOutput):
    """
    Output of [`BeyondGlossForConditionalGeneration.get_encoder`]: the mBART encoder's output over the sign sequence.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, steps, d_model)`):
            Output of the mBART encoder.
        attention_mask (`torch.LongTensor` of shape `(batch_size, steps)`):
            Valid steps (the frame mask after temporal downsampling). It travels with the encoder output so that
            `generate()` expands it with the beams and every decoding step's cross-attention masks padded steps.
    """

    attention_mask: torch.LongTensor | None = None


@dataclass
class BeyondGlossModelOutput(ModelOutput):
    """
    Output of [`BeyondGlossModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, steps, d_model)`):
            Output of the sign-side mBART encoder.
        attention_mask (`torch.BoolTensor` of shape `(batch_size, steps)`):
            Valid steps of `last_hidden_state`.
        video_embeds (`torch.FloatTensor` of shape `(batch_size, d_model)`):
            `last_hidden_state` mean-pooled over valid steps (not normalised).
        description_embeds (`torch.FloatTensor` of shape `(batch_size, description_dim)`):
            The description representation mean-pooled over valid steps (not normalised).
        predicted_hand_features (`torch.FloatTensor` of shape `(batch_size, frames, hand_feature_dim)`):
            Per-frame predicted hand features.
        sign_embeds (`torch.FloatTensor` of shape `(batch_size, steps, 2 * temporal_dim)`):
            The sign sequence that entered the mBART encoder.
    """

    last_hidden_state: torch.FloatTensor | None = None
    attention_mask: torch.BoolTensor | None = None
    video_embeds: torch.FloatTensor | None = None
    description_embeds: torch.FloatTensor | None = None
    predicted_hand_features: torch.FloatTensor | None = None
    sign_embeds: torch.FloatTensor | None = None


@dataclass
class BeyondGlossForPreTrainingOutput(ModelOutput):
    """
    Output of [`BeyondGlossForPreTraining`]. A loss term whose input was not given is `None` (absent), never zero.

    Args:
        loss (`torch.FloatTensor` of shape `()`):
            `loss_align + description_loss_weight * loss_desc + hand_loss_weight * loss_hand` over the present terms.
        loss_align (`torch.FloatTensor` of shape `()`):
            Video ↔ target sentence alignment (symmetric KL to a near one-hot target).
        loss_desc (`torch.FloatTensor` of shape `()`):
            Description representation ↔ description embedding alignment, same form.
        loss_hand (`torch.FloatTensor` of shape `()`):
            Masked L2 distillation of the hand features.
        logits_per_video (`torch.FloatTensor` of shape `(batch_size, batch_size)`):
            Scaled cosine similarities of video embeddings (rows) and text embeddings (columns).
        logits_per_text (`torch.FloatTensor` of shape `(batch_size, batch_size)`):
            The transpose view: text embeddings (rows) against video embeddings (columns).
        logits_per_description (`torch.FloatTensor` of shape `(batch_size, batch_size)`):
            Scaled similarities of predicted description representations (rows) and description embeddings.
        video_embeds (`torch.FloatTensor` of shape `(batch_size, d_model)`):
            L2-normalised video embeddings.
        text_embeds (`torch.FloatTensor` of shape `(batch_size, d_model)`):
            L2-normalised target-sentence embeddings from the frozen text encoder.
        description_embeds (`torch.FloatTensor` of shape `(batch_size, description_dim)`):
            L2-normalised predicted description representations.
        predicted_hand_features (`torch.FloatTensor` of shape `(batch_size, frames, hand_feature_dim)`):
            Per-frame predicted hand features.
    """

    loss: torch.FloatTensor | None = None
    loss_align: torch.FloatTensor | None = None
    loss_desc: torch.FloatTensor | None = None
    loss_hand: torch.FloatTensor | None = None
    logits_per_video: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    logits_per_description: torch.FloatTensor | None = None
    video_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    description_embeds: torch.FloatTensor | None = None
    predicted_hand_features: torch.FloatTensor | None = None


# ---------------------------------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class ContrastiveLossOutput(ModelOutput):
    """The symmetric alignment loss, its two directions and the local logits (rows: this process's batch)."""

    loss: torch.FloatTensor | None = None
    loss_a_to_b: torch.FloatTensor | None = None
    loss_b_to_a: torch.FloatTensor | None = None
    logits_a_to_b: torch.FloatTensor | None = None
    logits_b_to_a: torch.FloatTensor | None = None


def _is_distributed() -> bool:
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


class ContrastiveAlignmentLoss(nn.Module):
    """Symmetric KL alignment of two embedding sets (the BeyondGloss / GFSLT-VLP contrastive loss).

    Each direction is `KL(softmax(soft_target_scale * I) || softmax(logits))` per row, averaged over rows — the
    reference's `KLDivLoss(mean) * batch_size` — and the loss averages both directions. With `gather_embeddings`,
    every process contrasts its rows with the embeddings of all processes (gathered with gradient), so each rank
    computes the loss of its own rows against the global batch.

    Rows whose `valid` flag is False (e.g. a sample without a description) neither contribute a row nor act as a
    negative.
    """

    def __init__(self, soft_target_scale: float = 10.0, gather_embeddings: bool = False):
        super().__init__()
        self.soft_target_scale = soft_target_scale
        self.gather_embeddings = gather_embeddings

    def _gather(self, features_a, features_b, valid):
        if not (self.gather_embeddings and _is_distributed()):
            return features_a, features_b, valid, 0
        import torch.distributed.nn.functional as dist_fn

        all_a = torch.cat(dist_fn.all_gather(features_a))
        all_b = torch.cat(dist_fn.all_gather(features_b))
        gathered_valid = [torch.empty_like(valid) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(gathered_valid, valid)
        offset = torch.distributed.get_rank() * features_a.shape[0]
        return all_a, all_b, torch.cat(gathered_valid), offset

    def _direction(self, logits, targets, row_valid, column_valid):
        invalid_columns = ~column_valid[None, :]
        log_probs = F.log_softmax(logits.float().masked_fill(invalid_columns, float("-inf")), dim=-1)
        target_probs = F.softmax(
            (self.soft_target_scale * targets).masked_fill(invalid_columns, float("-inf")), dim=-1
        )
        pointwise = torch.xlogy(target_probs, target_probs) - target_probs * log_probs.masked_fill(
            invalid_columns, 0.0
        )
        return pointwise.sum(dim=-1)[row_valid].mean()

    def forward(self, features_a, features_b, logit_scale, valid=None) -> ContrastiveLossOutput:
        """`features_a`, `features_b`: L2-normalised `(batch, dim)`; `logit_scale`: the exponentiated scale."""
        batch_size = features_a.shape[0]
        if valid is None:
            valid = torch.ones(batch_size, dtype=torch.bool, device=features_a.device)
        valid = valid.bool()
        all_a, all_b, all_valid, offset = self._gather(features_a, features_b, valid)
        logits_a_to_b = logit_scale * features_a @ all_b.t()
        logits_b_to_a = logit_scale * features_b @ all_a.t()
        targets = torch.zeros_like(logits_a_to_b, dtype=torch.float32)
        rows = torch.arange(batch_size, device=targets.device)
        targets[rows, rows + offset] = 1.0
        loss_a_to_b = self._direction(logits_a_to_b, targets, valid, all_valid)
        loss_b_to_a = self._direction(logits_b_to_a, targets, valid, all_valid)
        return ContrastiveLossOutput(
            loss=(loss_a_to_b + loss_b_to_a) / 2,
            loss_a_to_b=loss_a_to_b,
            loss_b_to_a=loss_b_to_a,
            logits_a_to_b=logits_a_to_b,
            logits_b_to_a=logits_b_to_a,
        )


class HandDistillationLoss(nn.Module):
    """Masked L2 distillation: summed squared error over valid frames, divided by (valid frames × feature width)."""

    def forward(self, predicted, target, mask) -> torch.FloatTensor:
        if predicted.shape != target.shape:
            raise ValueError(
                f"hand_features has shape {tuple(target.shape)} but the model predicts {tuple(predicted.shape)}: "
                "the hand features must have one row per frame of pixel_values and config.hand_feature_dim columns."
            )
        mask = mask.to(predicted.dtype)
        squared_error = (predicted.float() - target.float()).pow(2).sum(dim=-1)
        return (squared_error * mask).sum() / (mask.sum() * predicted.shape[-1]).clamp_min(1.0)


# ---------------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------------


def masked_mean(hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `hidden_states` `(batch, steps, dim)` over the steps where `mask` `(batch, steps)` is set."""
    mask = mask.to(hidden_states.dtype).unsqueeze(-1)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


def inject_lora(module: nn.Module, target_modules, rank: int, alpha: float, dropout: float) -> None:
    """Add LoRA adapters to `module` in place.

    peft initialises the adapters so that the adapted module starts equal to the original (B = 0); they are flagged
    as initialised so that transformers' weight initialisation of the enclosing model leaves them as they are.
    """
    lora_config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules)
    inject_adapter_in_model(lora_config, module)
    for name, submodule in module.named_modules():
        if "lora_" in name:
            submodule._is_hf_initialized = True


def load_into_adapted(module: nn.Module, state_dict: dict, description: str) -> None:
    """Load backbone weights into a module that may carry LoRA adapters (peft renames `x.weight` to
    `x.base_layer.weight`). Adapters keep their own initialisation; any other missing weight is an error."""
    own_state = module.state_dict()
    mapped, missing = {}, []
    for name in own_state:
        if "lora_" in name:
            continue
        source_name = name.replace(".base_layer.", ".")
        if source_name in state_dict:
            mapped[name] = state_dict[source_name]
        else:
            missing.append(name)
    if missing:
        raise ValueError(f"The {description} checkpoint lacks {len(missing)} weights, e.g. {missing[:5]}.")
    module.load_state_dict(mapped, strict=False)


def gathered_parameters(*modules: nn.Module):
    """Context in which the parameters of `modules` are whole: under DeepSpeed ZeRO-3, `from_pretrained` partitions
    them across processes, and their weights can only be read (e.g. to copy them into another model) once gathered."""
    if not is_deepspeed_zero3_enabled():
        return contextlib.nullcontext()
    try:  # Imported in a `try`, so that loading this file as remote code does not require DeepSpeed.
        import deepspeed
    except ImportError as error:
        raise ImportError("DeepSpeed ZeRO-3 is enabled but `deepspeed` cannot be imported.") from error
    parameters = [parameter for module in modules for parameter in module.parameters()]
    return deepspeed.zero.GatheredParameters(parameters, modifier_rank=None)


def _strip_prefix(state_dict: dict, prefix: str) -> dict:
    return {name[len(prefix) :]: tensor for name, tensor in state_dict.items() if name.startswith(prefix)}


# ---------------------------------------------------------------------------------------------------------------------
# Temporal encoder
# ---------------------------------------------------------------------------------------------------------------------


def sinusoidal_positions(length: int, dim: int, device, dtype) -> torch.Tensor:
    """Transformer sine/cosine position table `(length, dim)` (even dims sine, odd dims cosine)."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table.to(dtype)


def rotary_tables(length: int, head_dim: int, theta: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    inverse_frequency = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inverse_frequency)
    return angles.cos(), angles.sin()


def apply_rotary(states: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of `states` `(batch, heads, steps, head_dim)` by position-dependent angles."""
    even, odd = states[..., 0::2].float(), states[..., 1::2].float()
    rotated = torch.cat([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return rotated.to(states.dtype)


def local_attention_mask(mask: torch.Tensor, window: int) -> torch.Tensor:
    """Boolean `(batch, 1, steps, steps)` mask: attend to valid keys within `window // 2` steps, and always to self."""
    steps = mask.shape[1]
    positions = torch.arange(steps, device=mask.device)
    distance = (positions[None, :] - positions[:, None]).abs()
    band = distance <= window // 2
    allowed = band[None] & mask.bool()[:, None, :]
    allowed = allowed | torch.eye(steps, dtype=torch.bool, device=mask.device)[None]
    return allowed.unsqueeze(1)


class BeyondGlossDropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training."""

    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states):
        if self.drop_prob == 0.0 or not self.training:
            return hidden_states
        keep = 1.0 - self.drop_prob
        shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
        random_tensor = hidden_states.new_empty(shape).bernoulli_(keep)
        return hidden_states * random_tensor / keep


class BeyondGlossTemporalAttention(nn.Module):
    """Local-window multi-head self-attention with rotary positions and a learnable output layer scale."""

    def __init__(self, config: BeyondGlossConfig):
        super().__init__()
        self.num_heads = config.temporal_heads
        self.head_dim = config.temporal_dim // config.temporal_heads
        self.rope_theta = config.rope_theta
        self.qkv = nn.Linear(config.temporal_dim, 3 * config.temporal_dim)
        self.out_proj = nn.Linear(config.temporal_dim, config.temporal_dim)
        self.dropout = nn.Dropout(config.temporal_dropout)
        self.layer_scale = nn.Parameter(torch.full((config.temporal_dim,), config.layer_scale_init))

    def forward(self, hidden_states, attention_mask):
        batch_size, steps, width = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch_size, steps, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        cos, sin = rotary_tables(steps, self.head_dim, self.rope_theta, hidden_states.device)
        query, key = apply_rotary(query, cos, sin), apply_rotary(key, cos, sin)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask)
        attended = attended.transpose(1, 2).reshape(batch_size, steps, width)
        return self.dropout(self.out_proj(attended)) * self.layer_scale


class BeyondGlossTemporalBlock(GradientCheckpointingLayer):
    """Post-norm transformer block: attention and GELU feed-forward, each with drop-path on its residual branch."""

    def __init__(self, config: BeyondGlossConfig, drop_path_rate: float):
        super().__init__()
        ffn_dim = config.temporal_ffn_ratio * config.temporal_dim
        self.attention = BeyondGlossTemporalAttention(config)
        self.feed_forward = nn.Sequential(
            nn.Linear(config.temporal_dim, ffn_dim),
            nn.GELU(),
            nn.Dropout(config.temporal_dropout),
            nn.Linear(ffn_dim, config.temporal_dim),
        )
        self.attention_norm = nn.LayerNorm(config.temporal_dim)
        self.feed_forward_norm = nn.LayerNorm(config.temporal_dim)
        self.drop_path = BeyondGlossDropPath(drop_path_rate)

    def forward(self, hidden_states, attention_mask):
        hidden_states = self.attention_norm(
            hidden_states + self.drop_path(self.attention(hidden_states, attention_mask))
        )
        return self.feed_forward_norm(hidden_states + self.drop_path(self.feed_forward(hidden_states)))


def downsample(hidden_states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """×2 temporal average pooling (kernel 3, stride 2, padding 1) of states and mask.

    Padded steps are zeroed first, so a clip pools to the same values whether or not it is padded in a batch.
    A pooled step is valid when its window holds any valid step; the first step is always valid.
    """
    mask = mask.bool()
    hidden_states = hidden_states * mask.unsqueeze(-1).to(hidden_states.dtype)
    pooled = F.avg_pool1d(hidden_states.transpose(1, 2), kernel_size=3, stride=2, padding=1).transpose(1, 2)
    return pooled, downsample_mask(mask)


def downsample_mask(mask: torch.Tensor) -> torch.Tensor:
    """The mask half of [`downsample`]."""
    pooled_mask = F.avg_pool1d(mask.float().unsqueeze(1), kernel_size=3, stride=2, padding=1).squeeze(1) > 0
    pooled_mask[:, 0] = True
    return pooled_mask


class BeyondGlossTemporalEncoder(nn.Module):
    """Sinusoidal positions → stages of local-attention blocks separated by ×2 downsampling → output projection."""

    def __init__(self, config: BeyondGlossConfig):
        super().__init__()
        self.window = config.temporal_window
        total_blocks = sum(config.temporal_blocks)
        drop_path_rates = [config.drop_path_rate * index / max(total_blocks - 1, 1) for index in range(total_blocks)]
        self.stages = nn.ModuleList()
        for stage_index, num_blocks in enumerate(config.temporal_blocks):
            first = sum(config.temporal_blocks[:stage_index])
            self.stages.append(
                nn.ModuleList(BeyondGlossTemporalBlock(config, drop_path_rates[first + i]) for i in range(num_blocks))
            )
        self.output_projection = nn.Linear(config.temporal_dim, config.temporal_dim)

    def forward(self, hidden_states, mask):
        steps, width = hidden_states.shape[1:]
        hidden_states = hidden_states + sinusoidal_positions(steps, width, hidden_states.device, hidden_states.dtype)
        for stage_index, stage in enumerate(self.stages):
            if stage_index > 0:
                hidden_states, mask = downsample(hidden_states, mask)
            attention_mask = local_attention_mask(mask, self.window)
            for block in stage:
                hidden_states = block(hidden_states, attention_mask)
        return self.output_projection(hidden_states), mask.bool()


# ---------------------------------------------------------------------------------------------------------------------
# Visual pipeline
# ---------------------------------------------------------------------------------------------------------------------


class BeyondGlossDinov2Embeddings(Dinov2Embeddings):
    """DINOv2 embeddings whose position grid can be resampled as the original DINOv2 code does.

    For an image of another size than the grid was trained at (224 px instead of 518 px), the original code asks
    PyTorch for a bicubic resampling by the scale factor `(new_grid + 0.1) / old_grid`; transformers' `Dinov2Model`
    asks for the target size. The two sample the grid at different positions, so every frame gets different
    features. See `BeyondGlossConfig.vision_position_interpolation`.
    """

    def __init__(self, config, position_interpolation: str = "scale_factor"):
        super().__init__(config)
        self.position_interpolation = position_interpolation

    def interpolate_pos_encoding(self, embeddings: torch.Tensor, height: int, width: int) -> torch.Tensor:
        if self.position_interpolation == "size":
            return super().interpolate_pos_encoding(embeddings, height, width)
        num_positions = self.position_embeddings.shape[1] - 1
        if embeddings.shape[1] - 1 == num_positions and height == width:
            return self.position_embeddings
        grid = math.sqrt(num_positions)
        patch_height, patch_width = self.patch_embeddings.patch_size
        # The 0.1 keeps floating-point error from flooring the output grid one short.
        scale_factor = ((height // patch_height + 0.1) / grid, (width // patch_width + 0.1) / grid)
        dim = embeddings.shape[-1]
        # Resampled in float32, as in the original code.
        position_embeddings = self.position_embeddings.float()
        patch_grid = position_embeddings[:, 1:].reshape(1, int(grid), int(grid), dim).permute(0, 3, 1, 2)
        patch_grid = F.interpolate(patch_grid, scale_factor=scale_factor, mode="bicubic")
        patch_positions = patch_grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat([position_embeddings[:, :1], patch_positions], dim=1).to(embeddings.dtype)


class BeyondGlossBranchLinear(nn.Linear):
    """A linear layer of the CLS projection, hand branch, fusion or description branch: under the reference
    initialisation scheme it keeps PyTorch's default initialisation, as in the paper's code."""


class BeyondGlossFusedQKVLoRA(nn.Module):
    """LoRA on DINOv2's fused query/key/value projection: one `A` shared by the three projections and a `B` with
    three times the hidden width of rows (query rows, then key rows, then value rows)."""

    def __init__(self, hidden_size: int, rank: int, alpha: float, dropout: float):
        super().__init__()
        self.lora_A = nn.Linear(hidden_size, rank, bias=False)
        self.lora_B = nn.Linear(rank, 3 * hidden_size, bias=False)
        self.lora_dropout = nn.Dropout(dropout)
        self.scaling = alpha / rank

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.lora_B(self.lora_A(self.lora_dropout(hidden_states))) * self.scaling


class BeyondGlossDinov2Attention(Dinov2Attention):
    """DINOv2 self-attention with a [`BeyondGlossFusedQKVLoRA`] adapter added to its query, key and value
    projections (the paper's parameterisation; transformers' DINOv2 keeps the three projections apart)."""

    def __init__(self, config, rank: int, alpha: float, dropout: float):
        super().__init__(config)
        self.qkv_lora = BeyondGlossFusedQKVLoRA(config.num_attention_heads * self.head_dim, rank, alpha, dropout)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        query_update, key_update, value_update = self.qkv_lora(hidden_states).chunk(3, dim=-1)
        query_states = (self.q_proj(hidden_states) + query_update).view(hidden_shape).transpose(1, 2)
        key_states = (self.k_proj(hidden_states) + key_update).view(hidden_shape).transpose(1, 2)
        value_states = (self.v_proj(hidden_states) + value_update).view(hidden_shape).transpose(1, 2)
        attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query_states,
            key_states,
            value_states,
            attention_mask,
            dropout=0.0 if not self.training else self.attention_dropout,
            scaling=self.scaling,
            **kwargs,
        )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return self.o_proj(attn_output), attn_weights


def init_vision_lora(vision_model: nn.Module, scheme: str, std: float) -> None:
    """Initialise the DINOv2 adapters: `B = 0`, so that each adapted layer starts equal to the pretrained one, and
    `A ~ N(0, std)` (the reference scheme) or Kaiming-uniform (peft's default, kept by the "normal" scheme).

    DINOv2 is a sub-model with its own weight initialisation, which does not know these adapters: they are
    initialised here and flagged so that it leaves them alone.
    """
    for module in vision_model.modules():
        if isinstance(module, BeyondGlossFusedQKVLoRA):
            init.zeros_(module.lora_B.weight)
            if scheme == "reference":
                init.normal_(module.lora_A.weight, mean=0.0, std=std)
            else:
                init.kaiming_uniform_(module.lora_A.weight, a=math.sqrt(5))
            for submodule in module.modules():
                submodule._is_hf_initialized = True
    if scheme == "reference":
        for name, parameter in vision_model.named_parameters():
            if ".lora_A.default." in name:
                init.normal_(parameter, mean=0.0, std=std)


class BeyondGlossVisualEncoder(nn.Module):
    """DINOv2 (frozen, LoRA on its last blocks) → hand branch → temporal encoder → description branch.

    Only valid frames pass through DINOv2: they are packed into one batch, encoded, and scattered back, so padding
    costs nothing and BatchNorm statistics see real frames only.
    """

    def __init__(self, config: BeyondGlossConfig):
        super().__init__()
        self.vision_model = Dinov2Model(config.vision_config)
        vision_config = self.vision_model.config
        self.vision_model.embeddings = BeyondGlossDinov2Embeddings(vision_config, config.vision_position_interpolation)
        lora_targets = [target for target in config.vision_lora_target_modules if target != "attention.qkv"]
        if "attention.qkv" in config.vision_lora_target_modules:
            for index in config.vision_lora_layers:
                self.vision_model.encoder.layer[index].attention = BeyondGlossDinov2Attention(
                    vision_config, config.vision_lora_rank, config.vision_lora_alpha, config.vision_lora_dropout
                )
        if config.vision_lora_layers and lora_targets:
            layers = "|".join(str(layer) for layer in config.vision_lora_layers)
            targets = "|".join(re.escape(target) for target in lora_targets)
            inject_lora(
                self.vision_model,
                rf"encoder\.layer\.({layers})\.({targets})",
                config.vision_lora_rank,
                config.vision_lora_alpha,
                config.vision_lora_dropout,
            )
        init_vision_lora(self.vision_model, config.initializer_scheme, config.initializer_range)
        self.spatial_projection = BeyondGlossBranchLinear(config.vision_config.hidden_size, config.spatial_dim)
        self.spatial_norm = nn.BatchNorm1d(config.spatial_dim)

        self.hand_predictor = BeyondGlossBranchLinear(config.spatial_dim, config.hand_feature_dim)
        self.hand_projection = BeyondGlossBranchLinear(config.hand_feature_dim, config.spatial_dim)
        self.fusion = BeyondGlossBranchLinear(2 * config.spatial_dim, config.temporal_dim)

        self.temporal_encoder = BeyondGlossTemporalEncoder(config)

        self.description_predictor = BeyondGlossBranchLinear(config.temporal_dim, config.description_dim)
        self.description_projection = BeyondGlossBranchLinear(config.description_dim, config.temporal_dim)
        self.branch_dropout = nn.Dropout(config.branch_dropout)

    def _first_trainable_vision_layer(self) -> int:
        for index, layer in enumerate(self.vision_model.encoder.layer):
            if any(parameter.requires_grad for parameter in layer.parameters()):
                return index
        return len(self.vision_model.encoder.layer)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalised DINOv2 CLS tokens `(frames, hidden)` of a packed frame batch `(frames, 3, H, W)`.

        Blocks before the first trainable one run without autograd: nothing upstream of them can learn.
        """
        vision_model = self.vision_model
        embeddings_trainable = any(parameter.requires_grad for parameter in vision_model.embeddings.parameters())
        frozen_prefix = 0 if embeddings_trainable else self._first_trainable_vision_layer()
        with torch.set_grad_enabled(torch.is_grad_enabled() and embeddings_trainable):
            hidden_states = vision_model.embeddings(frames)
            for layer in vision_model.encoder.layer[:frozen_prefix]:
                hidden_states = layer(hidden_states)
        for layer in vision_model.encoder.layer[frozen_prefix:]:
            hidden_states = layer(hidden_states)
        return vision_model.layernorm(hidden_states[:, 0])

    def forward(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor) -> BeyondGlossVisualOutput:
        batch_size, num_frames = pixel_values.shape[:2]
        valid = pixel_mask.bool()
        frames = pixel_values.flatten(0, 1)
        if not valid.all():
            frames = frames.index_select(0, valid.flatten().nonzero().squeeze(1))  # the valid frames, in order
        cls_tokens = self.encode_frames(frames)
        spatial = self.spatial_norm(self.spatial_projection(cls_tokens))
        frame_features = spatial.new_zeros(batch_size, num_frames, spatial.shape[-1])
        frame_features = frame_features.masked_scatter(valid.unsqueeze(-1), spatial)

        predicted_hand_features = F.gelu(self.hand_predictor(frame_features))
        hand_context = self.branch_dropout(self.hand_projection(predicted_hand_features))
        fused = F.gelu(self.fusion(torch.cat([frame_features, hand_context], dim=-1)))

        temporal_states, sign_mask = self.temporal_encoder(fused, valid)

        description_hidden_states = F.gelu(self.description_predictor(temporal_states))
        description_context = self.branch_dropout(self.description_projection(description_hidden_states))
        return BeyondGlossVisualOutput(
            sign_embeds=torch.cat([temporal_states, description_context], dim=-1),
            sign_mask=sign_mask,
            predicted_hand_features=predicted_hand_features,
            description_hidden_states=description_hidden_states,
        )


# ---------------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------------


class BeyondGlossPreTrainedModel(PreTrainedModel):
    config_class = BeyondGlossConfig
    base_model_prefix = "beyondgloss"
    main_input_name = "pixel_values"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["Dinov2Layer", "MBartEncoderLayer", "MBartDecoderLayer", "BeyondGlossTemporalBlock"]
    # Losses are means over the batch: the Trainer must scale them for gradient accumulation itself.
    accepts_loss_kwargs = False

    def _init_weights(self, module):
        std = self.config.initializer_range
        reference = self.config.initializer_scheme == "reference"
        if isinstance(module, BeyondGlossBranchLinear) and reference:
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            bound = 1 / math.sqrt(module.in_features)
            init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, nn.BatchNorm1d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if isinstance(module, nn.BatchNorm1d):
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, BeyondGlossTemporalAttention):
            init.constant_(module.layer_scale, self.config.layer_scale_init)
            if reference:
                # GPT-2's scaled initialisation of residual output projections (two per block).
                output_std = std / math.sqrt(2 * sum(self.config.temporal_blocks))
                init.normal_(module.out_proj.weight, mean=0.0, std=output_std)
                init.normal_(module.out_proj.bias, mean=0.0, std=output_std)
        elif isinstance(module, BeyondGlossForPreTraining):
            init.constant_(module.logit_scale, self.config.logit_scale_init_value)
            if module.description_logit_scale is not None:
                init.constant_(module.description_logit_scale, self.config.logit_scale_init_value)

    def freeze_backbones(self) -> None:
        """Set the paper's trainable parameters: DINOv2 and the mBART models are frozen except their LoRA adapters,
        the target-side text encoder is frozen entirely, and every other (new) module trains.
        `config.train_vision_backbone` / `config.train_text_backbone` train a randomly initialised backbone whole."""
        trained_whole = {
            "vision_model": self.config.train_vision_backbone,
            "sign_encoder": self.config.train_text_backbone,
            "translation_model": self.config.train_text_backbone,
        }
        for name, parameter in self.named_parameters():
            module_path = name.split(".")
            backbone = next((part for part in module_path if part in trained_whole), None)
            if "text_encoder" in module_path:
                parameter.requires_grad = False
            elif backbone is not None:
                parameter.requires_grad = trained_whole[backbone] or "lora_" in name
            else:
                parameter.requires_grad = True

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        # Loading replaces parameters (all trainable); restore which ones the method trains.
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded).freeze_backbones()
        return loaded

    def save_pretrained(self, *args, **kwargs):
        # Keep the parameter names of this code instead of reverting DINOv2's to its legacy checkpoint names: the
        # Trainer's `--resume_from_checkpoint` and DeepSpeed load checkpoints with plain `load_state_dict`, and
        # `from_pretrained` reads either naming.
        kwargs.setdefault("save_original_format", False)
        return super().save_pretrained(*args, **kwargs)

    def _validate_video_inputs(self, pixel_values, pixel_mask):
        # Inputs that can only give garbage (an empty translation, a cryptic DINOv2 shape error) are refused here.
        if pixel_values is None or pixel_values.ndim != 5:
            shape = None if pixel_values is None else tuple(pixel_values.shape)
            raise ValueError(f"pixel_values must be a (batch, frames, 3, height, width) tensor, got {shape}.")
        if not pixel_values.is_floating_point():
            raise ValueError(
                f"pixel_values are {pixel_values.dtype}, i.e. raw pixels: pass the video through the processor "
                "(AutoProcessor / BeyondGlossProcessor), which rescales and normalises them to float."
            )
        channels = self.config.vision_config.num_channels
        if pixel_values.shape[2] != channels:
            layout = (
                " They look channels-last: use pixel_values.permute(0, 1, 4, 2, 3), or the processor."
                if pixel_values.shape[-1] == channels
                else ""
            )
            raise ValueError(
                f"pixel_values {tuple(pixel_values.shape)} must be (batch, frames, {channels}, height, width) with "
                f"{channels} colour channels, got {pixel_values.shape[2]}.{layout}"
            )
        if pixel_mask is None:
            pixel_mask = torch.ones(pixel_values.shape[:2], dtype=torch.bool, device=pixel_values.device)
        if pixel_mask.shape != pixel_values.shape[:2]:
            raise ValueError(f"pixel_mask {tuple(pixel_mask.shape)} must match pixel_values' (batch, frames).")
        empty = (~pixel_mask.bool().any(dim=1)).nonzero().flatten().tolist()
        if empty:
            raise ValueError(
                f"Batch row(s) {empty} have no valid frame in pixel_mask; every video needs at least one (drop "
                "empty videos from the batch)."
            )
        # A frame's sum is NaN or infinite when any of its values is, and one pass over the video costs a fraction
        # of what an element-wise check does (normalised pixels are far too small for the sum to overflow).
        finite = torch.isfinite(pixel_values.flatten(2).sum(dim=2)) | ~pixel_mask.bool()
        if not finite.all():
            rows = (~finite.all(dim=1)).nonzero().flatten().tolist()
            raise ValueError(
                f"pixel_values of batch row(s) {rows} hold NaN or infinite values; check the video decoding or the "
                "processor's normalisation (a zero image_std) for those videos."
            )
        return pixel_mask

    @classmethod
    def from_pretrained_backbones(
        cls,
        vision_model_name_or_path: str = "facebook/dinov2-small",
        text_model_name_or_path: str = "facebook/mbart-large-cc25",
        corpus_sentences=None,
        tgt_lang: str | None = None,
        **config_kwargs,
    ):
        """Build a randomly initialised BeyondGloss model around pretrained DINOv2 and mBART weights.

        Args:
            vision_model_name_or_path: a DINOv2 checkpoint (name or local path).
            text_model_name_or_path: an mBART checkpoint with its tokenizer (name or local path).
            corpus_sentences: if given, the tokenizer and mBART's embeddings are trimmed to the pieces these
                sentences use (pass the training split's sentences: the evaluation sentences must not shape the
                model).
            tgt_lang: target language code (e.g. `de_DE`, `zh_CN`); becomes the decoder start token.
            config_kwargs: any other [`BeyondGlossConfig`] field.

        Returns:
            `(model, tokenizer)`: the tokenizer matches the (possibly trimmed) vocabulary.
        """
        vision_model = Dinov2Model.from_pretrained(vision_model_name_or_path)
        text_model = MBartForConditionalGeneration.from_pretrained(text_model_name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(text_model_name_or_path)
        with gathered_parameters(vision_model, text_model):
            if corpus_sentences is not None:
                tokenizer, kept_ids = trim_vocabulary(tokenizer, corpus_sentences)
                text_model = trim_text_model(text_model, kept_ids)
                logger.info("Trimmed the vocabulary to %d pieces.", len(kept_ids))
            if tgt_lang is not None:
                tokenizer.tgt_lang = tgt_lang
                text_model.config.decoder_start_token_id = tokenizer.convert_tokens_to_ids(tgt_lang)
            config = BeyondGlossConfig(
                vision_config=vision_model.config.to_dict(),
                text_config=text_model.config.to_dict(),
                text_model_name_or_path=str(text_model_name_or_path),
                **config_kwargs,
            )
            model = cls(config)
            model.load_backbones(vision_model.state_dict(), text_model.state_dict())
        return model, tokenizer

    def load_backbones(self, vision_state_dict: dict, text_state_dict: dict) -> None:
        """Copy DINOv2 (`Dinov2Model` keys) and mBART (`MBartForConditionalGeneration` keys) weights into the model."""
        raise NotImplementedError(f"{type(self).__name__} does not hold backbones.")


class BeyondGlossModel(BeyondGlossPreTrainedModel):
    """The visual pipeline and the sign-side mBART encoder (LoRA on `q_proj`/`v_proj`): video → sign representation."""

    def __init__(self, config: BeyondGlossConfig):
        super().__init__(config)
        self.visual_encoder = BeyondGlossVisualEncoder(config)
        self.sign_encoder = MBartEncoder(config.text_config)
        # The sign encoder reads `inputs_embeds` only; its token embedding (vocab × d_model) would be dead weight.
        self.sign_encoder.embed_tokens = None
        inject_lora(
            self.sign_encoder,
            config.text_lora_target_modules,
            config.text_lora_rank,
            config.text_lora_alpha,
            config.text_lora_dropout,
        )
        self.post_init()
        self.freeze_backbones()

    def load_backbones(self, vision_state_dict, text_state_dict):
        load_into_adapted(self.visual_encoder.vision_model, vision_state_dict, "vision")
        load_into_adapted(self.sign_encoder, _strip_prefix(text_state_dict, "model.encoder."), "text encoder")

    def forward(self, pixel_values=None, pixel_mask=None, **kwargs) -> BeyondGlossModelOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, frames, 3, height, width)`):
            Normalised video frames (see `BeyondGlossVideoProcessor`).
        pixel_mask (`torch.LongTensor` of shape `(batch_size, frames)`, *optional*):
            1 for real frames, 0 for padding. Defaults to all frames valid.
        """
        pixel_mask = self._validate_video_inputs(pixel_values, pixel_mask)
        visual = self.visual_encoder(pixel_values, pixel_mask)
        encoded = self.sign_encoder(inputs_embeds=visual.sign_embeds, attention_mask=visual.sign_mask.long())
        return BeyondGlossModelOutput(
            last_hidden_state=encoded.last_hidden_state,
            attention_mask=visual.sign_mask,
            video_embeds=masked_mean(encoded.last_hidden_state, visual.sign_mask),
            description_embeds=masked_mean(visual.description_hidden_states, visual.sign_mask),
            predicted_hand_features=visual.predicted_hand_features,
            sign_embeds=visual.sign_embeds,
        )


class BeyondGlossForPreTraining(BeyondGlossPreTrainedModel):
    """BeyondGloss visual-language pre-training: video ↔ sentence alignment, description alignment and hand
    feature distillation. The target sentence is encoded by a second, fully frozen mBART encoder."""

    def __init__(self, config: BeyondGlossConfig):
        super().__init__(config)
        self.beyondgloss = BeyondGlossModel(config)
        self.text_encoder = MBartEncoder(config.text_config)
        # One-element rather than 0-d parameters: DeepSpeed broadcasts parameters as byte views, which 0-d tensors
        # cannot give.
        self.logit_scale = nn.Parameter(torch.full((1,), config.logit_scale_init_value))
        self.description_logit_scale = (
            nn.Parameter(torch.full((1,), config.logit_scale_init_value))
            if config.separate_description_logit_scale
            else None
        )
        self.alignment_loss = ContrastiveAlignmentLoss(config.soft_target_scale, config.gather_embeddings)
        self.hand_distillation_loss = HandDistillationLoss()
        # Pooled text embeddings by sentence (its unpadded token ids), when `config.cache_text_embeddings` is set.
        self.text_embeddings_cache: dict[tuple, torch.Tensor] = {}
        self.post_init()
        self.freeze_backbones()

    def load_backbones(self, vision_state_dict, text_state_dict):
        self.beyondgloss.load_backbones(vision_state_dict, text_state_dict)
        load_into_adapted(self.text_encoder, _strip_prefix(text_state_dict, "model.encoder."), "text encoder")

    def encode_text(self, input_ids, attention_mask=None) -> torch.Tensor:
        """L2-normalised mean-pooled embeddings of sentences from the frozen target-side encoder (see
        `config.cache_text_embeddings`)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if self.config.cache_text_embeddings:
            return self._cached_text_embeddings(input_ids, attention_mask)
        return self._pooled_text_embeddings(input_ids, attention_mask)

    def _pooled_text_embeddings(self, input_ids, attention_mask) -> torch.Tensor:
        with torch.no_grad():
            hidden_states = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return F.normalize(masked_mean(hidden_states, attention_mask), dim=-1)

    def _cached_text_embeddings(self, input_ids, attention_mask) -> torch.Tensor:
        keys = [tuple(ids[mask.bool()].tolist()) for ids, mask in zip(input_ids, attention_mask)]
        missing = [row for row, key in enumerate(keys) if key not in self.text_embeddings_cache]
        if missing:
            # Rows are encoded as they come (same padding), without dropout: the frozen encoder's clean output.
            was_training = self.text_encoder.training
            self.text_encoder.eval()
            try:
                embeddings = self._pooled_text_embeddings(input_ids[missing], attention_mask[missing])
            finally:
                self.text_encoder.train(was_training)
            for row, embedding in zip(missing, embeddings):
                self.text_embeddings_cache[keys[row]] = embedding
        return torch.stack([self.text_embeddings_cache[key] for key in keys]).to(input_ids.device)

    def forward(
        self,
        pixel_values=None,
        pixel_mask=None,
        input_ids=None,
        attention_mask=None,
        description_embeds=None,
        description_mask=None,
        hand_features=None,
        hand_mask=None,
        **kwargs,
    ) -> BeyondGlossForPreTrainingOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, frames, 3, height, width)`):
            Normalised video frames.
        pixel_mask (`torch.LongTensor` of shape `(batch_size, frames)`, *optional*):
            1 for real frames, 0 for padding.
        input_ids (`torch.LongTensor` of shape `(batch_size, length)`, *optional*):
            The target sentence (mBART tokens) for the video ↔ text alignment; without it `loss_align` is absent.
        attention_mask (`torch.LongTensor` of shape `(batch_size, length)`, *optional*):
            Mask of `input_ids`.
        description_embeds (`torch.FloatTensor` of shape `(batch_size, description_dim)`, *optional*):
            Precomputed embeddings of the hand-motion descriptions; without them `loss_desc` is absent.
        description_mask (`torch.BoolTensor` of shape `(batch_size,)`, *optional*):
            False for samples that have no description: they are left out of the description alignment.
        hand_features (`torch.FloatTensor` of shape `(batch_size, frames, hand_feature_dim)`, *optional*):
            Teacher hand features per frame; without them `loss_hand` is absent.
        hand_mask (`torch.LongTensor` of shape `(batch_size, frames)`, *optional*):
            1 where the teacher's features are a valid target. Defaults to `pixel_mask`.
        """
        pixel_mask = self._validate_video_inputs(pixel_values, pixel_mask)
        outputs = self.beyondgloss(pixel_values=pixel_values, pixel_mask=pixel_mask)
        video_embeds = F.normalize(outputs.video_embeds, dim=-1)
        predicted_description = F.normalize(outputs.description_embeds, dim=-1)

        loss_align = loss_desc = loss_hand = None
        logits_per_video = logits_per_text = logits_per_description = text_embeds = None
        if input_ids is not None:
            text_embeds = self.encode_text(input_ids, attention_mask)
            alignment = self.alignment_loss(video_embeds, text_embeds, self.logit_scale.exp())
            loss_align = alignment.loss
            logits_per_video, logits_per_text = alignment.logits_a_to_b, alignment.logits_b_to_a
        if description_embeds is not None:
            description_scale = (
                self.description_logit_scale if self.description_logit_scale is not None else self.logit_scale
            )
            description_alignment = self.alignment_loss(
                predicted_description,
                F.normalize(description_embeds.to(predicted_description.dtype), dim=-1),
                description_scale.exp(),
                valid=description_mask,
            )
            loss_desc = description_alignment.loss
            logits_per_description = description_alignment.logits_a_to_b
        if hand_features is not None:
            target_mask = (hand_mask if hand_mask is not None else pixel_mask).bool() & pixel_mask.bool()
            loss_hand = self.hand_distillation_loss(outputs.predicted_hand_features, hand_features, target_mask)

        weighted_terms = [
            (loss_align, 1.0),
            (loss_desc, self.config.description_loss_weight),
            (loss_hand, self.config.hand_loss_weight),
        ]
        present = [weight * term for term, weight in weighted_terms if term is not None]
        return BeyondGlossForPreTrainingOutput(
            loss=torch.stack(present).sum() if present else None,
            loss_align=loss_align,
            loss_desc=loss_desc,
            loss_hand=loss_hand,
            logits_per_video=logits_per_video,
            logits_per_text=logits_per_text,
            logits_per_description=logits_per_description,
            video_embeds=video_embeds,
            text_embeds=text_embeds,
            description_embeds=predicted_description,
            predicted_hand_features=outputs.predicted_hand_features,
        )


class BeyondGlossVideoEncoder(nn.Module):
    """The encoder half of [`BeyondGlossForConditionalGeneration`]: video → visual pipeline → mBART encoder.

    It owns no weights: it is a view over the model's modules, built by `get_encoder()`, so that `generate()` (which
    encodes the inputs once with `get_encoder()` before expanding them for beam search) runs on videos while the
    checkpoint layout stays that of the model.
    """

    def __init__(self, encode_video, text_encoder: nn.Module):
        super().__init__()
        self.encode_video = encode_video
        self.text_encoder = text_encoder

    def forward(self, pixel_values=None, pixel_mask=None, **kwargs) -> BeyondGlossEncoderOutput:
        inputs_embeds, attention_mask = self.encode_video(pixel_values, pixel_mask)
        encoded = self.text_encoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask, return_dict=True)
        return BeyondGlossEncoderOutput(last_hidden_state=encoded.last_hidden_state, attention_mask=attention_mask)


class BeyondGlossForConditionalGeneration(BeyondGlossPreTrainedModel, GenerationMixin):
    """Sign language translation: the visual pipeline feeds the sign sequence as `inputs_embeds` to an mBART
    encoder-decoder whose weights are frozen except LoRA on `q_proj`/`v_proj`; the visual pipeline trains.

    `generate()` is transformers' own: `get_encoder()` encodes the video once, then beam search (by default 5 beams,
    at most 150 new tokens, from the target language code) runs the decoder.
    """

    # The translation loss is token-level: the Trainer passes `num_items_in_batch` under gradient accumulation.
    accepts_loss_kwargs = True

    def __init__(self, config: BeyondGlossConfig):
        super().__init__(config)
        self.visual_encoder = BeyondGlossVisualEncoder(config)
        self.translation_model = MBartForConditionalGeneration(config.text_config)
        inject_lora(
            self.translation_model,
            config.text_lora_target_modules,
            config.text_lora_rank,
            config.text_lora_alpha,
            config.text_lora_dropout,
        )
        self.post_init()
        self.freeze_backbones()
        # Saved with the config, so that `pipeline("sign-language-translation", model=folder)` finds the pipeline.
        config.custom_pipelines = {task: dict(info) for task, info in CUSTOM_PIPELINES.items()}
        text_config = config.text_config
        self.generation_config = GenerationConfig(
            decoder_start_token_id=(
                text_config.decoder_start_token_id
                if text_config.decoder_start_token_id is not None
                else text_config.eos_token_id
            ),
            bos_token_id=text_config.bos_token_id,
            eos_token_id=text_config.eos_token_id,
            forced_eos_token_id=text_config.forced_eos_token_id,
            pad_token_id=text_config.pad_token_id,
            num_beams=5,
            max_new_tokens=150,
        )

    def load_backbones(self, vision_state_dict, text_state_dict):
        load_into_adapted(self.visual_encoder.vision_model, vision_state_dict, "vision")
        load_into_adapted(self.translation_model, text_state_dict, "text")

    def get_encoder(self) -> BeyondGlossVideoEncoder:
        return BeyondGlossVideoEncoder(self.encode_video, self.translation_model.get_encoder())

    def get_decoder(self):
        return self.translation_model.get_decoder()

    def get_input_embeddings(self):
        return self.translation_model.get_input_embeddings()

    def get_output_embeddings(self):
        return self.translation_model.get_output_embeddings()

    def encode_video(self, pixel_values, pixel_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The sign sequence `(batch, steps, d_model)` and its mask `(batch, steps)` for the mBART encoder."""
        pixel_mask = self._validate_video_inputs(pixel_values, pixel_mask)
        visual = self.visual_encoder(pixel_values, pixel_mask)
        return visual.sign_embeds, visual.sign_mask.long()

    def forward(
        self,
        pixel_values=None,
        pixel_mask=None,
        labels=None,
        decoder_input_ids=None,
        decoder_attention_mask=None,
        encoder_outputs=None,
        attention_mask=None,
        cache=None,
        use_cache=None,
        num_items_in_batch=None,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, frames, 3, height, width)`):
            Normalised video frames (not needed when `encoder_outputs` is given).
        pixel_mask (`torch.LongTensor` of shape `(batch_size, frames)`, *optional*):
            1 for real frames, 0 for padding.
        labels (`torch.LongTensor` of shape `(batch_size, length)`, *optional*):
            Target tokens (mBART target format `tokens </s> lang_code`, -100 ignored). The decoder input is the
            labels shifted right (mBART moves the language code to the front). The loss is the token-level
            cross-entropy, a mean over the batch's target tokens, or their sum divided by `num_items_in_batch` when
            the Trainer accumulates gradients; label smoothing is the Trainer's (`label_smoothing_factor`).
        encoder_outputs (`BeyondGlossEncoderOutput`, *optional*):
            The output of `get_encoder()`; its `attention_mask` masks the cross-attention.
        attention_mask (`torch.LongTensor` of shape `(batch_size, steps)`, *optional*):
            Mask of the sign sequence; by default the encoder output's, or derived from `pixel_mask`.
        """
        if encoder_outputs is None:
            encoder_outputs = self.get_encoder()(pixel_values=pixel_values, pixel_mask=pixel_mask)
        if attention_mask is None:
            attention_mask = getattr(encoder_outputs, "attention_mask", None)
        if attention_mask is None and pixel_mask is not None:
            attention_mask = self.sign_attention_mask(pixel_mask)
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = shift_tokens_right(labels, self.config.text_config.pad_token_id)
        outputs = self.translation_model(
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            cache=cache,
            use_cache=use_cache,
            return_dict=True,
        )
        loss = None
        if labels is not None:
            loss = fixed_cross_entropy(
                outputs.logits.flatten(0, 1).float(),
                labels.flatten().to(outputs.logits.device),
                num_items_in_batch=num_items_in_batch,
                ignore_index=-100,
            )
        return Seq2SeqLMOutput(
            loss=loss,
            logits=outputs.logits,
            cache=outputs.cache,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
        )

    def quantize_for_inference(self):
        """Quantise the frozen backbones' linear layers (DINOv2, mBART encoder and decoder, the output projection)
        to int8 with PyTorch's dynamic quantisation, in place, for CPU inference: weights are stored as int8 and
        activations are quantised on the fly, which makes beam search (bound by reading the decoder's weights)
        several times faster. LoRA adapters, the branches and the temporal encoder stay in float. The model can no
        longer be trained or saved with `save_pretrained`; returns the model."""
        from torch.ao.quantization import quantize_dynamic

        names = {
            f"{prefix}.{name}"
            for prefix, backbone in (
                ("visual_encoder.vision_model", self.visual_encoder.vision_model),
                ("translation_model", self.translation_model),
            )
            for name, module in backbone.named_modules()
            if type(module) is nn.Linear and "lora_" not in name
        }
        self.eval().requires_grad_(False)
        with warnings.catch_warnings():
            # torch.ao.quantization announces its move to torchao on every call.
            warnings.filterwarnings("ignore", message=".*quantiz", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*quantiz", category=UserWarning)
            quantize_dynamic(self, qconfig_spec=names, dtype=torch.qint8, inplace=True)
        self.config.quantized_for_inference = "int8-dynamic"
        return self

    def sign_attention_mask(self, pixel_mask: torch.Tensor) -> torch.LongTensor:
        """The sign sequence's mask `(batch, steps)` for a frame mask `(batch, frames)`: the temporal encoder's
        downsampling applied to the mask alone."""
        mask = pixel_mask.bool()
        for _ in self.config.temporal_blocks[1:]:
            mask = downsample_mask(mask)
        return mask.long()

    @classmethod
    def from_pretraining(
        cls, pretraining_path: str, text_model_name_or_path: str | None = None, output_loading_info: bool = False
    ):
        """Initialise a translation model from a [`BeyondGlossForPreTraining`] checkpoint directory.

        The visual pipeline and the sign-side encoder (with its LoRA) become the translation model's visual pipeline
        and mBART encoder. The decoder comes from `text_model_name_or_path` (default: the checkpoint's
        `config.text_model_name_or_path`, the mBART it was built from); without one, the decoder is newly initialised
        and the shared token embedding comes from the pre-training text encoder. Decoder LoRA adapters start afresh.
        When pre-training used a trimmed vocabulary, the text model is trimmed to the tokenizer saved in
        `pretraining_path`.

        Returns the model, and with `output_loading_info=True` also a dict listing what was initialised from where.
        """
        pretraining = BeyondGlossForPreTraining.from_pretrained(pretraining_path)
        config = pretraining.config
        text_model_name_or_path = text_model_name_or_path or config.text_model_name_or_path
        model = cls(config)
        info = {"from_pretraining": [], "from_text_model": [], "newly_initialized": []}

        if text_model_name_or_path is not None:
            text_model = MBartForConditionalGeneration.from_pretrained(text_model_name_or_path)
            with gathered_parameters(text_model):
                if text_model.config.vocab_size != config.text_config.vocab_size:
                    # Pre-training used a trimmed vocabulary: trim the decoder's mBART the same way.
                    kept_ids = kept_token_ids(
                        AutoTokenizer.from_pretrained(text_model_name_or_path),
                        AutoTokenizer.from_pretrained(pretraining_path),
                    )
                    text_model = trim_text_model(text_model, kept_ids)
                load_into_adapted(model.translation_model, text_model.state_dict(), "text")
            info["from_text_model"] = [
                f"translation_model.{name}" for name in model.translation_model.state_dict() if "lora_" not in name
            ]

        target = model.state_dict()
        with gathered_parameters(pretraining):
            source = pretraining.state_dict()
            renamed = {
                name.replace("beyondgloss.visual_encoder.", "visual_encoder.", 1): tensor
                for name, tensor in source.items()
                if name.startswith("beyondgloss.visual_encoder.")
            }
            renamed.update(
                {
                    name.replace("beyondgloss.sign_encoder.", "translation_model.model.encoder.", 1): tensor
                    for name, tensor in source.items()
                    if name.startswith("beyondgloss.sign_encoder.")
                }
            )
            if text_model_name_or_path is None:
                renamed["translation_model.model.shared.weight"] = source["text_encoder.embed_tokens.weight"]
            unexpected = sorted(set(renamed) - set(target))
            if unexpected:
                raise ValueError(f"Pre-training weights without a place in the translation model: {unexpected[:5]}")
            model.load_state_dict(renamed, strict=False)
        model.tie_weights()

        info["from_pretraining"] = sorted(renamed)
        info["from_text_model"] = sorted(set(info["from_text_model"]) - set(renamed))
        initialised = set(info["from_pretraining"]) | set(info["from_text_model"])
        tied = (
            {
                "translation_model.model.encoder.embed_tokens.weight",
                "translation_model.model.decoder.embed_tokens.weight",
                "translation_model.lm_head.weight",
            }
            if "translation_model.model.shared.weight" in initialised
            else set()
        )
        info["newly_initialized"] = sorted(set(target) - initialised - tied)
        logger.info(
            "Initialised %d tensors from the pre-training checkpoint %s (visual pipeline, sign-side encoder with "
            "LoRA), %d from the text model %s; %d are newly initialised (%s).",
            len(info["from_pretraining"]),
            pretraining_path,
            len(info["from_text_model"]),
            text_model_name_or_path,
            len(info["newly_initialized"]),
            _summarise_names(info["newly_initialized"]),
        )
        return (model, info) if output_loading_info else model


def _summarise_names(names: list[str]) -> str:
    """Group parameter names by module family for a readable log line (e.g. 'decoder LoRA: 24')."""
    groups = {}
    for name in names:
        family = "decoder" if ".decoder." in name else "encoder" if ".encoder." in name else name.split(".")[0]
        kind = "LoRA" if "lora_" in name else "weights"
        groups[f"{family} {kind}"] = groups.get(f"{family} {kind}", 0) + 1
    return ", ".join(f"{group}: {count}" for group, count in sorted(groups.items())) or "none"


BeyondGlossConfig.register_for_auto_class()
BeyondGlossModel.register_for_auto_class("AutoModel")
BeyondGlossForPreTraining.register_for_auto_class("AutoModelForPreTraining")
BeyondGlossForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")

__all__ = [
    "BeyondGlossPreTrainedModel",
    "BeyondGlossModel",
    "BeyondGlossForPreTraining",
    "BeyondGlossForConditionalGeneration",
    "BeyondGlossModelOutput",
    "BeyondGlossForPreTrainingOutput",
    "ContrastiveAlignmentLoss",
    "HandDistillationLoss",
]
