"""Prometheus Alertmanager (``/api/v2/alerts``): one request per group."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alerting.channels.base import AlertGroup, HTTPNotifier
from schemas.results import Alert, AlertStatus

__all__ = ["AlertmanagerNotifier"]


class AlertmanagerNotifier(HTTPNotifier):
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
