"""Trainers for BeyondGloss pre-training and translation fine-tuning."""

import contextlib
import errno
import logging
import os
import shutil

import numpy as np
import torch
from accelerate.data_loader import SeedableRandomSampler
from accelerate.utils import gather_object
from torch.utils.data import Dataset, RandomSampler, Sampler
from transformers import Seq2SeqTrainer, Trainer
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_pt_utils import BatchRebalanceSampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, has_length
from transformers.utils import is_sagemaker_mp_enabled, is_torch_xla_available

from .checkpoints import (
    TRAINABLE_WEIGHTS_NAME,
    FrozenWeightsFingerprint,
    load_trainable_weights,
    save_trainable_weights,
    weights_source,
)
from .data_collator import AUGMENTATION_SEED, SKIPPED_SAMPLES


logger = logging.getLogger(__name__)

LOSS_TERMS = ("loss_align", "loss_desc", "loss_hand")
SKIPPED_SAMPLES_FILE = "skipped_samples.txt"


# How a write that ran out of space surfaces: an OSError from Python, safetensors' message, and torch.save's zip
# writer, which loses the errno ("unexpected pos 107136 vs 107028").
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_DISK_FULL_MESSAGES = ("No space left on device", "StorageFull", "unexpected pos", "file write failed")


@contextlib.contextmanager
def _explain_disk_full(path: str):
    """Turn the errors a full disk gives while saving into one that says so and names `path`."""
    try:
        yield
    except (OSError, RuntimeError) as error:
        full = getattr(error, "errno", None) in _DISK_FULL_ERRNOS or any(
            message in str(error) for message in _DISK_FULL_MESSAGES
        )
        if not full or getattr(error, "filename", None) == path:
            raise
        existing = path
        while not os.path.exists(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        free = shutil.disk_usage(existing).free / 2**20
        raise OSError(
            errno.ENOSPC,
            f"No space left on device while saving (writing stopped with: {error}; {free:.1f} MiB free there). "
            "Free some space or choose another --output_dir, then resume with --resume_from_checkpoint last, "
            "which passes over this incomplete save",
            path,
        ) from error


class _EpochIndexSampler(Sampler):
    """Yields `(epoch, index)` for each index of `sampler`, so that the dataset knows which epoch it serves: a
    DataLoader worker's copy of the dataset does not see the Trainer's `set_epoch`, but it does see the keys."""

    def __init__(self, sampler):
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        epoch = self.epoch
        for index in self.sampler:
            yield epoch, index

    def __len__(self):
        return len(self.sampler)


class _AugmentationSeededDataset(Dataset):
    """The training split with, in each example, the seed of its augmentation drawn from (seed, epoch, index).

    The collator augments each example with its own generator rather than the global one, so an example is augmented
    the same way whether the run was interrupted and resumed or not and whichever DataLoader worker decodes it, and
    the global generator (dropout) is left to the Trainer, which restores it from the checkpoint.
    """

    def __init__(self, dataset, seed: int):
        self.dataset = dataset
        self.seed = seed

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            return self.dataset[key]
        epoch, index = key
        example = dict(self.dataset[index])
        example[AUGMENTATION_SEED] = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0])
        return example


