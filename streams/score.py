"""The ingest hop: ``llm.inference.v1 → score_events → ClickHouse (events, signals) ·
llm.signals.v1`` (and ``llm.deadletter.v1`` for what cannot be accepted).

Each batch is parsed, scored, stored, published, then acked: nothing is acked before it is
durable. Every batch's stages are timed (``streams.stages``) and observed with its size and
each stored event's publish→stored latency once it is acked (``streams.metrics``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust

from detectors.drift.bank import DriftBank, StreamKey
from detectors.drift.monitor import DriftResult
from detectors.pii import find_pii
from detectors.pipeline import ScoredEvent, ScoringFailure, ScoringPipeline
from detectors.redaction import pseudonym, redact_free_text
from schemas.events import InferenceEvent
from schemas.parsing import InvalidEvent, parse_event
from schemas.results import DeadLetter, EventSignals, ReasonCode
from sinks.clickhouse import ClickHouseSink, Rejected, retrying
from streams.hops import BatchHop, record_time, to_json
from streams.lifecycle import Progress
from streams.metrics import Metrics
from streams.pipelined import Prepared
from streams.settings import Settings
from streams.stages import StageClock
from streams.topics import Topics

__all__ = ["PipelineHop", "ScoreEvents"]

log = logging.getLogger(__name__)


class PipelineHop(BatchHop):
    """What every hop that parses, scores or redacts, stores and dead-letters holds: the
    settings, the scoring pipeline (and its hash salt), the sink, the topics and the two
    executors (models; ClickHouse). ``_dead`` wraps a refused message for the dead-letter
    topic without quoting its input."""

    def __init__(
        self,
        settings: Settings,
        pipeline: ScoringPipeline,
        sink: ClickHouseSink,
        topics: Topics,
        metrics: Metrics,
        sink_executor: ThreadPoolExecutor,
        model_executor: ThreadPoolExecutor,
    ) -> None:
        super().__init__(metrics)
        self.settings = settings
        self.pipeline = pipeline
        self.sink = sink
        self.topics = topics
        self.sink_executor = sink_executor
        self.model_executor = model_executor

    def _dead(self, ev: faust.EventT, reason: ReasonCode, message: str, **kw: Any) -> DeadLetter:
        msg = ev.message
        raw = msg.value if isinstance(msg.value, bytes) else b""
        key = msg.key if isinstance(msg.key, bytes) else None
        self.metrics.inc("deadlettered", reason=reason.value)
        # The envelope's words never quote input: an exception text or an event id may.
        # (original_b64 keeps the bytes for replay; that topic is as sensitive as the input.)
        message = redact_free_text(message, "deadletter.message")
        if kw.get("errors"):
            kw["errors"] = [
                {**e, "msg": redact_free_text(str(e.get("msg", "")), "deadletter.errors")}
                for e in kw["errors"]
            ]
        event_id = kw.get("event_id")
        if event_id and find_pii(event_id, "event_id"):
            kw["event_id"] = pseudonym(event_id, self.pipeline.hash_salt)
        return DeadLetter.wrap(
            raw,
            reason=reason,
            message=message,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=key,
            **kw,
        )


class ScoreEvents(PipelineHop):
    """Parse, score, store, publish — then ack. Nothing is acked before it is durable."""

    def __init__(
        self,
        settings: Settings,
        pipeline: ScoringPipeline,
        sink: ClickHouseSink,
        topics: Topics,
        metrics: Metrics,
        sink_executor: ThreadPoolExecutor,
        model_executor: ThreadPoolExecutor,
        drift: DriftBank | None = None,
        clock: StageClock | None = None,
    ) -> None:
        super().__init__(settings, pipeline, sink, topics, metrics, sink_executor, model_executor)
        #: Times the stages inside the executors; the app's detectors and shared embedder
        #: report to the same clock (``streams.app.build``).
        self.clock = clock or StageClock()
        self.drift = drift
        self.progress = Progress()

    def more_sends(
        self, scored: Sequence[ScoredEvent]
    ) -> list[tuple[faust.TopicT, bytes | None, bytes]]:
        """Messages a subclass publishes with the signals, before the ack (none here)."""
        return []

    def parse(
        self, batch: Sequence[faust.EventT]
    ) -> tuple[list[InferenceEvent], list[faust.EventT], list[DeadLetter]]:
        valid: list[InferenceEvent] = []
        origin: list[faust.EventT] = []
        dead: list[DeadLetter] = []
        for ev in batch:
            self.metrics.inc("messages_received")
            try:
                event = parse_event(
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
            else:
                valid.append(event)
                origin.append(ev)
        return valid, origin, dead

    def _learn_drift(
        self, scored: list[ScoredEvent]
    ) -> tuple[list[DriftResult], dict[StreamKey, bytes]]:
        """Drift is advisory: a failure here is counted and logged, never holds the stream."""
        if self.drift is None or not scored:
            return [], {}
        try:
            with self.clock.stage("drift"):
                evicted = self.drift.evicted
                results, states = self.drift.learn(scored)
                self.metrics.inc("drift_streams_evicted", self.drift.evicted - evicted)
        except Exception:
            self.metrics.inc("drift_failures")
            log.exception("drift update failed for a batch of %d; stream goes on", len(scored))
            return [], {}
        self.metrics.inc("drift_windows", len(results))
        for r in results:
            if r.drift:
                log.warning("DRIFT %s", r.reason)
        return results, states

    def _write(
        self,
        scored: list[ScoredEvent],
        dead: list[DeadLetter],
        drift: tuple[list[DriftResult], dict[StreamKey, bytes]] = ([], {}),
    ) -> list[Rejected]:
        """Store the batch, holding consumption through transient failures; returns the
        events ClickHouse refused for their content (the rest is stored)."""
        label = None
        if self.settings.drift.enabled and self.settings.drift.store_embeddings:
            label = self.settings.detectors.embedding_label

        def write() -> list[Rejected]:
            rejected = self.sink.write_results(scored, dead, embedding_model=label)
            if drift[0] or drift[1]:
                self.sink.write_drift(*drift)
            return rejected

        return self._retrying(write)

    def _retrying(self, action: Any) -> Any:
        def failed(exc: Exception, attempt: int, delay: float) -> None:
            self.metrics.inc("sink_failures")
            log.warning("ClickHouse write failed (attempt %d, holding consumption, retry in "
                        "%.1fs): %s", attempt, delay, exc)  # fmt: skip

        return retrying(
            action,
            initial_s=self.sink.settings.retry_initial_s,
            max_s=self.sink.settings.retry_max_s,
            should_stop=lambda: self.stopping,
            on_failure=failed,
        )

    def _store(
        self,
        scored: list[ScoredEvent],
        dead: list[DeadLetter],
        drift: tuple[list[DriftResult], dict[StreamKey, bytes]],
        origin: dict[int, faust.EventT],
    ) -> list[ScoredEvent]:
        """Write, then dead-letter (``storage_rejected``) what ClickHouse refused; returns
        the events that are stored."""
        rejected = self._write(scored, dead, drift)
        if not rejected:
            return scored
        refused = {id(r.scored) for r in rejected}
        more = [
            self._dead(origin[id(r.scored)], ReasonCode.STORAGE_REJECTED,
                       f"ClickHouse refused the event: {r.error}", event_id=r.scored.event.event_id)
            for r in rejected
        ]  # fmt: skip
        self._retrying(lambda: self.sink.write_results([], more))
        dead.extend(more)
        return [s for s in scored if id(s) not in refused]

    async def run(self, batch: Sequence[faust.EventT], max_delay_s: float = 30.0) -> None:
        self.progress.begin(len(batch))
        await super().run(batch, max_delay_s)
        self.progress.done()

    async def process(self, batch: Sequence[faust.EventT]) -> None:
        await self.finish(batch, await self.prepare(batch))

    def _score(self, valid: list[InferenceEvent]) -> tuple[list[ScoredEvent], list[ScoringFailure]]:
        with self.clock.stage("redact"):  # what the detectors and embedding inside leave
            return self.pipeline.score(valid)

    def _model_work(
        self, valid: list[InferenceEvent]
    ) -> tuple[
        list[ScoredEvent], list[ScoringFailure], tuple[list[DriftResult], dict[StreamKey, bytes]]
    ]:
        """Score ``valid``, then learn drift from what was scored (the model thread's job)."""
        scored, failures = self._score(valid)
        return scored, failures, self._learn_drift(scored)

    async def prepare(self, batch: Sequence[faust.EventT]) -> Prepared:
        """Parse and score ``batch`` and learn drift from it; nothing is stored or acked."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        valid, origin, dead = self.parse(batch)
        seconds = {"parse": time.perf_counter() - started}
        # One job on the model thread: it goes from this batch's drift straight to the
        # next batch's scoring when the pipelined hop has queued it, not waiting for the loop.
        (scored, failures, drift), more = await loop.run_in_executor(
            self.model_executor, self.clock.run, self._model_work, valid
        )
        _add(seconds, more)
        by_event = {id(e): ev for e, ev in zip(valid, origin, strict=True)}
        for f in failures:
            dead.append(
                self._dead(by_event[id(f.event)], ReasonCode.SCORING_FAILED, f.error,
                           event_id=f.event.event_id)
            )  # fmt: skip
        return Prepared(scored, dead, drift, _origins(scored, valid, origin, failures), seconds)

    async def finish(self, batch: Sequence[faust.EventT], ready: Prepared) -> None:
        """Store what ``prepare`` made of ``batch``, publish, then ack; safe to repeat."""
        loop = asyncio.get_running_loop()
        seconds = dict(ready.seconds)
        dead = list(ready.dead)  # _store adds the refused: a retry starts afresh
        store = functools.partial(self._store, ready.scored, dead, ready.drift, ready.origin)
        started = time.perf_counter()
        scored = await loop.run_in_executor(self.sink_executor, store)
        stored_at = time.time()
        seconds["clickhouse_write"] = time.perf_counter() - started
        self.metrics.inc("events_stored", len(scored))
        sends: list[tuple[faust.TopicT, bytes | None, bytes]] = []
        for s in scored:
            e = s.event
            out = EventSignals(
                event_id=e.event_id, timestamp=e.timestamp, service=e.service,
                environment=e.environment, model=e.model, signals=s.signals,
            )  # fmt: skip
            sends.append((self.topics.signals, f"{e.service}|{e.model}".encode(), to_json(out)))
        for d in dead:
            key = d.key_b64.encode() if d.key_b64 else None
            sends.append((self.topics.deadletter, key, to_json(d)))
        started = time.perf_counter()
        await self._publish([*sends, *self.more_sends(scored)])
        seconds["publish"] = time.perf_counter() - started
        self.metrics.inc("signals_published", len(scored))
        self.metrics.inc("batches")
        started = time.perf_counter()
        for ev in batch:
            ev.ack()
        seconds["ack"] = time.perf_counter() - started
        self._observe(len(batch), seconds, [ready.origin.get(id(s)) for s in scored], stored_at)

    def _observe(
        self, size: int, seconds: dict[str, float], stored: list[Any], stored_at: float
    ) -> None:
        """The batch's size and stage times; each stored event's publish→stored latency
        from the record timestamp of the message it came from."""
        hop = type(self).__name__
        self.metrics.observe("batch_size", size, hop=hop)
        for stage, value in seconds.items():
            self.metrics.observe("stage_seconds", value, hop=hop, stage=stage)
        for ev in stored:
            ts = getattr(getattr(ev, "message", None), "timestamp", None)
            if ts and ts > 0:
                self.metrics.observe("publish_to_stored_seconds", max(0.0, stored_at - ts))


def _add(into: dict[str, float], more: dict[str, float]) -> None:
    for stage, value in more.items():
        into[stage] = into.get(stage, 0.0) + value


def _origins(
    scored: list[ScoredEvent],
    valid: list[InferenceEvent],
    origin: list[faust.EventT],
    failures: list[ScoringFailure],
) -> dict[int, faust.EventT]:
    """The message each scored event came from, by ``id`` of the ``ScoredEvent``: the
    pipeline returns the events it did not fail, in order (its events may be redacted
    copies, so the input events' ids do not find them)."""
    failed = {id(f.event) for f in failures}
    kept = [ev for e, ev in zip(valid, origin, strict=True) if id(e) not in failed]
    if len(kept) != len(scored):  # not the pipeline's contract: no origins, no latencies
        log.error("scored %d events but %d were kept; origins unknown", len(scored), len(kept))
        return {}
    return {id(s): ev for s, ev in zip(scored, kept, strict=True)}
