"""The alert outbox on the real embedded engine with real local HTTP receivers: a page
enqueued before a kill is delivered after it, channels do not wait for each other, a resolve
never precedes its firing, and a delivery given up raises its own alert elsewhere. Then who
gets what: replays, groups, routes, rate limits (deferred, never dropped) and silences (held,
not dropped: paged at the silence's end when still firing)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerting.channels import (
    DeliveryError,
    MemoryNotifier,
    PagerDutyNotifier,
    SlackNotifier,
    WebhookNotifier,
)
from alerting.dispatch import Matcher, Silence, sample_alert
from alerting.engine import RuleEngine
from alerting.outbox import EXPIRED_RULE, HOLD_RECHECK_S, Outbox
from alerting.rules import Rule
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


# -- who gets what: routes, replays, groups, rate limits, silences -------------------------


def channels(*names: str) -> list[MemoryNotifier]:
    out = []
    for n in names:
        m = MemoryNotifier()
        m.name = n
        out.append(m)
    return out


def series_alerts(rule: Rule, series: list[str], value: float, at: datetime) -> list:
    """One real engine evaluation: each (service) series at ``value``."""
    rows = [(s, "gpt-4o", value, 50, [f"ev-{s}"]) for s in series]
    return RuleEngine([rule]).evaluate(at, lambda sql: rows).alerts


def firing_then_resolved(rule_name: str, at: datetime) -> tuple:
    engine = RuleEngine([Rule(rule_name, "error_rate", 0.1)])
    [firing] = engine.evaluate(at, lambda sql: [("bot", "gpt-4o", 0.5, 10, [])]).alerts
    later = at + timedelta(minutes=5)
    [resolved] = engine.evaluate(later, lambda sql: [("bot", "gpt-4o", 0.0, 10, [])]).alerts
    return firing, resolved


def deliver_with(ob: Outbox, now: datetime, silences=(), clock: float | None = None) -> list:
    return asyncio.run(ob.deliver(_inline, silences, now=now, clock=clock))


def test_a_replayed_alert_reaches_each_channel_once(sink) -> None:
    """The same alert twice in a batch and again later (replays) is one page per channel."""
    a, b = channels("replay_a", "replay_b")
    firing, _ = episode("outbox_replay")
    ob = Outbox(sink, [a, b])
    now = datetime.now(UTC)
    assert ob.enqueue([firing, firing], now=now) == 2
    deliver_with(ob, now)
    assert ob.enqueue([firing], now=now) == 0
    deliver_with(ob, now + timedelta(seconds=5))
    assert (len(a.sent), len(b.sent)) == (1, 1)


def test_series_of_one_rule_go_out_as_one_notification(sink) -> None:
    """Three series of one rule firing together are one group (one Slack message)."""
    [m] = channels("group")
    now = datetime.now(UTC)
    alerts = series_alerts(Rule("outbox_group", "error_rate", 0.1), ["a", "b", "c"], 0.5, now)
    ob = Outbox(sink, [m])
    ob.enqueue(alerts, now=now)
    deliver_with(ob, now)
    assert [len(g.alerts) for g in m.groups] == [3]


def test_the_route_label_picks_channels(sink) -> None:
    """A rule routed to pagerduty reaches only that channel."""
    pd, slack = channels("pagerduty", "slack")
    now = datetime.now(UTC)
    rule = Rule("outbox_route", "error_rate", 0.1, route=("pagerduty",))
    ob = Outbox(sink, [pd, slack])
    ob.enqueue(series_alerts(rule, ["bot"], 0.5, now), now=now)
    deliver_with(ob, now)
    assert (len(pd.sent), len(slack.sent)) == (1, 0)


def test_the_rate_limit_defers_pages_and_never_drops_them(sink) -> None:
    """2 per minute: of three rules firing at once the third waits, and goes out once the
    bucket has refilled (a page is late, never lost)."""
    [m] = channels("limited")
    now = datetime.now(UTC)
    alerts = [a for i in range(3)
              for a in series_alerts(Rule(f"outbox_rl{i}", "error_rate", 0.1), ["bot"], 0.5, now)]  # fmt: skip
    ob = Outbox(sink, [m], rate_limit_per_minute=2)
    ob.enqueue(alerts, now=now)
    assert [r.outcome for r in deliver_with(ob, now, clock=0.0)] == ["sent", "sent"]
    assert deliver_with(ob, now + timedelta(seconds=10), clock=10.0) == []  # deferred 30 s
    [late] = deliver_with(ob, now + timedelta(seconds=30), clock=30.0)
    assert (late.outcome, len(m.sent)) == ("sent", 3)


def silence(rule: str, start: datetime, minutes: float) -> Silence:
    return Silence((Matcher.parse(f"rule={rule}"),), start - timedelta(minutes=1),
                   start + timedelta(minutes=minutes))  # fmt: skip


def test_an_alert_still_firing_when_its_silence_ends_is_paged_then(sink) -> None:
    """A silence holds a page, it does not drop it (as Alertmanager): muted during a 30 min
    deploy silence, still firing after it, the on-call is paged at its end, then resolved."""
    [m] = channels("held")
    now = datetime.now(UTC)
    firing, resolved = firing_then_resolved("outbox_held", now)
    quiet = silence("outbox_held", now, 30)
    ob = Outbox(sink, [m])
    ob.enqueue([firing], now=now)
    assert [(r.outcome, r.detail) for r in deliver_with(ob, now, [quiet])] == [
        ("silenced", quiet.silence_id)
    ]
    for minutes in (1, 2, 15):  # re-checked while muted: nothing sent, nothing re-recorded
        assert deliver_with(ob, now + timedelta(minutes=minutes), [quiet]) == []
    assert m.sent == []
    [sent] = deliver_with(ob, now + timedelta(minutes=30, seconds=1), [quiet])
    assert (sent.outcome, [a.alert_id for a in m.sent]) == ("sent", [firing.alert_id])
    ob.enqueue([resolved], now=now + timedelta(minutes=40))
    deliver_with(ob, now + timedelta(minutes=40))
    assert [a.status for a in m.sent] == [AlertStatus.FIRING, AlertStatus.RESOLVED]


def test_an_episode_that_resolves_inside_its_silence_pages_nobody(sink) -> None:
    """Fired and resolved during the silence: at its end neither is sent, both rows close."""
    [m] = channels("over")
    now = datetime.now(UTC)
    firing, resolved = firing_then_resolved("outbox_over", now)
    quiet = silence("outbox_over", now, 30)
    ob = Outbox(sink, [m])
    ob.enqueue([firing], now=now)
    deliver_with(ob, now, [quiet])
    ob.enqueue([resolved], now=now + timedelta(minutes=5))
    deliver_with(ob, now + timedelta(minutes=5), [quiet])
    for minutes in (31, 32, 33):
        deliver_with(ob, now + timedelta(minutes=minutes), [quiet])
    assert m.sent == []
    _, states = sink.query(
        "SELECT status, state FROM alert_outbox FINAL WHERE channel = 'over' ORDER BY status"
    )
    assert states == [("firing", "silenced"), ("resolved", "silenced")]


def test_a_silence_ended_early_releases_the_page_within_the_recheck(sink) -> None:
    """`alerts unsilence` after 5 minutes of a 2-hour silence: paged within HOLD_RECHECK_S."""
    [m] = channels("early")
    now = datetime.now(UTC)
    firing, _ = firing_then_resolved("outbox_early", now)
    ob = Outbox(sink, [m])
    ob.enqueue([firing], now=now)
    deliver_with(ob, now, [silence("outbox_early", now, 120)])
    later = now + timedelta(seconds=30)  # unsilenced here
    assert deliver_with(ob, later) == []  # not due yet: held until the next re-check
    assert deliver_with(ob, now + timedelta(seconds=HOLD_RECHECK_S)) != []
    assert len(m.sent) == 1


def test_a_page_held_longer_than_the_expiry_is_not_given_up_at_its_first_failure(sink) -> None:
    """Held for 2 hours (expiry 1 hour), then the channel fails once: it is retried, since
    the expiry counts from the release, not from when the alert fired."""
    dead = f"http://127.0.0.1:{free_port()}/hook"
    now = datetime.now(UTC)
    firing, _ = firing_then_resolved("outbox_long_hold", now)
    ob = Outbox(sink, [WebhookNotifier(dead, timeout_s=0.5, retries=0)], expiry_s=3600)
    ob.enqueue([firing], now=now)
    deliver_with(ob, now, [silence("outbox_long_hold", now, 120)])
    # A failure that will be retried makes no record (a given-up one would say "failed").
    assert deliver_with(ob, now + timedelta(minutes=121)) == []
    _, [(state, attempts)] = sink.query(
        "SELECT state, attempts FROM alert_outbox FINAL WHERE rule = 'outbox_long_hold'"
    )
    assert (state, attempts) == ("pending", 1)


# -- a channel that is gone or down never starves the others ---------------------------------


class DownNotifier(MemoryNotifier):
    """A channel that refuses everything (its receiver is down)."""

    async def send_group(self, group) -> None:
        raise DeliveryError(f"{self.name} is down")


def many_episodes(rule: str, n: int, route: str) -> tuple[list, list]:
    firings, resolves = [], []
    for i in range(n):
        f, r = firing_then_resolved(rule, datetime.now(UTC))
        labels = {**f.labels, "route": route}
        ep = f"{rule}-{i}"
        firings.append(f.model_copy(update={"alert_id": f"{ep}-f", "episode_id": ep,
                                            "labels": labels}))  # fmt: skip
        resolves.append(r.model_copy(update={"alert_id": f"{ep}-r", "episode_id": ep,
                                             "labels": labels}))  # fmt: skip
    return firings, resolves


def test_pages_owed_to_a_channel_no_longer_configured_starve_no_other(sink) -> None:
    """600 pages left for Slack when Slack is removed from the configuration: a new alert
    still reaches the webhook at once (the due rows were the 500 oldest, all Slack's)."""
    now = datetime.now(UTC)
    firings, _ = many_episodes("outbox_gone", 600, route="gone")
    [gone, kept] = channels("gone", "kept")
    Outbox(sink, [gone, kept]).enqueue(firings, now=now)
    later = now + timedelta(seconds=1)
    fresh, _ = many_episodes("outbox_after_gone", 1, route="gone,kept")
    ob = Outbox(sink, [kept])  # the operator removed "gone"
    ob.enqueue(fresh, now=later)
    deliver_with(ob, later)
    assert [a.alert_id for a in kept.sent] == [fresh[0].alert_id]
    _, [(owed,)] = sink.query("SELECT count() FROM alert_outbox FINAL WHERE channel = 'gone' "
                              "AND state = 'pending' AND rule = 'outbox_gone'")  # fmt: skip
    assert owed == 600  # still owed, should the channel come back


def test_resolves_waiting_on_a_channel_that_is_down_starve_no_other(sink) -> None:
    """600 episodes fired and resolved while PagerDuty is down: each resolve waits for its
    firing's next attempt instead of being due on every round, so a new alert for Slack goes
    out in the next round."""
    now = datetime.now(UTC)
    firings, resolves = many_episodes("outbox_down", 600, route="down")
    [down] = [DownNotifier()]
    down.name = "down"
    [ok] = channels("ok")
    ob = Outbox(sink, [down, ok], backoff_s=5.0)
    ob.enqueue(firings + resolves, now=now)
    for ms in (0, 100, 200, 300):
        deliver_with(ob, now + timedelta(milliseconds=ms))
    new, _ = many_episodes("outbox_after_down", 1, route="ok")
    ob.enqueue(new, now=now + timedelta(milliseconds=400))
    deliver_with(ob, now + timedelta(milliseconds=500))
    assert [a.alert_id for a in ok.sent] == [new[0].alert_id]
    assert down.sent == []


class LimitedNotifier(MemoryNotifier):
    """A receiver that rate-limits us once, asking for 120 s (HTTP 429, Retry-After)."""

    limited = True

    async def send_group(self, group) -> None:
        if self.limited:
            self.limited = False
            raise DeliveryError(f"{self.name}: HTTP 429, retry after 120s", retry_after_s=120.0)
        await super().send_group(group)


def test_a_rate_limited_page_waits_as_long_as_the_receiver_asked(sink) -> None:
    """Retry-After 120 s beats the 1 s backoff: not retried at 5 s, sent after 120 s."""
    [pd] = [LimitedNotifier()]
    pd.name = "limited_pd"
    now = datetime.now(UTC)
    firing, _ = many_episodes("outbox_retry_after", 1, route="limited_pd")
    ob = Outbox(sink, [pd], backoff_s=1.0)
    ob.enqueue(firing, now=now)
    assert deliver_with(ob, now) == []  # refused; a retry is not a record
    assert deliver_with(ob, now + timedelta(seconds=5)) == [] and pd.sent == []
    [sent] = deliver_with(ob, now + timedelta(seconds=121))
    assert sent.outcome == "sent" and len(pd.sent) == 1


# -- retention (migration 062) ----------------------------------------------------------------
def _outbox_rows(sink, rule: str) -> list[tuple]:
    _, rows = sink.query(
        "SELECT channel, state FROM alert_outbox WHERE rule = {r:String} ORDER BY channel, state",
        {"r": rule},
    )
    return rows


def test_the_outbox_ttl_and_the_code_agree_on_the_retention() -> None:
    from alerting.outbox import OUTBOX_RETENTION_DAYS
    from sinks.clickhouse import migrations

    [mig] = [m for m in migrations() if m.name == "alert_outbox_ttl"]
    assert f"INTERVAL {OUTBOX_RETENTION_DAYS} DAY" in mig.sql


def test_finished_deliveries_leave_after_the_retention_and_owed_ones_stay(sink) -> None:
    """A page sent 31 days ago is dropped by the TTL; one owed since a minute ago is kept."""
    from alerting.outbox import OutboxRow

    now = datetime.now(UTC)
    old, owed = sample_alert("outbox_ttl_old"), sample_alert("outbox_ttl_owed")
    ob = Outbox(sink, channels("ttl"))
    ob.record([OutboxRow("ttl", old, state="sent", attempts=1)], now - timedelta(days=31))
    ob.record([OutboxRow("ttl", owed)], now - timedelta(minutes=1))
    sink.query("OPTIMIZE TABLE alert_outbox FINAL")  # applies the TTL (if the insert did not)
    assert _outbox_rows(sink, "outbox_ttl_old") == []
    assert _outbox_rows(sink, "outbox_ttl_owed") == [("ttl", "pending")]


def test_a_pending_version_outliving_its_sent_one_pages_nobody(sink) -> None:
    """ClickHouse drops expired rows part by part: for a while the old 'pending' version of a
    page sent a month ago may outlive its 'sent' version. Such a version, written more than
    29 days ago (its successor, later, is already past the 30-day TTL), is never sent again."""
    from alerting.outbox import OutboxRow

    now = datetime.now(UTC)
    [m] = channels("ttl_stale")
    gone = sample_alert("outbox_ttl_stale")
    ob = Outbox(sink, [m])
    ob.record([OutboxRow("ttl_stale", gone)], now - timedelta(days=29, hours=12))
    assert _outbox_rows(sink, "outbox_ttl_stale") == [("ttl_stale", "pending")]
    assert deliver(ob, now) == []
    assert m.sent == []


def test_a_replayed_alert_older_than_the_retention_is_not_paged_again(sink) -> None:
    """A consumer-group reset replays llm.alerts.v1 from a month back: the TTL has dropped
    those deliveries, so the outbox refuses the old alerts instead of paging them twice; an
    alert from yesterday in the same replay is enqueued as usual (here for the first time)."""
    now = datetime.now(UTC)
    [m] = channels("ttl_replay")
    month_old = sample_alert("outbox_ttl_replay_old").model_copy(
        update={"created_at": now - timedelta(days=35)}
    )
    recent = sample_alert("outbox_ttl_replay_new").model_copy(
        update={"created_at": now - timedelta(days=1)}
    )
    ob = Outbox(sink, [m])
    assert ob.enqueue([month_old, recent], now=now) == 1
    deliver(ob, now)
    assert [a.alert_id for a in m.sent] == [recent.alert_id]


def test_the_resolve_of_an_episode_older_than_the_retention_still_goes_out(sink) -> None:
    """An incident open for five weeks: the TTL dropped its firing's outbox row, but
    alert_notifications kept the record that the firing was sent, so the resolve goes out
    (the on-call's incident closes). A resolve whose firing no record says was sent is
    skipped as before."""
    from alerting.dispatch import Record
    from sinks.alert_store import AlertStore

    now = datetime.now(UTC)
    [m] = channels("ttl_long")
    firing, resolved = episode("outbox_ttl_long")
    _, never_resolved = episode("outbox_ttl_never")
    AlertStore(sink).write_notifications(
        [Record("ttl_long", firing, "sent", "", now - timedelta(days=35))]
    )
    ob = Outbox(sink, [m])
    assert ob.enqueue([resolved, never_resolved], now=now) == 2
    outcomes = {(r.alert.rule, r.outcome) for r in deliver(ob, now)}
    assert outcomes == {("outbox_ttl_long", "sent"), ("outbox_ttl_never", "skipped")}
    assert [a.alert_id for a in m.sent] == [resolved.alert_id]
