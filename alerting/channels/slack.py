"""Slack incoming webhook: one message per group of alerts."""

from __future__ import annotations

from typing import Any

from alerting.channels.base import AlertGroup, HTTPNotifier, clip
from schemas.results import Alert, AlertStatus

__all__ = ["SlackNotifier"]


def _series(alert: Alert) -> str:
    skip = {"rule", "metric", "severity", "owner", "route", "alertstate"}
    parts = [v for k, v in alert.labels.items() if k not in skip]
    return "/".join(parts) or f"{alert.service}/{alert.model}"


class SlackNotifier(HTTPNotifier):
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
            {"type": "header", "text": {"type": "plain_text", "text": clip(title, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": clip("\n".join(lines), 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ]
        if firing and first.evidence_sql:
            sql = clip(first.evidence_sql, 2900)
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*Evidence*\n```{sql}```"}}
            )
        return {"text": f"{mark} {title}", "blocks": blocks}

    async def send(self, alert: Alert) -> None:
        await self.send_group(AlertGroup(alert.rule, alert.status, (alert,)))

    async def send_group(self, group: AlertGroup) -> None:
        await self._post(self.payload(group), f"group {group.key}")
