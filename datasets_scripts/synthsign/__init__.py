"""SynthSign: a procedural signer that writes a sign language translation corpus in the layout of the real ones
(see `generate.py`)."""

from .generate import SPLITS, generate_synthsign, main, make_contact_sheet
from .lexicon import build_lexicon, select_glosses


__all__ = ["SPLITS", "build_lexicon", "generate_synthsign", "main", "make_contact_sheet", "select_glosses"]
