"""Run the BeyondGloss reference implementation next to this package and compare what both compute.

Shared by `verify_reference_equivalence.py` and `make_reference_fixture.py`. The reference code is imported from
a checkout given at run time (`slt_framework/` of `elsobhano/BeyondGloss`); nothing of it is copied here. Its
training-only imports (PyTorch Lightning, timm's DropPath, wandb) are replaced by minimal stand-ins when they are
not installed: the model code under comparison is the reference's own.
"""

import sys
import types
from functools import partial
from pathlib import Path

import torch
from torch import nn
from transformers.trainer_pt_utils import LabelSmoother

from modeling_beyondgloss.convert_reference_checkpoint import PRETRAINING, reference_sources


def _stand_in(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


class _DropPath(nn.Module):
    """Stochastic depth, standing in for `timm.models.layers.DropPath` (identity in eval mode)."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.drop_prob)
        return x * keep / (1 - self.drop_prob)


def import_reference(reference_dir: str | Path) -> types.SimpleNamespace:
    """Import the reference modules from `reference_dir` (the repository root or its `slt_framework/`)."""
    reference_dir = Path(reference_dir)
    framework = reference_dir / "slt_framework" if (reference_dir / "slt_framework").is_dir() else reference_dir
    if not (framework / "models" / "clip_models.py").is_file():
        raise FileNotFoundError(f"{reference_dir}: not a BeyondGloss checkout (no models/clip_models.py)")
    stand_ins = {
        "pytorch_lightning": {
            "pytorch_lightning": dict(LightningModule=nn.Module),
            "pytorch_lightning.callbacks": dict(Callback=object, ModelCheckpoint=object, EarlyStopping=object),
            "pytorch_lightning.loggers": dict(
                TensorBoardLogger=type("TensorBoardLogger", (), {}), WandbLogger=type("WandbLogger", (), {})
            ),
        },
        "timm": {"timm": {}, "timm.models": {}, "timm.models.layers": dict(DropPath=_DropPath)},
        "wandb": {"wandb": dict(Table=object)},
    }
    for package, modules in stand_ins.items():
        try:
            __import__(package)
        except ImportError:
            for module_name, attributes in modules.items():
                sys.modules[module_name] = _stand_in(module_name, **attributes)
                parent, _, child = module_name.rpartition(".")
                if parent:
                    setattr(sys.modules[parent], child, sys.modules[module_name])
    if not torch.cuda.is_available():
        # The reference's translation forward moves its inputs with `.cuda()`; on a CPU-only machine stay put.
        torch.Tensor.cuda = lambda self, *args, **kwargs: self
    sys.path.insert(0, str(framework))
    from models import clip_models
    from models.dinov2.layers import MemEffAttention, NestedTensorBlock
    from models.dinov2.model import vision_transformer
    from models.Finetune_Model import FineTuneModel
    from models.Pretrain_Model import PreTrainModel
    from models.spatial_models.frame_models import dino_adaptor_model
    from models.utils import KLLoss

    return types.SimpleNamespace(
        clip_models=clip_models, vision_transformer=vision_transformer, dino_adaptor_model=dino_adaptor_model,
        PreTrainModel=PreTrainModel, FineTuneModel=FineTuneModel, KLLoss=KLLoss, Block=NestedTensorBlock,
        MemEffAttention=MemEffAttention,
    )


def lightning_module(ref, stage: str, model: nn.Module, hyper_parameters: dict) -> nn.Module:
    """The reference's Lightning module around `model`, without running its `__init__` (which reads config files
    and checkpoints); its `training_step` and `calc_loss` are then the reference's own code."""
    cls = ref.PreTrainModel if stage == PRETRAINING else ref.FineTuneModel
    module = cls.__new__(cls)
    nn.Module.__init__(module)
    module.model = model
    if stage == PRETRAINING:
        module.loss_img = module.loss_txt = ref.KLLoss()
        module.loss_img_desc = module.loss_txt_desc = ref.KLLoss()
        module.landa_desc, module.landa_hamer = hyper_parameters["landa_desc"], hyper_parameters["landa_hamer"]
    else:
        module.criterion = nn.CrossEntropyLoss(ignore_index=1, label_smoothing=hyper_parameters["label_smoothing"])
        module.num_beams = hyper_parameters["num_beams"]
    return module


