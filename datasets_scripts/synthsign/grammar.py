"""The SynthSign grammar: gloss sequences and their German translations, in the style of Phoenix14T.

Each rule pairs a gloss order (time and place first, predicate last, as in DGS) with a German sentence whose word
order differs (verb second, adverbs after the verb) and which contains words that are not signed (articles,
prepositions, expletive "es", inflected endings). Text is lower-case, glosses upper-case. Longer sentences join
clauses with "und", which is not signed either.
"""

import logging
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .lexicon import (
    CATEGORIES,
    FUNCTION_WORDS,
    INTENSITIES,
    PHENOMENA,
    REGIONS,
    gloss_category,
)


logger = logging.getLogger(__name__)

LANGUAGE = "de_DE"

# (slots, text). A slot is a category, a category with a required tag ("phenomenon+gibt"), or a fixed gloss
# ("=GRAD"). Text placeholders: {i} is slot i in its default form, {i:form} another form, {i:form:j} a form that
# agrees with slot j.
RULES = (
    (("time", "region", "phenomenon"), "{0} {2} {1}"),
    (("region", "phenomenon"), "{0} {1}"),
    (("time", "phenomenon+gibt", "intensity"), "{0} gibt es {2:acc:1} {1:noun}"),
    (("region", "time", "adjective"), "{1} wird es {0} {2}"),
    (("time", "adjective"), "{0} wird es {1}"),
    (("=TEMPERATUR", "number", "=GRAD"), "die {0} liegen bei {1} {2}"),
    (("time", "=TEMPERATUR", "number", "=GRAD"), "die {1} liegen {0} bei {2} {3}"),
    (("=TEMPERATUR", "=MINUS", "number", "=GRAD"), "die {0} liegen bei {1} {2} {3}"),
    (("=TEMPERATUR", "verb"), "die {0} {1}"),
    (("time", "=TEMPERATUR", "verb"), "{0} {2} die {1}"),
    (("time", "=WIND", "region+compass", "intensity+adj"), "{0} weht ein {3:nom} {1:noun} aus {2:compass}"),
    (("time", "region", "phenomenon+adv", "=NICHT"), "{0} {2} {1} {3}"),
    (("region", "phenomenon", "=AUCH"), "{2} {0} {1}"),
    (("region", "phenomenon", "=SPAETER", "phenomenon"), "{0} {1} {2} {3}"),
    (("region", "=WETTER", "adjective"), "das {1} ist {0} {2}"),
    (("time", "region", "phenomenon+adv", "intensity"), "{0} {2} {1} {3}"),
    (("time", "=WETTER", "adjective"), "das {1} wird {0} {2}"),
)
CLAUSE_JOINER = "und"
_PLACEHOLDER = re.compile(r"\{(\d+)(?::(\w+))?(?::(\d+))?\}")
_STRONG_ACCUSATIVE = {"m": "en", "f": "e", "n": "es"}
_MAX_MISSES = 2000


def _tags(gloss: str) -> set[str]:
    """Grammatical tags of a gloss that slots can require."""
    if gloss in PHENOMENA:
        return set(PHENOMENA[gloss][3])
    if gloss in REGIONS:
        return {"compass"} if REGIONS[gloss][1] else set()
    if gloss in INTENSITIES:
        return {"adj"} if INTENSITIES[gloss][1] else set()
    return set()


def realise(gloss: str, form: str | None = None, agree_with: str | None = None) -> str:
    """The German words for `gloss` in `form` (None = its default form), agreeing with gloss `agree_with`."""
    category = gloss_category(gloss)
    entry = CATEGORIES[category][gloss]
    if category == "phenomenon":
        return entry[1] if form == "noun" else entry[0]
    if category == "region":
        return entry[1] if form == "compass" else entry[0]
    if category == "intensity":
        adverb, stem, plural = entry
        if form == "nom":  # strong masculine nominative after "ein"
            return f"{stem}er"
        if form == "acc":  # strong accusative agreeing with a noun
            gender = PHENOMENA[agree_with][2]
            if gender == "pl":
                return plural
            return adverb if stem is None else stem + _STRONG_ACCUSATIVE[gender]
        return adverb
    return entry


