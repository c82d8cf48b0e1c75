"""User feedback in: ``llm.feedback.v1 → store_feedback → ClickHouse (feedback)``.

Feedback is keyed by the ``event_id`` it judges and may arrive before that event: it is
stored as it comes and joined at read time (``feedback_events``, the named queries, the
rules). The table keeps one judgement per (event_id, user_id), the latest, so a replay
collapses. Comments are redacted by the score hop's own pipeline path before they are
written; a message that is not valid feedback goes to ``llm.deadletter.v1`` with its reason.
Commit-after-write as every hop: ack after the rows are in ClickHouse.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import faust

from detectors.feedback import redact_feedback
from schemas.events import UserFeedback
from schemas.feedback import is_negative, parse_feedback
from schemas.parsing import InvalidEvent
from schemas.results import DeadLetter, ReasonCode
from sinks.clickhouse import retrying
from sinks.feedback import FEEDBACK_COLUMNS, feedback_row
from streams.hops import record_time, to_json
from streams.score import PipelineHop
from streams.topics import Topics

__all__ = ["StoreFeedback", "wire_feedback"]

log = logging.getLogger(__name__)


class StoreFeedback(PipelineHop):
    """Parse, redact, store, then ack; bad messages are dead-lettered with a reason."""

    def parse(self, batch: Sequence[faust.EventT]) -> tuple[list[UserFeedback], list[DeadLetter]]:
        valid: list[UserFeedback] = []
        dead: list[DeadLetter] = []
        for ev in batch:
            self.metrics.inc("feedback_received")
            try:
                fb = parse_feedback(
                    ev.message.value,
                    max_bytes=self.settings.ingest.max_message_bytes,
                    record_timestamp=record_time(ev.message),
                    max_future_s=self.settings.ingest.max_future_s,
                )
            except InvalidEvent as exc:
                dead.append(
                    self._dead(
                        ev, exc.reason, exc.message, errors=exc.errors, event_id=exc.event_id
                    )
                )
            except Exception as exc:  # a bug of ours on some input: never retry it for ever
                log.exception("feedback at offset %s could not be read", ev.message.offset)
                why = f"could not be read ({type(exc).__name__}): kept here for replay"
                dead.append(self._dead(ev, ReasonCode.SCORING_FAILED, why))
            else:
                valid.append(fb)
        return valid, dead

    def _rows(self, valid: list[UserFeedback]) -> list[list[Any]]:
        now = datetime.now(UTC)
        negative = [is_negative(fb) for fb in valid]  # judged on the raw label, then redacted
        redacted = redact_feedback(self.pipeline, valid) if valid else []
        return [
            feedback_row(fb, neg, pii, now)
            for (fb, pii), neg in zip(redacted, negative, strict=True)
        ]

    def _write(self, rows: list[list[Any]], dead: list[DeadLetter]) -> None:
        def failed(exc: Exception, attempt: int, delay: float) -> None:
            self.metrics.inc("sink_failures")
            log.warning("feedback write failed (attempt %d, retry in %.1fs): %s",
                        attempt, delay, exc)  # fmt: skip

        def write() -> None:
            try:
                self.sink.insert("feedback", rows, FEEDBACK_COLUMNS)
            except Exception as exc:  # the same outage contract as write_results
                from sinks.clickhouse import SinkUnavailable

                self.sink._client = None
                raise SinkUnavailable(f"feedback insert failed: {exc}") from exc
            if dead:
                self.sink.write_results([], dead)

        retrying(
            write,
            initial_s=self.sink.settings.retry_initial_s,
            max_s=self.sink.settings.retry_max_s,
            should_stop=lambda: self.stopping,
            on_failure=failed,
        )

    async def process(self, batch: Sequence[faust.EventT]) -> None:
        loop = asyncio.get_running_loop()
        valid, dead = self.parse(batch)
        rows = await loop.run_in_executor(self.model_executor, self._rows, valid)
        await loop.run_in_executor(self.sink_executor, self._write, rows, dead)
        self.metrics.inc("feedback_stored", len(rows))
        sends = [
            (self.topics.deadletter, d.key_b64.encode() if d.key_b64 else None, to_json(d))
            for d in dead
        ]
        await self._publish(sends)
        for ev in batch:
            ev.ack()


def wire_feedback(app: faust.App, topics: Topics, hop: StoreFeedback) -> None:
    """Attach the ``store_feedback`` agent (commit-after-write, concurrency 1)."""

    @app.agent(topics.feedback, concurrency=1, name="store_feedback")
    async def store_feedback(stream: faust.StreamT) -> None:
        async for batch in stream.noack().noack_take(500, within=0.5):
            await hop.run(batch)

    async def stopping(*_: Any, **__: Any) -> None:
        hop.stopping = True

    app.on_before_shutdown.connect(functools.partial(stopping))  # type: ignore[arg-type]
