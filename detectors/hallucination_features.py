"""The hallucination combiner's inputs for a batch of events: each answer split into claims,
each claim aligned to its best-supporting context sentence and checked
(``hallucination_claims.py`` for names, numbers, units and anchors against the whole
context; ``hallucination_align.py`` for the aligned sentence and IDF-weighted novelty;
``hallucination_relations.py`` for name and polarity conflicts), and the checks pooled over
the claims as :data:`INPUTS` says. No model runs per claim: the only embeddings are the
prompt's and the response's (answer-question relevance, evidence only), shared with the
other detectors through ``BatchFeatures``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors.base import BatchFeatures
from detectors.hallucination_align import MIN_COVER, Evidence, Idf, is_hedge, load_idf
from detectors.hallucination_claims import check_claims, is_checkable, split_sentences
from detectors.hallucination_clauses import clause_number_conflict
from detectors.hallucination_relations import (
    lexical_share,
    name_conflict,
    polarity_conflict,
    proper_names,
)
from detectors.hallucination_units import unit_swap
from schemas.events import InferenceEvent

__all__ = [
    "CLAIM_FEATURES",
    "FEATURES",
    "INPUTS",
    "MAX_CLAIMS",
    "QUOTE_CHARS",
    "EventFeatures",
    "aggregate",
    "extract_features",
]

#: What is measured on every claim: ``support`` (the IDF-weighted share of the claim's
#: content words its aligned sentence has; evidence in the reason, not an input), then the
#: checks, each 0 for a supported claim and larger for an unsupported one.
#: ``negation_conflict`` also counts a reworded negation (opposite words, ``polarity_conflict``
#: in ``hallucination_relations.py``); ``lexical_share`` is the share of the claim's names and
#: numbers the context lacks; ``unit_swap`` the right number with another unit of the same
#: kind (``hallucination_units.py``); ``clause_number_conflict`` a number conflict between a
#: claim clause and its aligned context clause (``hallucination_clauses.py``).
CLAIM_FEATURES = (
    "support",
    "novel_content",
    "novel_rare",
    "novel_name",
    "underived_number",
    "number_conflict",
    "unit_mismatch",
    "negation_conflict",
    "anchor_mismatch",
    "name_conflict",
    "lexical_share",
    "unit_swap",
    "clause_number_conflict",
)

#: The checks the combiner reads, each with how the claims' values are pooled: ``max`` (the
#: worst claim: one wrong number or negation is enough), ``mean`` (the share of claims with
#: the finding: in a many-sentence answer one novel name is weaker evidence than in a short
#: one), ``answer`` (measured on the whole answer). The others are evidence in ``detail``
#: only. Novel content, rare novel words, misplaced anchors and soft (embedding) alignment
#: rank HaluEval well, but on hand-written RAG answers (``scripts/data/hallucination_dev.py``)
#: they ranked worse than chance (single-check AUC 0.16-0.28): grounded answers paraphrase,
#: unsupported ones change one detail. The old unit check (``unit_mismatch``, any next word)
#: is evidence only: it fired on 17 % of grounded development answers ("USD 18 a day"
#: against "per day"); ``unit_swap`` (a unit vocabulary) fires on none of the two
#: development sets' 68 grounded answers. Choices made on cross-task folds scored on the
#: held-out task's calibration rows and on the development sets
#: (``benchmarks/quality/reports/hallucination.notes.md``).
INPUTS = (
    ("novel_name", "mean"),
    ("underived_number", "max"),
    ("number_conflict", "max"),
    ("negation_conflict", "max"),
    ("name_conflict", "mean"),
    ("lexical_share", "answer"),
    ("unit_swap", "max"),
    ("clause_number_conflict", "max"),
)
#: The combiner's inputs, in order.
FEATURES = tuple(name if how == "answer" else f"{name}_{how}" for name, how in INPUTS)

MAX_CLAIMS = 32
#: Quoted text is at most this long.
QUOTE_CHARS = 160
#: Context sentences an answer is aligned against (the first ones, in order).
MAX_SENTENCES = 400
#: Characters of the context and prompt indexed for names and numbers, and of the answer
#: searched for numbers (the first ones). Far above real RAG events; without a bound one
#: valid event with a megabyte answer and a thousand documents took 12 s and held its batch.
MAX_SOURCE_CHARS = 200_000
MAX_ANSWER_CHARS = 50_000


@dataclass(frozen=True)
class EventFeatures:
    """The combiner's inputs for one event, and the evidence behind them."""

    values: tuple[float, ...]
    relevance: float = 0.0
    claims: tuple[str, ...] = ()
    support: tuple[float, ...] = ()
    claim_values: tuple[tuple[float, ...], ...] = ()
    novel_names: tuple[str, ...] = ()
    novel_numbers: tuple[str, ...] = ()
    has_context: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.values, strict=True))


