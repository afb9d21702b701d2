"""The model card (`README.md`) of a trained model's output directory, built with `huggingface_hub.ModelCard`."""

import os
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from modeling_beyondgloss.pipeline_beyondgloss import TASK


__all__ = ["write_model_card"]

MODEL_CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

A **BeyondGloss** model ({{ stage }}) for gloss-free sign language translation: sign language video in, a
{{ language_name }} sentence out. BeyondGloss (Asasi et al., BMVC 2025) encodes frames with DINOv2 (LoRA on its last
blocks), distils hand features (HaMeR layout) into a hand branch, models time with a local-attention transformer,
aligns a description branch with hand-motion descriptions, and translates with mBART (LoRA on `q_proj`/`v_proj`).

## Intended use and limitations

- Research on sign language translation: benchmarking, ablations, and as a starting point for fine-tuning.
- Sign languages are full languages of Deaf communities. This model translates a narrow domain ({{ data_summary }})
  with limited accuracy; it **must not be presented as, or used in place of, an interpreter**, and it should not be
  used for decisions that affect Deaf people without their involvement.
- It knows only the signers, vocabulary and recording conditions of its training data and generalises poorly
  beyond them. Translations can be fluent and wrong.

## Training data

{{ data_description }}

## Training procedure

{{ hyperparameters }}

## Results

{{ results }}

## How to use

```python
{{ usage }}
```
{{ try_it }}
## Citation

```bibtex
@inproceedings{asasi2025beyondgloss,
  title     = {Beyond Gloss: A Hand-Centric Framework for Gloss-Free Sign Language Translation},
  author    = {Asasi, Sobhan and Lakhal, Mohamed Ilyes and Mercanoglu Sincan, Ozge and Bowden, Richard},
  booktitle = {British Machine Vision Conference (BMVC)},
  year      = {2025}
}
```
"""

LANGUAGE_NAMES = {"de_DE": ("de", "German"), "zh_CN": ("zh", "Chinese"), "en_XX": ("en", "English")}
# The Hub's task closest to ours (video in, text out); the custom `sign-language-translation` pipeline is named in the
# usage section, since the Hub lists only its own tasks.
HUB_TASK = "video-text-to-text"


# Models inherit the terms of their training data; SynthSign is this package's own (MIT).
DATASETS = {
    "phoenix14t": {"name": "RWTH-PHOENIX-Weather 2014 T", "license": "cc-by-nc-sa-3.0"},
    "csl_daily": {"name": "CSL-Daily", "license": "other", "license_name": "csl-daily-research-only"},
    "how2sign": {"name": "How2Sign", "license": "cc-by-nc-4.0"},
    "openasl": {"name": "OpenASL", "license": "cc-by-nc-nd-4.0"},
    "synthsign": {"name": "SynthSign", "license": "mit"},
}
TRANSLATION_METRICS = {
    "bleu1": "BLEU-1", "bleu2": "BLEU-2", "bleu3": "BLEU-3", "bleu4": "BLEU-4", "rouge_l": "ROUGE-L"
}
SPLITS = {"eval": "validation", "predict": "test"}

TRANSLATION_USAGE = """from transformers import pipeline

translator = pipeline("{task}", model="{model_id}", trust_remote_code=True)
print(translator("signing.mp4"))  # or a folder of frames, a (frames, H, W, 3) uint8 array, or a list of these
# {{'translation_text': '...'}}"""

TRY_IT = """
## Try it

The beyondgloss repository's `app.py` is a Gradio web app (a Space) for this model: translate a clip, or subtitle a
whole video in sliding windows, in the browser. From a clone of the repository:

```bash
pip install -e ".[app]"
python app.py --model {model_id}          # then open http://127.0.0.1:7860
```

As a Space: create a Gradio Space from the repository's files (`app.py`, `requirements.txt`, `packages.txt`) and set
the Space variable `BEYONDGLOSS_MODEL={model_id}`.
"""

PRETRAINING_USAGE = """from transformers import AutoModel, AutoProcessor

model = AutoModel.from_pretrained("{model_id}", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("{model_id}", trust_remote_code=True)
inputs = processor(videos=["signing.mp4"], return_tensors="pt")
video_embeds = model(**inputs).video_embeds  # sign representation; fine-tune with run_translation.py"""


