"""The alert outbox on the real embedded engine with real local HTTP receivers: a page
enqueued before a kill is delivered after it, channels do not wait for each other, a resolve
never precedes its firing, and a delivery given up raises its own alert elsewhere."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerting.channels import PagerDutyNotifier, SlackNotifier, WebhookNotifier
from alerting.dispatch import sample_alert
from alerting.outbox import EXPIRED_RULE, Outbox
from schemas.results import AlertStatus
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink
from streams.broker import free_port
from streams.demo import WebhookReceiver


@pytest.fixture(scope="module")
def sink(chdb_dir):
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="outbox_unit"))
    s.migrate()
    yield s
    s.close()


async def _inline(fn: Any, *args: Any) -> Any:
    return fn(*args)


def deliver(outbox: Outbox, now: datetime) -> list:
    return asyncio.run(outbox.deliver(_inline, now=now))


def episode(rule: str) -> tuple:
    firing = sample_alert(rule)
    resolved = firing.model_copy(update={"status": AlertStatus.RESOLVED,
                                         "alert_id": firing.alert_id + "-r"})  # fmt: skip
    return firing, resolved


def test_a_page_enqueued_before_a_kill_is_delivered_once_after_restart(sink) -> None:
    """The monitor enqueues as it stores; nothing was sent or published (a kill); a new
    Outbox over the same table delivers it, and only once."""
    firing, _ = episode("outbox_kill")
    with WebhookReceiver() as hook:
        Outbox(sink, [WebhookNotifier(hook.url)]).enqueue([firing])
        restarted = Outbox(sink, [WebhookNotifier(hook.url)])
        now = datetime.now(UTC)
        deliver(restarted, now)
        deliver(restarted, now + timedelta(seconds=5))
        assert restarted.enqueue([firing]) == 0  # a replay from llm.alerts.v1 adds nothing
        deliver(restarted, now + timedelta(seconds=10))
        assert [b["alert_id"] for b in hook.bodies] == [firing.alert_id]


def test_slow_channel_delays_no_other_and_resolve_follows_firing(sink) -> None:
    """Webhook times out (slow receiver), Slack is healthy: one round takes about one
    timeout, Slack gets firing then resolve; the webhook gets both, in order, once healed."""
    firing, resolved = episode("outbox_slow")
    with WebhookReceiver() as slow, WebhookReceiver() as fast:
        slow.delay_s = 2.0
        chans = [WebhookNotifier(slow.url, timeout_s=0.5, retries=0),
                 SlackNotifier(fast.url + "/services/T/B/x", timeout_s=0.5, retries=0)]  # fmt: skip
        ob = Outbox(sink, chans, backoff_s=1.0)
        ob.enqueue([firing, resolved])
        now = datetime.now(UTC)
        deliver(ob, now)
        # Concurrent: Slack was posted to while the webhook was still hanging (sequential
        # delivery would reach Slack only after the webhook's 0.5 s timeout).
        assert fast.arrivals[0] - slow.arrivals[0] < 0.4
        assert len(fast.bodies) == 1 and "FIRING" in fast.bodies[0]["text"]
        assert slow.bodies == [] and len(slow.late) == 1
        deliver(ob, now)  # resolve on Slack; webhook still backing off
        assert "RESOLVED" in fast.bodies[1]["text"] and slow.bodies == []
        slow.delay_s = 0.0
        deliver(ob, now + timedelta(seconds=2))
        deliver(ob, now + timedelta(seconds=2))
        assert [b["status"] for b in slow.bodies] == ["firing", "resolved"]
        assert len(fast.bodies) == 2


def test_a_delivery_given_up_raises_an_alert_on_the_other_channels(sink) -> None:
    """PagerDuty is dead (nothing listens); past the expiry its page is given up, its
    resolve skipped, and an infersight_delivery_expired alert reaches the webhook."""
    firing, resolved = episode("outbox_dead")
    dead = f"http://127.0.0.1:{free_port()}/v2/enqueue"
    with WebhookReceiver() as hook:
        ob = Outbox(sink, [PagerDutyNotifier("k", dead, timeout_s=0.5, retries=0),
                           WebhookNotifier(hook.url)], expiry_s=5.0, backoff_s=1.0)  # fmt: skip
        ob.enqueue([firing])
        now = datetime.now(UTC)
        deliver(ob, now)  # webhook: sent; pagerduty: failed, retried later
        ob.enqueue([resolved])
        deliver(ob, now + timedelta(seconds=10))  # pagerduty: given up; webhook: resolve
        deliver(ob, now + timedelta(seconds=11))  # the expiry alert, and the PD resolve skipped
        got = [(b["rule"], b["status"]) for b in hook.bodies]
        assert got == [("outbox_dead", "firing"), ("outbox_dead", "resolved"),
                       (EXPIRED_RULE, "firing")]  # fmt: skip
        assert "pagerduty" in hook.bodies[2]["summary"]
    _, states = sink.query(
        "SELECT status, state FROM alert_outbox FINAL WHERE channel = 'pagerduty' "
        "AND rule = 'outbox_dead' ORDER BY status"
    )
    assert states == [("firing", "expired"), ("resolved", "skipped")]
