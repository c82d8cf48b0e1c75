"""Bidi controls never reach a channel: every notifier's body shows them as <U+XXXX>."""

from __future__ import annotations

import asyncio

from alerting.channels import (
    AlertmanagerNotifier,
    PagerDutyNotifier,
    SlackNotifier,
    WebhookNotifier,
)
from alerting.dispatch import sample_alert
from streams.demo import WebhookReceiver

SPOOF = "pay\u202egnp.exe\u2066x\u2069\u200f"
CONTROLS = ("\u202e", "\u2066", "\u2069", "\u200f")


def test_bidi_controls_in_a_service_name_are_neutralised_on_every_channel() -> None:
    """Slack, PagerDuty, webhook and Alertmanager bodies (real local receiver) hold the
    service name with its bidi controls written out, never the controls themselves."""
    alert = sample_alert().model_copy(
        update={"service": SPOOF, "summary": f"leaks in {SPOOF}",
                "labels": {"service": SPOOF, "rule": "r"}}
    )  # fmt: skip
    with WebhookReceiver() as hook:
        notifiers = [
            SlackNotifier(hook.url + "/slack", retries=0),
            PagerDutyNotifier("pd-key", hook.url + "/pd", retries=0),
            WebhookNotifier(hook.url + "/hook", retries=0),
            AlertmanagerNotifier(hook.url + "/am", retries=0),
        ]

        async def send_all() -> None:
            for n in notifiers:
                await n.send(alert)
                await n.aclose()

        asyncio.run(send_all())
        bodies = [raw.decode() for _, raw in hook.requests]
    assert len(bodies) == 4
    for body in bodies:
        assert not any(c in body for c in CONTROLS), body[:300]
        assert "<U+202E>" in body