class _BeyondGlossTrainerMixin:
    """What both trainers share.

    - Training batches come from the augmenting collator; evaluation and prediction batches from
      `eval_data_collator` (same processing without augmentation) when one is given.
    - Each training example is augmented with its own generator, seeded by (seed, epoch, index), so that a run
      resumed from any checkpoint, with any number of DataLoader workers, trains exactly as an uninterrupted one.
    - Samples the training collator left out because they do not decode are logged, counted
      (`train_skipped_samples`) and listed in `output_dir/skipped_samples.txt` at each save and at the end.
    - A save that runs out of disk space fails with ENOSPC naming the checkpoint or output directory.
    - Resuming does not warn about tied weights, which checkpoints store once.
    - `push_to_hub` keeps the model card the training scripts write (`README.md` in the output directory) instead of
      replacing it with the Trainer's generic one.
    - Weight decay applies to every trained tensor, biases and norms included, as in the reference implementation.
    - `one_cycle=True` replaces `--lr_scheduler_type` with the reference fine-tuning schedule: PyTorch's `OneCycleLR`
      (cosine annealing, warm-up fraction `--warmup_steps`, start and end at `lr / 25` and `lr / 25e4`, Adam's β1
      cycled between 0.95 and 0.85).
    - Intermediate checkpoints hold what trains (see `training_beyondgloss.checkpoints`): `trainable_model.safetensors`
      with the trained parameters and the buffers, a record of where the frozen weights come from (`weights_source`,
      which the training scripts fill from their arguments) and of each frozen tensor's SHA-256, then the optimizer,
      scheduler, RNG and trainer states as usual. Resuming, and loading the best model at the end, take the frozen
      weights from the model given to the Trainer and refuse, naming the file, when they differ from the record. The
      final `save_model()` writes the whole model. Checkpoints stay whole with `save_frozen_weights=True`,
      `--save_only_model` (whose checkpoints are meant as models), and under DeepSpeed, FSDP, XLA or SageMaker MP,
      whose engines write and resume the model from their own checkpoint format.
    """

    def __init__(
        self,
        *args,
        eval_data_collator=None,
        one_cycle: bool = False,
        weights_source: dict | None = None,
        save_frozen_weights: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.eval_data_collator = eval_data_collator
        self.one_cycle = one_cycle
        self.weights_source = weights_source
        self.save_frozen_weights = save_frozen_weights
        self._saving_checkpoint = False
        self._frozen_fingerprint = FrozenWeightsFingerprint()
        # Samples the collator left out because they did not decode, with the error: {name: error}.
        self.skipped_samples = {}

    def get_decay_parameter_names(self, model) -> list[str]:
        return [name for name, _ in model.named_parameters()]

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        # A one-cycle schedule needs at least two warm-up steps and one annealing step.
        if not self.one_cycle or self.lr_scheduler is not None or num_training_steps < 3:
            return super().create_scheduler(num_training_steps, optimizer)
        warmup_fraction = self.args.get_warmup_steps(num_training_steps) / num_training_steps
        optimizer = optimizer if optimizer is not None else self.optimizer
        # accelerate and DeepSpeed wrap the torch optimizer and share its parameter groups; OneCycleLR also reads its
        # `defaults`, which only the innermost one has.
        while not hasattr(optimizer, "defaults") and hasattr(optimizer, "optimizer"):
            optimizer = optimizer.optimizer
        self.lr_scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=self.args.learning_rate,
            total_steps=num_training_steps,
            pct_start=min(max(warmup_fraction, 2 / num_training_steps), 1 - 1 / num_training_steps),
            anneal_strategy="cos",
        )
        self._created_lr_scheduler = True
        return self.lr_scheduler

    def _prepare_inputs(self, inputs):
        for name, error in inputs.pop(SKIPPED_SAMPLES, None) or ():
            if name not in self.skipped_samples:
                self.skipped_samples[name] = error
            logger.warning(
                "Skipped sample %s, which does not decode (%d skipped so far; --skip_undecodable_samples false makes "
                "this fatal): %s", name, len(self.skipped_samples), error,
            )
        return super()._prepare_inputs(inputs)

    def _write_skipped_samples(self):
        """List the skipped samples of all processes in `output_dir/skipped_samples.txt`, one `name<TAB>error` a
        line (kept from before a resume, since decoding fails the same way every time)."""
        skipped = {}
        for part in gather_object([self.skipped_samples]):
            skipped.update(part)
        path = os.path.join(self.args.output_dir, SKIPPED_SAMPLES_FILE)
        if self.args.should_save and skipped:
            os.makedirs(self.args.output_dir, exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.writelines(f"{name}\t{error}\n" for name, error in sorted(skipped.items()))
        return skipped

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        path = os.path.join(self.args.output_dir, SKIPPED_SAMPLES_FILE)
        if resume_from_checkpoint is not None and os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                self.skipped_samples.update(line.rstrip("\n").split("\t", 1) for line in handle if "\t" in line)
        result = super().train(resume_from_checkpoint, *args, **kwargs)
        skipped = self._write_skipped_samples()
        result.metrics["train_skipped_samples"] = len(skipped)
        if skipped:
            logger.warning("Skipped %d sample(s) that do not decode; see %s", len(skipped), path)
        return result

    @contextlib.contextmanager
    def _evaluation_collator(self):
        if self.eval_data_collator is None:
            yield
            return
        training_collator, self.data_collator = self.data_collator, self.eval_data_collator
        try:
            yield
        finally:
            self.data_collator = training_collator

    def _save_checkpoint(self, model, trial):
        checkpoint_folder = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        checkpoint = os.path.join(self._get_output_dir(trial=trial), checkpoint_folder)
        self._saving_checkpoint = True
        try:
            with _explain_disk_full(checkpoint):
                super()._save_checkpoint(model, trial)
                self._write_skipped_samples()
        finally:
            self._saving_checkpoint = False

    def _trims_checkpoints(self) -> bool:
        """Whether checkpoints leave the frozen weights out (see the class docstring for when they do not)."""
        return not (
            self.save_frozen_weights
            or self.args.save_only_model
            or self.is_deepspeed_enabled
            or self.is_fsdp_enabled
            or is_torch_xla_available()
            or is_sagemaker_mp_enabled()
        )

    def _save(self, output_dir=None, state_dict=None):
        if not (self._saving_checkpoint and self._trims_checkpoints()):
            return super()._save(output_dir, state_dict)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return None
        os.makedirs(output_dir, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        logger.info("Saving the trained weights (the frozen ones stay where they came from) to %s", output_dir)
        model.config.save_pretrained(output_dir)
        if model.can_generate() and getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(output_dir)
        source = self.weights_source or weights_source(name_or_path=model.name_or_path or None, seed=self.args.seed)
        save_trainable_weights(model, output_dir, source, self._frozen_fingerprint)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))
        return None

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        if not os.path.isfile(os.path.join(resume_from_checkpoint, TRAINABLE_WEIGHTS_NAME)):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        model = self.accelerator.unwrap_model(model if model is not None else self.model, keep_torch_compile=False)
        logger.info("Loading the trained weights from %s onto the frozen ones of the model", resume_from_checkpoint)
        load_trainable_weights(model, resume_from_checkpoint, self._frozen_fingerprint)
        return None

    def _load_best_model(self):
        best = self.state.best_model_checkpoint
        if self.is_deepspeed_enabled or not os.path.isfile(os.path.join(best, TRAINABLE_WEIGHTS_NAME)):
            return super()._load_best_model()
        logger.info("Loading best model from %s (score: %s).", best, self.state.best_metric)
        load_trainable_weights(
            self.accelerator.unwrap_model(self.model, keep_torch_compile=False), best, self._frozen_fingerprint
        )
        return None

    def save_model(self, output_dir=None, _internal_call=False):
        with _explain_disk_full(output_dir or self.args.output_dir):
            super().save_model(output_dir, _internal_call)

    def get_train_dataloader(self):
        if self.train_dataset is None or not has_length(self.train_dataset):
            return super().get_train_dataloader()
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return self._get_dataloader(
            dataset=_AugmentationSeededDataset(self.train_dataset, seed),
            description="Training",
            batch_size=self._train_batch_size,
            sampler_fn=self._get_train_sampler,
            is_training=True,
        )

    def _get_train_sampler(self, train_dataset=None):
        sampler = super()._get_train_sampler(train_dataset)
        if not isinstance(train_dataset, _AugmentationSeededDataset) or isinstance(sampler, BatchRebalanceSampler):
            return sampler
        if type(sampler) is RandomSampler:
            # What accelerate would make of it: a permutation seeded by (seed, epoch), not by the global generator.
            sampler = SeedableRandomSampler(data_source=train_dataset, data_seed=train_dataset.seed)
        return _EpochIndexSampler(sampler)

    def get_eval_dataloader(self, eval_dataset=None):
        with self._evaluation_collator():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._evaluation_collator():
            return super().get_test_dataloader(test_dataset)

    def _issue_warnings_after_load(self, load_result):
        # Tied weights (mBART's embeddings and LM head) are saved once, so their other names are "missing" by design.
        tied = set(getattr(self.model, "all_tied_weights_keys", None) or ())
        load_result.missing_keys[:] = [key for key in load_result.missing_keys if key not in tied]
        super()._issue_warnings_after_load(load_result)

    def create_model_card(self, *args, **kwargs):
        if os.path.isfile(os.path.join(self.args.output_dir, "README.md")):
            logger.info("Keeping the model card in %s", self.args.output_dir)
            return
        super().create_model_card(*args, **kwargs)


