"""PagerDuty Events API v2: trigger and resolve, one incident per episode."""

from __future__ import annotations

from typing import Any

from alerting.channels.base import HTTPNotifier, clip
from schemas.results import Alert, AlertStatus

__all__ = ["PagerDutyNotifier"]


class PagerDutyNotifier(HTTPNotifier):
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
                "summary": clip(alert.summary, 1024),
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
