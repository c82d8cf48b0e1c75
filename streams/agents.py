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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import faust

from alerting.dispatch import active_silences
from alerting.engine import Evaluation, RuleEngine
from alerting.outbox import Outbox
from schemas.results import Alert
from sinks.alert_store import AlertStore
from sinks.backoff import retry_async
from sinks.clickhouse import ClickHouseSink
from streams.hops import BatchHop, Hop, to_json
from streams.metrics import Metrics
from streams.pipelined import run_pipelined
from streams.score import ScoreEvents
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["EvaluateRules", "NotifyAlerts", "ScoreEvents", "wire"]

log = logging.getLogger(__name__)


class EvaluateRules(Hop):
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
            for rule, kept in self.engine.truncated.items():
                self.metrics.inc("rule_series_truncated", rule=rule)
                log.warning("rule %s has more than %d series; evaluated the %d most breaching "
                            "(monitor.max_series_per_rule)", rule, kept, kept)  # fmt: skip
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
            (self.topics.alerts, a.rule.encode(), to_json(a)) for a in alerts
        ]
        sends += [(self.topics.retraining, r.model.encode(), to_json(r)) for r in retraining]

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


class NotifyAlerts(BatchHop):
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
