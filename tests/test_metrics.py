"""Tests for the local `evaluate` module metrics/sign_translation (BLEU-1..4 and ROUGE-L).

Expected values are worked out by hand from n-gram counts: corpus BLEU-n is
BP * (p_1 * ... * p_n) ** (1 / n) * 100 with clipped n-gram precisions p_k summed over the
corpus and brevity penalty BP = exp(1 - ref_len / hyp_len) when hyp_len < ref_len.
ROUGE-L F1 of one pair is 2 * LCS / (|hyp| + |ref|); the corpus value is the mean x100.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import evaluate
import pytest
import sacrebleu


REPO_ROOT = Path(__file__).resolve().parents[1]
METRIC_DIR = REPO_ROOT / "metrics" / "sign_translation"
RESULT_KEYS = {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "metric_convention"}

# Phoenix14T-style German with umlauts; capitals in the predictions test lower-casing.
GERMAN_PREDICTIONS = ["Morgen gibt es im Süden Schnee", "Über Nacht wird es kühler"]
GERMAN_REFERENCES = ["morgen gibt es im süden viel schnee", "über nacht wird es kälter"]
CHINESE_PREDICTIONS = ["今天天气很好", "我们明天见"]
CHINESE_REFERENCES = ["今天天气非常好", "我们明天再见"]


def corpus_bleu(precisions, hyp_len, ref_len):
    """BLEU x100 from per-order precisions (uniform weights) and corpus lengths."""
    brevity_penalty = math.exp(1 - ref_len / hyp_len) if hyp_len < ref_len else 1.0
    return 100 * brevity_penalty * math.prod(precisions) ** (1 / len(precisions))


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(METRIC_DIR), keep_in_memory=True)


def test_loads_offline_by_directory_and_by_file():
    script = (
        "import evaluate\n"
        f"for path in ({str(METRIC_DIR)!r}, {str(METRIC_DIR / 'sign_translation.py')!r}):\n"
        "    result = evaluate.load(path).compute(predictions=['a b c d'], references=['a b c d'])\n"
        "    print(sorted(result))\n"
    )
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [str(sorted(RESULT_KEYS))] * 2


def test_loads_by_relative_path_from_repo_root(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    loaded = evaluate.load("metrics/sign_translation", keep_in_memory=True)
    assert loaded.compute(predictions=["x y z w"], references=["x y z w"])["bleu4"] == pytest.approx(100.0)


def test_result_keys_are_exact_so_trainer_prefixes_read_well(metric):
    result = metric.compute(predictions=GERMAN_PREDICTIONS, references=GERMAN_REFERENCES)
    assert set(result) == RESULT_KEYS
    prefixed = {f"predict_{key}" for key in result}
    assert {"predict_bleu1", "predict_bleu4", "predict_rouge_l"} <= prefixed
    assert all(isinstance(result[key], float) for key in RESULT_KEYS - {"metric_convention"})


def test_german_13a_lowercase_by_hand(metric):
    result = metric.compute(
        predictions=GERMAN_PREDICTIONS, references=GERMAN_REFERENCES, tokenize="13a", lowercase=True
    )
    # Lower-cased 13a tokens (umlauts stay inside words):
    #   hyp1 morgen gibt es im süden schnee        (6)   ref1 morgen gibt es im süden viel schnee (7)
    #   hyp2 über nacht wird es kühler             (5)   ref2 über nacht wird es kälter           (5)
    # 1-grams: 6/6 + 4/5 ("kühler" unmatched)                              = 10/11
    # 2-grams: 4/5 ("süden schnee" unmatched) + 3/4 ("es kühler")          =  7/9
    # 3-grams: 3/4 ("im süden schnee") + 2/3 ("wird es kühler")            =  5/7
    # 4-grams: 2/3 ("es im süden schnee") + 1/2 ("nacht wird es kühler")   =  3/5
    # hyp_len 11 < ref_len 12 => BP = exp(1 - 12/11)
    precisions = [10 / 11, 7 / 9, 5 / 7, 3 / 5]
    for order in range(1, 5):
        assert result[f"bleu{order}"] == pytest.approx(corpus_bleu(precisions[:order], 11, 12))
    assert result["bleu1"] == pytest.approx(100 * math.exp(-1 / 11) * 10 / 11)  # 83.009...
    # ROUGE-L: pair1 LCS 6 -> 2*6/(6+7) = 12/13; pair2 LCS 4 -> 2*4/(5+5) = 8/10
    assert result["rouge_l"] == pytest.approx(100 * (12 / 13 + 8 / 10) / 2)  # 86.153...
    assert result["metric_convention"] == (
        f"sacrebleu {sacrebleu.__version__} corpus BLEU-1..4, tokenize=13a, lowercase, smooth=exp, "
        "no appended period; ROUGE-L F1 x100 (sentence average), unicode word tokens with one token per CJK "
        "character, lowercase, no appended period"
    )


def test_append_period_changes_scores_as_counted(metric):
    result = metric.compute(
        predictions=GERMAN_PREDICTIONS, references=GERMAN_REFERENCES, tokenize="13a", append_period=True
    )
    # Every side gains a final "." token: hyp lengths 7 + 6 = 13, ref lengths 8 + 6 = 14.
    # 1-grams: 7/7 + 5/6                                                   = 12/13
    # 2-grams: 5/6 ("schnee ." also ends ref1) + 3/5 ("kühler ." unmatched)  =  8/11
    # 3-grams: 3/5 + 2/4                                                   =  5/9
    # 4-grams: 2/4 + 1/3                                                   =  3/7
    # BP = exp(1 - 14/13)
    precisions = [12 / 13, 8 / 11, 5 / 9, 3 / 7]
    for order in range(1, 5):
        assert result[f"bleu{order}"] == pytest.approx(corpus_bleu(precisions[:order], 13, 14))
    # ROUGE-L: pair1 LCS 7 -> 14/15; pair2 LCS 5 -> 10/12
    assert result["rouge_l"] == pytest.approx(100 * (14 / 15 + 10 / 12) / 2)  # 88.333...
    assert 'appended " ."' in result["metric_convention"]


def test_chinese_character_level_by_hand(metric):
    result = metric.compute(predictions=CHINESE_PREDICTIONS, references=CHINESE_REFERENCES, tokenize="zh")
    # Character tokens:
    #   hyp1 今 天 天 气 很 好 (6)   ref1 今 天 天 气 非 常 好 (7)
    #   hyp2 我 们 明 天 见     (5)   ref2 我 们 明 天 再 见     (6)
    # 1-grams: 5/6 ("很") + 5/5                                            = 10/11
    # 2-grams: 3/5 (今天 天天 天气) + 3/4 (我们 们明 明天)                  =  6/9
    # 3-grams: 2/4 (今天天 天天气) + 2/3 (我们明 们明天)                    =  4/7
    # 4-grams: 1/3 (今天天气) + 1/2 (我们明天)                              =  2/5
    # hyp_len 11 < ref_len 13 => BP = exp(1 - 13/11)
    precisions = [10 / 11, 6 / 9, 4 / 7, 2 / 5]
    for order in range(1, 5):
        assert result[f"bleu{order}"] == pytest.approx(corpus_bleu(precisions[:order], 11, 13))
    # ROUGE-L, one token per character: LCS 今天天气好 = 5 -> 10/13; LCS 我们明天见 = 5 -> 10/11
    assert result["rouge_l"] == pytest.approx(100 * (10 / 13 + 10 / 11) / 2)  # 83.916...
    assert "tokenize=zh" in result["metric_convention"]


def test_case_sensitive_scoring(metric):
    prediction, reference = "Über Nacht wird es kühler", "über nacht wird es kühler"
    result = metric.compute(predictions=[prediction], references=[reference], lowercase=False)
    # "Über"/"über" and "Nacht"/"nacht" differ; 5 tokens each side, BP = 1.
    # 1-grams 3/5; 2-grams 2/4 (wird es, es kühler); 3-grams 1/3 (wird es kühler);
    # 4-grams 0/2 -> sacrebleu "exp" smoothing uses 1 / (2 * 2) for the first zero order.
    precisions = [3 / 5, 2 / 4, 1 / 3, 1 / 4]
    for order in range(1, 5):
        assert result[f"bleu{order}"] == pytest.approx(corpus_bleu(precisions[:order], 5, 5))
    assert result["rouge_l"] == pytest.approx(100 * 2 * 3 / (5 + 5))  # LCS "wird es kühler"
    assert "case-sensitive" in result["metric_convention"]
    lowercased = metric.compute(predictions=[prediction], references=[reference], lowercase=True)
    assert lowercased["bleu4"] == pytest.approx(100.0)
    assert lowercased["rouge_l"] == pytest.approx(100.0)


def test_rouge_tokens_keep_letters_whole_and_split_cjk(metric):
    # Decomposed umlauts (u + U+0308) are normalised; "süden" and "sünde" stay single words, so
    # LCS = 1 ("über") -> 2*1/(2+2). Splitting at the umlaut would wrongly match "s" too.
    german = metric.compute(predictions=["u\u0308ber su\u0308den"], references=["über sünde"])
    assert german["rouge_l"] == pytest.approx(50.0)
    # Full-width comma is its own token: hyp 今 天 ， 天 气 好 (6), ref 今 天 天 气 很 好 (6),
    # LCS 今天天气好 = 5 -> 10/12.
    chinese = metric.compute(predictions=["今天，天气好"], references=["今天天气很好"], tokenize="zh")
    assert chinese["rouge_l"] == pytest.approx(100 * 10 / 12)


@pytest.mark.parametrize("append_period", [False, True])
@pytest.mark.parametrize(
    "sentences, tokenize",
    [
        (["am tag im norden überall freundlich", "regen und gewitter im süden"], "13a"),
        (["今天天气非常好", "我们明天再见"], "zh"),
    ],
)
def test_perfect_match_scores_100(metric, sentences, tokenize, append_period):
    result = metric.compute(
        predictions=sentences, references=sentences, tokenize=tokenize, append_period=append_period
    )
    for key in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"):
        assert result[key] == pytest.approx(100.0)


def test_batches_accumulate_like_one_call(metric):
    for prediction, reference in zip(GERMAN_PREDICTIONS, GERMAN_REFERENCES):
        metric.add_batch(predictions=[prediction], references=[reference])
    accumulated = metric.compute()
    assert accumulated == metric.compute(predictions=GERMAN_PREDICTIONS, references=GERMAN_REFERENCES)


@pytest.mark.parametrize(
    "inputs, error, message",
    [
        ({"predictions": ["a"], "references": ["a", "b"]}, ValueError, "1 predictions but 2 references"),
        ({"predictions": [], "references": []}, ValueError, "empty corpus"),
        ({"predictions": ["a", 3], "references": ["a", "b"]}, TypeError, r"predictions\[1\]` must be a string"),
        ({"predictions": ["a"], "references": [None]}, TypeError, r"references\[0\]` must be a string"),
        ({"predictions": "a b", "references": "a b"}, TypeError, "must be a list of strings"),
        ({"predictions": ["a"], "references": ["a"], "tokenize": "intl"}, ValueError, "tokenize must be one of"),
    ],
)
def test_invalid_input_raises_clear_error(metric, inputs, error, message):
    with pytest.raises(error, match=message):
        metric.compute(**inputs)
