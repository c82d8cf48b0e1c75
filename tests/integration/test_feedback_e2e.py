"""User feedback end to end: Publisher.feedback and `infersight publish --feedback` → tansu →
a worker → chDB ``feedback``, joined to its events by the named queries."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from conftest import wait_until
from helpers import consume, create_topics, publish, query, start_worker, worker_settings

from streams.demo import settings_env
from streams.publish import Publisher

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def event(i: int, model: str) -> dict:
    return {"event_id": f"fb-ev-{i}", "service": "support", "model": model, "provider": "openai",
            "timestamp": (T0 + timedelta(seconds=i)).isoformat(), "prompt": f"question {i}",
            "response": f"answer {i}", "usage": {"input_tokens": 10, "output_tokens": 5}}  # fmt: skip


async def _send(settings, steps) -> None:
    k = settings.kafka
    async with Publisher(
        k.bootstrap, k.topic("llm.inference.v1"), k.topic("llm.feedback.v1")
    ) as pub:
        for kind, payload in steps:
            if kind == "event":
                await pub.publish(payload)
            else:
                await pub.feedback(**payload)


async def _publish_at(bootstrap: str, topic: str, value: bytes, at: datetime) -> None:
    """One record with a Kafka timestamp of our choosing (a replayed or backlogged one)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, timestamp_ms=int(at.timestamp() * 1000))
    finally:
        await producer.stop()


#: When the user judged fb-ev-9, as its Kafka record says (the message has no timestamp).
JUDGED_AT = T0 - timedelta(days=1)
FUTURE = (
    b'{"event_id": "fb-ev-1", "thumbs": "up", "user_id": "u1", "timestamp": "2100-01-01T00:00:00Z"}'
)

RULES = """
rules:
  - name: negative_feedback
    metric: negative_feedback_rate
    comparison: ">="
    threshold: 0.3
    window: 1h
    severity: warning
  - name: feedback_volume
    metric: feedback_count
    comparison: ">="
    threshold: 3
    window: 1h
    severity: info
retraining:
  rules: [negative_feedback]
  sustained: 0s
  cooldown: 1h
"""


