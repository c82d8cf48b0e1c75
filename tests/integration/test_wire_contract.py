"""The wire contract with clients we did not write: librdkafka (confluent-kafka) publishes,
our worker stores; and the ``infersight publish`` command validates a JSON-lines file."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
from helpers import consume, create_topics, query, start_worker, worker_settings

from streams.demo import settings_env
from streams.demo_data import generate


def test_events_published_with_librdkafka_are_stored(broker, tmp_path) -> None:
    """confluent-kafka (librdkafka) produces 50 events; all 50 land in ClickHouse."""
    from confluent_kafka import Producer

    settings = worker_settings(broker, tmp_path)
    create_topics(settings)
    messages = generate(50, seed=5, bad_every=0)
    producer = Producer({"bootstrap.servers": broker, "acks": "all", "linger.ms": 5})
    delivered: list[object] = []
    for m in messages:
        producer.produce(
            settings.kafka.topic("llm.inference.v1"), m.value, m.key,
            on_delivery=lambda err, msg: delivered.append(err or msg.offset()),
        )  # fmt: skip
    assert producer.flush(30) == 0
    assert all(isinstance(d, int) for d in delivered), delivered
    worker = start_worker(settings)
    try:
        signals = consume(broker, settings.kafka.topic("llm.signals.v1"), 50)
    finally:
        assert worker.stop() == 0
    assert len({orjson.loads(s.value)["event_id"] for s in signals}) == 50
    rows = query(settings, "SELECT count() AS n FROM events_v")
    assert rows == [{"n": 50}]


def test_publish_command_sends_valid_lines_and_refuses_bad_ones(broker, tmp_path) -> None:
    """`infersight publish` sends 20 valid lines, refuses 1 with its line number, exits 1."""
    settings = worker_settings(broker, tmp_path)
    create_topics(settings)
    lines = [m.value for m in generate(20, seed=3, bad_every=0)]
    lines.insert(7, b'{"service": "x"}')  # no model
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "publish", str(path)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert f"{path}:8: refused: schema_violation: request_model: Field required" in out.stderr
    assert "published 20 events" in out.stdout
    records = consume(broker, settings.kafka.topic("llm.inference.v1"), 20, timeout_s=20)
    assert len(records) == 20
