"""Who gets what: routes, silences, deduplication, grouping and per-channel rate limits.

A notifier never decides who gets paged; the rule engine does, and the outbox
(``alerting.outbox.Outbox``) applies what the operator set with the parts defined here.
Reading order: ``Matcher`` and ``Silence`` (label matchers, as in Alertmanager),
``RateLimiter``, ``Record`` (what one channel got); then the helpers over
``sinks.alert_store.AlertStore`` that read silences back and end them.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from schemas.results import Alert, AlertStatus, Severity
from sinks.sql import aware

if TYPE_CHECKING:
    from sinks.alert_store import AlertStore

__all__ = [
    "Matcher",
    "RateLimiter",
    "Record",
    "Silence",
    "active_silences",
    "expire_silence",
    "sample_alert",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Matcher:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex`` (full match)."""

    name: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        m = re.fullmatch(r"\s*([A-Za-z_][\w.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*", text)
        if not m:
            msg = f"matcher must be NAME=VALUE, NAME!=VALUE, NAME=~RE or NAME!~RE, got {text!r}"
            raise ValueError(msg)
        value = m[3]
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if m[2] in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                msg = f"matcher {text!r}: bad regular expression: {exc}"
                raise ValueError(msg) from None
        return cls(m[1], m[2], value)

    def matches(self, labels: dict[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        hit = re.fullmatch(self.value, have) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


@dataclass(frozen=True)
class Silence:
    """Mutes notifications of alerts whose labels match every matcher, from start to end."""

    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""
    silence_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if not self.matchers:
            msg = "a silence needs at least one matcher (it would mute everything)"
            raise ValueError(msg)
        if self.ends_at <= self.starts_at:
            msg = f"ends_at {self.ends_at} must be after starts_at {self.starts_at}"
            raise ValueError(msg)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Silence:
        """A silence as ``AlertStore.silence_rows`` returns it."""
        sid, matchers, starts, ends, by, comment = row
        return cls(tuple(Matcher(*m) for m in matchers), aware(starts), aware(ends), by,
                   comment, sid)  # fmt: skip

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, alert: Alert, now: datetime) -> bool:
        return self.active(now) and all(m.matches(_labels(alert)) for m in self.matchers)


def _labels(alert: Alert) -> dict[str, str]:
    return {"rule": alert.rule, "alertname": alert.rule, "service": alert.service,
            "model": alert.model, "severity": alert.severity.value, **alert.labels}  # fmt: skip


class RateLimiter:
    """A token bucket per channel: at most ``per_minute`` notifications a minute, refilled
    continuously, bursts up to ``per_minute``. ``0`` means no limit."""

    def __init__(self, per_minute: float) -> None:
        if per_minute < 0:
            msg = f"per_minute must be >= 0, got {per_minute!r}"
            raise ValueError(msg)
        self.per_minute = per_minute
        self._tokens: dict[str, tuple[float, float]] = {}

    def allow(self, channel: str, now: float) -> bool:
        if not self.per_minute:
            return True
        tokens, last = self._tokens.get(channel, (self.per_minute, now))
        tokens = min(self.per_minute, tokens + (now - last) * self.per_minute / 60.0)
        if tokens >= 1:
            self._tokens[channel] = (tokens - 1, now)
            return True
        self._tokens[channel] = (tokens, now)
        return False


@dataclass(frozen=True)
class Record:
    """What one channel was sent for one alert, or why not (table ``alert_notifications``)."""

    channel: str
    alert: Alert
    outcome: str  # sent, failed, silenced, rate_limited, skipped
    detail: str
    at: datetime


def sample_alert(rule: str = "infersight_test", status: AlertStatus = AlertStatus.FIRING) -> Alert:
    """A harmless alert for ``infersight alerts test``: clearly marked as a test."""
    now = datetime.now(UTC)
    labels = {"service": "infersight", "model": "test", "rule": rule, "severity": "info",
              "test": "true"}  # fmt: skip
    fp = Alert.fingerprint_of(rule, {"service": "infersight", "model": "test"})
    return Alert(
        fingerprint=fp,
        episode_id=f"{fp}-test-{int(now.timestamp())}",
        rule=rule,
        status=status,
        severity=Severity.INFO,
        service="infersight",
        model="test",
        summary=f"TEST from infersight: this channel receives alerts ({status.value})",
        value=1.0,
        threshold=0.0,
        window_start=now - timedelta(minutes=5),
        window_end=now,
        labels=labels,
        sample_event_ids=["test-event-1"],
        evidence_sql="SELECT 1",
        created_at=now,
    )


# -- reading the store back ------------------------------------------------------------------


def active_silences(
    store: AlertStore, now: datetime | None = None, include_expired: bool = False
) -> list[Silence]:
    """Silences not yet ended at ``now`` (default: the database's clock), or every one."""
    return [Silence.from_row(r) for r in store.silence_rows(now, include_expired)]


def expire_silence(store: AlertStore, silence_id: str, now: datetime | None = None) -> bool:
    """End a silence now; False when no active silence has that id."""
    now = now or datetime.now(UTC)
    for s in active_silences(store, now):
        if s.silence_id == silence_id:
            starts = min(s.starts_at, now - timedelta(milliseconds=1))
            store.write_silence(
                Silence(s.matchers, starts, now, s.created_by, s.comment, s.silence_id)
            )
            return True
    return False
