"""Dataset builders for sign language translation corpora, the label and annotation formats they read, and the
readers of the per-sample extras (descriptions and hand features)."""

from .corpus_files import (
    read_caption_file,
    read_csl_daily_release,
    read_how2sign_csv,
    read_openasl_tsv,
    read_phoenix_corpus_csv,
)
from .labels import LabelFormatError, parse_seconds, read_gfslt_labels, read_manifest
from .safe_pickle import UnsafePickleError, safe_load
from .sign_datasets import (
    BUILDERS,
    SIGN_FEATURES,
    SPLITS,
    CaptionedVideos,
    CSLDaily,
    CustomSignDataset,
    How2Sign,
    InvalidSamplesError,
    OpenASL,
    Phoenix14T,
    SignDatasetConfig,
    SignLanguageBuilder,
    SynthSign,
    load_sign_dataset,
)


__all__ = [
    "BUILDERS",
    "SIGN_FEATURES",
    "SPLITS",
    "CSLDaily",
    "CaptionedVideos",
    "CustomSignDataset",
    "How2Sign",
    "InvalidSamplesError",
    "LabelFormatError",
    "OpenASL",
    "Phoenix14T",
    "SignDatasetConfig",
    "SignLanguageBuilder",
    "SynthSign",
    "UnsafePickleError",
    "load_sign_dataset",
    "parse_seconds",
    "read_caption_file",
    "read_csl_daily_release",
    "read_gfslt_labels",
    "read_how2sign_csv",
    "read_manifest",
    "read_openasl_tsv",
    "read_phoenix_corpus_csv",
    "safe_load",
]
