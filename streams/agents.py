"""One agent per hop. Each body is short: take a batch, call the hop, ack.

``llm.inference.v1 → score_events → ClickHouse (events, signals) · llm.signals.v1``
(and ``llm.deadletter.v1`` for what cannot be accepted)
``ClickHouse → evaluate_rules (timer, leader only) → llm.alerts.v1 · llm.retraining.v1``
``llm.alerts.v1 → notify_alerts → alert_outbox → deliver_alerts (timer, leader only) →
webhook, Slack, PagerDuty, Alertmanager`` (evaluate_rules also enqueues as it stores)

Delivery is at-least-once with commit-after-write: agents iterate
``stream.noack().noack_take(n, within=t)`` with concurrency 1 and ack each message only after
its results are in ClickHouse and its outputs are acknowledged by the broker (README.md,
"Delivery guarantees": faust-streaming #606 and #315). ClickHouse's ReplacingMergeTree tables
absorb the replays.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import orjson

from alerting.dispatch import active_silences
from alerting.engine import Evaluation, RuleEngine
from alerting.outbox import Outbox
from detectors.drift.bank import DriftBank, StreamKey
from detectors.drift.monitor import DriftResult
from detectors.pii import find_pii
from detectors.pipeline import ScoredEvent, ScoringPipeline
from detectors.redaction import pseudonym, redact_free_text
from schemas.events import InferenceEvent
from schemas.parsing import InvalidEvent, parse_event
from schemas.results import Alert, DeadLetter, EventSignals, ReasonCode
from sinks.alert_store import AlertStore
from sinks.backoff import retry_async
from sinks.clickhouse import ClickHouseSink, Rejected, retrying
from streams.lifecycle import Progress
from streams.metrics import Metrics
from streams.pipelined import Prepared, run_pipelined
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["EvaluateRules", "NotifyAlerts", "ScoreEvents", "wire"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def _record_time(message: Any) -> datetime | None:
    """The Kafka record's timestamp (CreateTime or LogAppendTime), None if it has none."""
    ts = getattr(message, "timestamp", None)
    return datetime.fromtimestamp(ts, UTC) if ts and ts > 0 else None


def _json(model: Any) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))


class _Hop:
    """What every hop has: the metrics, a stopping flag, and publishing that waits for the
    broker's acknowledgement."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.stopping = False

    async def _publish(self, sends: Sequence[tuple[faust.TopicT, bytes | None, bytes]]) -> None:
        """Send and wait until the broker has every message (before we ack the input)."""
        futures = [await topic.send(key=key, value=value) for topic, key, value in sends]
        if futures:
            await asyncio.gather(*futures)


class _BatchHop(_Hop, ABC):
    """A hop fed by an agent: its work on a batch (``process``), retried in place until it
    succeeds (``run``)."""

    @abstractmethod
    async def process(self, batch: Sequence[faust.EventT]) -> None:
        """Do the hop's work on ``batch`` and ack it; safe to repeat after a failure."""

    async def run(self, batch: Sequence[faust.EventT], max_delay_s: float = 30.0) -> None:
        """``process`` until it succeeds. A crashed agent would leave the batch unacked
        behind later acked ones (blocking commits) and lose its place; retrying the same
        batch keeps order, and every step of ``process`` is safe to repeat."""
        await self._until_done(lambda: self.process(batch), len(batch), max_delay_s)

    async def _until_done(
        self, action: Callable[[], Awaitable[T]], n: int, max_delay_s: float = 30.0
    ) -> T:
        name = type(self).__name__

        def failed(exc: Exception, attempt: int, delay: float) -> None:
            self.metrics.inc("batch_retries", hop=name)
            if not self.stopping:
                log.exception("%s failed on a batch of %d (attempt %d); retrying in %.1fs",
                              name, n, attempt, delay)  # fmt: skip

        stop = lambda: self.stopping  # noqa: E731 - read at each failure
        return await retry_async(action, max_s=max_delay_s, should_stop=stop, on_failure=failed)


