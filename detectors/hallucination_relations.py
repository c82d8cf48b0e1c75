"""Relational evidence for the hallucination detector: which of a claim's names its aligned
context sentence attaches to something else, which words it turns into their opposites, and
the share of the answer's names and numbers the context lacks.

- ``name_conflict``: the claim names someone or something the context has, the aligned
  sentence does not, and the aligned sentence names another the claim lacks: the right
  names attached to the wrong fact (a swapped name, a wrong attribution).
- ``polarity_conflict``: a reworded negation: the claim has one of a pair of opposite words
  ("free", "optional", "after") where the aligned sentence has the other ("fee",
  "required", "before").
- ``lexical_share``: the share of the answer's capitalised names and numbers absent from
  the context (the benchmark's lexical peer, read as one more input so the combiner keeps
  what it ranks).

Soft alignment of each claim with its best context window (BERTScore-style precision with
the MiniLM token vectors, static or contextual) was tried here and dropped: it ranks
HaluEval's hallucinated QA answers and summaries well and the hand-written RAG development
answers backwards (grounded answers paraphrase, unsupported ones change one detail of copied
wording); ``benchmarks/quality/reports/hallucination.notes.md`` has the figures.
"""

from __future__ import annotations

import re

from detectors.hallucination_claims import _NAME, _STOP, _WORD, META_WORDS

__all__ = ["lexical_share", "name_conflict", "polarity_conflict", "proper_names"]

_LEX_NAME = re.compile(r"\b[A-Z][A-Za-z'\-]+")
_LEX_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_LEX_STOP = frozenset(
    """a an and are as at be but by for from has have he her his i if in is it its my no not
    of on or our she so that the their then there these they this to was we were what when
    which who will with yes you your""".split()
)


def lexical_share(response: str, source: str) -> float:
    """The share of ``response``'s capitalised names and numbers that ``source`` lacks (0
    when it has none): the benchmark's lexical peer.

    >>> lexical_share("Anna paid 40 in Rome.", "Anna paid 40.")
    0.3333333333333333
    """
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'\-]*", source)}
    numbers = {n.replace(",", "").rstrip(".") for n in _LEX_NUMBER.findall(source)}
    names = [n for n in _LEX_NAME.findall(response) if n.lower() not in _LEX_STOP]
    nums = [n.replace(",", "").rstrip(".") for n in _LEX_NUMBER.findall(response)]
    novel = [n for n in names if n.lower() not in words] + [n for n in nums if n not in numbers]
    total = len(names) + len(nums)
    return len(novel) / total if total else 0.0


#: Words of opposite sense: a claim with one of a pair's words where its aligned sentence has
#: the other (and not the first) says the opposite in other words ("free" where the sentence
#: charges a fee, "optional" where it is "required").
_OPPOSITES = (
    ("free", "charge charged charges cost costs fee fees pay pays paid payable"),
    ("allowed permitted may", "prohibited forbidden banned barred"),
    ("required mandatory must compulsory", "optional voluntary"),
    ("included include includes", "excluded exclude excludes"),
    ("before earlier", "after later"),
    ("minimum least", "maximum most"),
    (
        "increase increased increases raised rises rose higher",
        "decrease decreased decreases reduced reduces cut lower lowered fell",
    ),
    ("more above over exceed exceeds exceeding", "less fewer below under"),
    ("open opens", "closed closes"),
    ("always", "never"),
    ("weekday weekdays", "weekend weekends saturday saturdays sunday sundays"),
    ("available", "unavailable"),
    ("refundable", "non-refundable nonrefundable"),
    ("accepted accepts accept", "rejected rejects reject declined"),
    ("enabled", "disabled"),
    ("first", "last"),
    ("morning mornings", "afternoon afternoons evening evenings"),
    ("online", "in-person offline"),
)
_OPPOSITE_SETS = tuple((frozenset(a.split()), frozenset(b.split())) for a, b in _OPPOSITES)


def polarity_conflict(claim: str, sentence: str) -> float:
    """1 when ``claim`` has a word of one side of a pair of opposites that ``sentence`` lacks
    while ``sentence`` has a word of the other side that ``claim`` lacks.

    >>> polarity_conflict("Late returns are free.", "Late returns cost EUR 0.20 a day.")
    1.0
    >>> polarity_conflict("Returns cost nothing extra after 30 days.", "Returns cost EUR 2.")
    0.0
    """
    mine = {w.lower() for w in _WORD.findall(claim)}
    theirs = {w.lower() for w in _WORD.findall(sentence)}
    for a, b in _OPPOSITE_SETS:
        for one, other in ((a, b), (b, a)):
            if (mine & one) - theirs and (theirs & other) - mine and not mine & other:
                return 1.0
    return 0.0


def proper_names(text: str) -> frozenset[str]:
    """Lower-cased words ``text`` capitalises other than at the start of a sentence.

    >>> sorted(proper_names("Mei approved it. Then Ravi audited the budget."))
    ['ravi']
    """
    out = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        words = sentence.split(maxsplit=1)
        if len(words) == 2:  # the first word is capitalised anyway
            out.update(n.lower() for n in _NAME.findall(words[1]))
    return frozenset(out - _STOP - META_WORDS)


def name_conflict(claim: str, sentence: str, names: frozenset[str]) -> float:
    """1 when the claim has one of the context's ``names`` (:func:`proper_names`) that
    ``sentence`` (the aligned one) lacks, while ``sentence`` has one the claim lacks.

    >>> names = frozenset({"ravi", "mei"})
    >>> name_conflict("Ravi approved the budget.", "Mei approved the budget; Ravi audited it.",
    ...               names)
    0.0
    >>> name_conflict("Ravi approved the budget.", "Mei approved the budget.", names)
    1.0
    """
    mine = {w.lower() for w in _NAME.findall(claim)} & names
    theirs = {w.lower() for w in _NAME.findall(sentence)} & names
    return float(bool(mine - theirs) and bool(theirs - mine))
