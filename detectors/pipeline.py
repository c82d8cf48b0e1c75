"""Run the configured detectors over a batch and redact what will be stored.

This is the whole of the score hop's judgement, with no Kafka and no ClickHouse: events in,
``ScoredEvent``s (redacted event, signals, cost, PII types) and per-event failures out.

>>> from schemas.events import InferenceEvent
>>> from detectors.cost import CostDetector
>>> p = ScoringPipeline([CostDetector()])
>>> e = InferenceEvent(service="s", model="gpt-4o", provider="openai", event_id="e1",
...     prompt="I am ann@example.com", usage={"input_tokens": 10})
>>> [scored], failed = p.score([e])
>>> scored.event.prompt, str(scored.cost_usd), scored.pii_types, failed
('I am <EMAIL_ADDRESS>', '0.000025', ['EMAIL_ADDRESS'], [])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import orjson

from detectors.base import BatchFeatures, Detector
from detectors.embedding import Field, batch_embeddings
from detectors.pii import Finding, RedactionMode, RegexPIIDetector, event_texts, redact_event
from detectors.redaction import BatchMemo, IdentifierMode, scrub_event
from schemas.events import InferenceEvent
from schemas.results import Signal

__all__ = ["ScoredEvent", "ScoringFailure", "ScoringPipeline"]

#: The text drift embeds for a watched field. "prompt" is what the user wrote (the last
#: user message of a chat, else the prompt), never the whole chat: MiniLM reads 256 tokens,
#: so behind a system prompt of ~200 words every call of a service embeds the same
#: (cosine 1.0 between a password question and a request for a poem), and drift is blind.
#: It is also the embedding the injection head reads, so the two share one pass.
DRIFT_TEXT: dict[str, Field] = {"prompt": "user"}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScoredEvent:
    """One event ready to store: text redacted unless the operator opted out."""

    event: InferenceEvent
    signals: list[Signal]
    findings: list[Finding] = field(default_factory=list)
    cost_usd: Decimal | None = None
    #: Shared sentence embeddings of the raw texts, by field ("prompt", "response"), when the
    #: pipeline was asked for them (drift); never stored unless the embeddings table is on.
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def pii_types(self) -> list[str]:
        return sorted({f.type for f in self.findings})


@dataclass(frozen=True, slots=True)
class ScoringFailure:
    """An event no detector could score: it goes to the dead-letter topic, not the floor."""

    event: InferenceEvent
    error: str


class ScoringPipeline:
    """Score batches with ``detectors`` and redact with ``scanner``'s PII findings.

    Parameters
    ----------
    detectors
        Detector instances, run in order on every batch.
    scanner
        The PII finder whose findings drive redaction. It runs on every batch whether or not
        it is also one of ``detectors`` (privacy by default); when it is, the batch is scanned
        once.
    redaction
        replace (``<EMAIL_ADDRESS>``), mask (``*****``) or hash (``<EMAIL_ADDRESS:1f2e...>``).
    store_raw_pii
        Opt-in: keep the raw text. Findings are still recorded.
    hash_salt
        Key of the identifier pseudonyms (and of redaction=hash).
    identifiers
        ``hash`` (default): ``user_id`` and ``session_id`` become keyed pseudonyms, and so
        does an ``event_id`` that carries PII; ``redact``: PII inside them is redacted like
        any other text (every user with an email id looks the same).
    embed_fields
        Fields whose shared embeddings are attached to each ``ScoredEvent`` (for drift);
        computed once per batch together with any detector that needs them.
    drift_sample
        Which events of a batch get those embeddings when a detector has not already
        computed them for the whole batch (``DriftSampler.select``); None: every event.
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        scanner: RegexPIIDetector | None = None,
        redaction: RedactionMode = "replace",
        store_raw_pii: bool = False,
        hash_salt: str = "",
        embed_fields: Sequence[Field] = (),
        identifiers: IdentifierMode = "hash",
        drift_sample: Callable[[Sequence[InferenceEvent]], list[bool]] | None = None,
    ) -> None:
        names = [d.name for d in detectors]
        if len(set(names)) != len(names):
            msg = f"each detector may be configured once, got {names}"
            raise ValueError(msg)
        self.detectors = list(detectors)
        self.scanner = scanner or next(
            (d for d in detectors if isinstance(d, RegexPIIDetector)), RegexPIIDetector()
        )
        self.redaction = redaction
        self.store_raw_pii = store_raw_pii
        self.hash_salt = hash_salt
        self.embed_fields = tuple(embed_fields)
        self.identifiers = identifiers
        self.drift_sample = drift_sample

    def score(
        self, events: Sequence[InferenceEvent]
    ) -> tuple[list[ScoredEvent], list[ScoringFailure]]:
        """Score a batch; if the batch fails, score event by event to isolate the culprit."""
        if not events:
            return [], []
        try:
            return self._score(events), []
        except Exception:
            if len(events) == 1:
                raise
            log.exception("batch of %d failed to score; retrying event by event", len(events))
        scored: list[ScoredEvent] = []
        failed: list[ScoringFailure] = []
        for event in events:
            try:
                scored.extend(self._score([event]))
            except Exception as exc:  # one hostile event must not stop the stream
                failed.append(ScoringFailure(event, f"{type(exc).__name__}: {exc}"))
        return scored, failed

    def _redact(self, event: InferenceEvent, findings: Sequence[Finding]) -> InferenceEvent:
        """The scanner's own redaction when it has one (presidio operators), else ours."""
        redact = getattr(self.scanner, "redact", None)
        if redact is not None:
            return redact(event, findings)  # type: ignore[no-any-return]  # scanner's contract
        return redact_event(event, findings, self.redaction, self.hash_salt)

    def _score(self, events: Sequence[InferenceEvent]) -> list[ScoredEvent]:
        features = BatchFeatures(events)
        per_detector = [d.score_batch(events, features) for d in self.detectors]
        for det, signals in zip(self.detectors, per_detector, strict=True):
            if len(signals) != len(events):
                msg = f"{det!r} returned {len(signals)} signals for {len(events)} events"
                raise RuntimeError(msg)
        findings = self.scanner.findings(events, features)
        vectors = self._drift_vectors(events, features)
        memo = BatchMemo()  # this batch's clean names and pseudonyms, then dropped
        out = []
        for i, event in enumerate(events):
            signals = [_json_safe(sigs[i]) for sigs in per_detector]
            cost = next(
                (Decimal(s.detail["cost_usd"]) for s in signals if "cost_usd" in s.detail),
                None,
            )
            emb = {f: v[i] for f, v in vectors.items() if i in v}
            if self.store_raw_pii:
                out.append(ScoredEvent(event, signals, findings[i], cost, emb))
                continue
            stored = self._redact(event, findings[i])
            stored, replaced = scrub_event(stored, event, self.hash_salt, self.identifiers, memo)
            raw = {**_raw_spans(event, findings[i]), **replaced}
            signals = [_scrub_signal(s, raw, stored.event_id) for s in signals]
            out.append(ScoredEvent(stored, signals, findings[i], cost, emb))
        return out

    def _drift_vectors(
        self, events: Sequence[InferenceEvent], features: BatchFeatures
    ) -> dict[str, dict[int, np.ndarray]]:
        """Embeddings per field by event index: all of a batch a detector already embedded,
        else the events ``drift_sample`` keeps."""
        keep = self.drift_sample(events) if self.drift_sample and self.embed_fields else None
        out: dict[str, dict[int, np.ndarray]] = {}
        for f in self.embed_fields:
            src = DRIFT_TEXT.get(f, f)
            if keep is None or all(keep) or f"embedding:{src}" in features:
                out[f] = dict(enumerate(batch_embeddings(events, src, features)))
                continue
            idx = [i for i, k in enumerate(keep) if k]
            sub = batch_embeddings([events[i] for i in idx], src) if idx else []
            out[f] = dict(zip(idx, sub, strict=True))
        return out


