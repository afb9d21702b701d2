"""The model card (`README.md`) of a trained model's output directory."""

import os
from pathlib import Path


__all__ = ["write_model_card"]

MODEL_CARD_TEMPLATE = """---
library_name: transformers
pipeline_tag: {pipeline_tag}
tags:
- sign-language-translation
- gloss-free
- beyondgloss
- video
language:
- {language}
license: mit
---

# {title}

A **BeyondGloss** model ({stage}) for gloss-free sign language translation: sign language video in, a
{language_name} sentence out. BeyondGloss (Asasi et al., BMVC 2025) encodes frames with DINOv2 (LoRA on its last
blocks), distils hand features (HaMeR layout) into a hand branch, models time with a local-attention transformer,
aligns a description branch with hand-motion descriptions, and translates with mBART (LoRA on `q_proj`/`v_proj`).

## Intended use and limitations

- Research on sign language translation: benchmarking, ablations, and as a starting point for fine-tuning.
- Sign languages are full languages of Deaf communities. This model translates a narrow domain ({data_summary})
  with limited accuracy; it **must not be presented as, or used in place of, an interpreter**, and it should not be
  used for decisions that affect Deaf people without their involvement.
- It knows only the signers, vocabulary and recording conditions of its training data and generalises poorly
  beyond them. Translations can be fluent and wrong.

## Training data

{data_description}

## Training procedure

{hyperparameters}

## Results

{results}

## How to use

```python
from transformers import AutoModel, AutoModelForSeq2SeqLM, AutoProcessor

model = {auto_class}.from_pretrained("{model_id}", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("{model_id}", trust_remote_code=True)
{usage}
```

## Citation

```bibtex
@inproceedings{{asasi2025beyondgloss,
  title     = {{Beyond Gloss: A Hand-Centric Framework for Gloss-Free Sign Language Translation}},
  author    = {{Asasi, Sobhan and Lakhal, Mohamed Ilyes and Mercanoglu Sincan, Ozge and Bowden, Richard}},
  booktitle = {{British Machine Vision Conference (BMVC)}},
  year      = {{2025}}
}}
```
"""

LANGUAGE_NAMES = {"de_DE": ("de", "German"), "zh_CN": ("zh", "Chinese")}


def write_model_card(output_dir, *, stage, dataset_name, data_args, training_args, metrics, model_config):
    """Write `README.md` (model card) into `output_dir`."""
    language, language_name = LANGUAGE_NAMES.get(data_args.language_code(), ("multilingual", "spoken-language"))
    translation = stage == "translation"
    hyperparameters = {
        "learning_rate": training_args.learning_rate,
        "weight_decay": training_args.weight_decay,
        "warmup": training_args.warmup_steps,
        "lr_scheduler": str(training_args.lr_scheduler_type),
        "max_grad_norm": training_args.max_grad_norm,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "num_train_epochs": training_args.num_train_epochs,
        "max_steps": training_args.max_steps,
        "seed": training_args.seed,
        "max_frames": data_args.max_frames,
        "lambda_desc": model_config.description_loss_weight,
        "lambda_hand": model_config.hand_loss_weight,
        "vision_lora": f"rank {model_config.vision_lora_rank} on blocks {model_config.vision_lora_layers}",
        "text_lora": f"rank {model_config.text_lora_rank} on {model_config.text_lora_target_modules}",
    }
    if translation:
        hyperparameters["label_smoothing"] = model_config.label_smoothing
    hyperparameter_lines = "\n".join(f"- `{key}`: {value}" for key, value in hyperparameters.items())
    if translation:
        # Translation quality; the convention of the test numbers when there are any, else of the dev numbers.
        convention = metrics.get("predict_metric_convention") or metrics.get("eval_metric_convention")
        metrics = {key: value for key, value in metrics.items() if "bleu" in key or "rouge" in key}
    else:
        convention = None
    numeric = {key: value for key, value in metrics.items() if isinstance(value, (int, float))}
    if numeric:
        rows = "\n".join(f"| {key} | {value:.2f} |" for key, value in sorted(numeric.items()))
        results = f"| metric | value |\n|---|---|\n{rows}\n"
        if convention:
            results += f"\nMetric convention: {convention}.\n"
    else:
        results = "No evaluation was run."
    usage = (
        "inputs = processor(videos=[\"signing.mp4\"], return_tensors=\"pt\")\n"
        "ids = model.generate(pixel_values=inputs[\"pixel_values\"], pixel_mask=inputs[\"pixel_mask\"])\n"
        "print(processor.batch_decode(ids, skip_special_tokens=True))"
        if translation
        else "inputs = processor(videos=[\"signing.mp4\"], return_tensors=\"pt\")\n"
        "video_embeds = model(**inputs).video_embeds  # sign representation; fine-tune with run_translation.py"
    )
    card = MODEL_CARD_TEMPLATE.format(
        pipeline_tag="video-text-to-text" if translation else "feature-extraction",
        language=language,
        language_name=language_name,
        title=f"BeyondGloss {'translation' if translation else 'pre-trained'} model ({dataset_name})",
        stage="translation fine-tuned" if translation else "visual-language pre-trained",
        data_summary=dataset_name,
        data_description=(
            f"Trained on `{dataset_name}` (data_dir `{data_args.data_dir}`): paired sign language videos and "
            f"{language_name} sentences"
            + (", with hand-motion descriptions" if data_args.description_encoder else "")
            + (", with per-frame hand features" if data_args.use_hand_features else "")
            + ". SynthSign is this package's procedural signer: its results show that the pipeline learns, not how "
            "well the model translates real signing."
        ),
        hyperparameters=hyperparameter_lines,
        results=results,
        auto_class="AutoModelForSeq2SeqLM" if translation else "AutoModel",
        model_id=os.path.basename(os.path.abspath(output_dir)),
        usage=usage,
    )
    Path(output_dir, "README.md").write_text(card, encoding="utf-8")
