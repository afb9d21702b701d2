"""Sign language data for BeyondGloss.

- `datasets_scripts.builders`: `datasets` builders for Phoenix14T, CSL-Daily, How2Sign, OpenASL, captioned videos,
  SynthSign and custom manifests, the annotation formats they read, and the restricted unpickler.
- `datasets_scripts.synthsign`: SynthSign, a procedural signer that writes a corpus in the real corpora's layout.
- `datasets_scripts.preprocessing`: the tools that make descriptions, hand features and description embeddings.
- `datasets_scripts.media`: which files are videos and frames, and how they are listed, decoded and counted.
"""

from .builders import *  # noqa: F403
from .builders import __all__  # noqa: F401
