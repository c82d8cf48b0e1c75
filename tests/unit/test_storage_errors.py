"""Storage errors on the real embedded engine: what ClickHouse refuses for its content is
isolated, what may succeed later is held, and a backfill across years is stored whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detectors.cost import CostDetector
from detectors.pipeline import ScoringPipeline
from schemas.events import InferenceEvent
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, SinkUnavailable, is_transient


@pytest.fixture(scope="module")
def sink(chdb_dir):
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="storage_unit"))
    s.migrate()
    yield s
    s.close()


def _scored(service: str, n: int, one_month_each: bool = False) -> list:
    def ts(i: int) -> datetime:
        if one_month_each:
            return datetime(2012 + i // 12, i % 12 + 1, 3, tzinfo=UTC)
        return datetime(2026, 1, 1, tzinfo=UTC)

    events = [
        InferenceEvent(service=service, model="gpt-4o", event_id=f"{service}-{i}", timestamp=ts(i))
        for i in range(n)
    ]
    return ScoringPipeline([CostDetector()]).score(events)[0]


def test_backfill_across_150_months_is_stored_in_one_write(sink) -> None:
    """150 events in 150 different months: every one stored (inserts grouped by partition),
    none refused; before, ClickHouse's 100-partitions-per-insert limit failed the batch."""
    scored = _scored("backfill", 150, one_month_each=True)
    assert sink.write_results(scored) == []
    assert sink.scalar("SELECT count() FROM events_v WHERE service = 'backfill'") == 150
    assert sink.scalar("SELECT uniqExact(toYYYYMM(timestamp)) FROM events "
                       "WHERE service = 'backfill'") == 150  # fmt: skip
    assert sink.scalar("SELECT count() FROM signals_v WHERE service = 'backfill'") == 150


def test_a_backfill_across_150_months_reaches_the_rollups(sink) -> None:
    """The rollup refresh after that backfill stores all 150 months (before migration 041
    every refresh failed with ClickHouse's 100-partitions-per-insert limit)."""
    from sinks.queries import refresh_rollups

    refresh_rollups(sink)
    assert sink.scalar("SELECT uniqExact(toYYYYMM(minute)) FROM rollup_events_minute "
                       "WHERE service = 'backfill'") == 150  # fmt: skip
    assert sink.scalar("SELECT sum(events) FROM events_per_hour WHERE service = 'backfill'") == 150


def test_a_refused_event_is_isolated_and_the_rest_stored(sink) -> None:
    """A real ClickHouse constraint refuses one event of 40: the other 39 are stored, the one
    comes back with ClickHouse's error code and no column values."""
    sink.query("ALTER TABLE events ADD CONSTRAINT IF NOT EXISTS no_poison "
               "CHECK event_id != 'iso-17'")  # fmt: skip
    try:
        scored = _scored("iso", 40)
        rejected = sink.write_results(scored)
    finally:
        sink.query("ALTER TABLE events DROP CONSTRAINT IF EXISTS no_poison")
    assert [r.scored.event.event_id for r in rejected] == ["iso-17"]
    [r] = rejected
    assert "Code: 469" in r.error and "no_poison" in r.error
    assert "Column values" not in r.error
    assert sink.scalar("SELECT count() FROM events_v WHERE service = 'iso'") == 39


def test_transient_errors_are_held_not_dead_lettered(tmp_path) -> None:
    """An unreachable server raises SinkUnavailable (hold and retry), never a rejection."""
    from streams.broker import free_port

    down = ClickHouseSink(ClickHouseSettings(url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(SinkUnavailable):
        down.write_results(_scored("down", 3))


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("Code: 252. DB::Exception: Too many parts (300). Merges are processing", True),
        ("Code: 252. DB::Exception: Too many partitions for single INSERT block", False),
        ("Code: 241. DB::Exception: Memory limit (total) exceeded", True),
        ("Code: 159. DB::Exception: Timeout exceeded", True),
        ("Code: 210. DB::NetException: Connection refused", True),
        ("Code: 469. DB::Exception: Constraint `c` is violated at row 1", False),
        ("Code: 27. DB::Exception: Cannot parse input", False),
        ("connection reset by peer", True),
    ],
)
def test_errors_are_classified_by_clickhouse_code(message: str, transient: bool) -> None:
    """Connection, timeout, memory and too-many-parts are transient; content errors are not."""
    assert is_transient(RuntimeError(message)) is transient
