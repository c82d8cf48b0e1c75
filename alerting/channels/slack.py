"""Slack incoming webhook: one message per group of alerts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.channels.base import AlertGroup, HTTPNotifier, clip
from schemas.results import Alert, AlertStatus

__all__ = ["SlackNotifier"]

#: A page delivered this long after its alert was raised says when it was raised (held by a
#: silence, deferred by the rate limit, retried through an outage of the channel).
LATE = timedelta(minutes=2)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def _text(value: str) -> str:
    """Event-supplied text (service, model, summary, ids) made inert in Slack's mrkdwn:
    ``&``, ``<`` and ``>`` escaped as Slack asks, so a service named ``<!channel>`` pings
    nobody and ``<https://x|click>`` is no link; line breaks and other control characters
    become one space, so a name cannot forge another series' line."""
    return _escape(_CONTROL.sub(" ", value))


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ago(late: timedelta) -> str:
    minutes = int(late.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def _when(alert: Alert, now: datetime) -> list[str]:
    """The window, dated unless it is today, and when a late page was raised."""
    start, end = alert.window_start.astimezone(UTC), alert.window_end.astimezone(UTC)
    day = "" if start.date() == now.date() else f"{start:%Y-%m-%d} "
    out = [f"window {day}{start:%H:%M:%S}–{end:%H:%M:%S} UTC"]
    raised = alert.created_at.astimezone(UTC)
    if now - raised >= LATE:
        day = "" if raised.date() == now.date() else f"{raised:%Y-%m-%d} "
        out.append(f"*raised {day}{raised:%H:%M} UTC, {_ago(now - raised)} ago*")
    return out


def _series(alert: Alert) -> str:
    skip = {"rule", "metric", "severity", "owner", "route", "alertstate"}
    parts = [v for k, v in alert.labels.items() if k not in skip]
    return _text("/".join(parts) or f"{alert.service}/{alert.model}")


class SlackNotifier(HTTPNotifier):
    """A Slack incoming webhook: one message per group, in blocks a person reads at 3 a.m.

    Header (status, rule, how many series), one line per series (value vs threshold, sample
    event ids), then the window (dated unless today), when the alert was raised if the page
    comes late (a silence held it, the rate limit or a channel outage delayed it), owner,
    runbook, and the SQL that reproduces the first series' number.
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
            samples = ", ".join(f"`{_text(s)}`" for s in a.sample_event_ids[:3])
            lines.append(
                f"• *{_series(a)}*: {_text(a.summary)}"
                + (f"\n   samples: {samples}" if samples else "")
            )
        if n > self.max_series:
            lines.append(f"… and {n - self.max_series} more series")
        context = [*_when(first, datetime.now(UTC)), f"episode `{_text(first.episode_id)}`"]
        if owner := first.labels.get("owner"):
            context.append(f"owner *{_text(owner)}*")
        if first.runbook_url:
            context.append(f"<{first.runbook_url}|runbook>")
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": clip(title, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": clip("\n".join(lines), 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ]
        if firing and first.evidence_sql:
            sql = clip(_escape(first.evidence_sql), 2900)
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*Evidence*\n```{sql}```"}}
            )
        return {"text": f"{mark} {_text(title)}", "blocks": blocks}

    async def send(self, alert: Alert) -> None:
        await self.send_group(AlertGroup(alert.rule, alert.status, (alert,)))

    async def send_group(self, group: AlertGroup) -> None:
        await self._post(self.payload(group), f"group {group.key}")
