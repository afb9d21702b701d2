"""Dataset builders for sign language translation corpora, the label formats they read, and the readers of the
per-sample extras (descriptions and hand features)."""

from .labels import LabelFormatError, read_gfslt_labels, read_manifest
from .safe_pickle import UnsafePickleError, safe_load
from .sign_datasets import (
    BUILDERS,
    SIGN_FEATURES,
    SPLITS,
    CSLDaily,
    CustomSignDataset,
    InvalidSamplesError,
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
    "CustomSignDataset",
    "InvalidSamplesError",
    "LabelFormatError",
    "Phoenix14T",
    "SignDatasetConfig",
    "SignLanguageBuilder",
    "SynthSign",
    "UnsafePickleError",
    "load_sign_dataset",
    "read_gfslt_labels",
    "read_manifest",
    "safe_load",
]
