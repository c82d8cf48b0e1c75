"""A model name per request (a request id or per-user fine-tune in the name) must not make
the monitor evaluate, and remember, a series per event: each rule reads at most
``max_series`` series, breaching ones first, and forgets series quiet for two rounds. On the
real embedded ClickHouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerting.engine import RuleEngine, State
from alerting.rules import Rule
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink

NOW = datetime.now(UTC).replace(microsecond=0)
COLS = ["event_id", "timestamp", "service", "model", "status", "cost_usd"]


def calls(models: list[str], cost: float, at: datetime, tag: str) -> list[list]:
    ts = at.replace(tzinfo=None)
    return [[f"{tag}-{i}", ts, "shop", m, "ok", cost] for i, m in enumerate(models)]


@pytest.fixture(scope="module")
def sink(chdb_dir: Path) -> ClickHouseSink:
    """2,000 one-off model names at a cent each, and three models that overspend."""
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="rules_cardinality"))
    s.migrate()
    at = NOW - timedelta(seconds=30)
    # The overspending models sort last by name: a cut without "breaching first" reads in
    # the table's order (service, model) and misses them.
    s.client.insert("events", calls(["zz-big-a", "zz-big-b", "zz-big-c"], 9.0, at, "dear"),
                    column_names=COLS)  # fmt: skip
    for part in range(4):
        names = [f"ft:req-{part}-{i}" for i in range(500)]
        s.client.insert("events", calls(names, 0.01, at, f"cheap{part}"), column_names=COLS)
    return s


def rule() -> Rule:
    return Rule("cost_budget", "cost_usd", 5.0, ">", window_s=300)


def test_a_rule_reads_at_most_max_series_and_the_breaching_ones_first(sink) -> None:
    engine = RuleEngine([rule()], max_series=20)
    ev = engine.evaluate(NOW, lambda sql: sink.query(sql)[1])
    assert sorted(a.model for a in ev.alerts) == ["zz-big-a", "zz-big-b", "zz-big-c"]
    assert engine.truncated == {"cost_budget": 20}
    assert len(engine.states) == 20


def test_a_cut_rule_declares_nothing_quiet(sink) -> None:
    """Series beyond the cut are unread, not quiet: known series that fall beyond it get no
    'no data' transition, and the firing ones stay firing."""
    engine = RuleEngine([rule()], max_series=5000)
    engine.evaluate(NOW, lambda sql: sink.query(sql)[1])
    engine.max_series = 20  # the same series, now more than the bound
    later = engine.evaluate(NOW + timedelta(seconds=5), lambda sql: sink.query(sql)[1])
    assert engine.truncated == {"cost_budget": 20}
    assert not [t for t in later.transitions if t.to_state is State.NO_DATA]
    assert len(engine.states) == 2003
    assert sum(s.state is State.FIRING for s in engine.states.values()) == 3


def test_quiet_series_are_forgotten_after_their_no_data_round(sink) -> None:
    """Once the one-off names leave the window: one round records them as quiet (stored
    transitions), the next forgets them; the engine holds nothing for them after that."""
    engine = RuleEngine([rule()], max_series=5000)
    engine.evaluate(NOW, lambda sql: sink.query(sql)[1])
    assert len(engine.states) == 2003 and not engine.truncated
    gone = NOW + timedelta(minutes=10)  # the window no longer holds any of them
    quiet = engine.evaluate(gone, lambda sql: sink.query(sql)[1])
    assert len([t for t in quiet.transitions if t.to_state is State.NO_DATA]) == 2003
    assert sorted((a.model, a.status.value) for a in quiet.alerts) == [
        ("zz-big-a", "resolved"), ("zz-big-b", "resolved"), ("zz-big-c", "resolved")]  # fmt: skip
    assert len(engine.states) == 2003  # this round records them
    engine.evaluate(gone + timedelta(seconds=5), lambda sql: sink.query(sql)[1])
    assert engine.states == {}
