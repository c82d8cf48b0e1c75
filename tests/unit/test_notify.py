"""Notifiers against real HTTP receivers on localhost, and the dispatcher's delivery rules."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alerting.channels import (
    AlertGroup,
    AlertmanagerNotifier,
    DeliveryError,
    PagerDutyNotifier,
    SlackNotifier,
    WebhookNotifier,
)
from alerting.dispatch import Matcher, Silence
from alerting.engine import RuleEngine
from alerting.rules import Rule
from schemas.results import Alert, Severity

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Receiver:
    """A localhost HTTP server recording each request; answers ``codes`` in turn, then 202."""

    def __init__(
        self, codes: list[int] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.codes = list(codes or [])
        self.extra = dict(headers or {})
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                me.requests.append({"path": self.path, "headers": dict(self.headers),
                                    "raw": raw, "json": json.loads(raw)})  # fmt: skip
                self.send_response(me.codes.pop(0) if me.codes else 202)
                for k, v in me.extra.items():
                    self.send_header(k, v)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def bodies(self) -> list[Any]:
        return [r["json"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def episode(values: list[float], series: list[tuple[str, str]] | None = None) -> list[Alert]:
    """Alerts of a real engine run: one evaluation per value, each series at that value."""
    series = series or [("bot", "gpt-4o")]
    rule = Rule("pii_leaks", "pii_leaks", 3, ">=", Severity.CRITICAL, 300,
                runbook_url="https://runbooks.example.com/pii", owner="trust")  # fmt: skip
    engine = RuleEngine([rule])
    out: list[Alert] = []
    for i, v in enumerate(values):
        rows = [(s, m, v, 50, [f"ev-{s}-{i}"]) for s, m in series]
        out += engine.evaluate(T0 + timedelta(seconds=10 * i), lambda sql, r=rows: r).alerts
    return out


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _send(notifier: Any, *alerts: Alert, group: bool = False) -> None:
    async with notifier:
        if group:
            await notifier.send_group(AlertGroup(alerts[0].rule, alerts[0].status, alerts))
        else:
            for a in alerts:
                await notifier.send(a)


def test_webhook_body_is_signed_with_hmac_sha256_over_timestamp_and_body(receiver) -> None:
    """X-Infersight-Signature = sha256(secret, timestamp.body); the body is the alert JSON."""
    firing, _ = episode([5, 0])
    run(_send(WebhookNotifier(receiver.url + "/hook", secret="s3cret"), firing))
    [req] = receiver.requests
    ts = req["headers"]["X-Infersight-Timestamp"]
    mac = hmac.new(b"s3cret", ts.encode() + b"." + req["raw"], hashlib.sha256).hexdigest()
    assert req["headers"]["X-Infersight-Signature"] == f"sha256={mac}"
    assert req["path"] == "/hook"
    assert Alert.model_validate(req["json"]) == firing


def test_webhook_retries_server_errors_with_backoff_then_delivers() -> None:
    """Two 503s then 202: three POSTs of the same body, no error."""
    r = Receiver([503, 503])
    try:
        firing, _ = episode([5, 0])
        run(_send(WebhookNotifier(r.url, retries=3, backoff_s=0.01), firing))
        assert len(r.requests) == 3 and len({q["raw"] for q in r.requests}) == 1
    finally:
        r.close()


def test_webhook_does_not_retry_a_client_error_and_hides_the_secret() -> None:
    """A 400 is final: one POST, DeliveryError naming the status, never the secret."""
    r = Receiver([400])
    try:
        firing, _ = episode([5, 0])
        notifier = WebhookNotifier(r.url, secret="s3cret", retries=3, backoff_s=0.01)
        with pytest.raises(DeliveryError, match="HTTP 400") as err:
            run(_send(notifier, firing))
        assert len(r.requests) == 1
        assert "s3cret" not in str(err.value) and "s3cret" not in repr(notifier)
    finally:
        r.close()


def test_slack_group_is_one_readable_message_per_rule(receiver) -> None:
    """Two series of one rule: one message with a header, a line per series and the SQL."""
    alerts = episode([5], series=[("bot", "gpt-4o"), ("search", "claude")])
    url = receiver.url + "/services/T000/B000/XXXXSECRET"
    notifier = SlackNotifier(url, retries=0)
    run(_send(notifier, *alerts, group=True))
    [body] = receiver.bodies
    blocks = body["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "context", "section"]
    assert blocks[0]["text"]["text"] == "FIRING: pii_leaks (2 series, critical)"
    lines = blocks[1]["text"]["text"].splitlines()
    assert lines[0].startswith("• *bot/gpt-4o*: pii_leaks: responses that leaked PII")
    assert "is 5, &gt;= 3 over the last 300s" in lines[0]  # Slack shows ">="
    assert lines[1] == "   samples: `ev-bot-0`"
    assert lines[2].startswith("• *search/claude*")
    context = blocks[2]["elements"][0]["text"]
    assert "owner *trust*" in context and "<https://runbooks.example.com/pii|runbook>" in context
    assert blocks[3]["text"]["text"].startswith("*Evidence*\n```SELECT ")
    assert body["text"] == ":rotating_light: FIRING: pii_leaks (2 series, critical)"
    assert "XXXXSECRET" not in repr(notifier)


def test_slack_resolve_message_says_resolved_without_evidence(receiver) -> None:
    """A resolve is a short green message: header RESOLVED, the series back within limits."""
    _, resolved = episode([5, 1])
    run(_send(SlackNotifier(receiver.url, retries=0), resolved, group=True))
    [body] = receiver.bodies
    assert body["text"] == ":white_check_mark: RESOLVED: pii_leaks (1 series, critical)"
    assert "is 1, no longer &gt;= 3" in body["blocks"][1]["text"]["text"]
    assert len(body["blocks"]) == 3


def test_slack_error_does_not_reveal_the_webhook_url() -> None:
    """The incoming-webhook URL is a credential: errors name the channel, not the URL."""
    r = Receiver([404])
    try:
        firing, _ = episode([5, 0])
        with pytest.raises(DeliveryError) as err:
            run(_send(SlackNotifier(r.url + "/services/SECRETPATH", retries=0), firing))
        assert "SECRETPATH" not in str(err.value) and "incoming webhook" in str(err.value)
    finally:
        r.close()


def test_pagerduty_triggers_and_resolves_one_incident_by_episode_dedup_key(receiver) -> None:
    """Events API v2: trigger then resolve, both with dedup_key = episode id."""
    firing, resolved = episode([5, 0])
    notifier = PagerDutyNotifier("R0UT1NGKEY", url=receiver.url + "/v2/enqueue", retries=0)
    run(_send(notifier, firing, resolved))
    trigger, resolve = receiver.bodies
    assert receiver.requests[0]["path"] == "/v2/enqueue"
    assert trigger["routing_key"] == "R0UT1NGKEY" and trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == resolve["dedup_key"] == firing.episode_id
    p = trigger["payload"]
    assert (p["severity"], p["source"], p["class"], p["component"]) == (
        "critical", "bot/gpt-4o", "pii_leaks", "gpt-4o"
    )  # fmt: skip
    assert p["custom_details"]["value"] == 5.0 and p["custom_details"]["threshold"] == 3.0
    assert p["custom_details"]["sample_event_ids"] == ["ev-bot-0"]
    assert p["custom_details"]["evidence_sql"] == firing.evidence_sql
    assert trigger["links"] == [{"href": "https://runbooks.example.com/pii", "text": "Runbook"}]
    assert resolve == {"routing_key": "R0UT1NGKEY", "dedup_key": firing.episode_id,
                       "event_action": "resolve"}  # fmt: skip
    assert "R0UT1NGKEY" not in repr(notifier)


def test_alertmanager_receives_a_list_with_matching_labels_for_firing_and_resolve(
    receiver,
) -> None:
    """POST /api/v2/alerts: alertname=rule, same labels on resolve, endsAt ttl ahead / now."""
    firing, resolved = episode([5, 0])
    run(_send(AlertmanagerNotifier(receiver.url, ttl_s=3600, retries=0), firing, resolved))
    assert [r["path"] for r in receiver.requests] == ["/api/v2/alerts", "/api/v2/alerts"]
    [fire], [res] = receiver.bodies
    assert fire["labels"] == res["labels"] == {
        "service": "bot", "model": "gpt-4o", "metric": "pii_leaks", "severity": "critical",
        "owner": "trust", "alertname": "pii_leaks",
    }  # fmt: skip
    assert fire["startsAt"] == "2026-11-23T12:00:00+00:00"
    assert fire["endsAt"] == "2026-11-23T13:00:00+00:00"
    assert res["endsAt"] == "2026-11-23T12:00:10+00:00"
    assert fire["annotations"]["value"] == "5" and fire["annotations"]["threshold"] == "3"
    assert fire["annotations"]["sample_event_ids"] == "ev-bot-0"
    assert fire["annotations"]["runbook_url"] == "https://runbooks.example.com/pii"
    assert fire["annotations"]["evidence_sql"].startswith("SELECT")


def test_silences_match_labels_with_regex_and_expire() -> None:
    """`model=~gpt-.*` mutes gpt models only, and only until the silence ends."""
    alerts = episode([5], series=[("bot", "gpt-4o"), ("bot", "claude")])
    s = Silence((Matcher.parse("model=~gpt-.*"), Matcher.parse("severity!=info")),
                T0, T0 + timedelta(minutes=30))  # fmt: skip
    assert [s.mutes(a, T0 + timedelta(minutes=1)) for a in alerts] == [True, False]
    assert [s.mutes(a, T0 + timedelta(minutes=31)) for a in alerts] == [False, False]
    assert not Matcher.parse("model!~gpt-.*").matches({"model": "gpt-4o"})


@pytest.mark.parametrize("text", ["model", "=x", "model=~(unclosed"])
def test_bad_matchers_are_refused_with_the_text(text: str) -> None:
    """A matcher that cannot be parsed says what it got."""
    with pytest.raises(ValueError, match="matcher"):
        Matcher.parse(text)


def test_a_silence_without_matchers_is_refused() -> None:
    """An empty silence would mute everything: refused."""
    with pytest.raises(ValueError, match="at least one matcher"):
        Silence((), T0, T0 + timedelta(hours=1))


def test_slack_message_makes_event_supplied_names_inert(receiver) -> None:
    """A hostile publisher names its service `<!channel>` and its model a link with a line
    break: the Slack message pings nobody, links nowhere and forges no second series line."""
    service, model = "<!channel> payments", "gpt<https://evil.example|login>\n• *fake*: ok"
    [firing] = episode([5], series=[(service, model)])
    run(_send(SlackNotifier(receiver.url, retries=0), firing, group=True))
    [body] = receiver.bodies
    everything = json.dumps(body)
    assert "<!channel>" not in everything and "<https://evil" not in everything
    section = body["blocks"][1]["text"]["text"]
    assert section.startswith("• *&lt;!channel&gt; payments/gpt&lt;https://evil.example|login&gt;")
    assert len([ln for ln in section.splitlines() if ln.startswith("•")]) == 1
    assert "&lt;!channel&gt;" in body["blocks"][3]["text"]["text"]  # the evidence SQL too


@pytest.mark.parametrize("notifier", ["pagerduty", "slack"])
def test_a_429_with_retry_after_ends_the_attempts_and_says_how_long(notifier: str) -> None:
    """PagerDuty or Slack rate-limits us (429, Retry-After: 30): one request, not four
    retries into the limit, and the error says how long the receiver asked us to wait."""
    r = Receiver([429, 429, 429, 429], headers={"Retry-After": "30"})
    try:
        firing, _ = episode([5, 0])
        n = (PagerDutyNotifier("key", r.url + "/v2/enqueue", retries=3, backoff_s=0.01)
             if notifier == "pagerduty" else SlackNotifier(r.url, retries=3, backoff_s=0.01))  # fmt: skip
        with pytest.raises(DeliveryError, match="HTTP 429, retry after 30s") as err:
            run(_send(n, firing))
        assert err.value.retry_after_s == 30.0 and len(r.requests) == 1
    finally:
        r.close()


def test_a_429_without_retry_after_is_retried_with_backoff() -> None:
    """No Retry-After: the usual backoff, then a plain failure for the outbox to retry."""
    r = Receiver([429, 429, 429])
    try:
        firing, _ = episode([5, 0])
        with pytest.raises(DeliveryError) as err:
            run(_send(WebhookNotifier(r.url, retries=2, backoff_s=0.01), firing))
        assert err.value.retry_after_s is None and len(r.requests) == 3
    finally:
        r.close()


def test_a_late_slack_page_says_when_it_was_raised(receiver) -> None:
    """A page held by a silence overnight (or delayed by an outage of Slack) is not read as
    news: its window is dated and the context says when it was raised and how long ago. A
    page sent as it is raised says neither."""
    from datetime import UTC, datetime, timedelta

    [alert] = episode([5])
    now = datetime.now(UTC)
    fresh = alert.model_copy(update={"created_at": now, "window_start": now,
                                     "window_end": now})  # fmt: skip
    held = alert.model_copy(update={"created_at": now - timedelta(hours=9),
                                    "window_start": now - timedelta(days=1, minutes=5),
                                    "window_end": now - timedelta(days=1)})  # fmt: skip
    run(_send(SlackNotifier(receiver.url, retries=0), fresh, group=True))
    run(_send(SlackNotifier(receiver.url, retries=0), held, group=True))
    on_time, late = (b["blocks"][2]["elements"][0]["text"] for b in receiver.bodies)
    assert "raised" not in on_time and f"{fresh.window_start:%Y-%m-%d}" not in on_time
    assert f"window {held.window_start:%Y-%m-%d %H:%M:%S}" in late
    raised = held.created_at
    day = "" if raised.date() == now.date() else f"{raised:%Y-%m-%d} "
    assert f"*raised {day}{raised:%H:%M} UTC, 9 h ago*" in late
