"""Rule metrics, alert state, silences and the alerts CLI on the real ClickHouse engine (chDB)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerting.dispatch import (
    Matcher,
    Silence,
    active_silences,
    expire_silence,
)
from alerting.engine import RuleEngine, State
from alerting.rules import Rule
from sinks.alert_store import AlertStore
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink
from streams import cli_alerts
from streams.settings import Settings

NOW = datetime.now(UTC).replace(microsecond=0)
N = 40


@pytest.fixture(scope="module")
def sink(chdb_dir: Path) -> ClickHouseSink:
    """chDB with 40 seeded calls of bot/gpt-4o in the last minute, signals and drift windows."""
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="h5_rules"))
    s.migrate()
    events, signals = [], []
    for i in range(N):
        ts = (NOW - timedelta(seconds=60) + timedelta(seconds=i)).replace(tzinfo=None)
        eid = f"e{i:02d}"
        events.append([
            eid, ts, "bot", "prod" if i % 4 else "dev", "gpt-4o",
            "error" if i % 4 == 0 else "ok", 100.0 * (i + 1), 10.0 * (i + 1) if i < 20 else None,
            0.01, {"team": "search" if i < 10 else "chat"},
        ])  # fmt: skip
        signals.append(
            [eid, ts, "bot", "prod", "gpt-4o", "toxicity", 0.0, int(i in (3, 7, 11, 15))]
        )
        signals.append([eid, ts, "bot", "prod", "gpt-4o", "pii", 0.0, int(i < 6)])
    cols = ["event_id", "timestamp", "service", "environment", "model", "status", "latency_ms",
            "ttft_ms", "cost_usd", "metadata"]  # fmt: skip
    s.client.insert("events", events, column_names=cols)
    s.client.insert("events", events[:10], column_names=cols)  # a replayed batch
    s.client.insert(
        "signals", signals,
        column_names=["event_id", "timestamp", "service", "environment", "model", "detector",
                      "score", "fired"],
    )  # fmt: skip
    drift = [
        ["bot", "gpt-4o", "prompt", "mmd", k, (NOW - timedelta(minutes=5 - k)).replace(tzinfo=None),
         p, d, [f"e{k}"]]
        for k, (p, d) in enumerate([(0.2, 0), (0.001, 1)])
    ]  # fmt: skip
    s.client.insert("drift_results", drift, column_names=[
        "service", "model", "field", "test", "window_index", "window_end", "p_value", "drift",
        "sample_event_ids"])  # fmt: skip
    return s


def value(sink: ClickHouseSink, rule: Rule) -> tuple[dict[str, float], list]:
    engine = RuleEngine([rule])
    out = {}
    samples = []
    for row in sink.query(rule.render(*rule.window(NOW)))[1]:
        n = len(rule.group_by)
        out["/".join(str(v) for v in row[:n])] = round(float(row[n]), 6)
        samples.append(list(row[n + 2]))
    engine.evaluate(NOW, lambda sql: sink.query(sql)[1])  # the engine runs the same SQL
    return out, samples


@pytest.mark.parametrize(
    ("metric", "params", "expected"),
    [
        ("cost_usd", {}, 0.4),  # 40 calls x $0.01; the replayed 10 count once
        ("cost_per_hour_usd", {}, 4.8),  # $0.40 in 300 s
        ("budget_burn_rate", {"budget_usd": 10, "period": "day"}, 11.52),
        ("budget_used", {"budget_usd": 10, "period": "month"}, 0.04),
        ("pii_leaks", {}, 6.0),
        ("toxicity_rate", {}, 0.1),
        ("error_rate", {}, 0.25),
        ("latency_p95_ms", {}, 3805.0),
        ("ttft_p95_ms", {}, 190.5),
        ("drift_p_value", {}, 0.001),
        ("drift_windows", {}, 1.0),
        ("events", {}, 40.0),
    ],
)
def test_metric_values_are_exact_on_deduplicated_tables(
    sink: ClickHouseSink, metric: str, params: dict, expected: float
) -> None:
    """Each metric's SQL gives the exact figure over the seeded window, replays collapsed."""
    group = ("service", "model", "field") if metric.startswith("drift") else ("service", "model")
    got, _ = value(sink, Rule("r", metric, 0, params=params, group_by=group))
    key = "bot/gpt-4o/prompt" if metric.startswith("drift") else "bot/gpt-4o"
    assert got == {key: expected}


