"""Vocabulary utilities for the mBART text side.

Sign language corpora use a few thousand word pieces of mBART's 250k vocabulary. Trimming the tokenizer and the
embedding matrices to the pieces a corpus uses (as the research code does with hf-trim) cuts the text model's
size by up to 90 % without changing what it computes for that corpus. The same machinery builds a small
mBART-compatible tokenizer from a corpus alone, which tests and the SynthSign demo use offline.
"""

import copy
import json
from collections import Counter
from collections.abc import Iterable

import torch
from transformers import MBartTokenizer, PreTrainedModel


MBART_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
WORD_BOUNDARY = "▁"


def _unigram_vocab(tokenizer) -> list[tuple[str, float]]:
    """The (piece, score) list of a Unigram tokenizer backed by the `tokenizers` library, in id order."""
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    if model.get("type") != "Unigram":
        raise ValueError(
            f"Expected a Unigram (sentencepiece) tokenizer such as mBART's, got a {model.get('type')} model."
        )
    return [(piece, score) for piece, score in model["vocab"]]


def build_tokenizer_from_corpus(
    sentences: Iterable[str], src_lang: str = "de_DE", tgt_lang: str | None = None, min_count: int = 1
) -> MBartTokenizer:
    """Build a small mBART tokenizer whose pieces are the corpus's words plus its characters.

    Whole words score higher than characters, so a seen word is one token and an unseen word falls back to
    characters instead of `<unk>`. Special tokens, language codes and `<mask>` follow mBART's layout, so the
    tokenizer is a drop-in replacement for `facebook/mbart-large-cc25` in tests and demos.
    """
    words, characters = Counter(), set()
    for sentence in sentences:
        for word in sentence.split():
            words[WORD_BOUNDARY + word] += 1
            characters.update(word)
    if not words:
        raise ValueError("Cannot build a tokenizer from an empty corpus.")
    vocab = [(token, 0.0) for token in MBART_SPECIAL_TOKENS] + [(WORD_BOUNDARY, -2.0)]
    vocab += [(word, -1.0) for word, count in sorted(words.items()) if count >= min_count]
    vocab += [(char, -10.0) for char in sorted(characters) if char != WORD_BOUNDARY]
    return _tokenizer_from_vocab(vocab, src_lang, tgt_lang or src_lang)


def _tokenizer_from_vocab(vocab: list[tuple[str, float]], src_lang: str, tgt_lang: str) -> MBartTokenizer:
    # MBartTokenizer appends its language codes and <mask> as added tokens after the given pieces.
    language_codes = set(MBartTokenizer.__init__.__globals__["FAIRSEQ_LANGUAGE_CODES"]) | {"<mask>"}
    pieces = [(piece, score) for piece, score in vocab if piece not in language_codes]
    return MBartTokenizer(vocab=pieces, src_lang=src_lang, tgt_lang=tgt_lang)


def trim_vocabulary(tokenizer: MBartTokenizer, sentences: Iterable[str]) -> tuple[MBartTokenizer, torch.LongTensor]:
    """Trim an mBART tokenizer to the pieces a corpus uses.

    Args:
        tokenizer: an mBART tokenizer (Unigram, e.g. from `facebook/mbart-large-cc25`).
        sentences: every sentence the model will read or write (all splits of the corpus).

    Returns:
        The trimmed tokenizer and `kept_ids`, the old id of every new id (new id `i` is old id `kept_ids[i]`); pass
        them to [`trim_text_model`]. Special tokens, language codes, `<mask>` and the word-boundary piece are always
        kept; pieces keep their relative order and scores, so the trimmed tokenizer segments the corpus exactly as
        the original did.
    """
    old_vocab = _unigram_vocab(tokenizer)
    used_ids = set(tokenizer.all_special_ids)
    used_ids.add(tokenizer.convert_tokens_to_ids(WORD_BOUNDARY))
    for sentence in sentences:
        used_ids.update(tokenizer(sentence, add_special_tokens=False)["input_ids"])
    # Added tokens (language codes, <mask>) live after the Unigram pieces; the new tokenizer re-appends them.
    kept_piece_ids = sorted(index for index in used_ids if index < len(old_vocab))
    trimmed = _tokenizer_from_vocab(
        [old_vocab[index] for index in kept_piece_ids], tokenizer.src_lang, tokenizer.tgt_lang or tokenizer.src_lang
    )
    return trimmed, kept_token_ids(tokenizer, trimmed)


def kept_token_ids(original_tokenizer, trimmed_tokenizer) -> torch.LongTensor:
    """For every id of `trimmed_tokenizer`, the id of the same piece in `original_tokenizer`."""
    new_tokens = trimmed_tokenizer.convert_ids_to_tokens(list(range(len(trimmed_tokenizer))))
    old_ids = original_tokenizer.convert_tokens_to_ids(new_tokens)
    unknown = [
        token
        for token, old_id in zip(new_tokens, old_ids)
        if old_id == original_tokenizer.unk_token_id and token != original_tokenizer.unk_token
    ]
    if unknown:
        raise ValueError(
            f"The trimmed vocabulary has pieces the original lacks, e.g. {unknown[:5]}: not trimmed from it."
        )
    return torch.tensor(old_ids, dtype=torch.long)


def trim_text_model(model: PreTrainedModel, kept_ids: torch.LongTensor) -> PreTrainedModel:
    """A copy of an mBART model (`MBartForConditionalGeneration`, `MBartModel`) whose vocabulary-indexed weights
    (token embeddings, `lm_head`, `final_logits_bias`) keep only the rows of `kept_ids`, from [`trim_vocabulary`]."""
    old_vocab_size = model.config.vocab_size
    kept_ids = kept_ids.to(torch.long)
    state_dict = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("final_logits_bias"):
            tensor = tensor.index_select(1, kept_ids)
        elif tensor.ndim >= 1 and tensor.shape[0] == old_vocab_size:
            tensor = tensor.index_select(0, kept_ids)
        state_dict[name] = tensor
    config = copy.deepcopy(model.config)
    config.vocab_size = len(kept_ids)
    trimmed = type(model)(config)
    trimmed.load_state_dict(state_dict, strict=False)
    trimmed.tie_weights()
    return trimmed


__all__ = ["build_tokenizer_from_corpus", "kept_token_ids", "trim_text_model", "trim_vocabulary"]
