"""One alert episode end to end on real parts: tansu, worker subprocesses, chDB, and a localhost
receiver per channel (webhook, Slack, PagerDuty, Alertmanager).

A scripted stream drives rule ``leaks`` OK → PENDING → FIRING, the worker is restarted while it
fires, then the leaks age out of the window and it RESOLVES: each channel gets exactly one page
and one resolve for the episode, one RetrainingEvent is emitted, and a second rule silenced
from the CLI before the run is stored but never delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import wait_until
from helpers import consume, create_topics, publish, query, start_worker, worker_settings

import streams.demo
from streams.demo import settings_env

RULES = """
rules:
  - name: leaks
    metric: pii_leaks
    comparison: ">="
    threshold: 3
    window: 15s
    for: 2s
    severity: critical
    owner: trust
    runbook_url: https://runbooks.example.com/leaks
  - name: errors_any
    metric: error_rate
    comparison: ">"
    threshold: 0
    window: 15s
retraining:
  rules: [leaks]
  sustained: 2s
  cooldown: 1h
"""


class Receiver:
    """Records every POST (path, headers, raw body) on a localhost port."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                me.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw,
                                    "json": json.loads(raw)})  # fmt: skip
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def bodies(self) -> list[Any]:
        return [r["json"] for r in self.requests]


def event(i: int, leak: bool, error: bool = False) -> tuple[bytes, bytes]:
    body = {
        "event_id": f"al-{uuid.uuid4().hex[:8]}-{i}",
        "timestamp": datetime.now(UTC).isoformat(),
        "service": "shop",
        "request_model": "gpt-4o",
        "prompt": "Where is my order?",
        "response": f"Ask jane.doe{i}@mailhost.net for details." if leak else "It ships today.",
        "status": "error" if error else "ok",
    }
    return b"shop|gpt-4o", orjson.dumps(body)


