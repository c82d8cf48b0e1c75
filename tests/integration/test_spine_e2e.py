"""The whole path on real parts: tansu broker, a worker subprocess, chDB, a webhook receiver."""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
from pathlib import Path

import orjson
import pytest
from conftest import wait_until
from helpers import consume, create_topics, publish, query, start_worker, worker_settings

from streams.demo import WebhookReceiver
from streams.demo_data import BAD_KINDS, generate


@pytest.fixture(scope="module")
def run(broker: str, tmp_path_factory: pytest.TempPathFactory):
    """One worker processes a seeded stream of 400 messages (8 malformed), then stops."""
    tmp: Path = tmp_path_factory.mktemp("e2e")
    with WebhookReceiver() as hook:
        settings = worker_settings(
            broker, tmp,
            monitor={"interval_s": 1.0, "pii_leak_threshold": 3, "cost_budget_usd": 1000.0},
            alerts={"webhook_url": hook.url, "webhook_secret": "s3cret"},
        )  # fmt: skip
        messages = generate(400, seed=11, bad_every=50)
        create_topics(settings)
        worker = start_worker(settings)
        try:
            topic = settings.kafka.topic("llm.inference.v1")
            publish(broker, topic, [(m.key, m.value) for m in messages])
            signals = consume(broker, settings.kafka.topic("llm.signals.v1"), 392)
            dead = consume(broker, settings.kafka.topic("llm.deadletter.v1"), 8)
            alerts = consume(broker, settings.kafka.topic("llm.alerts.v1"), 1, timeout_s=30)
            # The notify hop delivers after the alert is on the topic: wait for the POST.
            wait_until(lambda: hook.bodies, 30, what="a webhook delivery")
            stats = worker.stats()
        finally:
            assert worker.stop() == 0, "worker did not shut down cleanly on SIGTERM"
        bodies, headers = list(hook.bodies), list(hook.headers)
    return settings, messages, signals, dead, alerts, stats, bodies, headers


def test_every_valid_event_is_stored_once_with_its_signals(run) -> None:
    """392 valid events in, 392 rows in events_v and one cost and one pii signal each."""
    settings, messages, signals, *_ = run
    valid = {m.event_id for m in messages if m.valid}
    rows = query(settings, "SELECT event_id FROM events_v")
    assert sorted(r["event_id"] for r in rows) == sorted(valid)
    per_detector = query(
        settings, "SELECT detector, count() AS n FROM signals_v GROUP BY detector ORDER BY detector"
    )
    assert per_detector == [{"detector": "cost", "n": 392}, {"detector": "pii", "n": 392}]
    published = {orjson.loads(s.value)["event_id"] for s in signals}
    assert published == valid


def test_malformed_messages_are_dead_lettered_with_reasons(run) -> None:
    """Each malformed kind reaches llm.deadletter.v1 with its reason and original bytes."""
    settings, messages, _, dead, _, stats, *_ = run
    bad = [m for m in messages if not m.valid]
    envelopes = [orjson.loads(d.value) for d in dead]
    assert sorted(e["reason"] for e in envelopes) == sorted(BAD_KINDS[m.bad_kind] for m in bad)
    by_sha = {e["original_sha256"]: e for e in envelopes}
    for m in bad:
        env = by_sha[hashlib.sha256(m.value).hexdigest()]
        original = base64.b64decode(env["original_b64"])
        if env["original_truncated"]:
            assert m.value.startswith(original) and env["original_size"] == len(m.value)
        else:
            assert original == m.value
        assert env["message"], "every dead letter says what was wrong"
    assert stats["deadlettered"] == len(bad)
    stored = query(
        settings,
        "SELECT reason, count() AS n FROM deadletters FINAL GROUP BY reason ORDER BY reason",
    )
    assert stored == [
        {"reason": r, "n": n}
        for r, n in sorted(collections.Counter(BAD_KINDS[m.bad_kind] for m in bad).items())
    ]


def test_no_raw_pii_reaches_clickhouse(run) -> None:
    """Emails, phones, cards and keys in prompts and responses are redacted before storage."""
    settings, messages, *_ = run
    raw = [orjson.loads(m.value) for m in messages if m.valid]
    emails = {f"user{i}@example.com" for i in range(400)} | {
        f"admin{i}@corp.example" for i in range(400)
    }
    rows = query(
        settings,
        "SELECT prompt, prompt_messages, response, pii_types FROM events_v WHERE length(pii_types) > 0",
    )
    assert rows, "the seeded stream contains PII"
    text = orjson.dumps(rows).decode()
    assert not any(e in text for e in emails)
    assert "4111 1111 1111 1111" not in text and "sk-live" not in text
    assert "<EMAIL_ADDRESS>" in text
    assert len(raw) == 392


def test_pii_leak_alert_reaches_the_webhook_signed(run) -> None:
    """The pii_leaks rule fires; the webhook receives a signed JSON alert with its evidence."""
    settings, *_, alerts, _, bodies, headers = run
    assert alerts, "an alert was published to llm.alerts.v1"
    firing = [b for b in bodies if b["status"] == "firing" and b["rule"] == "pii_leaks"]
    assert firing, f"no firing pii_leaks alert delivered: {bodies}"
    alert = firing[0]
    assert alert["value"] >= 3 and alert["evidence_sql"].startswith("SELECT")
    assert alert["sample_event_ids"]
    i = bodies.index(alert)
    body = orjson.dumps(alert)
    ts = headers[i]["X-Infersight-Timestamp"]
    mac = hmac.new(b"s3cret", ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers[i]["X-Infersight-Signature"] == f"sha256={mac}"
    stored = query(settings, "SELECT rule, status FROM alerts FINAL WHERE status = 'firing'")
    assert {"rule": "pii_leaks", "status": "firing"} in stored


def test_cost_is_exact_and_unknown_models_are_unpriced(run) -> None:
    """Cost is stored as an exact decimal; a model with no price has NULL cost, not a crash."""
    settings, *_ = run
    rows = query(
        settings,
        "SELECT model, countIf(cost_usd IS NULL) AS unpriced, count() AS n FROM events_v GROUP BY model ORDER BY model",
    )
    by_model = {r["model"]: r for r in rows}
    assert by_model["acme-internal-7b"]["unpriced"] == by_model["acme-internal-7b"]["n"]
    assert by_model["gpt-4o"]["unpriced"] == 0
