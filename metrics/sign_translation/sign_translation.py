# Copyright 2025 The BeyondGloss Authors.
#
# Licensed under the MIT License.
"""Sign language translation metric: sacrebleu corpus BLEU-1..4 and sentence-averaged ROUGE-L.

A local `evaluate` module, loadable offline by path:
`evaluate.load("metrics/sign_translation")`.
"""

import re
import unicodedata

import datasets
import evaluate
import sacrebleu
from sacrebleu.metrics import BLEU


_CITATION = """\
@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation: Research Papers",
    year = "2018",
    pages = "186--191",
}
@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
    pages = "74--81",
}
@inproceedings{asasi2025beyondgloss,
    title = "Beyond Gloss: A Hand-Centric Framework for Gloss-Free Sign Language Translation",
    author = "Asasi, Sobhan and Lakhal, Mohamed Ilyes and Mercanoglu Sincan, Ozge and Bowden, Richard",
    booktitle = "British Machine Vision Conference (BMVC)",
    year = "2025",
}
"""

_DESCRIPTION = """\
Scores spoken-language translations of sign language videos the way the gloss-free SLT
literature reports them: sacrebleu corpus BLEU with maximum n-gram order 1, 2, 3 and 4
(BLEU-n uses uniform weights over orders 1..n, exponential smoothing, one reference per
prediction) and ROUGE-L F1 computed per sentence and averaged over the corpus, both x100.

Conventions: Phoenix14T is scored with tokenize="13a" on lower-cased text, CSL-Daily with
tokenize="zh" (character level). `append_period=True` appends " ." to every prediction and
reference before scoring, as the BeyondGloss reference implementation does; it changes the
numbers, so always report which convention was used (see `metric_convention`).

ROUGE-L tokens are Unicode words (runs of letters and digits after NFC normalisation, so
umlauts and accented letters stay inside words), every other non-space character alone
(punctuation), and every CJK ideograph or kana alone. ROUGE-L of a pair where either side
has no tokens is 0.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): translations produced by the model, one per sample.
    references (`list` of `str`): the reference translation of each sample.
    tokenize (`str`, defaults to `"13a"`): sacrebleu tokenizer, `"13a"` (word level,
        Phoenix14T) or `"zh"` (character level for Chinese, CSL-Daily).
    append_period (`bool`, defaults to `False`): append `" ."` to every prediction and
        reference before scoring (BLEU and ROUGE-L), reproducing the reference implementation.
    lowercase (`bool`, defaults to `True`): lower-case predictions and references before
        scoring (BLEU and ROUGE-L).

Returns:
    bleu1, bleu2, bleu3, bleu4 (`float`): corpus BLEU with maximum n-gram order 1..4, in [0, 100].
    rouge_l (`float`): ROUGE-L F1 x100 averaged over sentences, in [0, 100].
    metric_convention (`str`): the exact convention these numbers follow.

Examples:
    >>> metric = evaluate.load("metrics/sign_translation")
    >>> results = metric.compute(
    ...     predictions=["am tag wechselhaft"], references=["am tag wechselhaft"], tokenize="13a"
    ... )
    >>> round(results["bleu1"], 2), round(results["rouge_l"], 2)
    (100.0, 100.0)
"""

SUPPORTED_TOKENIZERS = ("13a", "zh")
MAX_NGRAM_ORDER = 4

# Han ideographs (with extensions and compatibility forms) and Japanese kana: scripts
# written without spaces, so each character is one ROUGE token.
_CJK_CHARACTERS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_ROUGE_TOKEN = re.compile(rf"[{_CJK_CHARACTERS}]|[^\W{_CJK_CHARACTERS}]+|[^\w\s]")


def rouge_tokenize(text, lowercase):
    """Split `text` into ROUGE tokens: Unicode words, single punctuation marks, single CJK characters."""
    text = unicodedata.normalize("NFC", text)
    if lowercase:
        text = text.lower()
    return _ROUGE_TOKEN.findall(text)


