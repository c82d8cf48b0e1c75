"""Embedding drift in the running pipeline: a topic shift in one series is detected and
explained, results land in ClickHouse, and a restarted worker keeps its reference."""

from __future__ import annotations

import httpx
from conftest import wait_until
from helpers import create_topics, publish, query, start_worker, worker_settings
from prometheus_client.parser import text_string_to_metric_families

from streams.demo_data import generate


def test_topic_shift_is_detected_and_restart_keeps_the_reference(broker, tmp_path) -> None:
    """support-bot's prompts move to finance questions: drift fires for that stream only;
    the reference saved before a restart is the one used after it."""
    drift = {"enabled": True, "fields": ["prompt"], "reference_size": 40, "window_size": 30,
             "n_streams": 6, "consecutive": 2}  # fmt: skip
    settings = worker_settings(broker, tmp_path, drift=drift,
                               ingest={"batch_size": 200, "batch_within_s": 0.5})  # fmt: skip
    create_topics(settings)
    topic = settings.kafka.topic("llm.inference.v1")
    first = generate(360, seed=31, bad_every=0)  # unshifted: references fill, clean windows
    publish(broker, topic, [(m.key, m.value) for m in first])
    worker = start_worker(settings, "worker-1")
    wait_until(lambda: worker.stats().get("events_stored", 0) >= 360, 180, what="360 stored")
    # Every batch's embedding and drift update is timed in /metrics (streams/stages.py).
    text = httpx.get(f"http://{settings.web_host}:{settings.web_port}/metrics", timeout=5).text
    stages = {s.labels["stage"]: s.value for f in text_string_to_metric_families(text)
              for s in f.samples if s.name == "infersight_stage_seconds_count"
              and s.labels.get("hop") == "ScoreEvents"}  # fmt: skip
    assert stages["embed"] == stages["drift"] == stages["parse"] >= 2, stages
    assert worker.stop() == 0

    refs = query(
        settings, "SELECT service, model, field FROM drift_state FINAL ORDER BY service, model"
    )
    assert len(refs) == 6, refs

    shifted = generate(480, seed=32, bad_every=0, shift_at=0.0)
    publish(broker, topic, [(m.key, m.value) for m in shifted])
    worker = start_worker(settings, "worker-2")
    wait_until(lambda: worker.stats().get("events_stored", 0) >= 480, 180, what="480 more stored")
    assert worker.stop() == 0

    rows = query(
        settings,
        "SELECT service, model, max(drift) AS drift, max(window_index) AS windows, "
        "argMax(reason, window_index) AS reason FROM drift_results_v "
        "GROUP BY service, model ORDER BY service, model",
    )
    drifted = {(r["service"], r["model"]) for r in rows if r["drift"]}
    assert drifted == {("support-bot", "claude-3-5-haiku"), ("support-bot", "gpt-4o-mini")}, rows
    reason = next(r["reason"] for r in rows if r["service"] == "support-bot")
    assert "p=" in reason and "New here:" in reason, reason
    finance = ("stock", "bitcoin", "crypto", "dividend", "exchange rate", "mortgage")
    assert any(word in reason.lower() for word in finance), reason
    # Window indexes continue after the restart: the reference was resumed, not rebuilt.
    support = [r for r in rows if r["service"] == "support-bot"]
    assert all(r["windows"] >= 2 for r in support)
