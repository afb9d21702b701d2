"""Processor for BeyondGloss: the video processor and the mBART tokenizer behind one object."""

import torch
from transformers import AutoTokenizer
from transformers.image_processing_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .video_processing_beyondgloss import BeyondGlossVideoProcessor


class BeyondGlossProcessor(ProcessorMixin):
    r"""
    Pairs a [`BeyondGlossVideoProcessor`] with an mBART tokenizer.

    `save_pretrained` writes the video processor's settings to `processor_config.json` and the tokenizer's files next
    to it; `from_pretrained` reads them back. Transformers 5 finds the sub-processors from the `__init__` signature,
    so the older `attributes`/`*_class` class attributes are not needed.

    Args:
        video_processor ([`BeyondGlossVideoProcessor`]):
            Decodes and normalises the clips.
        tokenizer ([`MBartTokenizer`] or any `PreTrainedTokenizerBase`):
            Tokenises the spoken-language sentences (source mode for `text`, target mode for `text_target`).
    """

    def __init__(self, video_processor=None, tokenizer=None):
        super().__init__(video_processor, tokenizer)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "BeyondGlossProcessor":
        """Load the video processor and the tokenizer saved by `save_pretrained` (a folder or a Hub repository).

        The video processor is loaded by its own class rather than resolved through `AutoVideoProcessor`, so this
        works whether or not the class is registered with the Auto classes and whether it comes from this package or
        from a repository's remote code. `kwargs` (`revision`, `cache_dir`, `token`, ...) go to both loaders.
        """
        video_processor = BeyondGlossVideoProcessor.from_pretrained(pretrained_model_name_or_path, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)
        return cls(video_processor=video_processor, tokenizer=tokenizer)

    def __call__(
        self,
        videos=None,
        text: str | list[str] | None = None,
        text_target: str | list[str] | None = None,
        training: bool = False,
        generator: torch.Generator | int | None = None,
        fps: float | list[float | None] | None = None,
        return_tensors: str | None = "pt",
        padding: bool | str = True,
        truncation: bool = True,
        max_length: int | None = None,
        **tokenizer_kwargs,
    ) -> BatchFeature:
        """Prepare clips and/or sentences for a BeyondGloss model.

        Args:
            videos: one clip or a batch of clips (see [`BeyondGlossVideoProcessor.preprocess`]).
            text: sentences tokenised in source mode: `input_ids`, `attention_mask` (the pre-training text input).
            text_target: sentences tokenised in target mode: `labels` (the translation targets, padded with the
                tokenizer's pad id; use [`BeyondGlossDataCollator`] for training batches with -100 padding).
            training: random crop and augmentation of the clips.
            generator: a `torch.Generator` or int seed for reproducible augmentation.
            fps: source frame rate of clips that carry none (frame folders, arrays), used with `target_fps`.
            return_tensors, padding, truncation, max_length, tokenizer_kwargs: passed to the tokenizer (and
                `return_tensors` to the video processor).

        Returns:
            [`BatchFeature`] with `pixel_values` and `pixel_mask` when `videos` is given, `input_ids` and
            `attention_mask` when `text` is given, and `labels` when `text_target` is given.
        """
        if videos is None and text is None and text_target is None:
            raise ValueError("Give at least one of `videos`, `text` or `text_target`.")
        data = {}
        if videos is not None:
            data.update(
                self.video_processor(
                    videos, training=training, generator=generator, fps=fps, return_tensors=return_tensors
                )
            )
        if text is not None or text_target is not None:
            padding_options = {"padding": padding, "truncation": truncation, "max_length": max_length}
            encoded = self.tokenizer(
                text=text,
                text_target=text_target,
                return_tensors=return_tensors,
                **padding_options,
                **tokenizer_kwargs,
            )
            # Given only targets, the tokenizer returns them as `input_ids`; they are labels all the same.
            data.update({"labels": encoded["input_ids"]} if text is None else encoded)
        return BatchFeature(data, tensor_type=return_tensors)

    @property
    def model_input_names(self) -> list[str]:
        return list(self.video_processor.model_input_names) + ["input_ids", "attention_mask"]


BeyondGlossProcessor.register_for_auto_class()

__all__ = ["BeyondGlossProcessor"]