def assemble_reference(ref, stage: str, sizes, mbart_config) -> nn.Module:
    """The reference model of `stage` at any `sizes`, assembled from the reference's classes (their constructors
    hard-code the paper's sizes and load pretrained files); parameters are trained or frozen as theirs are."""
    cm = ref.clip_models
    adapt_params = {"w_lora": True, "w_lora_ff": True, "lora_rank": sizes.vision_lora_rank, "lora_drop": 0.1,
                    "lora_a": 4.0, "rng_init": False}
    vit = ref.vision_transformer.DinoVisionTransformer(
        img_size=sizes.vision_image_size, patch_size=14, embed_dim=sizes.vision_hidden, depth=sizes.vision_layers,
        num_heads=sizes.vision_heads, mlp_ratio=4, block_fn=partial(ref.Block, attn_class=ref.MemEffAttention),
        init_values=1.0, block_chunks=0, adaptor_layers=list(sizes.vision_lora_layers), adapt_params=adapt_params,
    )
    for name, parameter in vit.named_parameters():
        parameter.requires_grad = "lora" in name
    frame_model = _bare(ref.dino_adaptor_model.Model, spatial_model=vit,
                        lin=nn.Linear(sizes.vision_hidden, sizes.spatial_dim), bn=nn.BatchNorm1d(sizes.spatial_dim))
    spatial, hand, temporal = sizes.spatial_dim, sizes.hand_dim, sizes.temporal_dim
    features = _bare(
        cm.FeatureExtracter,
        conv_2d=_bare(cm.dino, dino=frame_model),
        hamer_mapper_1=nn.Linear(spatial, hand), hamer_mapper_1_ac_fn=nn.GELU(), hamer_mapper_1_drop=nn.Dropout(0.1),
        hamer_mapper_2=nn.Linear(hand, spatial),
        mapper_1_downsample=nn.Sequential(nn.Linear(2 * spatial, temporal), nn.GELU()),
        conv_1d=cm.Transformer(d_model=temporal, num_heads=sizes.temporal_heads, layers=list(sizes.temporal_blocks),
                               d_llm=temporal),
        mapper_1=nn.Linear(temporal, sizes.description_dim), mapper_1_ac_fn=nn.GELU(), mapper_1_drop=nn.Dropout(0.1),
        mapper_2=nn.Linear(sizes.description_dim, temporal),
    )
    from peft import LoraConfig, get_peft_model
    from transformers import MBartForConditionalGeneration

    def adapted(model):
        lora = LoraConfig(inference_mode=False, r=sizes.text_lora_rank, lora_alpha=2 * sizes.text_lora_rank,
                          lora_dropout=0.1, target_modules=["q_proj", "v_proj"])
        model = get_peft_model(model, lora)
        for name, parameter in model.named_parameters():
            parameter.requires_grad = "lora" in name
        return model

    if stage == PRETRAINING:
        text_encoder = MBartForConditionalGeneration(mbart_config).get_encoder()
        text_encoder.requires_grad_(False)
        model = _bare(
            cm.SLRCLIP,
            model_txt=_bare(cm.TextCLIP, model_txt=text_encoder),
            model_images=_bare(cm.ImageCLIP, model=features,
                               trans_encoder=adapted(MBartForConditionalGeneration(mbart_config).get_encoder())),
            logit_scale=nn.Parameter(torch.tensor(0.0)), logit_scale_desc=nn.Parameter(torch.tensor(0.0)),
        )
    else:
        translation_model = adapted(MBartForConditionalGeneration(mbart_config))
        model = _bare(cm.gloss_free_model, backbone=features, mbart=translation_model, sign_emb=nn.Identity(),
                      embed_scale=1.0)
    return model


def _bare(cls, **children) -> nn.Module:
    module = cls.__new__(cls)
    nn.Module.__init__(module)
    for name, child in children.items():
        setattr(module, name, child)
    return module


# ---------------------------------------------------------------------------------------------------------------------
# Inputs and outputs
# ---------------------------------------------------------------------------------------------------------------------


