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

A silence holds a notification rather than dropping it, as Alertmanager does: a muted row is
``held`` and looked at again when the silence ends (or within ``HOLD_RECHECK_S`` when it is
ended early). An alert still firing then is sent, and its expiry counts from that moment; an
episode that resolved while silenced is closed as ``silenced`` on both rows, so nobody is
paged about something that is already over.

Row states: ``pending`` and ``held`` are owed; ``sent``, ``expired``, ``silenced`` and
``skipped`` are final.

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

__all__ = [
    "EXPIRED_RULE",
    "HOLD_RECHECK_S",
    "OUTBOX_RETENTION_DAYS",
    "Outbox",
    "OutboxRow",
    "expired_alert",
]

log = logging.getLogger(__name__)

#: The rule of the alert raised when a channel gave up on an alert.
EXPIRED_RULE = "infersight_delivery_expired"
#: A held row is looked at again at its silence's end, or after this many seconds at most
#: (a silence ended early with ``infersight alerts unsilence``).
HOLD_RECHECK_S = 60.0
#: ``alert_outbox`` drops a row this many days after it was last written (migration 062).
#: An owed row is rewritten every few minutes while a leader runs, so only finished rows and
#: rows left by a monitor stopped that long reach it; owed rows and alerts older than one
#: day less are ignored, so that neither a version outliving its successor nor a replay of
#: ``llm.alerts.v1`` pages again what the TTL dropped.
OUTBOX_RETENTION_DAYS = 30
_HORIZON = timedelta(days=OUTBOX_RETENTION_DAYS - 1)

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


