"""Claim-level evidence for the hallucination detector: each claim aligned to the context
sentence that supports it best, and the details the two disagree on.

A claim is aligned to the context sentence that covers the largest IDF-weighted share of
its content words (numbers left out, so a swapped number does not move the alignment). The
checks, each 0 when the claim is supported and larger when it is not:

- ``novel_content``: the IDF-weighted share of the claim's content words that occur nowhere
  in the context or the prompt (common words weigh little, so plain paraphrase costs less
  than an invented detail); ``novel_rare``: the rarest such word's IDF, scaled to [0, 1];
- ``number_conflict``: the claim has a number the aligned sentence lacks, while the aligned
  sentence has a number of the same unit the claim lacks (the sentence says 4 weeks, the
  claim 18 weeks), unless the claim's number is computed from the context's numbers by one
  arithmetic step (a number copied from another sentence still conflicts); only for a claim
  whose aligned sentence covers at least :data:`MIN_COVER` of it (a bare "1989" aligns to
  nothing in particular);
- ``negation_conflict``: a word the aligned sentence negates (within a few words after "not",
  "never", "no", ...) stands in the claim without negation, or the reverse ("is not
  refundable" against "is fully refundable"), weighted by how well the sentence covers the
  claim. Negation elsewhere in the sentence does not count. (Comparing with the three
  best-covering sentences instead lowered the calibration-split AUC: summarization pairs
  0.519 to 0.491.)

A claim that says the context does not state something ("the documents don't say whether
...") brings no novel content of its own: its novel words are what it says is missing.

IDF comes from document frequencies over HaluEval training contexts (``idf.tsv`` beside the
combiner, written by ``scripts/train_hallucination.py``, hash in the manifest).

>>> idf = Idf({"week": 900, "caregiver": 3}, documents=1000)
>>> sents = ["Primary caregivers get 18 weeks.", "Secondary caregivers get 4 weeks of leave."]
>>> ev = Evidence.of(sents, " ".join(sents), idf)
>>> claim = "Secondary caregivers are entitled to 18 weeks of leave."
>>> index, cover = ev.align(claim)
>>> index, round(cover, 2)
(1, 0.74)
>>> checks = ev.check(claim, index, computed=set())
>>> checks["number_conflict"], checks["negation_conflict"]
(1.0, 0.0)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from detectors.base import verified_bytes
from detectors.cache import ModelCache
from detectors.hallucination_claims import (
    _NEGATIONS,
    _NUMBER_WORDS,
    _STOP,
    _WORD,
    META_WORDS,
    _quantities,
    _stem,
)

__all__ = [
    "DEFAULT_MODEL_DIR",
    "META_WORDS",
    "Evidence",
    "Idf",
    "content_stems",
    "is_hedge",
    "load_idf",
    "write_idf",
]

DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "hallucination"

_HEDGE = re.compile(
    r"\b(documents?|context|sources?|text|passage|excerpts?|articles?|materials?|information|"
    r"policy|records?|notes?|page|guide|manual|faq)\b[^.]*?\b(not|no|nothing|never|\w+n't)\b[^.]*?"
    r"\b(say|says|said|mention\w*|specif\w*|state\w*|cover\w*|includ\w*|address\w*|provid\w*|"
    r"detail\w*|list\w*|indicat\w*|give\w*|explain\w*|describ\w*|discuss\w*|contain\w*)\b"
    r"|\b(isn't|is not|aren't|are not|wasn't|not)\s+(mentioned|specified|stated|covered|"
    r"addressed|listed|described|given|included|documented|provided)\b"
    r"|\b(no|not any)\s+(information|mention|details?|data|figures?)\b"
    r"|\bi\s+(couldn't|could not|can't|cannot|don't|do not)\s+(find|see|confirm)\b",
    re.IGNORECASE,
)


def is_hedge(claim: str) -> bool:
    """Whether ``claim`` says the sources do not state something.

    >>> is_hedge("The documents don't say whether pets are allowed.")
    True
    >>> is_hedge("Pets are not allowed.")
    False
    """
    return bool(_HEDGE.search(claim))


@dataclass(frozen=True)
class Idf:
    """Inverse document frequency of word stems: ``log((N + 1) / (df + 1))``; a stem never
    seen gets the largest value."""

    df: Mapping[str, int]
    documents: int

    def __call__(self, stem: str) -> float:
        return math.log((self.documents + 1) / (self.df.get(stem, 0) + 1))

    @property
    def ceiling(self) -> float:
        return math.log(self.documents + 1)


_idfs: ModelCache[str, Idf] = ModelCache()


def load_idf(model_dir: str | Path = DEFAULT_MODEL_DIR) -> Idf:
    """``idf.tsv`` of a model folder, once per process, checked against its manifest's
    ``idf_sha256``."""
    model_dir = Path(model_dir)
    return _idfs.get(str(model_dir.resolve()), lambda: _read_idf(model_dir))


def _read_idf(model_dir: Path) -> Idf:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    raw = verified_bytes(
        model_dir / "idf.tsv", manifest["idf_sha256"], "scripts/train_hallucination.py"
    )
    lines = raw.decode().splitlines()
    documents = int(lines[0].split("\t")[1])
    df = {stem: int(n) for stem, n in (line.split("\t") for line in lines[1:])}
    return Idf(df, documents)


def write_idf(path: Path, df: Mapping[str, int], documents: int) -> None:
    """Write document frequencies as ``idf.tsv`` (a header with the document count, then
    ``stem<TAB>df`` sorted by stem)."""
    rows = [f"#documents\t{documents}", *(f"{s}\t{n}" for s, n in sorted(df.items()))]
    path.write_text("\n".join(rows) + "\n")


def content_stems(text: str) -> list[str]:
    """Stems of the content words of ``text``: no stop words, number words or meta words."""
    out = []
    for w in _WORD.findall(text):
        low = w.lower()
        if not w[0].isalpha() or len(w) < 2 or low in _STOP or low in META_WORDS:
            continue
        if low in _NUMBER_WORDS:
            continue
        out.append(_stem(w))
    return out


#: Share of a claim's content its aligned sentence must cover for a number conflict to count.
MIN_COVER = 0.5
#: Best-covering sentences a claim's negation is compared with.
NEGATION_SENTENCES = 1
#: Content words after a negation cue that it is taken to negate (two caught "without
#: appointment on weekdays" against "on weekdays only" in the development set).
NEGATION_SCOPE = 1
#: Words a negation passes over: "no longer supported", "never more than EUR 5".
_NEGATION_SKIP = frozenset("longer more less than fewer over under eur usd gbp chf".split())


def _negated_stems(text: str) -> frozenset[str]:
    """Stems of the first :data:`NEGATION_SCOPE` content word(s) after each negation cue."""
    words = _WORD.findall(text)
    out = set()
    for i, w in enumerate(words):
        low = w.lower()
        if low in _NEGATIONS or low.endswith("n't"):
            after = [x for x in words[i + 1 : i + 8] if x.lower() not in _NEGATION_SKIP]
            out.update(content_stems(" ".join(after))[:NEGATION_SCOPE])
    return frozenset(out)


def _negation_conflict(claim: str, sentence: str) -> float:
    """1 when one text negates a word the other states without negation."""
    mine, theirs = _negated_stems(claim), _negated_stems(sentence)
    flipped = (theirs & (set(content_stems(claim)) - mine)) or (
        mine & (set(content_stems(sentence)) - theirs)
    )
    return float(bool(flipped))


def _number_conflict(claim: str, sentence: str, skip: set[str], literal: set[float]) -> float:
    """1 when the claim has a number the aligned sentence lacks while the sentence has a
    number of the same unit the claim lacks. Numbers in ``skip`` (computed from the
    context, or the user's own from the prompt) never conflict; one the context has
    elsewhere (``literal``) conflicts only with a rival of the same, named, unit."""
    mine = _quantities(claim, window=3)
    theirs = _quantities(sentence, window=3)
    if not mine or not theirs:
        return 0.0
    my_values = {q.value for q in mine}
    for q in mine:
        if any(t.value == q.value for t in theirs) or q.text in skip:
            continue
        for t in theirs:
            same = t.unit == q.unit if q.value in literal else (t.unit == q.unit or not q.unit)
            if t.value not in my_values and same and (t.unit or q.value not in literal):
                return 1.0
    return 0.0


@dataclass(frozen=True)
class Evidence:
    """One event's context, indexed once: its sentences and their content stems, and the
    stems of everything the answer may draw on (context and prompt)."""

    sentences: tuple[str, ...]
    sentence_stems: tuple[frozenset[str], ...]
    source_stems: frozenset[str]
    idf: Idf
    prompt_numbers: frozenset[str] = frozenset()
    literal: frozenset[float] = frozenset()

    @classmethod
    def of(cls, sentences: Sequence[str], source_text: str, idf: Idf, prompt: str = "") -> Evidence:
        """``prompt``'s numbers are the user's own: an answer repeating them never conflicts."""
        return cls(
            sentences=tuple(sentences),
            sentence_stems=tuple(frozenset(content_stems(s)) for s in sentences),
            source_stems=frozenset(content_stems(source_text)),
            idf=idf,
            prompt_numbers=frozenset(q.text for q in _quantities(prompt, window=0)),
            literal=frozenset(q.value for q in _quantities(" ".join(sentences), window=0)),
        )

    def covers(self, claim: str) -> list[float]:
        """Per sentence, the IDF-weighted share of the claim's content stems it has."""
        weights = {s: self.idf(s) for s in content_stems(claim)}
        total = sum(weights.values())
        if total == 0:
            return [0.0] * len(self.sentences)
        # Summed in the claim's word order: a set's order changes from process to process
        # (string hashing), and float sums with it, and with them the trained weights.
        return [sum(w for s, w in weights.items() if s in st) / total for st in self.sentence_stems]

    def align(self, claim: str) -> tuple[int, float]:
        """Index of the sentence covering the largest IDF-weighted share of the claim's
        content stems, and that share (0 for a claim without content words)."""
        covers = self.covers(claim)
        if not covers:
            return 0, 0.0
        best = max(range(len(covers)), key=covers.__getitem__)
        return best, covers[best]

    def negation_conflict(self, claim: str) -> float:
        """The largest cover among the :data:`NEGATION_SENTENCES` best-covering sentences
        that negate a word the claim states without negation, or the reverse; 0 if none."""
        covers = self.covers(claim)
        ranked = sorted(range(len(covers)), key=lambda k: -covers[k])[:NEGATION_SENTENCES]
        hits = [covers[k] for k in ranked if _negation_conflict(claim, self.sentences[k])]
        return max(hits, default=0.0)

    def check(self, claim: str, index: int, computed: set[str]) -> dict[str, float]:
        """The checks of one claim against the sentence at ``index`` and the whole source.

        ``computed`` holds the texts of the answer's numbers that the context does not have
        but gives by one arithmetic step (totals, conversions): those never conflict.
        """
        weights = {s: self.idf(s) for s in content_stems(claim)}
        total = sum(weights.values())
        sentence = self.sentences[index] if self.sentences else ""
        hedge = is_hedge(claim)
        novel = [weights[s] for s in weights if s not in self.source_stems]
        shared = [weights[s] for s in weights if self.sentences and s in self.sentence_stems[index]]
        cover = sum(shared) / total if total else 0.0
        keep = 0.0 if hedge else 1.0
        negation = self.negation_conflict(claim)
        return {
            "support": cover,
            "novel_content": keep * (sum(novel) / total if total else 0.0),
            "novel_rare": keep * min(1.0, max(novel, default=0.0) / self.idf.ceiling),
            "number_conflict": _number_conflict(
                claim, sentence, computed | self.prompt_numbers, set(self.literal)
            )
            if cover >= MIN_COVER
            else 0.0,
            "negation_conflict": keep * negation if negation >= MIN_COVER else 0.0,
        }
