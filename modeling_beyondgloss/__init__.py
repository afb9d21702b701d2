"""BeyondGloss: hand-centric gloss-free sign language translation for Hugging Face transformers."""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForSeq2SeqLM,
    AutoProcessor,
    AutoVideoProcessor,
)

from .configuration_beyondgloss import BeyondGlossConfig
from .modeling_beyondgloss import (
    BeyondGlossForConditionalGeneration,
    BeyondGlossForPreTraining,
    BeyondGlossForPreTrainingOutput,
    BeyondGlossModel,
    BeyondGlossModelOutput,
    BeyondGlossPreTrainedModel,
    ContrastiveAlignmentLoss,
    HandDistillationLoss,
)
from .processing_beyondgloss import BeyondGlossProcessor
from .video_processing_beyondgloss import BeyondGlossVideoProcessor
from .vocabulary import build_tokenizer_from_corpus, trim_text_model, trim_vocabulary


AutoConfig.register(BeyondGlossConfig.model_type, BeyondGlossConfig, exist_ok=True)
AutoModel.register(BeyondGlossConfig, BeyondGlossModel, exist_ok=True)
AutoModelForPreTraining.register(BeyondGlossConfig, BeyondGlossForPreTraining, exist_ok=True)
AutoModelForSeq2SeqLM.register(BeyondGlossConfig, BeyondGlossForConditionalGeneration, exist_ok=True)
AutoVideoProcessor.register(BeyondGlossConfig, BeyondGlossVideoProcessor, exist_ok=True)
AutoProcessor.register(BeyondGlossConfig, BeyondGlossProcessor, exist_ok=True)

__all__ = [
    "BeyondGlossConfig",
    "BeyondGlossForConditionalGeneration",
    "BeyondGlossForPreTraining",
    "BeyondGlossForPreTrainingOutput",
    "BeyondGlossModel",
    "BeyondGlossModelOutput",
    "BeyondGlossPreTrainedModel",
    "BeyondGlossProcessor",
    "BeyondGlossVideoProcessor",
    "ContrastiveAlignmentLoss",
    "HandDistillationLoss",
    "build_tokenizer_from_corpus",
    "trim_text_model",
    "trim_vocabulary",
]