def retrieval_recall(query_embeds: np.ndarray, key_embeds: np.ndarray, ks=(1, 5)) -> dict[str, float]:
    """Recall@k (in %) of retrieving key i for query i by cosine similarity (embeddings are L2-normalised)."""
    similarity = query_embeds @ key_embeds.T
    correct = similarity[np.arange(len(similarity)), np.arange(len(similarity))][:, None]
    # Rank = number of keys scoring strictly higher than the true one.
    ranks = (similarity > correct).sum(axis=1)
    return {f"r{k}": float((ranks < k).mean() * 100) for k in ks}


class BeyondGlossPretrainingTrainer(_BeyondGlossTrainerMixin, Trainer):
    """Trainer for [`BeyondGlossForPreTraining`].

    - Logs each loss term (`loss_align`, `loss_desc`, `loss_hand`) at every logging step, averaged over the
      micro-batches since the previous log and over processes; a term whose input is absent is not logged.
    - Evaluation reports the loss terms and video→text / text→video retrieval recall@1/@5 over the whole evaluation
      split (embeddings are gathered from every process before ranking).
    - Gradient accumulation: the model's loss is a batch mean (`accepts_loss_kwargs = False`), so the Trainer
      divides it by the accumulation steps exactly once.
    - Negatives: by default each process contrasts within its own batch, as the paper does; set
      `config.gather_embeddings = True` (`--gather_embeddings`) to contrast with the batches of all processes.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._term_sums = {}
        self._term_counts = {}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if outputs.loss is None:
            raise ValueError(
                "The batch gives the model no loss: pre-training needs at least one of input_ids (target sentences), "
                "description_embeds or hand_features."
            )
        if model.training:
            for term in LOSS_TERMS:
                value = getattr(outputs, term)
                if value is not None:
                    self._term_sums[term] = self._term_sums.get(term, 0.0) + value.detach().float()
                    self._term_counts[term] = self._term_counts.get(term, 0) + 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs, start_time=None):
        if "loss" in logs and self._term_sums:
            for term, total in self._term_sums.items():
                mean = total / self._term_counts[term]
                logs[term] = round(self.accelerator.reduce(mean, reduction="mean").item(), 4)
            self._term_sums, self._term_counts = {}, {}
        super().log(logs, start_time)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            outputs = model(**inputs)
        loss = outputs.loss.detach() if outputs.loss is not None else None
        if prediction_loss_only:
            return loss, None, None
        batch_size = outputs.video_embeds.shape[0]
        nan = torch.full((batch_size,), float("nan"), device=outputs.video_embeds.device)
        # Per-sample copies of the batch's loss terms, so the evaluation loop gathers them like predictions.
        terms = torch.stack(
            [getattr(outputs, term).detach().float().expand(batch_size) if getattr(outputs, term) is not None else nan
             for term in LOSS_TERMS],
            dim=1,
        )
        text_embeds = (
            outputs.text_embeds
            if outputs.text_embeds is not None
            else torch.full_like(outputs.video_embeds, float("nan"))
        )
        return loss, (outputs.video_embeds.float(), text_embeds.float(), terms), None

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"
    ):
        output = super().evaluation_loop(
            dataloader,
            description,
            prediction_loss_only=False,
            ignore_keys=ignore_keys,
            metric_key_prefix=metric_key_prefix,
        )
        if output.predictions is None:
            return output
        video_embeds, text_embeds, terms = output.predictions
        for index, term in enumerate(LOSS_TERMS):
            if not np.isnan(terms[:, index]).all():
                output.metrics[f"{metric_key_prefix}_{term}"] = float(np.nanmean(terms[:, index]))
        if not np.isnan(text_embeds).any():
            for direction, (queries, keys) in {
                "video_to_text": (video_embeds, text_embeds),
                "text_to_video": (text_embeds, video_embeds),
            }.items():
                for name, value in retrieval_recall(queries, keys).items():
                    output.metrics[f"{metric_key_prefix}_{direction}_{name}"] = value
        return output


class BeyondGlossSeq2SeqTrainer(_BeyondGlossTrainerMixin, Seq2SeqTrainer):
    """`Seq2SeqTrainer` for [`BeyondGlossForConditionalGeneration`], whose `generate()` is transformers' own: with
    `predict_with_generate` the batch goes to `generate()` as for any encoder-decoder. Beams and length come from the
    arguments (`generation_num_beams`, `generation_max_length`) or the model's generation config; label smoothing
    from `label_smoothing_factor`."""


def decode_predictions(tokenizer, predictions, labels=None):
    """Decode generated ids and labels (-100 padding from the evaluation loop is mapped to pad) to clean strings."""
    predictions = np.where(predictions < 0, tokenizer.pad_token_id, predictions)
    decoded = [text.strip() for text in tokenizer.batch_decode(predictions, skip_special_tokens=True)]
    if labels is None:
        return decoded, None
    labels = np.where(labels < 0, tokenizer.pad_token_id, labels)
    references = [text.strip() for text in tokenizer.batch_decode(labels, skip_special_tokens=True)]
    return decoded, references


__all__ = [
    "BeyondGlossPretrainingTrainer",
    "BeyondGlossSeq2SeqTrainer",
    "decode_predictions",
    "retrieval_recall",
]