def test_latency_samples_are_the_slowest_calls(sink: ClickHouseSink) -> None:
    """The evidence of a latency breach is the five slowest events, slowest first."""
    _, [samples] = value(sink, Rule("r", "latency_p95_ms", 0))
    assert samples == ["e39", "e38", "e37", "e36", "e35"]


def test_group_by_environment_and_metadata_key(sink: ClickHouseSink) -> None:
    """Any column, or a metadata key, makes the series."""
    got, _ = value(sink, Rule("r", "error_rate", 0, group_by=("environment",)))
    assert got == {"dev": 1.0, "prod": 0.0}
    got, _ = value(sink, Rule("r", "events", 0, group_by=("metadata.team",)))
    assert got == {"chat": 30.0, "search": 10.0}


def test_evidence_sql_reproduces_the_alert_value(sink: ClickHouseSink) -> None:
    """Running an alert's evidence_sql returns the value the alert carries."""
    rule = Rule("errors", "error_rate", 0.2, ">")
    [alert] = RuleEngine([rule]).evaluate(NOW, lambda sql: sink.query(sql)[1]).alerts
    [row] = sink.query(alert.evidence_sql)[1]
    assert (row[0], row[1], row[2]) == ("bot", "gpt-4o", alert.value) and alert.value == 0.25


def test_transitions_stored_and_restored_prevent_a_second_page(sink: ClickHouseSink) -> None:
    """alert_states rows rebuild a FIRING series after a restart: no second page."""
    rule = Rule("leaks_restore", "pii_leaks", 3, ">=", for_s=0)
    store = AlertStore(sink)
    first = RuleEngine([rule])
    ev = first.evaluate(NOW, lambda sql: sink.query(sql)[1])
    store.write_transitions(ev.transitions)
    assert [a.status.value for a in ev.alerts] == ["firing"]
    second = RuleEngine([rule])
    assert second.restore_from(store) == 1
    [st] = second.states.values()
    assert (st.state, st.episode_id, st.since) == (State.FIRING, ev.alerts[0].episode_id, NOW)
    assert second.evaluate(NOW + timedelta(seconds=5), lambda sql: sink.query(sql)[1]).alerts == []


def test_silences_round_trip_and_end(sink: ClickHouseSink) -> None:
    """A stored silence is read back equal and mutes the alert it matches; ended, it is gone
    from the active ones (the outbox tests show what a silence does to a page)."""
    store = AlertStore(sink)
    s = Silence((Matcher.parse("rule=~errors.*"),), NOW, NOW + timedelta(hours=1), "me", "deploy")
    store.write_silence(s)
    [loaded] = [x for x in active_silences(store) if x.silence_id == s.silence_id]
    assert loaded == s
    rule = Rule("errors_log", "error_rate", 0.2, ">")
    [alert] = RuleEngine([rule]).evaluate(NOW, lambda sql: sink.query(sql)[1]).alerts
    assert loaded.mutes(alert, NOW + timedelta(minutes=1))
    assert expire_silence(store, s.silence_id)
    assert s.silence_id not in {x.silence_id for x in active_silences(store)}


def test_cli_silence_list_unsilence(sink: ClickHouseSink, capsys: pytest.CaptureFixture) -> None:
    """`alerts silence` stores a silence, `alerts list` shows it, `alerts unsilence` ends it."""
    settings = Settings(clickhouse={"data_dir": sink.settings.data_dir, "database": "h5_rules"})
    args = argparse.Namespace(matchers=["service=bot", "severity=~warn.*"], duration="30m",
                              comment="deploy", by="alice")  # fmt: skip
    assert cli_alerts.cmd_silence(args, settings) == 0
    sid = capsys.readouterr().out.strip()
    assert cli_alerts.cmd_list(argparse.Namespace(state=None, format="json"), settings) == 0
    listed = json.loads(capsys.readouterr().out)
    mine = [x for x in listed["silences"] if x["id"] == sid]
    assert mine and mine[0]["matchers"] == ["service=bot", "severity=~warn.*"]
    assert {r["rule"] for r in listed["rules"]} >= {"cost_budget", "pii_leaks"}
    assert any(x["rule"] == "leaks_restore" and x["state"] == "firing" for x in listed["series"])
    assert cli_alerts.cmd_unsilence(argparse.Namespace(silence_id=sid), settings) == 0
    assert cli_alerts.cmd_unsilence(argparse.Namespace(silence_id=sid), settings) == 2
    bad = argparse.Namespace(matchers=["service"], duration="30m", comment="", by="")
    assert cli_alerts.cmd_silence(bad, settings) == 2
    assert "matcher must be" in capsys.readouterr().err