def aggregate(claim_values: np.ndarray, answer_share: float | None = None) -> tuple[float, ...]:
    """The combiner's inputs from per-claim rows of :data:`CLAIM_FEATURES`, pooled as
    :data:`INPUTS` says; ``answer_share`` is the whole answer's lexical share (None: the
    largest claim's). One claim alone gives that claim's own inputs.

    >>> rows = np.zeros((2, len(CLAIM_FEATURES)))
    >>> rows[0, CLAIM_FEATURES.index("novel_name")] = 1.0
    >>> rows[1, CLAIM_FEATURES.index("number_conflict")] = 1.0
    >>> aggregate(rows, 0.25)
    (0.5, 0.0, 1.0, 0.0, 0.0, 0.25, 0.0, 0.0)
    """
    rows = np.asarray(claim_values, dtype=np.float64).reshape(-1, len(CLAIM_FEATURES))
    out = []
    for name, how in INPUTS:
        column = rows[:, CLAIM_FEATURES.index(name)]
        if how == "answer" and answer_share is not None:
            out.append(float(answer_share))
        elif how == "mean":
            out.append(float(column.mean()))
        else:
            out.append(float(column.max()))
    return tuple(out)


def extract_features(
    events: Sequence[InferenceEvent],
    features: BatchFeatures | None = None,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
    relevance: bool = True,
    idf: Idf | None = None,
) -> list[EventFeatures]:
    """Combiner inputs for every event.

    ``relevance`` False skips the answer-question relevance (evidence only, not an input);
    otherwise it comes from the batch's shared embeddings, or from ``encode`` when given.
    ``idf`` defaults to the committed model's.
    """
    idf = idf if idf is not None else load_idf()
    relevances = _relevances(events, features, encode) if relevance else np.zeros(len(events))
    out: list[EventFeatures] = []
    for event, rel in zip(events, relevances, strict=True):
        if not event.context or not event.response.strip():
            values = (0.0,) * len(FEATURES)
            out.append(EventFeatures(values=values, relevance=float(rel), has_context=False))
        else:
            out.append(_event_features(event, idf, float(rel)))
    return out


def _relevances(
    events: Sequence[InferenceEvent],
    features: BatchFeatures | None,
    encode: Callable[[Sequence[str]], np.ndarray] | None,
) -> np.ndarray:
    """Cosine of each prompt and response: the batch's shared embeddings, or ``encode``'s."""
    if encode is None:
        from detectors.embedding import batch_embeddings, get_embedder

        embedder = get_embedder()
        prompts = batch_embeddings(events, "prompt", features, embedder)
        responses = batch_embeddings(events, "response", features, embedder)
    else:
        prompts = encode([e.prompt_text for e in events])
        responses = encode([e.response for e in events])
    return np.einsum("ij,ij->i", prompts, responses).astype(float)


def _event_features(event: InferenceEvent, idf: Idf, rel: float) -> EventFeatures:
    """One event's inputs: each claim aligned to a context sentence and checked."""
    claims = [c for c in split_sentences(event.response) if is_checkable(c)][:MAX_CLAIMS]
    claims = claims or [event.response.strip()]
    sentences = [s for d in event.context for s in split_sentences(d.text)][:MAX_SENTENCES]
    sentences = sentences or ["(empty context)"]
    prompt = event.prompt_text[: MAX_SOURCE_CHARS // 4]
    context = "\n".join(d.text for d in event.context)[:MAX_SOURCE_CHARS]
    source = context + "\n" + prompt
    evidence = Evidence.of(sentences, source, idf, prompt)
    aligned = [evidence.align(c)[0] for c in claims]
    best = [sentences[i] for i in aligned]
    answer = event.response[:MAX_ANSWER_CHARS]
    checks, names, numbers, computed = check_claims(claims, best, source, answer)
    names_in_source = proper_names(source)
    # What the answer states: its claims but the hedges, whose names are what is missing.
    stated = " ".join(c for c in claims if not is_hedge(c))
    rows = []
    for claim, index, lex in zip(claims, aligned, checks, strict=True):
        ev = evidence.check(claim, index, computed)
        _novel_word, novel_name, underived, unit, _negation, anchor = lex
        keep = 0.0 if is_hedge(claim) else 1.0
        sentence = sentences[index]
        covered = ev["support"] >= MIN_COVER  # as for the negation: the sentence says the same
        polarity = keep * polarity_conflict(claim, sentence) if covered else 0.0
        rows.append(
            (
                ev["support"],
                ev["novel_content"],
                ev["novel_rare"],
                keep * float(novel_name > 0),
                keep * float(underived > 0),
                ev["number_conflict"],
                unit,
                max(ev["negation_conflict"], polarity),
                keep * anchor,
                keep * name_conflict(claim, sentence, names_in_source),
                keep * lexical_share(claim, context),
                keep * unit_swap(claim, source),
                keep * clause_number_conflict(claim, evidence, computed),
            )
        )
    return EventFeatures(
        values=aggregate(np.array(rows), lexical_share(stated, context)),
        relevance=rel,
        claims=tuple(claims),
        support=tuple(r[0] for r in rows),
        claim_values=tuple(rows),
        novel_names=tuple(dict.fromkeys(names)),
        novel_numbers=tuple(dict.fromkeys(numbers)),
        extra={"best_chunks": best},
    )
