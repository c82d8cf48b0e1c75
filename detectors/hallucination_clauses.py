"""Clause-level evidence for the hallucination detector: a claim often joins facts from two
context sentences, or copies one clause of a sentence that says two things; aligning whole
claims to whole sentences then misses a detail moved from one clause to the other ("below
99 %, the credit is 10 %" where the context gives 10 % for "below 99.9 %" and 25 % for
"below 99 %").

Claims and context sentences are cut into clauses (at ";", ":", ", " and the words "and",
"but", "while", "whereas", "so", "which", "provided"); each claim clause is aligned to the
context clause covering the largest IDF-weighted share of its content words. The checks:

- ``clause_number_conflict``: the aligned clause covers at least :data:`MIN_CLAUSE_COVER` of
  the claim clause and has a number of the same unit where the claim clause has another
  (``hallucination_align._number_conflict`` on the pair);
- ``term_conflict``: the aligned clause covers at least :data:`MIN_CLAUSE_COVER` of the claim
  clause, the claim clause has exactly one content word the clause lacks, that word is in the
  context elsewhere, and the clause has a content word the claim clause lacks: the right
  words attached to the wrong fact ("upgrading takes effect at the end of the period" where
  the context says so of downgrading);
- ``unsupported_clause``: in a claim one of whose clauses the context covers well, the
  IDF-weighted share of another clause's content words (at least two) that the context and
  prompt lack anywhere: a copied fact with an invented clause attached.

>>> from detectors.hallucination_align import Evidence, Idf
>>> idf = Idf({}, documents=100)
>>> sents = ["Upgrading takes effect immediately; downgrading takes effect at the end of the "
...          "billing period."]
>>> ev = Evidence.of(sents, sents[0], idf)
>>> clause_checks("Upgrading takes effect at the end of the billing period.", ev, set())
{'clause_number_conflict': 0.0, 'term_conflict': 1.0, 'unsupported_clause': 0.0}
>>> clause_checks("Downgrading takes effect at the end of the billing period.", ev, set())
{'clause_number_conflict': 0.0, 'term_conflict': 0.0, 'unsupported_clause': 0.0}
"""

from __future__ import annotations

import re

from detectors.hallucination_align import Evidence, _number_conflict, content_stems
from detectors.hallucination_claims import _quantities

__all__ = ["CLAUSE_CHECKS", "MIN_CLAUSE_COVER", "clause_checks", "split_clauses"]

#: What :func:`clause_checks` returns, in order.
CLAUSE_CHECKS = ("clause_number_conflict", "term_conflict", "unsupported_clause")
#: Share of a claim clause's content its aligned context clause must cover for a conflict.
MIN_CLAUSE_COVER = 0.5
#: Content words a clause needs to be judged on its own.
MIN_CLAUSE_WORDS = 2

_CUT = re.compile(
    r",?\s+(?:and|but|while|whereas|so|which|provided|unless|plus)\s+|\s*[;:]\s+",
    re.IGNORECASE,
)
#: A piece before a comma that opens with one of these is a condition of what follows ("below
#: 99%, the credit is 25%"), kept with it.
_OPENERS = frozenset("if when below above under over after before once until unless".split())


def split_clauses(text: str) -> list[str]:
    """``text`` cut into clauses of at least two words; a condition stays with its clause.

    >>> split_clauses("Books are lent for 21 days, and DVDs for 7 days; renew online.")
    ['Books are lent for 21 days', 'DVDs for 7 days', 'renew online.']
    >>> split_clauses("Below 99%, the credit is 25%, paid monthly.")
    ['Below 99%, the credit is 25%', 'paid monthly.']
    """
    pieces = [p.strip() for p in _CUT.split(text) if p and p.strip()]
    out: list[str] = []
    for piece in pieces:
        held = ""
        for part in (p.strip() for p in piece.split(", ") if p.strip()):
            part = f"{held}, {part}" if held else part
            held = part if part.split()[0].lower() in _OPENERS and not held else ""
            if held:
                continue
            if out and len(part.split()) < 2:
                out[-1] = f"{out[-1]} {part}"
            else:
                out.append(part)
        if held:
            out.append(held)
    return out


def _context_clauses(evidence: Evidence) -> tuple[list[str], list[frozenset[str]]]:
    clauses = [c for s in evidence.sentences for c in split_clauses(s)]
    return clauses, [frozenset(content_stems(c)) for c in clauses]


def _weights(evidence: Evidence, text: str) -> dict[str, float]:
    return {s: evidence.idf(s) for s in content_stems(text)}


def _best(
    weights: dict[str, float], stems: list[frozenset[str]], shared: list[int]
) -> tuple[int, float]:
    """The clause covering most of ``weights``; of clauses tied for the best cover, the one
    sharing most numbers with the claim clause (``shared``)."""
    total = sum(weights.values())
    if not total or not stems:
        return 0, 0.0
    covers = [sum(w for s, w in weights.items() if s in st) / total for st in stems]
    top = max(covers)
    best = max(
        (k for k in range(len(covers)) if covers[k] >= top - 1e-9),
        key=lambda k: (shared[k], covers[k], -k),
    )
    return best, covers[best]


def _numbers(text: str) -> frozenset[float]:
    return frozenset(q.value for q in _quantities(text, window=0))


def clause_checks(claim: str, evidence: Evidence, computed: set[str]) -> dict[str, float]:
    """The clause checks of one claim (each 0 when nothing is found, larger when it is)."""
    clauses, stems = _context_clauses(evidence)
    values = [_numbers(c) for c in clauses]
    skip = computed | set(evidence.prompt_numbers)
    numbers = term = 0.0
    covers, novel = [], []
    for part in split_clauses(claim):
        weights = _weights(evidence, part)
        mine = _numbers(part)
        index, cover = _best(weights, stems, [len(mine & n) for n in values])
        covers.append(cover)
        total = sum(weights.values())
        missing = [w for s, w in weights.items() if s not in evidence.source_stems]
        novel.append(sum(missing) / total if len(weights) >= MIN_CLAUSE_WORDS and total else 0.0)
        if cover < MIN_CLAUSE_COVER or not clauses:
            continue
        numbers = max(numbers, _number_conflict(part, clauses[index], skip, set(evidence.literal)))
        extra = set(weights) - stems[index]
        lacking = stems[index] - set(weights)
        if len(extra) == 1 and extra <= evidence.source_stems and lacking:
            term = 1.0
    anchored = bool(covers) and max(covers) >= MIN_CLAUSE_COVER
    unsupported = max(novel, default=0.0) if anchored and len(covers) > 1 else 0.0
    return {
        "clause_number_conflict": numbers,
        "term_conflict": term,
        "unsupported_clause": unsupported,
    }
