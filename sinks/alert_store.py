"""The alerting tables (schemas/clickhouse/020_alerting.sql): alerts, retraining events, series
state transitions, silences and what each channel was sent. One owner for all of them.

Rows are built here from the objects' attributes (``alerting`` never builds a row), every
write goes through ``ClickHouseSink.insert`` under the sink's lock, and reads return plain
rows that ``alerting`` turns back into its objects (``Silence.from_row``,
``RuleEngine.restore``). Synchronous: run it in the sink's thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.results import Alert, RetrainingEvent
from sinks.sql import naive, time_literal

__all__ = [
    "ALERT_COLUMNS",
    "NOTIFICATION_COLUMNS",
    "RESTORE_RETRAINING_SQL",
    "RESTORE_STATES_SQL",
    "RETRAINING_COLUMNS",
    "SILENCE_COLUMNS",
    "TRANSITION_COLUMNS",
    "AlertStore",
    "alert_row",
    "retraining_row",
]

ALERT_COLUMNS = [
    "alert_id", "fingerprint", "episode_id", "rule", "status", "severity", "service", "model",
    "summary", "value", "threshold", "window_start", "window_end", "labels",
    "sample_event_ids", "evidence_sql", "runbook_url", "created_at",
]  # fmt: skip
RETRAINING_COLUMNS = [
    "retraining_id", "service", "model", "reason", "triggered_by", "since", "window_start",
    "window_end", "statistics", "selection_sql", "created_at",
]  # fmt: skip
TRANSITION_COLUMNS = [
    "fingerprint", "rule", "labels", "from_state", "to_state", "episode_id", "value",
    "threshold", "at", "step", "reason", "alert_id", "pending_since", "firing_since",
    "notified_at", "notify_seq",
]  # fmt: skip
SILENCE_COLUMNS = ["silence_id", "matchers", "starts_at", "ends_at", "created_by", "comment",
                   "updated_at"]  # fmt: skip
NOTIFICATION_COLUMNS = ["channel", "alert_id", "episode_id", "fingerprint", "rule", "status",
                        "outcome", "detail", "at"]  # fmt: skip

#: The latest transition of every series: what ``RuleEngine.restore`` rebuilds state from.
RESTORE_STATES_SQL = (
    "SELECT fingerprint, argMax(rule, (at, step)), argMax(labels, (at, step)), "
    "argMax(to_state, (at, step)), argMax(episode_id, (at, step)), "
    "argMax(pending_since, (at, step)), argMax(firing_since, (at, step)), "
    "argMax(notified_at, (at, step)), argMax(notify_seq, (at, step)), "
    "argMax(value, (at, step)) FROM alert_states FINAL GROUP BY fingerprint"
)
#: Per model: the last retraining request and every episode that asked for one.
RESTORE_RETRAINING_SQL = (
    "SELECT model, max(created_at), groupArray(triggered_by) FROM retraining_events FINAL "
    "GROUP BY model"
)


def _naive_or_none(ts: datetime | None) -> datetime | None:
    return naive(ts) if ts is not None else None


def alert_row(a: Alert) -> list[Any]:
    return [
        a.alert_id, a.fingerprint, a.episode_id, a.rule, a.status.value, a.severity.value,
        a.service, a.model, a.summary, a.value, a.threshold, naive(a.window_start),
        naive(a.window_end), dict(a.labels), list(a.sample_event_ids), a.evidence_sql,
        a.runbook_url or "", naive(a.created_at),
    ]  # fmt: skip


def retraining_row(r: RetrainingEvent) -> list[Any]:
    return [
        r.retraining_id, r.service, r.model, r.reason, r.triggered_by, naive(r.since),
        naive(r.window_start), naive(r.window_end), dict(r.statistics), r.selection_sql,
        naive(r.created_at),
    ]  # fmt: skip


def transition_row(t: Any) -> list[Any]:
    """A row of ``alert_states`` from an ``alerting.engine.Transition``."""
    return [
        t.fingerprint, t.rule, dict(t.labels), t.from_state.value, t.to_state.value,
        t.episode_id, t.value, t.threshold, naive(t.at), t.step, t.reason, t.alert_id,
        _naive_or_none(t.pending_since), _naive_or_none(t.firing_since),
        _naive_or_none(t.notified_at), t.notify_seq,
    ]  # fmt: skip


def notification_row(r: Any) -> list[Any]:
    """A row of ``alert_notifications`` from an ``alerting.dispatch.Record``."""
    a = r.alert
    return [r.channel, a.alert_id, a.episode_id, a.fingerprint, a.rule, a.status.value,
            r.outcome, r.detail, r.at.replace(tzinfo=None)]  # fmt: skip


def silence_row(s: Any, now: datetime) -> list[Any]:
    """A row of ``silences`` from an ``alerting.dispatch.Silence``."""
    return [
        s.silence_id, [(m.name, m.op, m.value) for m in s.matchers], naive(s.starts_at),
        naive(s.ends_at), s.created_by, s.comment, naive(now),
    ]  # fmt: skip


def _matcher(stored: Any) -> tuple[str, str, str]:
    if isinstance(stored, dict):  # named tuples come back as dicts
        return stored["name"], stored["op"], stored["value"]
    return tuple(stored)  # type: ignore[return-value]  # a stored (name, op, value)


class AlertStore:
    """The alerting tables through a ``sinks.clickhouse.ClickHouseSink`` (its ``insert`` and
    ``query`` hold the sink's lock, so this is safe beside the model thread's reads)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    # -- writes -----------------------------------------------------------------------
    def write_alerts(self, alerts: Sequence[Alert]) -> None:
        self.sink.insert("alerts", [alert_row(a) for a in alerts], ALERT_COLUMNS)

    def write_retraining(self, events: Sequence[RetrainingEvent]) -> None:
        rows = [retraining_row(r) for r in events]
        self.sink.insert("retraining_events", rows, RETRAINING_COLUMNS)

    def write_transitions(self, transitions: Sequence[Any]) -> None:
        """``alerting.engine.Transition`` objects, one row each."""
        rows = [transition_row(t) for t in transitions]
        self.sink.insert("alert_states", rows, TRANSITION_COLUMNS)

    def write_notifications(self, records: Sequence[Any]) -> None:
        """``alerting.dispatch.Record`` objects, one row each."""
        rows = [notification_row(r) for r in records]
        self.sink.insert("alert_notifications", rows, NOTIFICATION_COLUMNS)

    def write_silence(self, silence: Any) -> None:
        """Add or replace (same id) one ``alerting.dispatch.Silence``."""
        self.sink.insert("silences", [silence_row(silence, datetime.now(UTC))], SILENCE_COLUMNS)

    # -- reads ------------------------------------------------------------------------
    def series_states(self) -> list[tuple[Any, ...]]:
        """The latest transition of every series (``RESTORE_STATES_SQL``)."""
        return self.sink.query(RESTORE_STATES_SQL)[1]

    def retraining_history(self) -> list[tuple[Any, ...]]:
        """Per model: last retraining time and the episodes that asked for one."""
        return self.sink.query(RESTORE_RETRAINING_SQL)[1]

    def silence_rows(
        self, now: datetime | None = None, include_expired: bool = False
    ) -> list[tuple[Any, ...]]:
        """``(silence_id, matchers, starts_at, ends_at, created_by, comment)`` of silences
        still running at ``now`` (default: the database clock), or of all with
        ``include_expired``; matchers as ``(name, op, value)`` tuples."""
        cond = "" if include_expired else " WHERE ends_at > now64(3)"
        if now is not None and not include_expired:
            cond = f" WHERE ends_at > {time_literal(now)}"
        _, rows = self.sink.query(
            "SELECT silence_id, matchers, starts_at, ends_at, created_by, comment "
            f"FROM silences FINAL{cond} ORDER BY starts_at"
        )
        return [
            (sid, [_matcher(m) for m in matchers], starts, ends, by, comment)
            for sid, matchers, starts, ends, by, comment in rows
        ]