def backbone_ids(model_config) -> list[str]:
    """The Hub ids of the backbones the model was built from (local paths are left out)."""
    names = [getattr(model_config.vision_config, "_name_or_path", None), model_config.text_model_name_or_path]
    return [name for name in names if name and not os.path.exists(name)]


def evaluation_results(metrics: dict, dataset_name: str) -> list[EvalResult]:
    """One `model-index` entry per translation metric and split that was measured, with its metric convention."""
    results = []
    for prefix, split in SPLITS.items():
        convention = metrics.get(f"{prefix}_metric_convention")
        for key, metric_name in TRANSLATION_METRICS.items():
            value = metrics.get(f"{prefix}_{key}")
            if isinstance(value, (int, float)):
                results.append(
                    EvalResult(
                        task_type="translation",
                        task_name="Sign language translation",
                        dataset_type=dataset_name,
                        dataset_name=DATASETS.get(dataset_name, {}).get("name", dataset_name),
                        dataset_split=split,
                        metric_type="rouge" if key == "rouge_l" else "bleu",
                        metric_name=metric_name,
                        metric_value=round(float(value), 2),
                        metric_config=convention,
                    )
                )
    return results


def write_model_card(output_dir, *, stage, dataset_name, data_args, training_args, metrics, model_config):
    """Write `README.md` (model card, with `model-index` metadata) into `output_dir`."""
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
        hyperparameters["label_smoothing_factor"] = training_args.label_smoothing_factor
    hyperparameter_lines = "\n".join(f"- `{key}`: {value}" for key, value in hyperparameters.items())
    if translation:
        # Translation quality; the convention of the test numbers when there are any, else of the dev numbers.
        convention = metrics.get("predict_metric_convention") or metrics.get("eval_metric_convention")
        shown = {key: value for key, value in metrics.items() if "bleu" in key or "rouge" in key}
    else:
        convention, shown = None, metrics
    numeric = {key: value for key, value in shown.items() if isinstance(value, (int, float))}
    if numeric:
        rows = "\n".join(f"| {key} | {value:.2f} |" for key, value in sorted(numeric.items()))
        results = f"| metric | value |\n|---|---|\n{rows}\n"
        if convention:
            results += f"\nMetric convention: {convention}.\n"
    else:
        results = "No evaluation was run."

    model_id = training_args.hub_model_id or os.path.basename(os.path.abspath(output_dir))
    title = f"BeyondGloss {'translation' if translation else 'pre-trained'} model ({dataset_name})"
    dataset = DATASETS.get(dataset_name, {"name": dataset_name, "license": "unknown"})
    data_description = (
        f"Trained on {dataset['name']} (`{dataset_name}`, data_dir `{data_args.data_dir}`): paired sign language "
        f"videos and {language_name} sentences"
        + (", with hand-motion descriptions" if data_args.description_encoder else "")
        + (", with per-frame hand features" if data_args.use_hand_features else "")
        + "."
    )
    if dataset_name == "synthsign":
        data_description += (
            "\n\nSynthSign is this package's procedural signer: its results show that the pipeline learns, not how "
            "well the model translates real signing."
        )
    card_data = ModelCardData(
        model_name=title,
        library_name="transformers",
        pipeline_tag=HUB_TASK if translation else "feature-extraction",
        language=[language],
        license=dataset["license"],
        license_name=dataset.get("license_name"),
        datasets=[dataset["name"]],
        base_model=backbone_ids(model_config) or None,
        metrics=["bleu", "rouge"] if translation else None,
        tags=["sign-language-translation", "gloss-free", "beyondgloss", "video"],
        eval_results=evaluation_results(metrics, dataset_name) if translation else None,
    )
    card = ModelCard.from_template(
        card_data,
        template_str=MODEL_CARD_TEMPLATE,
        title=title,
        stage="translation fine-tuned" if translation else "visual-language pre-trained",
        language_name=language_name,
        data_summary=dataset["name"],
        data_description=data_description,
        hyperparameters=hyperparameter_lines,
        results=results,
        usage=(TRANSLATION_USAGE.format(task=TASK, model_id=model_id) if translation
               else PRETRAINING_USAGE.format(model_id=model_id)),
        try_it=TRY_IT.format(model_id=model_id) if translation else "",
    )
    Path(output_dir, "README.md").write_text(str(card), encoding="utf-8")