class ScoreEvents(_BatchHop):
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
    ) -> None:
        super().__init__(metrics)
        self.settings = settings
        self.drift = drift
        self.pipeline = pipeline
        self.sink = sink
        self.topics = topics
        self.sink_executor = sink_executor
        self.model_executor = model_executor
        self.progress = Progress()

    def more_sends(
        self, scored: Sequence[ScoredEvent]
    ) -> list[tuple[faust.TopicT, bytes | None, bytes]]:
        """Messages a subclass publishes with the signals, before the ack (none here)."""
        return []

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
                    record_timestamp=_record_time(ev.message),
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
            results, states = self.drift.learn(scored)
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
            label = f"all-MiniLM-L6-v2/{self.settings.detectors.embedding_precision}"

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
        by_event: dict[int, faust.EventT],
    ) -> list[ScoredEvent]:
        """Write, then dead-letter (``storage_rejected``) what ClickHouse refused; returns
        the events that are stored."""
        rejected = self._write(scored, dead, drift)
        if not rejected:
            return scored
        refused = {id(r.scored) for r in rejected}
        more = [
            self._dead(by_event[id(r.scored.event)], ReasonCode.STORAGE_REJECTED,
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

    async def prepare(self, batch: Sequence[faust.EventT]) -> Prepared:
        """Parse and score ``batch`` and learn drift from it; nothing is stored or acked."""
        loop = asyncio.get_running_loop()
        valid, origin, dead = self.parse(batch)
        scored, failures = await loop.run_in_executor(
            self.model_executor, self.pipeline.score, valid
        )
        by_event = {id(e): ev for e, ev in zip(valid, origin, strict=True)}
        for f in failures:
            dead.append(
                self._dead(by_event[id(f.event)], ReasonCode.SCORING_FAILED, f.error,
                           event_id=f.event.event_id)
            )  # fmt: skip
        drift = await loop.run_in_executor(self.model_executor, self._learn_drift, scored)
        return Prepared(scored, dead, drift, by_event)

    async def finish(self, batch: Sequence[faust.EventT], ready: Prepared) -> None:
        """Store what ``prepare`` made of ``batch``, publish, then ack; safe to repeat."""
        loop = asyncio.get_running_loop()
        dead = list(ready.dead)  # _store adds the refused: a retry starts afresh
        store = functools.partial(self._store, ready.scored, dead, ready.drift, ready.by_event)
        scored = await loop.run_in_executor(self.sink_executor, store)
        self.metrics.inc("events_stored", len(scored))
        sends: list[tuple[faust.TopicT, bytes | None, bytes]] = []
        for s in scored:
            e = s.event
            out = EventSignals(
                event_id=e.event_id, timestamp=e.timestamp, service=e.service,
                environment=e.environment, model=e.model, signals=s.signals,
            )  # fmt: skip
            sends.append((self.topics.signals, f"{e.service}|{e.model}".encode(), _json(out)))
        for d in dead:
            key = d.key_b64.encode() if d.key_b64 else None
            sends.append((self.topics.deadletter, key, _json(d)))
        await self._publish([*sends, *self.more_sends(scored)])
        self.metrics.inc("signals_published", len(scored))
        self.metrics.inc("batches")
        for ev in batch:
            ev.ack()


class EvaluateRules(_Hop):
    """Evaluate rules over stored results; store state changes, then publish alerts and
    retraining events. State is rebuilt from ClickHouse (``alert_states``) on first use and
    whenever this worker resumes ticking after a gap (it lost and regained leadership while
    another worker evaluated), so a restarted or newly elected leader does not page again
    for an episode already paged. With a shared ClickHouse server that covers every worker;
    with embedded chDB each worker sees only its own directory (one worker per directory).
    """

    def __init__(
        self,
        engine: RuleEngine,
        sink: ClickHouseSink,
        topics: Topics,
        metrics: Metrics,
        sink_executor: ThreadPoolExecutor,
        interval_s: float = 5.0,
        outbox: Outbox | None = None,
    ) -> None:
        super().__init__(metrics)
        self.outbox = outbox
        self.engine = engine
        self.sink = sink
        self.store = AlertStore(sink)
        self.topics = topics
        self.sink_executor = sink_executor
        self.interval_s = interval_s
        self.last_tick: datetime | None = None

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.sink.query(sql)[1]

    def _restore(self) -> None:
        n = self.engine.restore_from(self.store)
        firing = sum(1 for s in self.engine.states.values() if s.state == "firing")
        log.info("monitor restored %d series (%d firing) from ClickHouse", n, firing)

    def _evaluate(self, now: datetime) -> Evaluation:
        gap = None if self.last_tick is None else (now - self.last_tick).total_seconds()
        if gap is None or gap > 3 * self.interval_s:
            self._restore()
        self.last_tick = now
        before = self.engine.snapshot()
        try:
            ev = self.engine.evaluate(now, self._query)
            if self.outbox is not None:  # owed to every channel before anything else
                self.outbox.enqueue(ev.alerts)
            self.store.write_alerts(ev.alerts)
            self.store.write_transitions(ev.transitions)
            self.store.write_retraining(ev.retraining)
        except Exception:
            # Nothing was stored or published: forget this evaluation, the next one redoes it.
            self.engine.rollback(before)
            raise
        return ev

    async def tick(self, now: datetime | None = None) -> list[Alert]:
        loop = asyncio.get_running_loop()
        now = now or datetime.now(UTC)
        try:
            alerts, retraining, _ = await loop.run_in_executor(
                self.sink_executor, self._evaluate, now
            )
        except Exception:
            self.metrics.inc("monitor_failures")
            log.exception("rule evaluation failed; retrying at the next interval")
            return []
        # Keyed by rule: one rule's alerts share a partition, so the notify hop sees them
        # together (one grouped notification) and in order.
        sends: list[tuple[faust.TopicT, bytes | None, bytes]] = [
            (self.topics.alerts, a.rule.encode(), _json(a)) for a in alerts
        ]
        sends += [(self.topics.retraining, r.model.encode(), _json(r)) for r in retraining]

        def failed(exc: Exception, attempt: int, delay: float) -> None:
            self.metrics.inc("monitor_publish_failures")
            if not self.stopping:
                log.exception("publishing %d alerts failed; retrying in %.1fs", len(sends), delay)

        # Stored already: publishing must not be skipped, or the page is lost.
        await retry_async(
            lambda: self._publish(sends), should_stop=lambda: self.stopping, on_failure=failed
        )
        for a in alerts:
            self.metrics.inc("alerts_published", status=a.status.value, rule=a.rule)
            log.warning("ALERT %s %s", a.status.value.upper(), a.summary)
        self.metrics.inc("retraining_published", len(retraining))
        return alerts


class NotifyAlerts(_BatchHop):
    """Alerts reach their channels through the ``Outbox``: the monitor enqueues every state
    change as it stores it; this hop enqueues what arrives on ``llm.alerts.v1`` too (a no-op
    for what is there already) and, on a timer, delivers what is due (channels concurrently,
    retries with backoff across restarts, silences, resolve after firing). What each channel
    got is also recorded in ``alert_notifications``."""

    def __init__(
        self,
        outbox: Outbox,
        metrics: Metrics,
        sink: ClickHouseSink,
        sink_executor: ThreadPoolExecutor,
    ) -> None:
        super().__init__(metrics)
        self.outbox = outbox
        self.store = AlertStore(sink)
        self.sink_executor = sink_executor

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.sink_executor, fn, *args)

    async def process(self, batch: Sequence[faust.EventT]) -> None:
        alerts: list[Alert] = []
        for ev in batch:
            try:
                alerts.append(Alert.model_validate_json(ev.message.value))
            except ValueError as exc:
                log.error("unreadable alert at %s[%d]@%d: %s", ev.message.topic,
                          ev.message.partition, ev.message.offset, exc)  # fmt: skip
        if alerts:
            await self._run(self.outbox.enqueue, alerts)
        for ev in batch:
            ev.ack()

    async def deliver(self) -> None:
        """Send what is due; a failure here is logged and retried at the next tick."""
        try:
            silences = await self._run(active_silences, self.store)
            records = await self.outbox.deliver(self._run, silences)
            if records:
                await self._run(self.store.write_notifications, records)
        except Exception:
            self.metrics.inc("delivery_failures")
            log.exception("alert delivery failed; retrying at the next interval")
            return
        for r in records:
            if r.outcome == "sent":
                self.metrics.inc("notifications_sent", channel=r.channel)
            elif r.outcome == "failed":
                self.metrics.inc("notification_failures", channel=r.channel)
            else:
                self.metrics.inc("notifications_suppressed", channel=r.channel,
                                 reason=r.outcome)  # fmt: skip


def wire(
    app: faust.App,
    settings: Settings,
    topics: Topics,
    score: ScoreEvents,
    monitor: EvaluateRules,
    notify: NotifyAlerts,
) -> None:
    """Attach the agents, the monitor timer and the shutdown hook to ``app``."""
    ingest = settings.ingest

    @app.agent(topics.inference, concurrency=1, name="score_events")
    async def score_events(stream: faust.StreamT) -> None:
        batches = stream.noack().noack_take(ingest.batch_size, within=ingest.batch_within_s)
        if ingest.pipelined:
            await run_pipelined(score, batches)
            return
        async for batch in batches:
            await score.run(batch)

    @app.agent(topics.alerts, concurrency=1, name="notify_alerts")
    async def notify_alerts(stream: faust.StreamT) -> None:
        async for batch in stream.noack().noack_take(100, within=0.5):
            await notify.run(batch)

    @app.timer(interval=settings.monitor.interval_s, on_leader=True, name="evaluate_rules")
    async def evaluate_rules() -> None:
        await monitor.tick()

    @app.timer(interval=settings.alerts.delivery_interval_s, on_leader=True, name="deliver_alerts")
    async def deliver_alerts() -> None:
        if not notify.stopping:
            await notify.deliver()

    async def stopping(*_: Any, **__: Any) -> None:
        for hop in (score, monitor, notify):
            hop.stopping = True

    app.on_before_shutdown.connect(functools.partial(stopping))  # type: ignore[arg-type]
