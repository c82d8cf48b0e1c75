"""OpenTelemetry GenAI spans in: ``otlp_spans → score_spans → ClickHouse · llm.signals.v1``.

The Collector's kafkaexporter writes one exported batch of spans per message. The hop maps
its GenAI spans onto events (schemas/otel.py) and from there does exactly what the score
hop does for native events: score, redact, store, publish, then ack. Event ids come from the
trace and span ids, so a redelivered batch is stored once.

A batch that cannot be read goes to ``llm.deadletter.v1`` whole (``invalid_otlp``); a GenAI
span in it that cannot make a valid event goes there too, once per span
(``schema_violation``, or ``timestamp_in_future`` past ``ingest.max_future_s``, with the
span's event id), carrying the batch so it can be replayed;
a span that is not an LLM call is skipped and counted (``otlp_spans_skipped``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemas.otel import InvalidOtlp, map_traces
from schemas.otlp import encode_evaluations
from schemas.parsing import InvalidEvent, refuse_future
from schemas.results import ReasonCode
from streams.score import ScoreEvents

if TYPE_CHECKING:
    import faust

    from detectors.pipeline import ScoredEvent
    from schemas.events import InferenceEvent
    from schemas.results import DeadLetter
    from streams.settings import Settings

__all__ = ["ScoreSpans", "declare_spans_topic", "wire_spans"]

log = logging.getLogger(__name__)


class ScoreSpans(ScoreEvents):
    """The score hop, fed OTLP trace batches instead of InferenceEvent JSON."""

    def parse(
        self, batch: Sequence[faust.EventT]
    ) -> tuple[list[InferenceEvent], list[faust.EventT], list[DeadLetter]]:
        otel = self.settings.otel
        valid: list[InferenceEvent] = []
        origin: list[faust.EventT] = []
        dead: list[DeadLetter] = []
        for ev in batch:
            self.metrics.inc("messages_received")
            raw = ev.message.value
            limit = otel.max_message_bytes
            if raw is not None and len(raw) > limit:
                msg = f"message is {len(raw):,} bytes, over the {limit:,}-byte limit"
                dead.append(self._dead(ev, ReasonCode.OVERSIZED, msg))
                continue
            try:
                spans = map_traces(raw, otel.encoding)
            except InvalidOtlp as exc:
                dead.append(self._dead(ev, ReasonCode.INVALID_OTLP, str(exc)))
                continue
            except Exception as exc:  # a bug of ours on some input: never retry it for ever
                log.exception("OTLP export at offset %s could not be mapped", ev.message.offset)
                why = f"could not be mapped ({type(exc).__name__}): kept here for replay"
                dead.append(self._dead(ev, ReasonCode.INVALID_OTLP, why))
                continue
            self.metrics.inc("otlp_spans_received", spans.spans)
            for reason, n in spans.skipped.items():
                self.metrics.inc("otlp_spans_skipped", n, reason=reason)
            for event_id, why in spans.invalid:
                dead.append(self._dead(ev, ReasonCode.SCHEMA_VIOLATION, why, event_id=event_id))
            events = self._in_time(ev, spans.events, dead)
            self.metrics.inc("otlp_events", len(events))
            valid.extend(events)
            origin.extend([ev] * len(events))
        return valid, origin, dead

    def _in_time(
        self, ev: faust.EventT, events: list[InferenceEvent], dead: list[DeadLetter]
    ) -> list[InferenceEvent]:
        """The events not stamped further ahead than ``ingest.max_future_s``, as native
        events are held: a span from a host whose clock is years ahead would be stored
        where no alert window looks, and kept past the retention period."""
        now, limit = datetime.now(UTC), self.settings.ingest.max_future_s
        kept = []
        for event in events:
            try:
                refuse_future(event.timestamp, event.event_id, limit, now)
            except InvalidEvent as exc:
                dead.append(self._dead(ev, exc.reason, exc.message, event_id=exc.event_id))
                continue
            kept.append(event)
        return kept

    evaluations: faust.TopicT | None = None  # set by wire_spans when configured

    def more_sends(
        self, scored: Sequence[ScoredEvent]
    ) -> list[tuple[faust.TopicT, bytes | None, bytes]]:
        """The batch's verdicts as gen_ai.evaluation.result events, when configured."""
        if self.evaluations is None:
            return []
        verdicts = [
            (m["otel.trace_id"], m["otel.span_id"], m.get("gen_ai.response.id"), s.signals)
            for s in scored
            if s.signals
            and _hex(m := s.event.metadata, "otel.trace_id", 32)
            and _hex(m, "otel.span_id", 16)
        ]
        if not verdicts:
            return []
        self.metrics.inc("otlp_evaluations_published", sum(len(v[3]) for v in verdicts))
        return [(self.evaluations, None, encode_evaluations(verdicts, time.time_ns()))]


def _hex(metadata: dict[str, str], key: str, length: int) -> bool:
    """Whether an id survived storage as the hex it was (redaction may have replaced it)."""
    value = metadata.get(key, "")
    return len(value) == length and all(c in "0123456789abcdef" for c in value)


def declare_spans_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    """The OTLP traces topic, raw bytes like every other topic."""
    return app.topic(
        settings.kafka.topic(settings.otel.topic),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.kafka.partitions,
    )


def wire_spans(app: faust.App, settings: Settings, hop: ScoreSpans) -> None:
    """Attach the ``score_spans`` agent (commit-after-write, concurrency 1, as score_events)
    and, when configured, the topic its evaluation events go to."""
    ingest = settings.ingest
    if settings.otel.evaluations_topic:
        hop.evaluations = app.topic(
            settings.kafka.topic(settings.otel.evaluations_topic), key_type=bytes,
            value_type=bytes, key_serializer="raw", value_serializer="raw",
            partitions=settings.kafka.partitions,
        )  # fmt: skip

    @app.agent(declare_spans_topic(app, settings), concurrency=1, name="score_spans")
    async def score_spans(stream: faust.StreamT) -> None:
        async for batch in stream.noack().noack_take(
            ingest.batch_size, within=ingest.batch_within_s
        ):
            await hop.run(batch)

    async def stopping(*_: Any, **__: Any) -> None:
        hop.stopping = True

    app.on_before_shutdown.connect(functools.partial(stopping))  # type: ignore[arg-type]