@pytest.fixture(scope="module")
def run(broker: str, tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("feedback")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    settings = worker_settings(broker, tmp, monitor={"interval_s": 1.0, "rules_file": rules})
    create_topics(settings)
    worker = start_worker(settings)
    t = T0 + timedelta(minutes=1)
    try:
        asyncio.run(_send(settings, [
            # Feedback first: its event arrives after it.
            ("feedback", {"event_id": "fb-ev-0", "thumbs": "down", "user_id": "u1",
                          "comment": "Wrong! write to me at ann@example.com", "timestamp": t}),
            ("event", event(0, "gpt-4o")),
            ("event", event(1, "gpt-4o")),
            ("event", event(2, "gpt-4o-mini")),
            ("feedback", {"event_id": "fb-ev-1", "thumbs": "up", "user_id": "u1", "timestamp": t}),
            # u2 changes their mind on event 2: the later judgement wins.
            ("feedback", {"event_id": "fb-ev-2", "score": -1.0, "user_id": "u2", "timestamp": t}),
            ("feedback", {"event_id": "fb-ev-2", "score": 1.0, "user_id": "u2",
                          "timestamp": t + timedelta(seconds=30)}),
        ]))  # fmt: skip
        # A redelivered copy (the same bytes) and a message that is no feedback at all.
        dup = orjson.dumps({"event_id": "fb-ev-0", "thumbs": "down", "user_id": "u1",
                            "comment": "Wrong! write to me at ann@example.com",
                            "timestamp": t.isoformat()})  # fmt: skip
        bad = b'{"event_id": "fb-ev-1"}'
        publish(broker, settings.kafka.topic("llm.feedback.v1"), [(b"fb-ev-0", dup), (None, bad)])
        # No timestamp of its own, read a day late (a backlog, a replay): it keeps its
        # record's. And a judgement from a clock in 2100, which would win "latest" forever.
        asyncio.run(_publish_at(broker, settings.kafka.topic("llm.feedback.v1"),
                                b'{"event_id": "fb-ev-9", "thumbs": "up", "user_id": "u9"}',
                                JUDGED_AT))  # fmt: skip
        publish(broker, settings.kafka.topic("llm.feedback.v1"), [(None, FUTURE)])
        # The command line: one file, two judgements of event 1 by other users.
        lines = tmp / "feedback.jsonl"
        lines.write_text(
            json.dumps({"event_id": "fb-ev-1", "label": "wrong", "user_id": "u3"}) + "\n"
            + json.dumps({"event_id": "fb-ev-1", "score": 0.5, "user_id": "u4"}) + "\n"
        )  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
        env.update(settings_env(settings))
        cli = subprocess.run(
            [sys.executable, "-m", "streams.cli", "publish", "--feedback", str(lines)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        dead = consume(broker, settings.kafka.topic("llm.deadletter.v1"), 2)
        wait_until(lambda: worker.stats().get("feedback_received", 0) >= 10, 60,
                   what="ten feedback messages read")  # fmt: skip
        consume(broker, settings.kafka.topic("llm.signals.v1"), 3)
        stats = worker.stats()
        retraining = consume(broker, settings.kafka.topic("llm.retraining.v1"), 1, timeout_s=60)
        alerts = consume(broker, settings.kafka.topic("llm.alerts.v1"), 2, timeout_s=30)
        # While the worker owns the embedded store: the export goes through it.
        live_export = subprocess.run(
            [sys.executable, "-m", "streams.cli", "dataset", "export", "--sql",
             "SELECT event_id FROM events_v WHERE model = 'gpt-4o'", "--out",
             str(tmp / "live"), "--format", "jsonl"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        assert worker.stop() == 0, "worker did not shut down cleanly on SIGTERM"
    return settings, cli, dead, stats, retraining, alerts, env, tmp, live_export


def test_cli_publishes_feedback_to_the_feedback_topic(run) -> None:
    """`infersight publish --feedback` validates and sends each line, keyed by event id."""
    settings, cli, *_ = run
    assert cli.returncode == 0, cli.stderr
    assert (
        cli.stdout.strip() == f"published 2 feedback to {settings.kafka.topic('llm.feedback.v1')}"
    )


def test_feedback_is_stored_once_per_user_and_event_latest_wins(run) -> None:
    """Six judgements survive: the redelivery collapses, u2's later score replaces the
    first, u1's judgement from 2100 is refused. (User ids are compared by count: stored as events store them, maybe pseudonyms.)"""
    settings, *_ = run
    rows = query(settings, "SELECT event_id, user_id, thumbs, score, label, negative "
                           "FROM feedback_v ORDER BY event_id, thumbs, label, score")  # fmt: skip
    got = sorted(((r["event_id"], r["thumbs"], r["score"], r["label"], r["negative"])
                  for r in rows), key=repr)  # fmt: skip
    assert got == sorted([
        ("fb-ev-0", "down", None, "", 1),
        ("fb-ev-1", "", None, "wrong", 1),
        ("fb-ev-1", "", 0.5, "", 0),
        ("fb-ev-1", "up", None, "", 0),
        ("fb-ev-2", "", 1.0, "", 0),
        ("fb-ev-9", "up", None, "", 0),
    ], key=repr)  # fmt: skip
    assert len({r["user_id"] for r in rows if r["event_id"] == "fb-ev-1"}) == 3


def test_feedback_comment_is_redacted_like_event_text(run) -> None:
    """The email in the comment never reaches ClickHouse; its type is recorded."""
    settings, *_ = run
    [row] = query(settings, "SELECT comment, pii_types FROM feedback_v WHERE event_id = 'fb-ev-0'")
    assert row == {"comment": "Wrong! write to me at <EMAIL_ADDRESS>",
                   "pii_types": ["EMAIL_ADDRESS"]}  # fmt: skip


def test_invalid_feedback_is_dead_lettered_with_its_reason(run) -> None:
    """Feedback with no judgement reaches llm.deadletter.v1 byte for byte, saying why."""
    settings, _, dead, stats, *_ = run
    [env] = [e for d in dead if (e := orjson.loads(d.value))["reason"] == "schema_violation"]
    assert "at least one of thumbs" in env["message"]
    assert base64.b64decode(env["original_b64"]) == b'{"event_id": "fb-ev-1"}'
    assert env["topic"] == settings.kafka.topic("llm.feedback.v1")
    assert stats["feedback_stored"] >= 6


def test_feedback_without_a_timestamp_keeps_its_records_and_the_future_is_refused(run) -> None:
    """Feedback with no timestamp is stamped with its Kafka record's time, not the time it
    was read (a replayed old judgement would otherwise replace a newer one, and a backlog
    flood the current alert window); one stamped in 2100 is dead-lettered."""
    settings, _, dead, *_ = run
    [row] = query(settings, "SELECT toUnixTimestamp64Milli(timestamp) AS ms FROM feedback_v "
                            "WHERE event_id = 'fb-ev-9'")  # fmt: skip
    assert int(row["ms"]) == int(JUDGED_AT.timestamp() * 1000)
    [env] = [e for d in dead if (e := orjson.loads(d.value))["reason"] == "timestamp_in_future"]
    assert base64.b64decode(env["original_b64"]) == FUTURE and env["event_id"] == "fb-ev-1"


def test_named_query_joins_feedback_that_came_before_its_event(run) -> None:
    """feedback_by_model counts event 0's judgement though it arrived first."""
    settings, *_ = run
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    day = T0.date().isoformat()
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "query", "feedback_by_model", "-p", f"since={day}",
         "-p", f"until={day}", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = {r["model"]: r for r in json.loads(out.stdout)}
    assert (got["gpt-4o"]["events"], got["gpt-4o"]["feedback"], got["gpt-4o"]["negative"]) == (
        2,
        4,
        2,
    )
    assert got["gpt-4o"]["negative_rate"] == 0.5
    assert (got["gpt-4o-mini"]["feedback"], got["gpt-4o-mini"]["avg_score"]) == (1, 1.0)


def test_feedback_rules_fire_per_model_and_ask_for_retraining(run) -> None:
    """negative_feedback_rate (2 of 4 judgements of gpt-4o) and feedback_count fire for
    gpt-4o only; the retraining event names feedback as its reason and its dataset command."""
    *_, retraining, alerts, _, _, _ = run
    firing = sorted((a["rule"], a["model"], a["value"]) for a in map(orjson.loads,
                    (m.value for m in alerts)) if a["status"] == "firing")  # fmt: skip
    assert firing == [("feedback_volume", "gpt-4o", 4.0), ("negative_feedback", "gpt-4o", 0.5)]
    [r] = [orjson.loads(m.value) for m in retraining]
    assert r["model"] == "gpt-4o" and r["reason"].startswith("negative_feedback has fired")
    assert "share of user judgements that were negative" in r["reason"]
    assert r["dataset_command"] == (
        f"infersight dataset export --retraining-id {r['retraining_id']} "
        f"--out dataset-{r['retraining_id']} --format jsonl,openai,parquet"
    )


def test_dataset_export_of_the_retraining_event_labels_events_with_feedback(run) -> None:
    """The exported dataset holds the two negatively judged gpt-4o calls, redacted as stored,
    with signals and feedback as labels, in all three formats, and a manifest."""
    import pyarrow.parquet as pq

    *_, retraining, _, env, tmp, _ = run
    rid = orjson.loads(retraining[0].value)["retraining_id"]
    out = tmp / "dataset"
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "dataset", "export", "--retraining-id", rid,
         "--out", str(out), "--format", "jsonl,openai,parquet"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [r["event_id"] for r in records] == ["fb-ev-0", "fb-ev-1"]
    first = records[0]
    assert first["labels"] == {"feedback": "negative", "pii": False}
    assert first["feedback"][0]["comment"] == "Wrong! write to me at <EMAIL_ADDRESS>"
    assert set(first["signals"]) == {"cost", "pii"} and first["response"] == "answer 0"
    assert len(records[1]["feedback"]) == 3 and records[1]["labels"]["feedback"] == "negative"
    chat = [json.loads(line) for line in (out / "openai_chat.jsonl").read_text().splitlines()]
    assert chat[0]["messages"] == [
        {"role": "user", "content": "question 0"},
        {"role": "assistant", "content": "answer 0", "weight": 0},
    ]
    assert pq.read_table(out / "events.parquet").num_rows == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["retraining_id"] == rid
    assert manifest["query"].startswith("SELECT * FROM events_v WHERE")
    assert manifest["counts"]["events"] == 2 and manifest["counts"]["feedback_judgements"] == 4
    assert manifest["label_distribution"]["feedback"] == {"negative": 2}
    assert manifest["redaction"]["mode"] == "replace"
    assert manifest["event_schema_version"] == 1
    assert manifest["command"].startswith(f"infersight dataset export --retraining-id {rid}")
    assert {f["rows"] for f in manifest["files"].values()} == {2}


def test_dataset_export_goes_through_the_running_worker(run) -> None:
    """With the worker owning the embedded directory, --sql export is served by it."""
    *_, tmp, live_export = run
    assert live_export.returncode == 0, live_export.stderr
    records = [json.loads(x) for x in (tmp / "live" / "events.jsonl").read_text().splitlines()]
    assert sorted(r["event_id"] for r in records) == ["fb-ev-0", "fb-ev-1"]
    assert {r["labels"]["feedback"] for r in records} == {"negative"}
