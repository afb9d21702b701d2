"""Training BeyondGloss with the `Trainer`: what `run_pretrain.py` and `run_translation.py` are made of.

- `arguments`: the data arguments, argument parsing with the paper's defaults, logging.
- `data`: corpus splits, tokenizer, random-initialisation config and processor from the arguments.
- `data_collator`: dataset examples to model inputs (decoding, augmentation, hand feature alignment).
- `trainers`: the pre-training and translation Trainers (loss terms, retrieval recall, evaluation collator).
- `outputs`, `model_card`, `plots`: resuming, saving, the model card and the loss plot of the output directory.
"""

from .arguments import DataArguments, parse_arguments, setup_logging
from .data_collator import BeyondGlossDataCollator
from .trainers import BeyondGlossPretrainingTrainer, BeyondGlossSeq2SeqTrainer


__all__ = [
    "BeyondGlossDataCollator",
    "BeyondGlossPretrainingTrainer",
    "BeyondGlossSeq2SeqTrainer",
    "DataArguments",
    "parse_arguments",
    "setup_logging",
]
