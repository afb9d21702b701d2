"""Data collator for BeyondGloss: turns dataset examples into the inputs of the BeyondGloss models.

Decoding is the expensive part and happens here, inside the DataLoader workers, so `num_workers` parallelises it.
"""

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase
from transformers.models.mbart.modeling_mbart import shift_tokens_right

from modeling_beyondgloss.processing_beyondgloss import BeyondGlossProcessor
from modeling_beyondgloss.video_processing_beyondgloss import BeyondGlossVideoProcessor


logger = logging.getLogger(__name__)

TASKS = ("translation", "pretraining")
# Key of the per-example augmentation seed that the trainers add to training examples.
AUGMENTATION_SEED = "augmentation_seed"
# Batch key listing the examples left out because they did not decode; the trainers take it out of the batch.
SKIPPED_SAMPLES = "skipped_samples"
# What decoding raises for a missing, truncated or corrupt video or frame.
DECODE_ERRORS = (OSError, ValueError, RuntimeError)


@dataclass
class BeyondGlossDataCollator:
    r"""
    Collates examples of a sign language dataset (`datasets_scripts.load_sign_dataset`) into model inputs.

    Each example has `video` (a video file path) or `frames` (frame image paths), `text`, and optionally
    `start`/`end` (the example is that segment of the video, in seconds), `description_embeds` (`[D_desc]`),
    `hand_features` (`[T, D]`, one row per source frame of the clip or segment) and `hand_mask` (`[T]`).

    The batch holds `pixel_values` `(batch, frames, 3, H, W)` float32 and `pixel_mask` `(batch, frames)` long; for
    `task="translation"` `labels` (target-mode tokens, padding -100), for `task="pretraining"` `input_ids` and
    `attention_mask` of the sentence; `description_embeds` `(batch, D_desc)` float32 with `description_mask`
    `(batch,)` bool when any example has a description; `hand_features` `(batch, frames, D)` float32 with `hand_mask`
    `(batch, frames)` long when any example has hand features. Hand features are taken at the source frames the
    video processor kept, so they stay aligned with `pixel_values` under truncation, uniform sampling or fps
    resampling; `hand_mask` is 1 where the frame is real, a hand was found, and the features cover that frame.
    An example with an `augmentation_seed` (the trainers add one to training examples) is cropped and augmented with
    a generator seeded by it.

    Args:
        processor ([`BeyondGlossProcessor`], *optional*):
            Provides the video processor and the tokenizer.
        video_processor ([`BeyondGlossVideoProcessor`], *optional*):
            Used instead of `processor.video_processor` when given.
        tokenizer ([`PreTrainedTokenizerBase`], *optional*):
            Used instead of `processor.tokenizer` when given.
        task (`str`, *optional*, defaults to `"translation"`):
            `"translation"` (labels) or `"pretraining"` (input_ids and attention_mask).
        training (`bool`, *optional*, defaults to `False`):
            Random crop and augmentation of the clips.
        max_target_length (`int`, *optional*, defaults to 128):
            Sentences are truncated to this many tokens; `None` keeps them whole.
        label_pad_token_id (`int`, *optional*, defaults to -100):
            Value of padded label positions, ignored by the loss.
        skip_undecodable (`bool`, *optional*, defaults to `False`):
            Leave out of the batch an example whose video or frames fail to decode, and name it in the batch's
            `skipped_samples` list of `(name, error)` instead of failing; the trainers log, count and record these.
        decoded_clip_cache_mb (`float`, *optional*, defaults to 0):
            Keep up to this many megabytes of decoded clips in memory (least recently used first out), per
            DataLoader worker (workers must persist across epochs to keep theirs). Decoding does not depend on the
            epoch (sampling is deterministic; cropping and augmentation come after it), so a corpus that fits is
            decoded once instead of every epoch. 0 disables it.
    """

    processor: BeyondGlossProcessor | None = None
    video_processor: BeyondGlossVideoProcessor | None = None
    tokenizer: PreTrainedTokenizerBase | None = None
    task: str = "translation"
    training: bool = False
    max_target_length: int | None = 128
    label_pad_token_id: int = -100
    decoded_clip_cache_mb: float = 0
    skip_undecodable: bool = False
    _warned_short_hand_features: bool = field(default=False, init=False, repr=False)
    _decoded_clips: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False)
    _decoded_clip_bytes: int = field(default=0, init=False, repr=False)

    def __post_init__(self):
        if self.processor is not None:
            self.video_processor = self.video_processor or self.processor.video_processor
            self.tokenizer = self.tokenizer or self.processor.tokenizer
        if self.video_processor is None or self.tokenizer is None:
            raise ValueError("BeyondGlossDataCollator needs a processor, or a video_processor and a tokenizer.")
        if self.task not in TASKS:
            raise ValueError(f"`task` must be one of {TASKS}, got {self.task!r}.")

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("Cannot collate an empty list of examples.")
        decoded, kept, skipped = [], [], []
        for example in examples:
            try:
                decoded.append(self._decode(example))
                kept.append(example)
            except DECODE_ERRORS as error:
                if not self.skip_undecodable:
                    raise
                skipped.append((str(example.get("id") or _name(example)), str(error)))
        if not kept:
            details = "".join(f"\n  {name}: {error}" for name, error in skipped)
            raise ValueError(f"No example of the batch could be decoded:{details}")
        examples = kept
        pixel_values, pixel_mask = self.video_processor.transform_batch(
            [clip.frames for clip in decoded], training=self.training, generator=self._generators(examples)
        )
        batch = {"pixel_values": pixel_values, "pixel_mask": pixel_mask}
        batch.update(self._tokenize(examples))
        batch.update(self._description_inputs(examples))
        batch.update(self._hand_inputs(examples, [clip.frame_indices for clip in decoded], pixel_mask.shape[1]))
        if skipped:
            batch[SKIPPED_SAMPLES] = skipped
        return batch

    def _generators(self, examples: list[dict[str, Any]]) -> list[torch.Generator | None] | None:
        """One generator per example that carries an augmentation seed, so that its crop and augmentation do not
        depend on what else drew random numbers before; the global generator otherwise."""
        if not self.training or all(AUGMENTATION_SEED not in example for example in examples):
            return None
        return [
            torch.Generator().manual_seed(example[AUGMENTATION_SEED]) if AUGMENTATION_SEED in example else None
            for example in examples
        ]

    def _decode(self, example: dict[str, Any]):
        source = example.get("video") or example.get("frames")
        if not source:
            raise ValueError(f"Example {_name(example)} has neither a `video` nor `frames`.")
        # A segment of a long video (`start`/`end` in seconds) is decoded by seeking to it.
        timing = {key: example.get(key) for key in ("fps", "start", "end")}
        if self.decoded_clip_cache_mb <= 0:
            return self.video_processor.decode_clip(source, **timing)
        key = (source if isinstance(source, str) else tuple(source), *timing.values())
        if key in self._decoded_clips:
            self._decoded_clips.move_to_end(key)
            return self._decoded_clips[key]
        clip = self.video_processor.decode_clip(source, **timing)
        self._decoded_clips[key] = clip
        self._decoded_clip_bytes += clip.frames.nbytes
        while self._decoded_clip_bytes > self.decoded_clip_cache_mb * 2**20 and len(self._decoded_clips) > 1:
            _, evicted = self._decoded_clips.popitem(last=False)
            self._decoded_clip_bytes -= evicted.frames.nbytes
        return clip

    def _tokenize(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        texts = [example.get("text") for example in examples]
        if all(text is None for text in texts):
            return {}  # unlabelled clips, e.g. for generation
        for example, text in zip(examples, texts):
            if text is None:
                raise ValueError(f"Example {_name(example)} has no `text` while others in the batch do.")
        options = {
            "padding": True,
            "truncation": self.max_target_length is not None,
            "max_length": self.max_target_length,
            "return_tensors": "pt",
        }
        if self.task == "pretraining":
            tokens = self.tokenizer(text=texts, **options)
            return {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}
        targets = self.tokenizer(text_target=texts, **options)
        labels = targets["input_ids"].masked_fill(targets["attention_mask"] == 0, self.label_pad_token_id)
        # As `DataCollatorForSeq2Seq`: the Trainer's label smoother takes `labels` away from the model's inputs.
        decoder_input_ids = shift_tokens_right(targets["input_ids"], self.tokenizer.pad_token_id)
        return {"labels": labels, "decoder_input_ids": decoder_input_ids}

    def _description_inputs(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        embeddings = [example.get("description_embeds") for example in examples]
        present = [embedding for embedding in embeddings if embedding is not None]
        if not present:
            return {}
        width = len(present[0])
        description_embeds = torch.zeros(len(examples), width)
        description_mask = torch.zeros(len(examples), dtype=torch.bool)
        for row, (example, embedding) in enumerate(zip(examples, embeddings)):
            if embedding is None:
                continue
            embedding = torch.as_tensor(np.asarray(embedding, dtype=np.float32))
            if embedding.shape != (width,):
                raise ValueError(
                    f"Example {_name(example)} has a description embedding of shape {tuple(embedding.shape)}; "
                    f"the batch's first one has ({width},)."
                )
            description_embeds[row] = embedding
            description_mask[row] = True
        return {"description_embeds": description_embeds, "description_mask": description_mask}

    def _hand_inputs(
        self, examples: list[dict[str, Any]], frame_indices: list[torch.Tensor], num_steps: int
    ) -> dict[str, torch.Tensor]:
        if all(example.get("hand_features") is None for example in examples):
            return {}
        width = None
        hand_features = hand_mask = None
        for row, (example, indices) in enumerate(zip(examples, frame_indices)):
            if example.get("hand_features") is None:
                continue
            features = torch.as_tensor(np.asarray(example["hand_features"], dtype=np.float32))
            if features.ndim != 2:
                raise ValueError(
                    f"Example {_name(example)} has hand_features of shape {tuple(features.shape)}; expected "
                    "(frames, features)."
                )
            if width is None:
                width = features.shape[1]
                hand_features = torch.zeros(len(examples), num_steps, width)
                hand_mask = torch.zeros(len(examples), num_steps, dtype=torch.long)
            elif features.shape[1] != width:
                raise ValueError(
                    f"Example {_name(example)} has {features.shape[1]} hand features per frame; the batch's first "
                    f"example has {width}."
                )
            if example.get("hand_mask") is None:
                found = torch.ones(features.shape[0], dtype=torch.bool)
            else:
                found = torch.as_tensor(np.asarray(example["hand_mask"], dtype=bool))
                if found.shape != (features.shape[0],):
                    raise ValueError(
                        f"Example {_name(example)} has a hand_mask of shape {tuple(found.shape)} for "
                        f"{features.shape[0]} frames of hand_features."
                    )
            covered = indices < features.shape[0]
            if not bool(covered.all()) and not self._warned_short_hand_features:
                logger.warning(
                    "Example %s has hand features for %d frames but frame %d was sampled; frames without features are "
                    "masked out of the distillation loss (warned once).",
                    _name(example),
                    features.shape[0],
                    int(indices.max()),
                )
                self._warned_short_hand_features = True
            kept = indices[covered]
            hand_features[row, : len(kept)] = features[kept]
            hand_mask[row, : len(kept)] = found[kept].long()
        return {"hand_features": hand_features, "hand_mask": hand_mask}


def _name(example: dict[str, Any]) -> str:
    return repr(example.get("id") or example.get("video") or "<unnamed>")


__all__ = ["BeyondGlossDataCollator"]