def cli(settings: Any, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    return subprocess.run([sys.executable, "-m", "streams.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def episode(broker: str, tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("alerting")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    hook, slack, pd, am = Receiver(), Receiver(), Receiver(), Receiver()
    settings = worker_settings(
        broker, tmp,
        monitor={"interval_s": 1.0, "rules_file": str(rules)},
        alerts={"webhook_url": hook.url + "/hook", "webhook_secret": "s3cret",
                "slack_webhook_url": slack.url + "/services/T0/B0/SLACKSECRET",
                "pagerduty_routing_key": "PDROUTINGKEY", "pagerduty_url": pd.url + "/v2/enqueue",
                "alertmanager_url": am.url, "retries": 1, "backoff_s": 0.1},
    )  # fmt: skip
    secrets = {"INFERSIGHT_ALERTS_SLACK_WEBHOOK_URL": slack.url + "/services/T0/B0/SLACKSECRET",
               "INFERSIGHT_ALERTS_PAGERDUTY_ROUTING_KEY": "PDROUTINGKEY"}  # fmt: skip
    mp = pytest.MonkeyPatch()
    # streams.demo.settings_env passes only the secrets it knows; add the channel secrets.
    mp.setattr(streams.demo, "settings_env", lambda s: {**settings_env(s), **secrets})
    channels = {"webhook": hook, "slack": slack, "pagerduty": pd, "alertmanager": am}

    def firing_everywhere() -> bool:
        return all(ch.requests for ch in channels.values())

    create_topics(settings)
    silenced = cli(settings, "alerts", "silence", "rule=errors_any", "--for", "1h",
                   "--comment", "known flaky", "--by", "test")  # fmt: skip
    assert silenced.returncode == 0, silenced.stderr
    inference = settings.kafka.topic("llm.inference.v1")
    marks: dict[str, float] = {}
    try:
        first = start_worker(settings, "first")
        try:
            marks["published"] = time.monotonic()
            publish(broker, inference, [event(i, leak=True, error=i == 0) for i in range(5)])
            wait_until(firing_everywhere, 45, what="the firing page on every channel")
            assert consume(broker, settings.kafka.topic("llm.retraining.v1"), 1, 20)
            marks["paged"] = time.monotonic()
        finally:
            assert first.stop() == 0
        pages_before_restart = {n: len(ch.requests) for n, ch in channels.items()}
        second = start_worker(settings, "second")
        try:
            publish(broker, inference, [event(10 + i, leak=False) for i in range(3)])

            def resolved_everywhere() -> bool:
                return all(len(ch.requests) >= 2 for ch in channels.values())

            wait_until(resolved_everywhere, 45, what="the resolve on every channel")
            time.sleep(2.0)  # a little longer: nothing else may arrive
            marks["resolved"] = time.monotonic()
            # Everything on the topic from the start: still the one event.
            retraining = consume(broker, settings.kafka.topic("llm.retraining.v1"), 5, 3)
        finally:
            assert second.stop() == 0
    finally:
        mp.undo()
        # What each channel received, for reading after a run (one episode end to end).
        (tmp / "payloads.json").write_text(
            json.dumps({n: ch.bodies() for n, ch in channels.items()}, indent=1)
        )
        for ch in channels.values():
            ch.server.shutdown()
            ch.server.server_close()
    return settings, channels, retraining, pages_before_restart, marks


def test_each_channel_gets_exactly_one_page_and_one_resolve_across_a_restart(episode) -> None:
    """One firing before the restart, nothing from the restarted worker until one resolve."""
    _, channels, _, before, _ = episode
    assert before == {"webhook": 1, "slack": 1, "pagerduty": 1, "alertmanager": 1}
    assert {n: len(ch.requests) for n, ch in channels.items()} == {
        "webhook": 2, "slack": 2, "pagerduty": 2, "alertmanager": 2
    }  # fmt: skip


def test_webhook_payloads_are_signed_alerts_with_evidence(episode) -> None:
    """Firing and resolve bodies are Alert JSON with value, threshold, samples and SQL."""
    settings, channels, *_ = episode
    fire, res = channels["webhook"].requests
    for req in (fire, res):
        ts = req["headers"]["X-Infersight-Timestamp"]
        mac = hmac.new(b"s3cret", ts.encode() + b"." + req["raw"], hashlib.sha256).hexdigest()
        assert req["headers"]["X-Infersight-Signature"] == f"sha256={mac}"
    f, r = fire["json"], res["json"]
    assert (f["rule"], f["status"], r["status"]) == ("leaks", "firing", "resolved")
    assert f["episode_id"] == r["episode_id"] and f["value"] == 5.0 and f["threshold"] == 3.0
    assert len(f["sample_event_ids"]) == 5 and r["value"] == 0.0
    [row] = query(settings, f["evidence_sql"])
    assert row["value"] >= 3  # the SQL reproduces the number (later rows only add)


def test_slack_pagerduty_alertmanager_payloads(episode) -> None:
    """Slack header lines, PagerDuty trigger/resolve with one dedup_key, Alertmanager labels."""
    _, channels, *_ = episode
    s1, s2 = channels["slack"].bodies()
    assert s1["blocks"][0]["text"]["text"] == "FIRING: leaks (1 series, critical)"
    assert s2["blocks"][0]["text"]["text"] == "RESOLVED: leaks (1 series, critical)"
    assert channels["slack"].requests[0]["path"] == "/services/T0/B0/SLACKSECRET"
    p1, p2 = channels["pagerduty"].bodies()
    assert (p1["event_action"], p2["event_action"]) == ("trigger", "resolve")
    assert p1["dedup_key"] == p2["dedup_key"] and p1["routing_key"] == "PDROUTINGKEY"
    assert p1["payload"]["custom_details"]["evidence_sql"].startswith("SELECT")
    [a1], [a2] = channels["alertmanager"].bodies()
    assert channels["alertmanager"].requests[0]["path"] == "/api/v2/alerts"
    assert a1["labels"] == a2["labels"] and a1["labels"]["alertname"] == "leaks"
    assert a2["endsAt"] < a1["endsAt"]


def test_state_changes_and_notifications_are_stored(episode) -> None:
    """alert_states has the whole path; alert_notifications says what each channel got."""
    settings, *_ = episode
    path = query(settings, "SELECT from_state, to_state FROM alert_states FINAL "
                 "WHERE rule = 'leaks' ORDER BY at, step")  # fmt: skip
    assert [(p["from_state"], p["to_state"]) for p in path][:3] == [
        ("ok", "pending"), ("pending", "firing"), ("firing", "resolved")
    ]  # fmt: skip
    sent = query(settings, "SELECT rule, status, outcome, count() AS n FROM alert_notifications "
                 "FINAL GROUP BY rule, status, outcome ORDER BY rule, status, outcome")  # fmt: skip
    assert sent == [
        {"rule": "errors_any", "status": "firing", "outcome": "silenced", "n": 4},
        {"rule": "errors_any", "status": "resolved", "outcome": "silenced", "n": 4},
        {"rule": "leaks", "status": "firing", "outcome": "sent", "n": 4},
        {"rule": "leaks", "status": "resolved", "outcome": "sent", "n": 4},
    ]
    stored = query(settings, "SELECT rule, status FROM alerts FINAL ORDER BY rule, status")
    assert {"rule": "leaks", "status": "firing"} in stored
    assert {"rule": "errors_any", "status": "firing"} in stored


def test_one_retraining_event_for_the_episode_despite_the_restart(episode) -> None:
    """The sustained episode emits one RetrainingEvent; the restarted worker adds none."""
    settings, _, retraining, *_ = episode
    events = [orjson.loads(r.value) for r in retraining]
    assert len(events) == 1
    e = events[0]
    assert (e["model"], e["service"]) == ("gpt-4o", "shop")
    assert e["triggered_by"].startswith("leaks:")
    assert "detector = 'pii' AND fired = 1" in e["selection_sql"]
    rows = query(settings, e["selection_sql"].replace("SELECT *", "SELECT event_id"))
    assert len(rows) == 5  # the five leaking responses are the training examples
