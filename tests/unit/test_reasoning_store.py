"""Reasoning tokens on the embedded store: stored per event, summed by the rollups once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detectors.cost import price_event
from detectors.pipeline import ScoredEvent
from schemas.events import InferenceEvent
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink
from sinks.queries import refresh_rollups, run_query

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def scored(i: int, reasoning: int) -> ScoredEvent:
    event = InferenceEvent(
        event_id=f"r-{i}",
        timestamp=T0 + timedelta(minutes=i),
        service="solver",
        provider="perplexity",
        request_model="sonar-deep-research",
        usage={"input_tokens": 1000, "output_tokens": 1000, "reasoning_tokens": reasoning},
    )
    priced = price_event(event)
    return ScoredEvent(event=event, signals=[], cost_usd=priced[0] if priced else None)


@pytest.fixture(scope="module")
def sink(chdb_dir: Path):
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="reasoning"))
    s.migrate()
    batch = [scored(i, reasoning=100 * i) for i in range(5)]
    s.write_results(batch)
    s.write_results(batch[1:3])  # a redelivery: counted once
    refresh_rollups(s)
    yield s
    s.close()


def test_reasoning_tokens_are_stored_per_event(sink: ClickHouseSink) -> None:
    """events_v carries each event's reasoning count beside its output count."""
    _, rows = sink.query(
        "SELECT event_id, output_tokens, reasoning_tokens FROM events_v ORDER BY event_id"
    )
    assert rows == [(f"r-{i}", 1000, 100 * i) for i in range(5)]


def test_rollups_and_cost_by_model_day_sum_reasoning_once(sink: ClickHouseSink) -> None:
    """Minute and hour rollups hold 0+100+200+300+400 reasoning tokens, and the cost is the
    reasoning-rate price: output tokens are not priced again for their reasoning part."""
    _, [(minute,)] = sink.query("SELECT sum(reasoning_tokens) FROM events_per_minute")
    _, [(hour,)] = sink.query("SELECT sum(reasoning_tokens) FROM events_per_hour")
    assert minute == hour == 1000
    result = run_query(sink, "cost_by_model_day", {"since": "2026-03-02", "until": "2026-03-02"})
    [row] = [dict(zip(result.columns, r, strict=True)) for r in result.rows]
    assert (row["output_tokens"], row["reasoning_tokens"]) == (5000, 1000)
    # 5 x 1000 input at $2 + 4000 answer tokens at $8 + 1000 reasoning at $3 per MTok
    assert str(row["cost_usd"]) == "0.045000000"