def longest_common_subsequence_length(first, second):
    """Length of the longest common subsequence of two token lists (dynamic programming, one row)."""
    if len(second) > len(first):
        first, second = second, first
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for column, other in enumerate(second, start=1):
            if token == other:
                current.append(previous[column - 1] + 1)
            else:
                current.append(max(previous[column], current[column - 1]))
        previous = current
    return previous[-1]


def rouge_l_f1(prediction_tokens, reference_tokens):
    """Sentence ROUGE-L F1 in [0, 1]: harmonic mean of LCS precision and LCS recall."""
    if not prediction_tokens or not reference_tokens:
        return 0.0
    lcs = longest_common_subsequence_length(prediction_tokens, reference_tokens)
    # 2PR / (P + R) with P = lcs / |prediction| and R = lcs / |reference|.
    return 2.0 * lcs / (len(prediction_tokens) + len(reference_tokens))


def describe_convention(tokenize, lowercase, append_period):
    """Human-readable statement of the scoring convention, to store next to the numbers."""
    casing = "lowercase" if lowercase else "case-sensitive"
    period = 'appended " ." to predictions and references' if append_period else "no appended period"
    return (
        f"sacrebleu {sacrebleu.__version__} corpus BLEU-1..4, tokenize={tokenize}, {casing}, smooth=exp, {period}; "
        f"ROUGE-L F1 x100 (sentence average), unicode word tokens with one token per CJK character, {casing}, {period}"
    )


def _check_pairs(predictions, references):
    """Raise a clear error unless predictions and references are equally long lists of strings."""
    for name, values in (("predictions", predictions), ("references", references)):
        if isinstance(values, str) or not isinstance(values, (list, tuple)):
            raise TypeError(f"`{name}` must be a list of strings, got {type(values).__name__}.")
    if len(predictions) != len(references):
        raise ValueError(
            f"Got {len(predictions)} predictions but {len(references)} references; "
            "each prediction needs exactly one reference."
        )
    for name, values in (("predictions", predictions), ("references", references)):
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise TypeError(f"`{name}[{index}]` must be a string, got {type(value).__name__}: {value!r}.")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SignTranslation(evaluate.Metric):
    """BLEU-1..4 and ROUGE-L for sign language translation, with an explicit scoring convention."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/mjpost/sacrebleu", "https://github.com/elsobhano/BeyondGloss"],
            reference_urls=["https://arxiv.org/abs/1804.08771", "https://arxiv.org/abs/2507.23575"],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Check the batch before `evaluate` stores it, so bad input fails with a precise message."""
        _check_pairs(predictions, references)
        super().add_batch(predictions=predictions, references=references, **kwargs)

    def _compute(self, predictions, references, tokenize="13a", append_period=False, lowercase=True):
        if tokenize not in SUPPORTED_TOKENIZERS:
            raise ValueError(f"tokenize must be one of {SUPPORTED_TOKENIZERS}, got {tokenize!r}.")
        if len(predictions) == 0:
            raise ValueError("Cannot score an empty corpus: got 0 predictions and 0 references.")
        _check_pairs(predictions, references)
        if append_period:
            predictions = [prediction + " ." for prediction in predictions]
            references = [reference + " ." for reference in references]

        results = {}
        for order in range(1, MAX_NGRAM_ORDER + 1):
            # force=True: appended periods are intended here, not a sign of tokenized input.
            bleu = BLEU(tokenize=tokenize, lowercase=lowercase, max_ngram_order=order, force=True)
            results[f"bleu{order}"] = bleu.corpus_score(predictions, [references]).score

        sentence_scores = [
            rouge_l_f1(rouge_tokenize(prediction, lowercase), rouge_tokenize(reference, lowercase))
            for prediction, reference in zip(predictions, references)
        ]
        results["rouge_l"] = 100.0 * sum(sentence_scores) / len(sentence_scores)
        results["metric_convention"] = describe_convention(tokenize, lowercase, append_period)
        return results