def _raw_spans(event: InferenceEvent, findings: Sequence[Finding]) -> dict[str, str]:
    """Raw PII text -> its placeholder, for scrubbing detectors' reasons and details."""
    texts = dict(event_texts(event))
    return {texts[f.field][f.start : f.end]: f"<{f.type}>" for f in findings if f.field in texts}


def _fallback(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars that orjson's numpy option does not take
        return value.item()
    msg = f"{type(value).__name__} is not JSON-serialisable"
    raise TypeError(msg)


def _json_safe(signal: Signal) -> Signal:
    """A detector's detail as plain JSON types (numpy scalars and arrays converted).

    Found by the demo: a numpy.float64 in a detail failed every ClickHouse insert of its
    batch. Anything that still cannot be serialised raises here, inside scoring, so the
    event is dead-lettered as scoring_failed instead of stalling the write.
    """
    try:
        raw = orjson.dumps(
            signal.detail, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
            default=_fallback,
        )  # fmt: skip
    except TypeError as exc:
        msg = f"detector {signal.detector!r} returned a detail that is not JSON: {exc}"
        raise TypeError(msg) from None
    return signal.model_copy(update={"detail": orjson.loads(raw)})


def _scrub(value: Any, raw: dict[str, str]) -> Any:
    if isinstance(value, str):
        for text, placeholder in sorted(raw.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(text, placeholder)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, raw) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, raw) for v in value]
    return value


def _scrub_signal(signal: Signal, raw: dict[str, str], event_id: str) -> Signal:
    """A detector may quote the text it judged (a hallucinated claim): never quote PII. The
    signal carries the stored event's id (a pseudonym when the producer's id held PII)."""
    if not raw and signal.event_id == event_id:
        return signal
    return signal.model_copy(
        update={
            "event_id": event_id,
            "reason": _scrub(signal.reason, raw),
            "detail": _scrub(signal.detail, raw),
        }
    )