@dataclass
class Episodes:
    """Where the episodes of due rows stand, as (channel, episode_id) pairs: a firing still
    owed (pending or held) and when it is tried next, a firing sent, a resolve enqueued (in
    any state)."""

    owed: dict[tuple[str, str], datetime]
    fired: set[tuple[str, str]]
    resolved: set[tuple[str, str]]

    @classmethod
    def of(cls, rows: Sequence[tuple[Any, ...]], sent: Sequence[tuple[Any, ...]] = ()) -> Episodes:
        """From outbox rows (channel, episode_id, status, state, next_attempt_at) and the
        (channel, episode_id) pairs ``alert_notifications`` says a firing was sent to (that
        table keeps them after the outbox's TTL drops the row of a long episode's firing)."""
        firing = [(c, e, st, nxt) for c, e, status, st, nxt in rows if status == "firing"]
        return cls(
            owed={(c, e): _aware(nxt) for c, e, st, nxt in firing if st in ("pending", "held")},
            fired={(c, e) for c, e, st, _ in firing if st == "sent"} | {(c, e) for c, e in sent},
            resolved={(c, e) for c, e, status, *_ in rows if status == "resolved"},
        )


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
        Idempotent: a replayed alert that a channel already has (in any state) is left, and
        an alert older than the outbox's retention is refused (its rows may be gone)."""
        now = now or datetime.now(UTC)
        fresh = []
        for a in alerts:
            if _aware(a.created_at) >= now - _HORIZON:
                fresh.append(a)
                continue
            log.warning("not paging %s %s of %s: created %s, older than the outbox keeps",
                        a.rule, a.status.value, a.alert_id, a.created_at.isoformat())  # fmt: skip
        wanted = {(ch, a.alert_id): a for a in fresh for ch in self.channels(a)}
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

    def due(self, now: datetime, limit: int = 500) -> tuple[list[OutboxRow], Episodes]:
        """Owed rows (pending or held) of the configured channels due now, oldest first, and
        where their episodes stand on each channel. Rows of a channel no longer configured
        stay owed but are not read: they would fill every page of ``limit`` and starve the
        channels that work. Owed rows not written for ``OUTBOX_RETENTION_DAYS`` - 1 days are
        not read either: the TTL is dropping that delivery, and one may be an old version
        whose newer, finished one it dropped first."""
        if not self.notifiers:
            return [], Episodes.of([])
        _, rows = self.sink.query(
            "SELECT channel, alert, state, attempts, last_error, created_at, next_attempt_at "
            "FROM alert_outbox FINAL WHERE state IN ('pending', 'held') AND next_attempt_at <= "
            "fromUnixTimestamp64Milli({ms:Int64}, 'UTC') AND channel IN {chs:Array(String)} "
            "AND updated_at >= fromUnixTimestamp64Milli({oldest:Int64}, 'UTC') "
            f"ORDER BY created_at, status LIMIT {int(limit)}",
            {
                "ms": int(now.timestamp() * 1000),
                "chs": sorted(self.notifiers),
                "oldest": int((now - _HORIZON).timestamp() * 1000),
            },  # fmt: skip
        )
        out = [
            OutboxRow(ch, Alert.model_validate_json(js), state, int(n), err,
                      _aware(created), _aware(nxt))
            for ch, js, state, n, err, created, nxt in rows
        ]  # fmt: skip
        episodes = sorted({r.alert.episode_id for r in out})
        found: list[tuple[Any, ...]] = []
        if episodes:
            _, found = self.sink.query(
                "SELECT channel, episode_id, status, state, next_attempt_at FROM alert_outbox "
                "FINAL WHERE episode_id IN {eps:Array(String)}",
                {"eps": episodes},
            )
        return out, Episodes.of(found, self._firings_sent(out))

    def _firings_sent(self, rows: Sequence[OutboxRow]) -> list[tuple[Any, ...]]:
        """(channel, episode_id) of the due resolves whose firing the channel was sent, from
        ``alert_notifications``: a firing older than the outbox's retention has no row left
        there, and its resolve must still go out (an incident open for five weeks)."""
        resolves = sorted(
            {r.alert.episode_id for r in rows if r.alert.status is AlertStatus.RESOLVED}
        )
        if not resolves:
            return []
        _, sent = self.sink.query(
            "SELECT DISTINCT channel, episode_id FROM alert_notifications WHERE episode_id IN "
            "{eps:Array(String)} AND status = 'firing' AND outcome = 'sent'",
            {"eps": resolves},
        )
        return sent

    def record(self, rows: Sequence[OutboxRow], now: datetime) -> None:
        self._insert([r.row(now) for r in rows])

    # -- delivery (event loop) ------------------------------------------------------------
    async def deliver(
        self,
        run: Callable[..., Any],
        silences: Sequence[Silence] = (),
        now: datetime | None = None,
        clock: float | None = None,
    ) -> list[Record]:
        """Send everything due; ``run(fn, *args)`` runs storage calls in the sink's thread
        (``loop.run_in_executor``). Returns one ``Record`` per decided (channel, alert).
        ``clock`` is the rate limiter's time in seconds (default ``time.monotonic()``)."""
        now = now or datetime.now(UTC)
        clock = time.monotonic() if clock is None else clock
        rows, episodes = await run(self.due, now)
        if not rows:
            return []
        by_channel: dict[str, list[OutboxRow]] = {}
        for r in rows:
            by_channel.setdefault(r.channel, []).append(r)
        results = await asyncio.gather(
            *(
                self._channel(ch, rs, episodes, silences, now, clock)
                for ch, rs in by_channel.items()
            )
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
        episodes: Episodes,
        silences: Sequence[Silence],
        now: datetime,
        clock: float,
    ) -> tuple[list[OutboxRow], list[Record]]:
        notifier = self.notifiers.get(channel)
        changed: list[OutboxRow] = []
        records: list[Record] = []
        groups: dict[tuple[str, AlertStatus], list[OutboxRow]] = {}
        for r in rows:
            if notifier is None:
                continue  # a channel no longer configured: left as it is
            decided, detail = self._decide(r, episodes, silences, now)
            if decided == "send":
                groups.setdefault((r.alert.rule, r.alert.status), []).append(r)
                continue
            if decided != "wait":
                changed.append(r)
            if decided in ("silenced", "skipped"):
                records.append(Record(channel, r.alert, decided, detail, now))
        if notifier is None:
            return changed, records
        for (rule, status), members in groups.items():
            if not self.limiter.allow(channel, clock):
                wait = 60.0 / max(self.limiter.per_minute, 1e-9)
                for r in members:
                    r.next_attempt_at = now + timedelta(seconds=wait)
                changed += members
                continue
            alerts = tuple(r.alert for r in members)
            try:
                await notifier.send_group(AlertGroup(rule, status, alerts))
            except DeliveryError as exc:
                changed += [self._failed(r, str(exc), now, records, exc.retry_after_s)
                            for r in members]  # fmt: skip
            except Exception as exc:  # a bug in a channel must not stop the others
                log.exception("%s failed unexpectedly on %s %s", channel, status.value, rule)
                changed += [self._failed(r, type(exc).__name__, now, records) for r in members]
            else:
                for r in members:
                    r.state = "sent"
                    r.attempts += 1
                    records.append(Record(channel, r.alert, "sent", "", now))
                    if status is AlertStatus.FIRING:
                        episodes.owed.pop((channel, r.alert.episode_id), None)
                changed += members
        return changed, records

    @staticmethod
    def _decide(
        r: OutboxRow, episodes: Episodes, silences: Sequence[Silence], now: datetime
    ) -> tuple[str, str]:
        """What to do with one owed row now, and why; updates the row. ``send``; ``wait``
        (unchanged); ``deferred`` (until its firing is tried) and ``held`` (held again): no
        new record; ``silenced`` or ``skipped`` (a record says why); ``closed`` (final,
        recorded when it was first held)."""
        a, key = r.alert, (r.channel, r.alert.episode_id)
        muting = next((s for s in silences if s.mutes(a, now)), None)
        if muting is not None:
            first = r.state != "held"
            r.state, r.last_error = "held", f"silenced by {muting.silence_id}"
            r.next_attempt_at = min(muting.ends_at, now + timedelta(seconds=HOLD_RECHECK_S))
            return ("silenced" if first else "held"), muting.silence_id
        if r.state == "held" and a.status is AlertStatus.FIRING and key in episodes.resolved:
            r.state = "silenced"  # the episode ended while silenced: nobody is paged now
            return "closed", ""
        if a.status is AlertStatus.RESOLVED and key in episodes.owed:
            # The firing goes first: try again when it is tried (not every round, where a
            # channel that is down would fill the due rows with resolves that must wait).
            firing_next = episodes.owed[key]
            if firing_next <= now:
                return "wait", ""
            r.next_attempt_at = firing_next
            return "deferred", ""
        if a.status is AlertStatus.RESOLVED and key not in episodes.fired:
            if r.state == "held":
                r.state = "silenced"
                return "closed", ""
            r.state = "skipped"
            return "skipped", "firing was not delivered"
        if r.state == "held":  # released: its expiry counts from now
            r.state, r.last_error, r.created_at = "pending", "", now
        return "send", ""

    def _failed(
        self,
        r: OutboxRow,
        error: str,
        now: datetime,
        records: list[Record],
        retry_after_s: float | None = None,
    ) -> OutboxRow:
        """Count a failed attempt: give the row up past the expiry, or retry it after the
        backoff, or after the receiver's ``Retry-After`` when that is longer."""
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
            delay = max(delay, retry_after_s or 0.0)
            r.next_attempt_at = now + timedelta(seconds=delay)
            log.warning("%s: %s %s not delivered (attempt %d), retry in %.1fs: %s", r.channel,
                        r.alert.status.value, r.alert.rule, r.attempts, delay, error)  # fmt: skip
        return r