@dataclass(frozen=True)
class Sentence:
    """A gloss sequence and its translation. `text_order` lists the gloss indices in the order the text expresses
    them (sorted when the word order follows the gloss order)."""

    glosses: tuple[str, ...]
    text: str
    text_order: tuple[int, ...]

    @property
    def gloss(self) -> str:
        return " ".join(self.glosses)

    @property
    def reordered(self) -> bool:
        """Whether the text expresses the glosses in another order than they are signed."""
        return list(self.text_order) != sorted(self.text_order)


class Grammar:
    """The rules that can be filled from a vocabulary, and a sampler of sentences of a given number of signs."""

    def __init__(self, glosses: list[str]):
        self.glosses = list(glosses)
        vocabulary = set(glosses)
        self.rules = []
        for slots, text in RULES:
            candidates = [self._slot_candidates(slot, vocabulary) for slot in slots]
            # Distinct glosses in one clause: a category used twice needs as many candidates.
            needed = Counter(slots)
            if all(len(options) >= needed[slot] for slot, options in zip(slots, candidates)):
                self.rules.append((slots, text, candidates))
        self.rule_lengths = sorted({len(slots) for slots, _, _ in self.rules})

    @staticmethod
    def _slot_candidates(slot: str, vocabulary: set[str]) -> list[str]:
        if slot.startswith("="):
            return [slot[1:]] if slot[1:] in vocabulary else []
        category, _, tag = slot.partition("+")
        return [gloss for gloss in CATEGORIES[category] if gloss in vocabulary and (not tag or tag in _tags(gloss))]

    @property
    def usable_glosses(self) -> set[str]:
        """Glosses that at least one rule can produce."""
        return {gloss for _, _, candidates in self.rules for options in candidates for gloss in options}

    def can_produce(self, num_signs: int) -> bool:
        """Whether a sentence of exactly `num_signs` signs exists (one clause or several joined)."""
        reachable = {0}
        for total in range(1, num_signs + 1):
            if any(total - length in reachable for length in self.rule_lengths):
                reachable.add(total)
        return num_signs in reachable

    def sample(self, rng: np.random.Generator, num_signs: int, usage: Counter | None = None) -> Sentence:
        """Draw a sentence of `num_signs` signs.

        Args:
            rng: the random generator.
            num_signs: the number of glosses.
            usage: gloss counts so far; when given, rarely used glosses are preferred (weight 1 / (1 + count)²) so a
                split covers the vocabulary.
        """
        if not self.can_produce(num_signs):
            raise ValueError(f"the grammar cannot produce a sentence of {num_signs} signs from this vocabulary")
        clauses = []
        remaining = num_signs
        while remaining:
            if remaining in self.rule_lengths:
                length = remaining
            else:
                options = [length for length in self.rule_lengths if self.can_produce(remaining - length)]
                length = options[rng.integers(len(options))]
            clauses.append(self._sample_clause(rng, length, usage))
            remaining -= length
        glosses, order, texts = [], [], []
        for clause_glosses, clause_text, clause_order in clauses:
            order.extend(len(glosses) + index for index in clause_order)
            glosses.extend(clause_glosses)
            texts.append(clause_text)
        return Sentence(tuple(glosses), f" {CLAUSE_JOINER} ".join(texts), tuple(order))

    def _sample_clause(self, rng, length, usage):
        rules = [rule for rule in self.rules if len(rule[0]) == length]
        slots, text, candidates = rules[rng.integers(len(rules))]
        chosen = []
        for options in candidates:
            options = [gloss for gloss in options if gloss not in chosen]
            if usage is None:
                chosen.append(options[rng.integers(len(options))])
            else:
                weights = np.array([1.0 / (1.0 + usage[gloss]) ** 2 for gloss in options])
                chosen.append(options[rng.choice(len(options), p=weights / weights.sum())])

        def fill(match):
            index, form, agree = match.group(1), match.group(2), match.group(3)
            return realise(chosen[int(index)], form, chosen[int(agree)] if agree else None)

        order = [int(match.group(1)) for match in _PLACEHOLDER.finditer(text)]
        return chosen, _PLACEHOLDER.sub(fill, text), order

    def summary(self) -> dict:
        """A JSON-ready description of the rules this vocabulary can fill."""
        rules = []
        for slots, text, _ in self.rules:
            names = [slot[1:] if slot.startswith("=") else slot.upper() for slot in slots]
            readable = _PLACEHOLDER.sub(lambda match: "<" + names[int(match.group(1))].lower() + ">", text)
            order = [int(match.group(1)) for match in _PLACEHOLDER.finditer(text)]
            rules.append({"glosses": " ".join(names), "text": readable, "reorders": order != sorted(order)})
        categories = {
            category: [gloss for gloss in entries if gloss in set(self.glosses)]
            for category, entries in CATEGORIES.items()
        }
        return {
            "language": LANGUAGE,
            "rules": rules,
            "categories": {category: glosses for category, glosses in categories.items() if glosses},
            "clause_joiner": CLAUSE_JOINER,
            "function_words": {gloss: word for gloss, word in FUNCTION_WORDS.items() if gloss in set(self.glosses)},
        }


