"""The reference implementation's optimisation recipe, as the training scripts and Trainers apply it."""

import datasets
import pytest
import torch
from transformers import Seq2SeqTrainingArguments

import run_pretrain
import run_translation
from training_beyondgloss.arguments import parse_arguments
from training_beyondgloss.data import corpus_sentences
from training_beyondgloss.trainers import BeyondGlossSeq2SeqTrainer


def make_trainer(tmp_path, one_cycle):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path), learning_rate=4e-4, warmup_steps=0.2, weight_decay=0.01, report_to="none",
        use_cpu=True,
    )
    return BeyondGlossSeq2SeqTrainer(model=model, args=args, one_cycle=one_cycle)


def test_one_cycle_schedule_follows_torch_one_cycle(tmp_path):
    trainer = make_trainer(tmp_path, one_cycle=True)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    assert isinstance(trainer.lr_scheduler, torch.optim.lr_scheduler.OneCycleLR)

    reference_optimizer = torch.optim.AdamW(torch.nn.Linear(1, 1).parameters(), lr=4e-4)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        reference_optimizer, max_lr=4e-4, total_steps=10, pct_start=0.2, anneal_strategy="cos"
    )
    for _ in range(10):
        group, reference_group = trainer.optimizer.param_groups[0], reference_optimizer.param_groups[0]
        assert group["lr"] == pytest.approx(reference_group["lr"])
        assert group["betas"][0] == pytest.approx(reference_group["betas"][0])
        trainer.optimizer.step()
        reference_optimizer.step()
        trainer.lr_scheduler.step()
        reference.step()


def test_weight_decay_applies_to_every_trained_tensor(tmp_path):
    trainer = make_trainer(tmp_path, one_cycle=False)
    trainer.create_optimizer()
    groups = trainer.optimizer.param_groups
    decayed = {id(p) for group in groups if group["weight_decay"] == 0.01 for p in group["params"]}
    assert decayed == {id(p) for p in trainer.model.parameters()}  # biases and LayerNorm weights included


def test_script_defaults_are_the_reference_recipe(tmp_path):
    _, _, pretraining = parse_arguments(
        (run_pretrain.ModelArguments, run_pretrain.DataArguments, run_pretrain.TrainingArguments),
        ["--model_name_or_path", "x", "--output_dir", str(tmp_path)], run_pretrain.PAPER_DEFAULTS,
    )
    assert (pretraining.learning_rate, pretraining.weight_decay, pretraining.warmup_steps) == (3e-4, 0.01, 0)
    assert pretraining.lr_scheduler_type == "cosine"
    assert (pretraining.per_device_train_batch_size, pretraining.max_grad_norm) == (16, 1.0)

    model_args, _, translation = parse_arguments(
        (run_translation.ModelArguments, run_translation.DataArguments, run_translation.Seq2SeqTrainingArguments),
        ["--model_name_or_path", "x", "--output_dir", str(tmp_path)], run_translation.PAPER_DEFAULTS,
    )
    assert (translation.learning_rate, translation.weight_decay, translation.warmup_steps) == (4e-4, 0.01, 0.2)
    assert model_args.one_cycle and (translation.per_device_train_batch_size, translation.max_grad_norm) == (16, 1.0)
    assert translation.label_smoothing_factor == 0.2


def test_vocabulary_is_fitted_to_the_training_sentences_only():
    dataset = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["es regnet", "morgen sonne"]}),
            "test": datasets.Dataset.from_dict({"text": ["ein ungesehener satz"]}),
        }
    )
    assert corpus_sentences(dataset) == ["es regnet", "morgen sonne"]
    with pytest.raises(ValueError, match="no train split"):
        corpus_sentences(datasets.DatasetDict({"test": dataset["test"]}))
