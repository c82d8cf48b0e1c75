"""/metrics on a real worker: histograms of publish→stored latency, batch size and stage
time that account for every stored event and batch, and per-partition lag that drains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import wait_until
from helpers import create_topics, publish, query, start_worker, worker_settings
from prometheus_client.parser import text_string_to_metric_families

from streams.demo_data import generate

N = 600
PARTITIONS = 3


def scrape(url: str) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], str]:
    """Every sample of the exposition by (name, sorted labels), parsed by prometheus_client;
    and the response's content type."""
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    families = text_string_to_metric_families(response.text)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    return samples, response.headers["content-type"]


def series(samples: dict[Any, float], name: str, **labels: str) -> dict[Any, float]:
    return {k: v for k, v in samples.items() if k[0] == name and set(labels.items()) <= set(k[1])}


@pytest.fixture(scope="module")
def run(broker: str, tmp_path_factory: pytest.TempPathFactory):
    """One worker drains 600 messages (12 malformed) on 3 partitions; /metrics is scraped
    once the lag gauges read 0, then the worker stops."""
    tmp: Path = tmp_path_factory.mktemp("metrics")
    settings = worker_settings(broker, tmp, kafka={"partitions": PARTITIONS},
                               ingest={"batch_size": 50, "batch_within_s": 0.3})  # fmt: skip
    messages = generate(N, seed=31, bad_every=50)
    create_topics(settings)
    worker = start_worker(settings)
    url = f"http://{settings.web_host}:{settings.web_port}/metrics"
    try:
        publish(
            broker, settings.kafka.topic("llm.inference.v1"), [(m.key, m.value) for m in messages]
        )
        wait_until(lambda: (s := worker.stats()).get("events_stored", 0)
                   + s.get("deadlettered", 0) >= N, 120, what=f"{N} messages handled")  # fmt: skip

        def drained() -> tuple[dict[Any, float], str] | None:
            samples, ctype = scrape(url)
            lags = series(samples, "infersight_consumer_partition_lag")
            if len(lags) == PARTITIONS and not any(lags.values()):
                return samples, ctype
            return None

        samples, ctype = wait_until(drained, 60, interval_s=1.0, what="lag 0 on every partition")
    finally:
        assert worker.stop() == 0
    return settings, messages, samples, ctype


def test_latency_histogram_counts_every_stored_event(run) -> None:
    """publish→stored has one observation per stored event: 588 = events_stored = the rows
    in ClickHouse; every one is within the 10-minute bucket, and the buckets are cumulative."""
    settings, messages, samples, _ = run
    valid = sum(1 for m in messages if m.valid)
    [(_, count)] = series(samples, "infersight_publish_to_stored_seconds_count").items()
    [(_, stored)] = series(samples, "infersight_events_stored_total").items()
    [row] = query(settings, "SELECT count() AS n FROM events_v")
    assert count == stored == row["n"] == valid == 588
    buckets = series(samples, "infersight_publish_to_stored_seconds_bucket")
    by_le = sorted((float(dict(k[1])["le"]), v) for k, v in buckets.items())
    assert [v for _, v in by_le] == sorted(v for _, v in by_le)
    assert dict(by_le)[600.0] == dict(by_le)[float("inf")] == count
    [(_, total)] = series(samples, "infersight_publish_to_stored_seconds_sum").items()
    assert 0 < total / count < 600


def test_batch_size_and_stage_histograms_count_every_batch(run) -> None:
    """Batch sizes add up to the 600 messages read; each stage of the hop is observed once
    per batch; the consumer's commits are timed too."""
    _, _, samples, _ = run
    [(_, batches)] = series(samples, "infersight_batches_total").items()
    hop = {"hop": "ScoreEvents"}
    [(_, size_sum)] = series(samples, "infersight_batch_size_sum", **hop).items()
    [(_, size_count)] = series(samples, "infersight_batch_size_count", **hop).items()
    assert (size_sum, size_count) == (N, batches)
    stages = {
        dict(k[1])["stage"]: v
        for k, v in series(samples, "infersight_stage_seconds_count", **hop).items()
    }
    expected = ["ack", "clickhouse_write", "detector:cost", "detector:pii", "parse", "publish",
                "redact"]  # fmt: skip
    assert sorted(stages) == expected
    assert set(stages.values()) == {batches}
    commits = series(samples, "infersight_stage_seconds_count", hop="consumer", stage="commit")
    assert sum(commits.values()) >= 1


def test_lag_is_served_per_partition_and_summed(run) -> None:
    """One lag series per assigned partition of the inference topic, all 0 once drained,
    and the summed gauge beside them; served as Prometheus text 0.0.4."""
    settings, _, samples, ctype = run
    topic = settings.kafka.topic("llm.inference.v1")
    lags = series(samples, "infersight_consumer_partition_lag", topic=topic)
    assert sorted(dict(k[1])["partition"] for k in lags) == [str(p) for p in range(PARTITIONS)]
    assert series(samples, "infersight_consumer_lag") == {("infersight_consumer_lag", ()): 0}
    assert ctype.startswith("text/plain; version=0.0.4")