def plan_sentences(
    grammar: Grammar,
    rng: np.random.Generator,
    sizes: dict[str, int],
    min_signs: int,
    max_signs: int,
) -> dict[str, list[Sentence]]:
    """Draw the sentences of every split.

    Train sentences prefer rarely used glosses so the vocabulary is covered. Dev and test sentences are distinct,
    unseen in train and in each other as whole sentences (neither their gloss sequence nor their text occurs
    elsewhere), and are built from glosses that train contains whenever the vocabulary allows it.
    """
    lengths = [length for length in range(min_signs, max_signs + 1) if grammar.can_produce(length)]
    if not lengths:
        raise ValueError(
            f"the grammar cannot produce sentences of {min_signs} to {max_signs} signs from this vocabulary"
        )
    plan = {"train": []}
    usage = Counter()
    for _ in range(sizes["train"]):
        sentence = grammar.sample(rng, lengths[rng.integers(len(lengths))], usage)
        usage.update(sentence.glosses)
        plan["train"].append(sentence)
    taken_glosses = {sentence.gloss for sentence in plan["train"]}
    taken_texts = {sentence.text for sentence in plan["train"]}

    seen = [gloss for gloss in grammar.glosses if gloss in usage]
    seen_grammar = grammar if len(seen) == len(grammar.glosses) else Grammar(seen)
    for split in ("dev", "test"):
        plan[split] = []
        for source in dict.fromkeys([seen_grammar, grammar]):
            source_lengths = [length for length in lengths if source.can_produce(length)]
            misses = 0  # draws in a row that gave a taken sentence: many mean the sentences are used up
            while source_lengths and len(plan[split]) < sizes[split] and misses < _MAX_MISSES:
                sentence = source.sample(rng, source_lengths[rng.integers(len(source_lengths))])
                if sentence.gloss in taken_glosses or sentence.text in taken_texts:
                    misses += 1
                    continue
                misses = 0
                taken_glosses.add(sentence.gloss)
                taken_texts.add(sentence.text)
                plan[split].append(sentence)
            if len(plan[split]) == sizes[split]:
                break
            if source is not grammar:
                logger.warning(
                    "%s: only %d of %d sentences can be built from glosses seen in train; the rest may use unseen "
                    "glosses (more train clips avoid this)",
                    split,
                    len(plan[split]),
                    sizes[split],
                )
        if len(plan[split]) < sizes[split]:
            raise ValueError(
                f"cannot find {sizes[split]} {split} sentences unseen in the other splits: the grammar over "
                f"{len(grammar.glosses)} glosses with {min_signs}-{max_signs} signs has too few distinct sentences; "
                f"use more glosses (num_glosses), longer sentences or fewer clips"
            )
    return plan
