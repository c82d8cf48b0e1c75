"""Clause-level evidence for the hallucination detector: a claim often joins facts from two
context sentences, or copies one clause of a sentence that says two things; aligning whole
claims to whole sentences then misses a detail moved from one clause to the other ("below
99 %, the credit is 10 %" where the context gives 10 % for "below 99.9 %" and 25 % for
"below 99 %").

Claims and context sentences are cut into clauses (at ";", ":", ", " and the words "and",
"but", "while", "whereas", "so", "which", "provided", "unless", "plus"; a condition stays with
its clause); each claim clause is aligned to the context clause covering the largest
IDF-weighted share of its content words (of clauses tied for the best cover, the one sharing
most numbers with the claim clause). ``clause_number_conflict``: the aligned clause covers at
least :data:`MIN_CLAUSE_COVER` of the claim clause and has a number of the same unit where the
claim clause has another (``hallucination_align._number_conflict`` on the pair; the prompt's
numbers and numbers computed from the context never conflict).

>>> from detectors.hallucination_align import Evidence, Idf
>>> idf = Idf({}, documents=100)
>>> sents = ["Below 99.9%, the credit is 10%; below 99%, the credit is 25%."]
>>> ev = Evidence.of(sents, sents[0], idf)
>>> clause_number_conflict("Below 99%, the credit is 10%.", ev, set())
1.0
>>> clause_number_conflict("Below 99%, the credit is 25%.", ev, set())
0.0
"""

from __future__ import annotations

import re

from detectors.hallucination_align import Evidence, _number_conflict, content_stems
from detectors.hallucination_claims import _quantities

__all__ = ["MIN_CLAUSE_COVER", "clause_number_conflict", "split_clauses"]

#: Share of a claim clause's content its aligned context clause must cover for a conflict.
MIN_CLAUSE_COVER = 0.5

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


def clause_number_conflict(claim: str, evidence: Evidence, computed: set[str]) -> float:
    """1 when a clause of ``claim`` has a number where its aligned context clause has another
    of the same unit (0 when nothing is found); ``computed`` are the answer's numbers derived
    from the context, which never conflict."""
    clauses, stems = _context_clauses(evidence)
    if not clauses:
        return 0.0
    values = [_numbers(c) for c in clauses]
    skip = computed | set(evidence.prompt_numbers)
    conflict = 0.0
    for part in split_clauses(claim):
        mine = _numbers(part)
        index, cover = _best(_weights(evidence, part), stems, [len(mine & n) for n in values])
        if cover < MIN_CLAUSE_COVER:
            continue
        literal = set(evidence.literal)
        conflict = max(conflict, _number_conflict(part, clauses[index], skip, literal))
    return conflict