def make_inputs(sizes, vocab_size: int, batch_size: int, frames: int, image_size: int, text_length: int, seed: int):
    """Unpadded clips (every clip `frames` long, every sentence `text_length` long), from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "pixel_values": torch.randn(batch_size, frames, 3, image_size, image_size, generator=generator),
        "input_ids": torch.randint(4, vocab_size - 26, (batch_size, text_length), generator=generator),
        "description_embeds": torch.randn(batch_size, sizes.description_dim, generator=generator),
        "hand_features": torch.randn(batch_size, frames, sizes.hand_dim, generator=generator),
    }


def random_word_tokenizer(vocabulary_words: int, seed: int):
    """A German-like mBART tokenizer built offline from `vocabulary_words` random words (about as many pieces)."""
    from modeling_beyondgloss import build_tokenizer_from_corpus

    generator = torch.Generator().manual_seed(seed)
    letters = "abcdefghijklmnopqrstuvwxyzäöüß"
    words = {
        "".join(letters[i] for i in torch.randint(len(letters), (int(length),), generator=generator))
        for length in torch.randint(3, 9, (vocabulary_words,), generator=generator)
    }
    return build_tokenizer_from_corpus([" ".join(sorted(words))], src_lang="de_DE")


def _reference_batch(inputs):
    batch_size, frames = inputs["pixel_values"].shape[:2]
    src_input = {
        "input_ids": inputs["pixel_values"].flatten(0, 1),
        "src_length_batch": [frames] * batch_size,
        "attention_mask": torch.ones(batch_size, frames, dtype=torch.long),
    }
    tgt_input = {"input_ids": inputs["input_ids"], "attention_mask": torch.ones_like(inputs["input_ids"])}
    return src_input, tgt_input


def reference_outputs(
    ref, stage: str, module: nn.Module, inputs: dict, decoder_start_token_id=None, max_new_tokens: int = 150
) -> tuple[dict, dict]:
    """What the reference computes (eval mode): named outputs, and the gradients of the loss by parameter name."""
    module.eval()
    src_input, tgt_input = _reference_batch(inputs)
    batch_size, frames = inputs["pixel_values"].shape[:2]
    model = module.model
    features = model.model_images.model if stage == PRETRAINING else model.backbone
    outputs = {}
    with torch.no_grad():
        dinov2 = features.conv_2d.dino.spatial_model
        outputs["dinov2_cls"] = dinov2.forward_features(src_input["input_ids"])["x_norm_clstoken"]
    if stage == PRETRAINING:
        with torch.no_grad():
            sign, _, predicted_hand, _ = features(src_input["input_ids"], src_input["src_length_batch"], None)
            video, description, _ = model.model_images(src_input)
            text = model.model_txt(tgt_input)
        outputs.update(
            sign_sequence=sign,
            predicted_hand_features=predicted_hand,
            video_embeds=video,
            description_embeds=description,
            text_embeds=text / text.norm(dim=-1, keepdim=True),
        )
        logged = {}
        module.log = lambda name, value, **kwargs: logged.__setitem__(name, value)
        batch = (
            src_input,
            tgt_input,
            inputs["description_embeds"],
            inputs["hand_features"],
            torch.ones(batch_size, frames),
        )
        loss = ref.PreTrainModel.training_step(module, batch, 0)
        outputs.update(
            loss=logged["train_total_loss"],
            loss_align=logged["train_clip_loss"],
            loss_desc=logged["train_clip_loss_desc"],
            loss_hand=logged["train_hamer_loss"],
        )
    else:
        with torch.no_grad():
            sign, _ = model.share_forward(src_input)
            outputs["tokens"] = model.generate(src_input, max_new_tokens, module.num_beams, decoder_start_token_id)
        logits = model(src_input, tgt_input)
        loss = ref.FineTuneModel.calc_loss(module, logits, tgt_input["input_ids"])
        outputs.update(sign_sequence=sign, logits=logits, loss=loss)
    loss.backward()
    gradients = {name: parameter.grad for name, parameter in module.named_parameters() if parameter.grad is not None}
    return {name: value.detach() for name, value in outputs.items()}, gradients


def converted_outputs(stage: str, model: nn.Module, inputs: dict, max_new_tokens: int = 150) -> tuple[dict, dict]:
    """The same quantities from a converted model of this package."""
    model.eval()
    pixel_values = inputs["pixel_values"]
    outputs = {}
    if stage == PRETRAINING:
        visual_encoder = model.beyondgloss.visual_encoder
        with torch.no_grad():
            outputs["dinov2_cls"] = visual_encoder.encode_frames(pixel_values.flatten(0, 1))
            visual = visual_encoder(pixel_values, torch.ones(pixel_values.shape[:2], dtype=torch.bool))
            base = model.beyondgloss(pixel_values=pixel_values)
            text = model.encode_text(inputs["input_ids"])
        outputs.update(
            sign_sequence=visual.sign_embeds,
            predicted_hand_features=visual.predicted_hand_features,
            video_embeds=base.video_embeds,
            description_embeds=base.description_embeds,
            text_embeds=text,
        )
        result = model(
            pixel_values=pixel_values,
            input_ids=inputs["input_ids"],
            description_embeds=inputs["description_embeds"],
            hand_features=inputs["hand_features"],
        )
        outputs.update(
            loss=result.loss, loss_align=result.loss_align, loss_desc=result.loss_desc, loss_hand=result.loss_hand
        )
    else:
        with torch.no_grad():
            outputs["dinov2_cls"] = model.visual_encoder.encode_frames(pixel_values.flatten(0, 1))
            outputs["sign_sequence"] = model.encode_video(pixel_values)[0]
            outputs["tokens"] = model.generate(pixel_values=pixel_values, max_new_tokens=max_new_tokens)
        result = model(pixel_values=pixel_values, labels=inputs["input_ids"])
        # Training applies label smoothing through the Trainer's label smoother, as here.
        smoothed = LabelSmoother(epsilon=model.config.label_smoothing)(result, inputs["input_ids"])
        outputs.update(logits=result.logits, loss=smoothed)
    outputs["loss"].backward()
    gradients = {name: parameter.grad for name, parameter in model.named_parameters() if parameter.grad is not None}
    return {name: value.detach() for name, value in outputs.items()}, gradients


def gradient_differences(stage: str, model: nn.Module, ours: dict, theirs: dict) -> tuple[float, int, list]:
    """Largest absolute difference over the gradients of every trained tensor (mapped as the converter maps
    weights), how many tensors were compared, and the trained tensors that have no gradient on one side."""
    largest, compared, unmatched = 0.0, 0, []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        sources, chunk = reference_sources(name, stage, model.config)
        if name not in ours or any(source not in theirs for source in sources):
            unmatched.append(name)
            continue
        reference = torch.cat([theirs[source] for source in sources]) if len(sources) > 1 else theirs[sources[0]]
        if chunk is not None:
            reference = reference.chunk(3)[chunk]
        largest = max(largest, (ours[name] - reference.reshape(ours[name].shape)).abs().max().item())
        compared += 1
    return largest, compared, unmatched
