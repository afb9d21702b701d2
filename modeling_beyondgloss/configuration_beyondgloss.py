"""BeyondGloss model configuration."""

import math

from transformers import Dinov2Config, MBartConfig, PreTrainedConfig


DINOV2_SMALL = {
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 6,
    "mlp_ratio": 4,
    "image_size": 518,
    "patch_size": 14,
    "layerscale_value": 1.0,
}

MBART_LARGE_CC25 = {
    "vocab_size": 250027,
    "d_model": 1024,
    "encoder_layers": 12,
    "decoder_layers": 12,
    "encoder_attention_heads": 16,
    "decoder_attention_heads": 16,
    "encoder_ffn_dim": 4096,
    "decoder_ffn_dim": 4096,
    "max_position_embeddings": 1024,
    "scale_embedding": True,
    "dropout": 0.1,
    "attention_dropout": 0.1,
}


class BeyondGlossConfig(PreTrainedConfig):
    r"""
    Configuration of the BeyondGloss models ([`BeyondGlossModel`], [`BeyondGlossForPreTraining`],
    [`BeyondGlossForConditionalGeneration`]). Defaults reproduce the paper (Asasi et al., *Beyond Gloss: A Hand-Centric
    Framework for Gloss-Free Sign Language Translation*, BMVC 2025): DINOv2 ViT-S/14 frames, a hand branch distilled
    from HaMeR features, a local-attention temporal encoder, a description branch aligned with hand-motion
    descriptions, and mBART-large-cc25 as sign-side encoder and translation model.

    Args:
        vision_config (`dict` or [`Dinov2Config`], *optional*):
            The per-frame spatial encoder. Defaults to DINOv2 ViT-S/14 (layer-scale init 1.0).
        text_config (`dict` or [`MBartConfig`], *optional*):
            The text model: sign-side encoder and target-side encoder in pre-training, encoder-decoder in translation.
            Defaults to mBART-large-cc25 dimensions (before vocabulary trimming). Its `d_model` must equal
            `2 * temporal_dim`, the width of the sign sequence.
        spatial_dim (`int`, *optional*, defaults to 512):
            Width of the projected per-frame DINOv2 CLS token (Linear → BatchNorm1d).
        hand_feature_dim (`int`, *optional*, defaults to 288):
            Width of the hand features the hand branch predicts: 288 for the HaMeR layout (two hands × 15 joint
            rotation matrices + two global orientations), the teacher's own width for other hand teachers.
        temporal_dim (`int`, *optional*, defaults to 512):
            Width of the temporal encoder.
        temporal_blocks (`list[int]`, *optional*, defaults to `[2, 2]`):
            Transformer blocks per stage; consecutive stages are separated by a ×2 temporal average-pool downsample.
        temporal_heads (`int`, *optional*, defaults to 8):
            Attention heads of the temporal encoder.
        temporal_ffn_ratio (`int`, *optional*, defaults to 4):
            Feed-forward width as a multiple of `temporal_dim`.
        temporal_window (`int`, *optional*, defaults to 7):
            Local attention window (odd): each step attends to the `temporal_window` steps centred on itself.
        temporal_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on attention output and inside the feed-forward of the temporal encoder.
        drop_path_rate (`float`, *optional*, defaults to 0.1):
            Stochastic depth, rising linearly from 0 at the first temporal block to this value at the last.
        layer_scale_init (`float`, *optional*, defaults to 1e-5):
            Initial value of the learnable layer scale on the temporal attention output.
        rope_theta (`float`, *optional*, defaults to 10000.0):
            Base of the rotary position embedding applied to temporal queries and keys.
        description_dim (`int`, *optional*, defaults to 1024):
            Width of the description representation; equals the width of the description embeddings (mBART-large-50
            encoder, mean-pooled, 1024).
        branch_dropout (`float`, *optional*, defaults to 0.1):
            Dropout after the hand and description branches' back-projections.
        vision_position_interpolation (`str`, *optional*, defaults to `"scale_factor"`):
            How DINOv2's 37×37 position grid is resampled for other image sizes (e.g. 16×16 at 224 px).
            `"scale_factor"` resamples as the original DINOv2 code does (bicubic with scale factor
            `(new_grid + 0.1) / old_grid`), which is what DINOv2 and the paper's model were trained with;
            `"size"` resamples to the target size as transformers' `Dinov2Model` does, which gives different
            features for every frame that is not 518 px.
        vision_lora_layers (`list[int]`, *optional*, defaults to `[9, 10, 11]`):
            DINOv2 blocks that receive LoRA adapters; all other DINOv2 weights are frozen.
        vision_lora_target_modules (`list[str]`, *optional*):
            Layers of those blocks that receive LoRA, by default `["attention.qkv", "attention.o_proj", "mlp.fc1",
            "mlp.fc2"]`. `"attention.qkv"` is one adapter on the fused query/key/value
            projection, as in the paper: one `A` shared by query, key and value and a `B` with `3 * hidden_size` rows
            (73,728 trainable elements over blocks 9-11 of ViT-S). Listing `"attention.q_proj"`, `"attention.k_proj"`
            and `"attention.v_proj"` instead gives each projection its own adapter (82,944 elements).
        vision_lora_rank (`int`, *optional*, defaults to 4):
        vision_lora_alpha (`float`, *optional*, defaults to 4.0):
        vision_lora_dropout (`float`, *optional*, defaults to 0.1):
            LoRA rank, scaling numerator and dropout of the DINOv2 adapters.
        text_lora_target_modules (`list[str]`, *optional*, defaults to `["q_proj", "v_proj"]`):
            mBART projections that receive LoRA (in every attention block, self- and cross-attention).
        text_lora_rank (`int`, *optional*, defaults to 16):
        text_lora_alpha (`float`, *optional*, defaults to 32.0):
        text_lora_dropout (`float`, *optional*, defaults to 0.1):
            LoRA rank, scaling numerator and dropout of the mBART adapters.
        description_loss_weight (`float`, *optional*, defaults to 0.5):
            λ_desc, the weight of the description alignment loss.
        hand_loss_weight (`float`, *optional*, defaults to 0.3):
            λ_hand, the weight of the hand feature distillation loss.
        logit_scale_init_value (`float`, *optional*, defaults to log(1/0.07)):
            Initial value of the learnable (log) logit scale of the contrastive losses.
        separate_description_logit_scale (`bool`, *optional*, defaults to `False`):
            Give the description alignment its own logit scale. The reference implementation reuses the video-text
            scale, which is the default here.
        soft_target_scale (`float`, *optional*, defaults to 10.0):
            The contrastive targets are `softmax(soft_target_scale * I)`, a near-one-hot distribution.
        gather_embeddings (`bool`, *optional*, defaults to `False`):
            Under multi-process training, gather embeddings from all processes so that every process contrasts its
            batch with the global batch (more negatives). The paper contrasts within each process's batch.
        label_smoothing (`float`, *optional*, defaults to 0.2):
            Label smoothing of the translation cross-entropy the model was (or is to be) trained with. The loss of
            `forward` is plain cross-entropy; the Trainer applies the smoothing (`label_smoothing_factor`), and
            `run_translation.py` records its value here.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the new (non-backbone) layers.
        initializer_scheme (`str`, *optional*, defaults to `"reference"`):
            How the layers that train from scratch start. `"reference"` starts where the paper's code does: the CLS
            projection, hand branch, fusion and description branch keep PyTorch's default `nn.Linear` initialisation
            (Kaiming-uniform weights, uniform biases); the temporal encoder's linear layers are
            `N(0, initializer_range)` with zero bias, except the attention output projections whose weight and bias
            are `N(0, initializer_range / sqrt(2 * sum(temporal_blocks)))`; the DINOv2 LoRA `A` matrices are
            `N(0, initializer_range)`. `"normal"` makes every new linear layer `N(0, initializer_range)` with zero
            bias and leaves the DINOv2 LoRA `A` matrices to peft's Kaiming-uniform initialisation.
        text_model_name_or_path (`str`, *optional*):
            The mBART checkpoint the text side was built from, if any; translation models initialised from a
            pre-training checkpoint take their decoder from it.
        train_vision_backbone (`bool`, *optional*, defaults to `False`):
            Train every DINOv2 weight instead of only its LoRA adapters. The paper freezes the pretrained DINOv2;
            this is for backbones initialised at random (tiny configs built offline), whose frozen weights carry no
            knowledge.
        train_text_backbone (`bool`, *optional*, defaults to `False`):
            Likewise for the sign-side mBART encoder and the translation mBART (the target-side text encoder of
            pre-training always stays frozen).
        cache_text_embeddings (`bool`, *optional*, defaults to `False`):
            Pre-training: encode each target sentence with the frozen text encoder once, in eval mode (no dropout),
            and reuse its pooled embedding whenever the sentence comes back (the text encoder's forward is then
            skipped). Not the paper's recipe: the reference runs the frozen text encoder in training mode, so its
            dropout perturbs the text embeddings at every step; with this option they are the clean ones. In eval
            mode (or with the text model's dropout at 0) the embeddings are the same with and without the cache.

    Example:

    ```python
    >>> from modeling_beyondgloss import BeyondGlossConfig, BeyondGlossForPreTraining

    >>> config = BeyondGlossConfig.from_json_file("configs/beyondgloss-tiny.json")
    >>> model = BeyondGlossForPreTraining(config)
    ```
    """

    model_type = "beyondgloss"
    sub_configs_defaults = {"vision_config": Dinov2Config, "text_config": MBartConfig}

    vision_config: dict | Dinov2Config | None = None
    text_config: dict | MBartConfig | None = None
    spatial_dim: int = 512
    hand_feature_dim: int = 288
    temporal_dim: int = 512
    temporal_blocks: list[int] | tuple[int, ...] = (2, 2)
    temporal_heads: int = 8
    temporal_ffn_ratio: int = 4
    temporal_window: int = 7
    temporal_dropout: float = 0.1
    drop_path_rate: float = 0.1
    layer_scale_init: float = 1e-5
    rope_theta: float = 10000.0
    description_dim: int = 1024
    branch_dropout: float = 0.1
    vision_position_interpolation: str = "scale_factor"
    vision_lora_layers: list[int] | tuple[int, ...] = (9, 10, 11)
    vision_lora_target_modules: list[str] | tuple[str, ...] = (
        "attention.qkv",
        "attention.o_proj",
        "mlp.fc1",
        "mlp.fc2",
    )
    vision_lora_rank: int = 4
    vision_lora_alpha: float = 4.0
    vision_lora_dropout: float = 0.1
    text_lora_target_modules: list[str] | tuple[str, ...] = ("q_proj", "v_proj")
    text_lora_rank: int = 16
    text_lora_alpha: float = 32.0
    text_lora_dropout: float = 0.1
    description_loss_weight: float = 0.5
    hand_loss_weight: float = 0.3
    logit_scale_init_value: float = math.log(1 / 0.07)
    separate_description_logit_scale: bool = False
    soft_target_scale: float = 10.0
    gather_embeddings: bool = False
    label_smoothing: float = 0.2
    initializer_range: float = 0.02
    initializer_scheme: str = "reference"
    text_model_name_or_path: str | None = None
    train_vision_backbone: bool = False
    train_text_backbone: bool = False
    cache_text_embeddings: bool = False

    def __post_init__(self, **kwargs):
        if self.vision_config is None:
            self.vision_config = dict(DINOV2_SMALL)
        if self.text_config is None:
            self.text_config = dict(MBART_LARGE_CC25)
        self.temporal_blocks = list(self.temporal_blocks)
        self.vision_lora_layers = list(self.vision_lora_layers)
        self.vision_lora_target_modules = list(self.vision_lora_target_modules)
        self.text_lora_target_modules = list(self.text_lora_target_modules)
        super().__post_init__(**kwargs)
        self.is_encoder_decoder = True
        # The Seq2SeqTrainer pads generated tokens with the model config's pad token.
        self.pad_token_id = self.text_config.pad_token_id
        self.validate_architecture()

    def validate_architecture(self):
        """Check that the sizes fit together; raises `ValueError` naming the field that does not. Runs on
        construction and on loading."""
        if self.text_config.d_model != 2 * self.temporal_dim:
            raise ValueError(
                f"text_config.d_model ({self.text_config.d_model}) must equal 2 * temporal_dim "
                f"({2 * self.temporal_dim}): the sign sequence concatenates the temporal features with the "
                "description branch's back-projection."
            )
        if self.temporal_dim % self.temporal_heads or (self.temporal_dim // self.temporal_heads) % 2:
            raise ValueError(
                f"temporal_dim ({self.temporal_dim}) must split into {self.temporal_heads} heads of even width (RoPE)."
            )
        if self.temporal_window % 2 == 0:
            raise ValueError(
                f"temporal_window must be odd to centre the window on each step, got {self.temporal_window}."
            )
        if not self.temporal_blocks or min(self.temporal_blocks) < 1:
            raise ValueError(
                f"temporal_blocks needs at least one stage of at least one block, got {self.temporal_blocks}."
            )
        if self.vision_position_interpolation not in ("scale_factor", "size"):
            raise ValueError(
                "vision_position_interpolation must be 'scale_factor' or 'size', "
                f"got {self.vision_position_interpolation!r}."
            )
        if self.initializer_scheme not in ("reference", "normal"):
            raise ValueError(f"initializer_scheme must be 'reference' or 'normal', got {self.initializer_scheme!r}.")
        fused = "attention.qkv" in self.vision_lora_target_modules
        separate = {"attention.q_proj", "attention.k_proj", "attention.v_proj"} & set(self.vision_lora_target_modules)
        if fused and separate:
            raise ValueError(
                f"vision_lora_target_modules lists 'attention.qkv' and {sorted(separate)}: the fused adapter already"
                " covers the query, key and value projections."
            )
        num_vision_layers = self.vision_config.num_hidden_layers
        if any(not 0 <= layer < num_vision_layers for layer in self.vision_lora_layers):
            raise ValueError(
                f"vision_lora_layers {self.vision_lora_layers} must index the {num_vision_layers} DINOv2 blocks."
            )


__all__ = ["BeyondGlossConfig"]
