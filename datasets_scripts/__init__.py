"""Sign language datasets for BeyondGloss: builders for Phoenix14T, CSL-Daily, SynthSign and custom manifests."""

from .builders import (
    BUILDERS,
    CSLDaily,
    CustomSignDataset,
    InvalidSamplesError,
    LabelFormatError,
    Phoenix14T,
    SignDatasetConfig,
    SignLanguageBuilder,
    SynthSign,
    load_sign_dataset,
)
from .safe_pickle import UnsafePickleError, safe_load


__all__ = [
    "BUILDERS",
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
    "safe_load",
]
