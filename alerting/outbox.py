"""The alert outbox: every alert state change reaches every configured channel at least once.

``Outbox.enqueue`` writes one pending row per (channel, alert) to ``alert_outbox``
(schemas/clickhouse/040_alert_outbox.sql) in the same step that stores the alert, before it
is published, so no kill between storing and sending can lose a page. ``Outbox.deliver``
(run every second by the leader) sends what is due: channels concurrently (a slow one never
delays the others), alerts of one rule and status together, each failure retried with
capped exponential backoff stored in the row (so it survives a restart). A resolve waits
while its firing is still owed to that channel and is skipped where the firing was never
delivered. A row still failing after ``expiry_s`` is given up, and giving up raises its own
alert (``infersight_delivery_expired``) on the other channels.

Synchronous ClickHouse work (``due``, ``enqueue``, ``record``) runs in the sink's thread;
``deliver`` awaits the notifiers on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.channels.base import AlertGroup, DeliveryError, Notifier
from alerting.dispatch import RateLimiter, Record, Silence
from schemas.results import Alert, AlertStatus, Severity

__all__ = ["EXPIRED_RULE", "Outbox", "OutboxRow", "expired_alert"]

log = logging.getLogger(__name__)

#: The rule of the alert raised when a channel gave up on an alert.
EXPIRED_RULE = "infersight_delivery_expired"

_COLUMNS = ["channel", "alert_id", "episode_id", "rule", "status", "alert", "state", "attempts",
            "last_error", "created_at", "next_attempt_at", "updated_at"]  # fmt: skip


def _naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None)


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@dataclass
class OutboxRow:
    """One (channel, alert) delivery and where it stands."""

    channel: str
    alert: Alert
    state: str = "pending"
    attempts: int = 0
    last_error: str = ""
    created_at: datetime | None = None
    next_attempt_at: datetime | None = None

    def row(self, now: datetime) -> list[Any]:
        a = self.alert
        created = self.created_at or now
        return [self.channel, a.alert_id, a.episode_id, a.rule, a.status.value,
                a.model_dump_json(), self.state, self.attempts, self.last_error[:500],
                _naive(created), _naive(self.next_attempt_at or now), _naive(now)]  # fmt: skip


def expired_alert(failed: OutboxRow, now: datetime) -> Alert:
    """The alert that says ``failed.channel`` gave up on ``failed.alert``."""
    a = failed.alert
    labels = {"service": a.service, "model": a.model, "channel": failed.channel,
              "failed_rule": a.rule}  # fmt: skip
    fp = Alert.fingerprint_of(EXPIRED_RULE, labels)
    summary = (
        f"{failed.channel} did not accept the {a.status.value} notification of {a.rule} "
        f"for {a.service}/{a.model} after {failed.attempts} attempts: {failed.last_error}"
    )
    return Alert(
        fingerprint=fp, episode_id=f"{fp}-{a.alert_id}", rule=EXPIRED_RULE,
        status=AlertStatus.FIRING, severity=Severity.CRITICAL, service=a.service, model=a.model,
        summary=summary[:1000], value=float(failed.attempts), threshold=0.0,
        window_start=failed.created_at or now, window_end=now, labels=labels,
        sample_event_ids=list(a.sample_event_ids), evidence_sql=a.evidence_sql, created_at=now,
    )  # fmt: skip


class Outbox:
    """Pending deliveries in ClickHouse and the loop that works them off.

    Parameters
    ----------
    sink
        A ``ClickHouseSink`` (``query``, ``client.insert``).
    notifiers
        The configured channels, by ``name``.
    expiry_s
        How long a delivery is retried before it is given up (and an alert says so).
    backoff_s, backoff_max_s
        First retry delay and its cap; the delay doubles with every failed attempt.
    rate_limit_per_minute
        Notifications per channel per minute; beyond it, deliveries wait (never dropped).
    """

    def __init__(
        self,
        sink: Any,
        notifiers: Sequence[Notifier],
        *,
        expiry_s: float = 3600.0,
        backoff_s: float = 1.0,
        backoff_max_s: float = 300.0,
        rate_limit_per_minute: float = 0,
    ) -> None:
        self.sink = sink
        self.notifiers = {n.name: n for n in notifiers}
        self.expiry_s = expiry_s
        self.backoff_s = max(backoff_s, 0.05)
        self.backoff_max_s = backoff_max_s
        self.limiter = RateLimiter(rate_limit_per_minute)

    # -- which channels --------------------------------------------------------------------
    def channels(self, alert: Alert, exclude: str | None = None) -> list[str]:
        route = [c for c in alert.labels.get("route", "").split(",") if c]
        names = [c for c in route if c in self.notifiers] if route else list(self.notifiers)
        return [c for c in names if c != exclude]

    # -- storage (the alerting thread; each call under the sink's lock) ---------------------
    def _insert(self, rows: list[list[Any]]) -> None:
        if rows:
            self.sink.insert("alert_outbox", rows, _COLUMNS)  # under the sink's lock

    def enqueue(self, alerts: Sequence[Alert], now: datetime | None = None) -> int:
        """One pending row per (channel, alert) not in the outbox yet; returns how many.
        Idempotent: a replayed alert that a channel already has (in any state) is left."""
        now = now or datetime.now(UTC)
        wanted = {(ch, a.alert_id): a for a in alerts for ch in self.channels(a)}
        if not wanted:
            return 0
        _, have = self.sink.query(
            "SELECT channel, alert_id FROM alert_outbox WHERE alert_id IN {ids:Array(String)}",
            {"ids": sorted({k[1] for k in wanted})},
        )
        present = {(ch, aid) for ch, aid in have}
        new = [OutboxRow(ch, a) for (ch, aid), a in wanted.items() if (ch, aid) not in present]
        self._insert([r.row(now) for r in new])
        return len(new)

    def due(self, now: datetime, limit: int = 500) -> tuple[list[OutboxRow], set[tuple[str, str]],
                                                             set[tuple[str, str]]]:  # fmt: skip
        """Pending rows due now, oldest first; the (channel, episode) pairs whose firing is
        still owed; and those whose firing was sent."""
        _, rows = self.sink.query(
            "SELECT channel, alert, attempts, last_error, created_at, next_attempt_at "
            "FROM alert_outbox FINAL WHERE state = 'pending' AND next_attempt_at <= "
            "fromUnixTimestamp64Milli({ms:Int64}, 'UTC') ORDER BY created_at, status "
            f"LIMIT {int(limit)}",
            {"ms": int(now.timestamp() * 1000)},
        )
        episodes = sorted({Alert.model_validate_json(js).episode_id for _, js, *_ in rows})
        firing: list[tuple[Any, ...]] = []
        if episodes:
            _, firing = self.sink.query(
                "SELECT channel, episode_id, state FROM alert_outbox FINAL WHERE status = "
                "'firing' AND state IN ('pending', 'sent') AND episode_id IN {eps:Array(String)}",
                {"eps": episodes},
            )
        owed = {(c, e) for c, e, s in firing if s == "pending"}
        fired = {(c, e) for c, e, s in firing if s == "sent"}
        out = [
            OutboxRow(ch, Alert.model_validate_json(js), "pending", int(n), err,
                      _aware(created), _aware(nxt))
            for ch, js, n, err, created, nxt in rows
        ]  # fmt: skip
        return out, owed, fired

    def record(self, rows: Sequence[OutboxRow], now: datetime) -> None:
        self._insert([r.row(now) for r in rows])

    # -- delivery (event loop) ------------------------------------------------------------
    async def deliver(
        self,
        run: Callable[..., Any],
        silences: Sequence[Silence] = (),
        now: datetime | None = None,
    ) -> list[Record]:
        """Send everything due; ``run(fn, *args)`` runs storage calls in the sink's thread
        (``loop.run_in_executor``). Returns one ``Record`` per decided (channel, alert)."""
        now = now or datetime.now(UTC)
        rows, owed, fired = await run(self.due, now)
        if not rows:
            return []
        by_channel: dict[str, list[OutboxRow]] = {}
        for r in rows:
            by_channel.setdefault(r.channel, []).append(r)
        results = await asyncio.gather(
            *(self._channel(ch, rs, owed, fired, silences, now) for ch, rs in by_channel.items())
        )
        changed = [r for changed, _ in results for r in changed]
        records = [rec for _, recs in results for rec in recs]
        give_ups = [expired_alert(r, now) for r in changed
                    if r.state == "expired" and r.alert.rule != EXPIRED_RULE]  # fmt: skip
        await run(self.record, changed, now)
        if give_ups:
            extra = [r for g in give_ups for r in self._rows_for(g, now)]
            await run(self.record, extra, now)
            for g in give_ups:
                log.error("ALERT FIRING %s", g.summary)
        return records

    def _rows_for(self, alert: Alert, now: datetime) -> list[OutboxRow]:
        failed = alert.labels.get("channel")
        return [OutboxRow(ch, alert, created_at=now, next_attempt_at=now)
                for ch in self.channels(alert, exclude=failed)]  # fmt: skip

    async def _channel(
        self,
        channel: str,
        rows: list[OutboxRow],
        owed: set[tuple[str, str]],
        fired: set[tuple[str, str]],
        silences: Sequence[Silence],
        now: datetime,
    ) -> tuple[list[OutboxRow], list[Record]]:
        notifier = self.notifiers.get(channel)
        changed: list[OutboxRow] = []
        records: list[Record] = []
        groups: dict[tuple[str, AlertStatus], list[OutboxRow]] = {}
        for r in rows:
            a = r.alert
            muting = next((s for s in silences if s.mutes(a, now)), None)
            if notifier is None:
                continue  # a channel no longer configured: left as it is
            if muting is not None:
                r.state = "silenced"
                changed.append(r)
                records.append(Record(channel, a, "silenced", muting.silence_id, now))
            elif a.status is AlertStatus.RESOLVED and (channel, a.episode_id) in owed:
                continue  # the firing goes first: wait for it
            elif a.status is AlertStatus.RESOLVED and (channel, a.episode_id) not in fired:
                r.state = "skipped"
                changed.append(r)
                records.append(Record(channel, a, "skipped", "firing was not delivered", now))
            else:
                groups.setdefault((a.rule, a.status), []).append(r)
        if notifier is None:
            return changed, records
        for (rule, status), members in groups.items():
            if not self.limiter.allow(channel, time.monotonic()):
                wait = 60.0 / max(self.limiter.per_minute, 1e-9)
                for r in members:
                    r.next_attempt_at = now + timedelta(seconds=wait)
                changed += members
                continue
            alerts = tuple(r.alert for r in members)
            try:
                await notifier.send_group(AlertGroup(rule, status, alerts))
            except DeliveryError as exc:
                changed += [self._failed(r, str(exc), now, records) for r in members]
            except Exception as exc:  # a bug in a channel must not stop the others
                log.exception("%s failed unexpectedly on %s %s", channel, status.value, rule)
                changed += [self._failed(r, type(exc).__name__, now, records) for r in members]
            else:
                for r in members:
                    r.state = "sent"
                    r.attempts += 1
                    records.append(Record(channel, r.alert, "sent", "", now))
                    if status is AlertStatus.FIRING:
                        owed.discard((channel, r.alert.episode_id))
                changed += members
        return changed, records

    def _failed(self, r: OutboxRow, error: str, now: datetime, records: list[Record]) -> OutboxRow:
        r.attempts += 1
        r.last_error = error
        age = (now - (r.created_at or now)).total_seconds()
        if age >= self.expiry_s:
            r.state = "expired"
            records.append(Record(r.channel, r.alert, "failed", f"given up: {error}", now))
            log.error("%s: gave up on %s %s after %d attempts over %.0fs: %s", r.channel,
                      r.alert.status.value, r.alert.rule, r.attempts, age, error)  # fmt: skip
        else:
            delay = min(self.backoff_s * 2 ** (r.attempts - 1), self.backoff_max_s)
            r.next_attempt_at = now + timedelta(seconds=delay)
            log.warning("%s: %s %s not delivered (attempt %d), retry in %.1fs: %s", r.channel,
                        r.alert.status.value, r.alert.rule, r.attempts, delay, error)  # fmt: skip
        return r
