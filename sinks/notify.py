"""Notifiers: deliver alerts to a human's channel. A notifier never decides who gets paged; the
rule engine does (detectors/rules.py), and the ``Dispatcher`` applies what the operator set:
routes, silences, deduplication, grouping and per-channel rate limits.

Reading order: ``Notifier`` (contract: ``async send(alert)`` / ``send_group(group)`` raise
``DeliveryError`` when the channel did not accept after its retries; ``aclose()``; ``async
with``), the channels (``WebhookNotifier``, ``SlackNotifier``, ``PagerDutyNotifier``,
``AlertmanagerNotifier``), ``Silence``, ``Dispatcher``, ``AlertStore`` (the ClickHouse tables
of schemas/clickhouse/020_alerting.sql).

Secrets (a webhook's HMAC key, a Slack webhook URL, a PagerDuty routing key) are kept out of
``repr`` and of every error message and log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import httpx

from schemas.results import Alert, AlertStatus

__all__ = [
    "AlertGroup",
    "AlertStore",
    "AlertmanagerNotifier",
    "DeliveryError",
    "DeliveryLog",
    "Dispatcher",
    "Matcher",
    "MemoryNotifier",
    "Notifier",
    "PagerDutyNotifier",
    "RateLimiter",
    "Record",
    "Silence",
    "SlackNotifier",
    "WebhookNotifier",
    "neutralise_bidi",
    "sample_alert",
]

log = logging.getLogger(__name__)

#: Unicode bidirectional controls (ALM, LRM, RLM, embeddings/overrides, isolates): in a
#: service name they can make a notification display something other than what it says.
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def neutralise_bidi(value: Any) -> Any:
    """``value`` with every bidi control in every string (keys included) shown as ``<U+XXXX>``,
    so a notification reads in the order its characters are stored.

    >>> neutralise_bidi({"service": "pay\u202egnp.exe"})
    {'service': 'pay<U+202E>gnp.exe'}
    """
    if isinstance(value, str):
        return BIDI_CONTROLS.sub(lambda m: f"<U+{ord(m[0]):04X}>", value)
    if isinstance(value, dict):
        return {neutralise_bidi(k): neutralise_bidi(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [neutralise_bidi(v) for v in value]
    return value


class DeliveryError(RuntimeError):
    """A channel refused or could not be reached after retries."""


@dataclass(frozen=True)
class AlertGroup:
    """Alerts of one rule with one status, sent as one notification where the channel can."""

    rule: str
    status: AlertStatus
    alerts: tuple[Alert, ...]

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.status.value}"


class Notifier(ABC):
    name: str = "notifier"

    @abstractmethod
    async def send(self, alert: Alert) -> None: ...

    async def send_group(self, group: AlertGroup) -> None:
        """One notification for the group; by default one ``send`` per alert."""
        for alert in group.alerts:
            await self.send(alert)

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class MemoryNotifier(Notifier):
    """Keeps what it was sent: the null object for configuration without channels."""

    name = "memory"

    def __init__(self) -> None:
        self.sent: list[Alert] = []
        self.groups: list[AlertGroup] = []

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)

    async def send_group(self, group: AlertGroup) -> None:
        self.groups.append(group)
        self.sent.extend(group.alerts)


class _HTTPNotifier(Notifier):
    """POST JSON with retries: 5xx, 429 and connection errors back off exponentially; any
    other 4xx is final (the receiver said no)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        label: str | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            shown = label or url
            msg = f"{self.name} url must start with http:// or https://, got {shown!r}"
            raise ValueError(msg)
        if retries < 0:
            msg = f"retries must be >= 0, got {retries!r}"
            raise ValueError(msg)
        if backoff_s < 0:
            msg = f"backoff_s must be >= 0, got {backoff_s!r}"
            raise ValueError(msg)
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self._label = label or url  # what errors may show of the destination
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    def headers(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": "infersight"}

    async def _post(self, payload: Any, what: str) -> None:
        import orjson

        body = orjson.dumps(neutralise_bidi(payload))  # every channel: webhook, Slack, PD, AM
        last = ""
        for attempt in range(self.retries + 1):
            try:
                resp = await self._client.post(self.url, content=body, headers=self.headers(body))
            except httpx.HTTPError as exc:
                last = type(exc).__name__  # the message may carry the (secret) URL
            else:
                if resp.status_code < 300:
                    return
                last = f"HTTP {resp.status_code}"
                if resp.status_code < 500 and resp.status_code != 429:
                    break
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        msg = f"{self.name} {self._label} did not accept {what}: {last}"
        raise DeliveryError(msg)

    async def aclose(self) -> None:
        await self._client.aclose()


class WebhookNotifier(_HTTPNotifier):
    """POST each alert as its JSON (schemas/alert.v1.schema.json) to ``url``.

    With a ``secret``, the body is signed: header ``X-Infersight-Signature`` is
    ``sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body))`` and ``X-Infersight-Timestamp``
    the Unix time used, so a receiver can reject replays. One POST per alert: machine
    consumers key on the alert's fingerprint and episode.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, transport=transport
        )
        self._secret = secret.encode() if secret else None

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookNotifier(url={self.url!r}, signed={self._secret is not None})"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return alert.model_dump(mode="json")

    def headers(self, body: bytes) -> dict[str, str]:
        headers = super().headers(body)
        if self._secret:
            ts = str(int(time.time()))
            mac = hmac.new(self._secret, ts.encode() + b"." + body, hashlib.sha256)
            headers["X-Infersight-Timestamp"] = ts
            headers["X-Infersight-Signature"] = f"sha256={mac.hexdigest()}"
        return headers

    async def send(self, alert: Alert) -> None:
        await self._post(self.payload(alert), f"alert {alert.alert_id}")


def _series(alert: Alert) -> str:
    skip = {"rule", "metric", "severity", "owner", "route", "alertstate"}
    parts = [v for k, v in alert.labels.items() if k not in skip]
    return "/".join(parts) or f"{alert.service}/{alert.model}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SlackNotifier(_HTTPNotifier):
    """A Slack incoming webhook: one message per group, in blocks a person reads at 3 a.m.

    Header (status, rule, how many series), one line per series (value vs threshold, sample
    event ids), then owner, runbook and the SQL that reproduces the first series' number.
    The webhook URL is a secret: it is never shown.
    """

    name = "slack"
    max_series = 10

    def __init__(self, url: str, **kw: Any) -> None:
        super().__init__(url, label="(incoming webhook)", **kw)

    def __repr__(self) -> str:
        return "SlackNotifier(url=<secret>)"

    def payload(self, group: AlertGroup) -> dict[str, Any]:
        first = group.alerts[0]
        firing = group.status is AlertStatus.FIRING
        icon = {
            "critical": ":rotating_light:",
            "warning": ":warning:",
            "info": ":information_source:",
        }
        mark = icon.get(first.severity.value, ":bell:") if firing else ":white_check_mark:"
        n = len(group.alerts)
        title = (
            f"{'FIRING' if firing else 'RESOLVED'}: {group.rule} "
            f"({n} series, {first.severity.value})"
        )
        lines = []
        for a in group.alerts[: self.max_series]:
            samples = ", ".join(f"`{s}`" for s in a.sample_event_ids[:3])
            lines.append(
                f"• *{_series(a)}*: {a.summary}" + (f"\n   samples: {samples}" if samples else "")
            )
        if n > self.max_series:
            lines.append(f"… and {n - self.max_series} more series")
        context = [
            f"window {first.window_start:%H:%M:%S}–{first.window_end:%H:%M:%S} UTC",
            f"episode `{first.episode_id}`",
        ]
        if owner := first.labels.get("owner"):
            context.append(f"owner *{owner}*")
        if first.runbook_url:
            context.append(f"<{first.runbook_url}|runbook>")
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": _clip(title, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ]
        if firing and first.evidence_sql:
            sql = _clip(first.evidence_sql, 2900)
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*Evidence*\n```{sql}```"}}
            )
        return {"text": f"{mark} {title}", "blocks": blocks}

    async def send(self, alert: Alert) -> None:
        await self.send_group(AlertGroup(alert.rule, alert.status, (alert,)))

    async def send_group(self, group: AlertGroup) -> None:
        await self._post(self.payload(group), f"group {group.key}")


class PagerDutyNotifier(_HTTPNotifier):
    """PagerDuty Events API v2: ``trigger`` on firing, ``resolve`` on resolved.

    ``dedup_key`` is the alert's episode id: PagerDuty folds every trigger of one episode
    (re-notifications, replays) into one incident, and the resolve closes exactly it. The
    routing key is a secret: it is never shown.
    """

    name = "pagerduty"
    DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
    _SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}

    def __init__(self, routing_key: str, url: str = DEFAULT_URL, **kw: Any) -> None:
        if not routing_key:
            msg = "routing_key must be a non-empty PagerDuty integration key"
            raise ValueError(msg)
        super().__init__(url, **kw)
        self._routing_key = routing_key

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(url={self.url!r}, routing_key=<secret>)"

    def payload(self, alert: Alert) -> dict[str, Any]:
        body: dict[str, Any] = {
            "routing_key": self._routing_key,
            "dedup_key": alert.episode_id,
            "event_action": "trigger" if alert.status is AlertStatus.FIRING else "resolve",
        }
        if alert.status is AlertStatus.FIRING:
            body["client"] = "infersight"
            body["payload"] = {
                "summary": _clip(alert.summary, 1024),
                "source": f"{alert.service}/{alert.model}",
                "severity": self._SEVERITY[alert.severity.value],
                "timestamp": alert.created_at.isoformat(),
                "component": alert.model,
                "group": alert.service,
                "class": alert.rule,
                "custom_details": {
                    "value": alert.value,
                    "threshold": alert.threshold,
                    "window_start": alert.window_start.isoformat(),
                    "window_end": alert.window_end.isoformat(),
                    "sample_event_ids": alert.sample_event_ids,
                    "evidence_sql": alert.evidence_sql,
                    "labels": alert.labels,
                    "fingerprint": alert.fingerprint,
                },
            }
            if alert.runbook_url:
                body["links"] = [{"href": alert.runbook_url, "text": "Runbook"}]
        return body

    async def send(self, alert: Alert) -> None:
        await self._post(self.payload(alert), f"alert {alert.alert_id}")


class AlertmanagerNotifier(_HTTPNotifier):
    """Prometheus Alertmanager, ``POST {url}/api/v2/alerts``: one request per group.

    Labels are the alert's labels with ``alertname`` = rule (identical for firing and
    resolve, so Alertmanager matches them); annotations carry summary, value, threshold,
    window, sample ids and the evidence SQL. A firing alert's ``endsAt`` is ``ttl_s`` ahead:
    re-notifications extend it, and a monitor that died lets it expire rather than stick.
    """

    name = "alertmanager"

    def __init__(self, url: str, ttl_s: float = 4 * 3600.0, **kw: Any) -> None:
        if ttl_s <= 0:
            msg = f"ttl_s must be > 0, got {ttl_s!r}"
            raise ValueError(msg)
        base = url.rstrip("/")
        if not base.endswith("/api/v2/alerts"):
            base += "/api/v2/alerts"
        super().__init__(base, **kw)
        self.ttl_s = ttl_s

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier(url={self.url!r}, ttl_s={self.ttl_s!r})"

    def item(self, alert: Alert) -> dict[str, Any]:
        labels = {k: v for k, v in alert.labels.items() if k not in {"rule", "route"}}
        labels["alertname"] = alert.rule
        annotations = {
            "summary": alert.summary,
            "value": f"{alert.value:g}",
            "threshold": f"{alert.threshold:g}",
            "window": f"{alert.window_start.isoformat()}/{alert.window_end.isoformat()}",
            "sample_event_ids": ",".join(alert.sample_event_ids),
            "evidence_sql": alert.evidence_sql,
            "episode_id": alert.episode_id,
        }
        if alert.runbook_url:
            annotations["runbook_url"] = alert.runbook_url
        ends = (
            alert.created_at + timedelta(seconds=self.ttl_s)
            if alert.status is AlertStatus.FIRING
            else alert.created_at
        )
        starts = alert.created_at if alert.status is AlertStatus.FIRING else alert.window_start
        return {
            "labels": labels,
            "annotations": annotations,
            "startsAt": starts.isoformat(),
            "endsAt": ends.isoformat(),
            "generatorURL": f"infersight://alerts/{alert.fingerprint}",
        }

    async def send(self, alert: Alert) -> None:
        await self.send_group(AlertGroup(alert.rule, alert.status, (alert,)))

    async def send_group(self, group: AlertGroup) -> None:
        await self._post([self.item(a) for a in group.alerts], f"group {group.key}")


# -- silences ----------------------------------------------------------------------------------


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

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, alert: Alert, now: datetime) -> bool:
        return self.active(now) and all(m.matches(_labels(alert)) for m in self.matchers)


def _labels(alert: Alert) -> dict[str, str]:
    return {"rule": alert.rule, "alertname": alert.rule, "service": alert.service,
            "model": alert.model, "severity": alert.severity.value, **alert.labels}  # fmt: skip


# -- dispatch ----------------------------------------------------------------------------------


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

    def row(self) -> list[Any]:
        a = self.alert
        return [self.channel, a.alert_id, a.episode_id, a.fingerprint, a.rule, a.status.value,
                self.outcome, self.detail, self.at.replace(tzinfo=None)]  # fmt: skip


@dataclass
class DeliveryLog:
    """What channels already have: ``done`` (channel, alert_id) handled in any way,
    ``fired`` (channel, episode_id) whose firing was delivered."""

    done: set[tuple[str, str]] = field(default_factory=set)
    fired: set[tuple[str, str]] = field(default_factory=set)

    def add(self, records: Iterable[Record]) -> None:
        for r in records:
            self.done.add((r.channel, r.alert.alert_id))
            if r.outcome == "sent" and r.alert.status is AlertStatus.FIRING:
                self.fired.add((r.channel, r.alert.episode_id))


class Dispatcher:
    """Route, silence, deduplicate, group and rate-limit alerts, then send them.

    Parameters
    ----------
    notifiers
        The channels, by their ``name``; an alert's ``route`` label (comma-separated names)
        picks some, no route means all.
    rate_limit_per_minute
        Notifications per channel per minute (token bucket); excess is dropped and recorded.

    Rules: an alert id a channel already handled is not sent again (replays, restarts); a
    resolve goes only to channels that got the episode's firing; alerts of one rule and status
    in one batch form one group (one Slack message, one Alertmanager request).
    """

    def __init__(self, notifiers: Sequence[Notifier], rate_limit_per_minute: float = 0) -> None:
        names = [n.name for n in notifiers]
        if len(set(names)) != len(names):
            msg = f"notifier names must be unique, got {names}"
            raise ValueError(msg)
        self.notifiers = {n.name: n for n in notifiers}
        self.limiter = RateLimiter(rate_limit_per_minute)
        self.log = DeliveryLog()

    def channels(self, alert: Alert) -> list[str]:
        route = [c for c in alert.labels.get("route", "").split(",") if c]
        if not route:
            return list(self.notifiers)
        return [c for c in route if c in self.notifiers]

    async def dispatch(
        self,
        alerts: Sequence[Alert],
        silences: Sequence[Silence] = (),
        now: datetime | None = None,
        clock: float | None = None,
    ) -> list[Record]:
        """Deliver ``alerts``; return one ``Record`` per (channel, alert) decided now."""
        now = now or datetime.now(UTC)
        clock = time.monotonic() if clock is None else clock
        records: list[Record] = []
        pending: dict[str, dict[tuple[str, AlertStatus], list[Alert]]] = defaultdict(dict)
        seen: set[str] = set()
        for alert in alerts:
            if alert.alert_id in seen:
                continue
            seen.add(alert.alert_id)
            muting = next((s for s in silences if s.mutes(alert, now)), None)
            for ch in self.channels(alert):
                if (ch, alert.alert_id) in self.log.done:
                    continue
                if muting is not None:
                    records.append(Record(ch, alert, "silenced", muting.silence_id, now))
                elif (
                    alert.status is AlertStatus.RESOLVED
                    and (ch, alert.episode_id) not in self.log.fired
                ):
                    records.append(Record(ch, alert, "skipped", "firing was not delivered", now))
                else:
                    pending[ch].setdefault((alert.rule, alert.status), []).append(alert)
        for ch, groups in pending.items():
            notifier = self.notifiers[ch]
            for (rule, status), members in groups.items():
                if not self.limiter.allow(ch, clock):
                    records += [Record(ch, a, "rate_limited", "", now) for a in members]
                    log.warning("%s: rate limit reached, dropped %s %s (%d series)",
                                ch, status.value, rule, len(members))  # fmt: skip
                    continue
                try:
                    await notifier.send_group(AlertGroup(rule, status, tuple(members)))
                except DeliveryError as exc:
                    log.error("%s", exc)
                    records += [Record(ch, a, "failed", str(exc), now) for a in members]
                else:
                    records += [Record(ch, a, "sent", "", now) for a in members]
        self.log.add(records)
        return records

    async def aclose(self) -> None:
        for n in self.notifiers.values():
            await n.aclose()


def sample_alert(rule: str = "infersight_test", status: AlertStatus = AlertStatus.FIRING) -> Alert:
    """A harmless alert for ``infersight alerts test``: clearly marked as a test."""
    from schemas.results import Severity

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


# -- storage -----------------------------------------------------------------------------------

_SILENCE_COLUMNS = ["silence_id", "matchers", "starts_at", "ends_at", "created_by", "comment",
                    "updated_at"]  # fmt: skip
_NOTIFICATION_COLUMNS = ["channel", "alert_id", "episode_id", "fingerprint", "rule", "status",
                         "outcome", "detail", "at"]  # fmt: skip


def _naive(ts: datetime | None) -> datetime | None:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts is not None else None


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _matcher(stored: Any) -> Matcher:
    if isinstance(stored, dict):  # named tuples come back as dicts
        return Matcher(stored["name"], stored["op"], stored["value"])
    return Matcher(*stored)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class AlertStore:
    """The alerting tables (020_alerting.sql) through a sink with ``query(sql)`` and
    ``client.insert`` (``sinks.clickhouse.ClickHouseSink``). Synchronous: run it in the
    sink's thread."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def _insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        if rows:
            self.sink.client.insert(table, rows, column_names=columns)

    def write_transitions(self, transitions: Sequence[Any]) -> None:
        """Rows of ``detectors.rules.Transition`` (``.row()``)."""
        rows = [t.row() for t in transitions]
        if not rows:
            return
        columns = list(rows[0])
        for r in rows:
            for k in ("at", "pending_since", "firing_since", "notified_at"):
                r[k] = _naive(r[k])
        self._insert("alert_states", [[r[c] for c in columns] for r in rows], columns)

    def write_notifications(self, records: Sequence[Record]) -> None:
        self._insert("alert_notifications", [r.row() for r in records], _NOTIFICATION_COLUMNS)

    def delivery_log(self, episode_ids: Iterable[str]) -> DeliveryLog:
        """What channels already have for these episodes."""
        out = DeliveryLog()
        ids = sorted(set(episode_ids))
        if not ids:
            return out
        _, rows = self.sink.query(
            "SELECT channel, alert_id, episode_id, status, outcome FROM alert_notifications "
            f"FINAL WHERE episode_id IN ({', '.join(_quote(i) for i in ids)})"
        )
        for channel, alert_id, episode, status, outcome in rows:
            out.done.add((channel, alert_id))
            if outcome == "sent" and status == "firing":
                out.fired.add((channel, episode))
        return out

    def add_silence(self, silence: Silence) -> None:
        self._write_silence(silence)

    def _write_silence(self, s: Silence) -> None:
        row = [
            s.silence_id, [(m.name, m.op, m.value) for m in s.matchers], _naive(s.starts_at),
            _naive(s.ends_at), s.created_by, s.comment, _naive(datetime.now(UTC)),
        ]  # fmt: skip
        self._insert("silences", [row], _SILENCE_COLUMNS)

    def silences(self, now: datetime | None = None, include_expired: bool = False) -> list[Silence]:
        cond = "" if include_expired else " WHERE ends_at > now64(3)"
        if now is not None and not include_expired:
            cond = f" WHERE ends_at > toDateTime64('{_naive(now):%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC')"
        _, rows = self.sink.query(
            "SELECT silence_id, matchers, starts_at, ends_at, created_by, comment "
            f"FROM silences FINAL{cond} ORDER BY starts_at"
        )
        return [
            Silence(
                tuple(_matcher(m) for m in matchers), _aware(starts), _aware(ends), by, comment, sid
            )  # fmt: skip
            for sid, matchers, starts, ends, by, comment in rows
        ]

    def expire_silence(self, silence_id: str, now: datetime | None = None) -> bool:
        """End a silence now; False when no active silence has that id."""
        now = now or datetime.now(UTC)
        for s in self.silences(now):
            if s.silence_id == silence_id:
                starts = min(s.starts_at, now - timedelta(milliseconds=1))
                self._write_silence(
                    Silence(s.matchers, starts, now, s.created_by, s.comment, s.silence_id)
                )
                return True
        return False
