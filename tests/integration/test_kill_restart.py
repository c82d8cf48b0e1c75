"""A worker killed with SIGKILL mid-stream and restarted loses nothing and duplicates nothing
as analysts query (commit-after-write + idempotent storage)."""

from __future__ import annotations

import pytest
from conftest import wait_until
from helpers import committed, create_topics, publish, query, start_worker, worker_settings

from streams.demo_data import generate

N = 2000


def backlog_worker(broker, tmp_path, seed: int, pipelined: bool):
    """N demo events published to 3 partitions, then a worker started on them that has
    stored at least 400: (settings, inference topic, messages, the running worker)."""
    settings = worker_settings(
        broker, tmp_path, kafka={"partitions": 3},
        ingest={"batch_size": 50, "batch_within_s": 0.2, "pipelined": pipelined},
    )  # fmt: skip
    create_topics(settings)
    messages = generate(N, seed=seed, bad_every=0)
    topic = settings.kafka.topic("llm.inference.v1")
    publish(broker, topic, [(m.key, m.value) for m in messages])
    worker = start_worker(settings, "worker-1")
    wait_until(lambda: worker.stats().get("events_stored", 0) >= 400, 90, what="400 stored")
    return settings, topic, messages, worker


def all_committed(broker, settings, topic) -> None:
    wait_until(
        lambda: sum(o or 0 for o in committed(broker, settings.app_id, topic, 3)) == N,
        120, interval_s=1.0,
        what=f"committed offset {N}",
    )  # fmt: skip


@pytest.mark.parametrize("pipelined", [False, True], ids=["one-batch", "pipelined"])
def test_sigkill_twice_mid_stream_then_every_event_exactly_once(
    broker, tmp_path, pipelined: bool
) -> None:
    """Two SIGKILLs while batches are in flight (3 partitions); afterwards every offset is
    committed and the 2000 events are each stored once, with the score hop one batch at a
    time and pipelined."""
    settings, topic, messages, worker = backlog_worker(broker, tmp_path, 23, pipelined)
    worker.kill()

    worker = start_worker(settings, "worker-2")
    wait_until(lambda: worker.stats().get("events_stored", 0) >= 100, 90, what="restart progress")
    worker.kill()

    worker = start_worker(settings, "worker-3")
    all_committed(broker, settings, topic)
    assert worker.stop() == 0

    [row] = query(
        settings,
        "SELECT count() AS n, uniqExact(event_id) AS ids FROM events_v",
    )
    assert row == {"n": N, "ids": N}
    assert {r["event_id"] for r in query(settings, "SELECT event_id FROM events_v")} == {
        m.event_id for m in messages
    }
    per_detector = query(
        settings, "SELECT detector, count() AS n FROM signals_v GROUP BY detector ORDER BY detector"
    )
    assert per_detector == [{"detector": "cost", "n": N}, {"detector": "pii", "n": N}]
    # Replays happened (a kill loses the unacked batch's commit), and FINAL absorbed them.
    [raw] = query(settings, "SELECT count() AS n FROM events")
    assert raw["n"] >= N


def test_sigterm_mid_stream_with_the_pipelined_hop_commits_only_stored_events(
    broker, tmp_path
) -> None:
    """SIGTERM while the pipelined hop holds a batch being scored and one being stored: the
    worker exits cleanly, every committed offset is of a stored event (nothing unstored is
    acked), and a restart stores the rest, each of the 2000 once."""
    settings, topic, _, worker = backlog_worker(broker, tmp_path, 29, pipelined=True)
    assert worker.stop() == 0
    done = sum(o or 0 for o in committed(broker, settings.app_id, topic, 3))
    [row] = query(settings, "SELECT uniqExact(event_id) AS ids FROM events_v")
    assert 0 < done <= row["ids"]

    worker = start_worker(settings, "worker-2")
    all_committed(broker, settings, topic)
    assert worker.stop() == 0
    [row] = query(settings, "SELECT count() AS n, uniqExact(event_id) AS ids FROM events_v")
    assert row == {"n": N, "ids": N}
