"""The `sign-language-translation` pipeline: sign language video in, spoken-language sentence out."""

import torch
from transformers import Pipeline


TASK = "sign-language-translation"
# What a translation model's config carries so that `pipeline(TASK, model=folder, trust_remote_code=True)` finds this
# class among the saved model's code files.
CUSTOM_PIPELINES = {
    TASK: {
        "impl": "pipeline_beyondgloss.SignLanguageTranslationPipeline",
        "pt": ["AutoModelForSeq2SeqLM"],
        "type": "multimodal",
    }
}


class SignLanguageTranslationPipeline(Pipeline):
    """Translate sign language videos with a [`BeyondGlossForConditionalGeneration`] model.

    Inputs: a video file path, a folder of frame images, a `(frames, height, width, 3)` uint8 array, or a list of
    these. Output per input: `{"translation_text": str}`. Generation arguments (`num_beams`, `max_new_tokens`, ...)
    may be given at construction or per call; the model's generation config (5 beams, ≤ 150 new tokens) is the
    default.

    ```python
    from transformers import pipeline

    translator = pipeline("sign-language-translation", model="path/to/model", trust_remote_code=True)
    translator(["clip.mp4", "frames_folder/"], batch_size=2, num_beams=5)
    ```
    """

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.tokenizer is None:
            # Batching pads through the tokenizer's collate function.
            self.tokenizer = self.processor.tokenizer

    def get_inference_context(self):
        # Generation keeps no tensor for autograd: inference mode also skips the version counters.
        return torch.inference_mode

    def _sanitize_parameters(self, generate_kwargs=None, **kwargs):
        generate_kwargs = dict(generate_kwargs or {})
        generate_kwargs.update(kwargs)
        return {}, {"generate_kwargs": generate_kwargs}, {}

    def preprocess(self, video):
        inputs = self.processor(videos=[video], return_tensors="pt")
        # Keys unknown to the collate function: clips of different lengths are zero-padded along the frame axis.
        return {"frames": inputs["pixel_values"], "frame_mask": inputs["pixel_mask"]}

    def _forward(self, model_inputs, generate_kwargs=None):
        pixel_values = model_inputs["frames"].to(self.device, self.model.dtype)
        pixel_mask = model_inputs["frame_mask"].to(self.device)
        return {"sequences": self.model.generate(pixel_values=pixel_values, pixel_mask=pixel_mask, **generate_kwargs)}

    def postprocess(self, model_outputs):
        texts = self.processor.batch_decode(model_outputs["sequences"], skip_special_tokens=True)
        return {"translation_text": texts[0].strip()}
