"""Command-line arguments shared by the training scripts: the data arguments, parsing with the paper's defaults, and
readable logging."""

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import transformers
from transformers import HfArgumentParser, set_seed

from .outputs import check_output_dir


__all__ = [
    "REFERENCE_OPTIMISATION",
    "LANGUAGE_CODES",
    "METRIC_TOKENIZE",
    "DataArguments",
    "parse_arguments",
    "setup_logging",
    "start_run",
]

LANGUAGE_CODES = {
    "phoenix14t": "de_DE",
    "csl_daily": "zh_CN",
    "how2sign": "en_XX",
    "openasl": "en_XX",
    # YouTube-ASL's captions are English; other corpora of captioned videos pass --tgt_lang.
    "captioned_videos": "en_XX",
    "synthsign": "de_DE",
}
METRIC_TOKENIZE = {"zh_CN": "zh"}
# What both stages of the reference recipe share (docs/fidelity.md): weight decay 0.01 (on every trained tensor, see
# the Trainers), gradient clipping 1.0, batch 16. The collator reads the video columns, so none may be dropped.
REFERENCE_OPTIMISATION = {
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 16,
    "remove_unused_columns": False,
}


@dataclass
class DataArguments:
    """Which corpus to read, where its parts lie, and how its videos are turned into frames."""

    dataset_name: str = field(
        default="synthsign",
        metadata={
            "help": "phoenix14t, csl_daily, how2sign, openasl, captioned_videos, synthsign or custom "
            "(docs/datasets.md)."
        },
    )
    data_dir: str | None = field(
        default=None,
        metadata={"help": "The corpus folder: a release, annotation files, captioned videos or manifests."},
    )
    frames_dir: str | None = field(default=None, metadata={"help": "Root of per-sample frame folders."})
    videos_dir: str | None = field(default=None, metadata={"help": "Root of per-sample video files."})
    descriptions_dir: str | None = field(default=None, metadata={"help": "Folder of description JSONs."})
    hand_features_dir: str | None = field(default=None, metadata={"help": "Folder of per-video hand features."})
    manifest: str | None = field(
        default=None, metadata={"help": "custom: a JSONL/CSV manifest (default: data_dir/{train,validation,test}.*)."}
    )
    min_segment_seconds: float | None = field(
        default=None, metadata={"help": "Leave out segments of long videos shorter than this (seconds)."}
    )
    max_segment_seconds: float | None = field(
        default=None, metadata={"help": "Leave out segments of long videos longer than this (seconds)."}
    )
    verify_media: str | None = field(
        default=None,
        metadata={"help": "How prepared media are checked: cheap (the default: headers, first frames) or full "
                  "(decode every frame)."},
    )
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "Cache folder of the prepared dataset."})
    drop_invalid: bool = field(default=False, metadata={"help": "Drop invalid samples (logged) instead of failing."})
    description_encoder: str | None = field(
        default=None,
        metadata={
            "help": "Text encoder (name or path) that embeds the descriptions, e.g. facebook/mbart-large-50; "
            "without it the description loss is not used."
        },
    )
    use_hand_features: bool = field(default=True, metadata={"help": "Distil hand features when the corpus has them."})
    tgt_lang: str | None = field(
        default=None, metadata={"help": "mBART language code of the target text (default: de_DE or zh_CN by corpus)."}
    )
    augment: bool = field(
        default=True,
        metadata={"help": "The paper's training-time augmentation (rotation, scale, translation, each with p=0.5)."},
    )
    max_frames: int = field(default=300, metadata={"help": "At most this many frames per video (the paper: 300)."})
    frame_sampling: str = field(default="truncate", metadata={"help": "truncate (the paper) or uniform."})
    image_size: int | None = field(
        default=None, metadata={"help": "Crop size (default: the vision config's image size, 224 for DINOv2)."}
    )
    resize_size: int | None = field(
        default=None, metadata={"help": "Resize before cropping (default: crop × 256/224)."}
    )
    max_target_length: int = field(default=128, metadata={"help": "Longest target sentence in tokens."})
    decoded_clip_cache_mb: float = field(
        default=0,
        metadata={"help": "Megabytes of decoded clips kept in memory per data-loading process, so that a corpus that "
                  "fits is decoded once rather than every epoch (0: off; with dataloader workers, add "
                  "--dataloader_persistent_workers)."},
    )
    skip_undecodable_samples: bool = field(
        default=True,
        metadata={"help": "During training, leave out a sample whose video fails to decode (logged, counted and "
                  "listed in output_dir/skipped_samples.txt) instead of stopping; false makes it fatal."},
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Train into an --output_dir that already holds a trained model or checkpoints, replacing "
                  "them (without it, such a run is refused)."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only this many training samples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only this many evaluation samples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Use only this many test samples."})

    def language_code(self) -> str:
        return self.tgt_lang or LANGUAGE_CODES.get(self.dataset_name, "de_DE")


def setup_logging(training_args) -> None:
    """Readable logs as in transformers' examples: this package's loggers at INFO on the main process, transformers
    and datasets at `--log_level` (their own default unless given)."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    own_level = logging.INFO if training_args.should_log else logging.WARNING
    for name in ("__main__", "modeling_beyondgloss", "training_beyondgloss", "datasets_scripts", "run_pretrain",
                 "run_translation"):
        logging.getLogger(name).setLevel(own_level)
    log_level = training_args.get_process_log_level()
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_explicit_format()


def parse_arguments(dataclass_types, argv=None, paper_defaults=None):
    """Parse command-line flags (or a single `.json` file) into the dataclasses, starting from `paper_defaults`
    for every field that is not given explicitly."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(dataclass_types)
    paper_defaults = dict(paper_defaults or {})
    if os.environ.get("DS_ACCELERATOR") == "cpu":
        # DeepSpeed on its CPU accelerator: accelerate starts the (gloo or oneCCL) process group that DeepSpeed joins
        # only for `use_cpu`; without it, it finds no GPU and runs every process as a world of one.
        paper_defaults.setdefault("use_cpu", True)
    if len(argv) == 1 and argv[0].endswith(".json"):
        given = json.loads(Path(argv[0]).read_text())
        return parser.parse_dict({**paper_defaults, **given})
    # argparse keeps the last occurrence of a flag, so explicit flags override the prepended defaults.
    default_flags = []
    for name, value in paper_defaults.items():
        default_flags += [f"--{name}", str(value)]
    return parser.parse_args_into_dataclasses(args=default_flags + argv)


def start_run(dataclass_types, argv=None, paper_defaults=None):
    """Parse the arguments (see [`parse_arguments`]), set up logging and seed everything; the training arguments
    must be last in `dataclass_types`."""
    arguments = parse_arguments(dataclass_types, argv, paper_defaults)
    training_args = arguments[-1]
    setup_logging(training_args)
    if training_args.remove_unused_columns:
        raise ValueError("--remove_unused_columns must stay False: the collator reads the dataset's video columns.")
    data_args = next(argument for argument in arguments if isinstance(argument, DataArguments))
    check_output_dir(training_args, data_args.overwrite_output_dir)
    set_seed(training_args.seed)
    return arguments
