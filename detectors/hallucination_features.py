"""The hallucination combiner's inputs for a batch of events: each answer split into claims,
claims and context chunks embedded in one call, each claim checked
(``detectors/hallucination_claims.py``), and the worst claim's values kept per check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors.base import BatchFeatures
from detectors.hallucination_claims import (
    CLAIM_FEATURES,
    check_claims,
    context_chunks,
    is_checkable,
    probe_text,
    split_sentences,
)
from schemas.events import InferenceEvent

__all__ = [
    "CLAIM_FEATURES",
    "FEATURES",
    "MAX_CLAIMS",
    "QUOTE_CHARS",
    "EventFeatures",
    "aggregate",
    "extract_features",
]

#: The combiner's inputs, in order: the worst claim's value of each lexical check. Support
#: (embedding similarity) is evidence in the reason but not an input: trained on HaluEval its
#: coefficient came out positive (a claim closer to the context more likely hallucinated),
#: an artefact of HaluEval QA's answer form, not a property of grounding.
FEATURES = (
    "novel_word_max",
    "novel_name_max",
    "underived_number_max",
    "unit_mismatch_max",
    "negation_mismatch_max",
    "anchor_mismatch_max",
)

MAX_CLAIMS = 32
#: Quoted text is at most this long: a claim in a reason, twice this for the question a
#: fragment claim is read after.
QUOTE_CHARS = 160


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


def aggregate(claim_values: np.ndarray) -> tuple[float, ...]:
    """The combiner's inputs from per-claim rows of :data:`CLAIM_FEATURES` (the worst claim's
    value of each check after support); one claim alone gives that claim's own inputs."""
    rows = np.asarray(claim_values, dtype=np.float64).reshape(-1, len(CLAIM_FEATURES))
    return tuple(float(v) for v in rows[:, 1:].max(axis=0))


def extract_features(
    events: Sequence[InferenceEvent],
    features: BatchFeatures | None = None,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
    relevance: bool = True,
) -> list[EventFeatures]:
    """Combiner inputs for every event, with all claims and chunks embedded in one call.

    ``encode`` replaces the shared embedder (the training script passes a caching one); by
    default prompt and response vectors come from the batch's shared embeddings.
    ``relevance`` False skips the answer-question relevance (evidence only, not an input).
    """
    from detectors.embedding import get_embedder

    embedder = None
    if encode is None:
        embedder = get_embedder()
        encode = embedder.encode
    if relevance:
        relevances = _relevances(events, features, embedder, encode)
    else:
        relevances = np.zeros(len(events))
    plans, texts = _plan(events)
    vectors = encode(list(texts)) if texts else np.zeros((0, 0), dtype=np.float32)
    out: list[EventFeatures] = []
    for event, plan, rel in zip(events, plans, relevances, strict=True):
        if plan is None:
            values = (0.0,) * len(FEATURES)
            out.append(EventFeatures(values=values, relevance=float(rel), has_context=False))
        else:
            out.append(_event_features(event, plan, vectors, texts, float(rel)))
    return out


def _relevances(
    events: Sequence[InferenceEvent],
    features: BatchFeatures | None,
    embedder: Any,
    encode: Callable[[Sequence[str]], np.ndarray],
) -> np.ndarray:
    """Cosine of each prompt and response: the batch's shared embeddings when ``embedder``
    is the shared one, else ``encode``'s vectors."""
    if embedder is not None:
        from detectors.embedding import batch_embeddings

        prompts = batch_embeddings(events, "prompt", features, embedder)
        responses = batch_embeddings(events, "response", features, embedder)
    else:
        prompts = encode([e.prompt_text for e in events])
        responses = encode([e.response for e in events])
    return np.einsum("ij,ij->i", prompts, responses).astype(float)


_Plan = tuple[list[str], list[str], list[str]]


def _plan(events: Sequence[InferenceEvent]) -> tuple[list[_Plan | None], dict[str, int]]:
    """Per event (claims, probes, chunks), None without context or response; and every
    distinct text to embed, with its row in the one ``encode`` call."""
    plans: list[_Plan | None] = []
    texts: dict[str, int] = {}
    for event in events:
        if not event.context or not event.response.strip():
            plans.append(None)
            continue
        claims = [c for c in split_sentences(event.response) if is_checkable(c)][:MAX_CLAIMS]
        claims = claims or [event.response.strip()]
        chunks = context_chunks([d.text for d in event.context]) or ["(empty context)"]
        asked = split_sentences(event.prompt_text)
        question = asked[-1][-QUOTE_CHARS * 2 :] if asked else ""
        probes = [probe_text(c, question) for c in claims]
        for text in (*probes, *chunks):
            texts.setdefault(text, len(texts))
        plans.append((claims, probes, chunks))
    return plans, texts


def _event_features(
    event: InferenceEvent, plan: _Plan, vectors: np.ndarray, texts: dict[str, int], rel: float
) -> EventFeatures:
    """One event's inputs: each claim's support (its best chunk's cosine) and lexical checks."""
    claims, probes, chunks = plan
    sims = vectors[[texts[t] for t in probes]] @ vectors[[texts[t] for t in chunks]].T
    support = sims.max(axis=1).astype(float)
    best_chunks = [chunks[i] for i in sims.argmax(axis=1)]
    source = "\n".join(d.text for d in event.context) + "\n" + event.prompt_text
    checks, names, numbers = check_claims(claims, best_chunks, source, event.response)
    rows = [(float(s), *c) for s, c in zip(support, checks, strict=True)]
    return EventFeatures(
        values=aggregate(np.array(rows)),
        relevance=rel,
        claims=tuple(claims),
        support=tuple(float(s) for s in support),
        claim_values=tuple(rows),
        novel_names=tuple(dict.fromkeys(names)),
        novel_numbers=tuple(dict.fromkeys(numbers)),
        extra={"best_chunks": best_chunks},
    )
