"""The rule engine: state changes page once per episode, resolve, retrain once, restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detectors.rules import Rule, RuleEngine, sql_literal
from schemas.results import AlertStatus, Severity

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def engine(**kw: float) -> RuleEngine:
    rules = [Rule("pii_leaks", "pii_leaks", 3, ">=", Severity.CRITICAL, window_s=300)]
    return RuleEngine(rules, **kw)


def rows(value: float):  # noqa: ANN201 - a fake query returning one series
    return lambda sql: [("bot", "gpt-4o", value, 100, ["e1", "e2"])] if value >= 0 else []


def test_breach_fires_once_then_resolves_once() -> None:
    """OK→FIRING pages once; staying breached pages nothing; recovery sends one resolve."""
    e = engine()
    statuses = []
    for i, value in enumerate([1, 3, 4, 5, 2, 1]):
        alerts, _ = e.evaluate(T0 + timedelta(seconds=10 * i), rows(value))
        statuses.append([a.status for a in alerts])
    assert statuses == [[], [AlertStatus.FIRING], [], [], [AlertStatus.RESOLVED], []]


def test_alert_carries_its_evidence() -> None:
    """Value, threshold, window, sample ids and the SQL reproducing the number."""
    [a], _ = engine().evaluate(T0, rows(4))
    assert (a.value, a.threshold, a.rule, a.service, a.model) == (
        4.0,
        3,
        "pii_leaks",
        "bot",
        "gpt-4o",
    )
    assert a.window_end - a.window_start == timedelta(seconds=300)
    assert a.sample_event_ids == ["e1", "e2"]
    assert "AND service = 'bot' AND model = 'gpt-4o'" in a.evidence_sql
    assert "FROM signals FINAL" in a.evidence_sql


def test_a_series_that_goes_quiet_resolves() -> None:
    """No data in the window for a firing series resolves it."""
    e = engine()
    e.evaluate(T0, rows(5))
    alerts, _ = e.evaluate(T0 + timedelta(seconds=10), rows(-1))
    assert [a.status for a in alerts] == [AlertStatus.RESOLVED]


def test_sustained_trouble_emits_one_retraining_event_per_episode() -> None:
    """Firing for retrain_after_s emits one RetrainingEvent; cooldown blocks the next episode."""
    e = engine(retrain_after_s=60, retrain_cooldown_s=3600)
    out = [e.evaluate(T0 + timedelta(seconds=30 * i), rows(5))[1] for i in range(5)]
    assert [len(r) for r in out] == [0, 0, 1, 0, 0]
    r = out[2][0]
    assert r.model == "gpt-4o" and r.since == T0 and "events_v" in r.selection_sql
    e.evaluate(T0 + timedelta(seconds=200), rows(0))  # resolve
    later = [e.evaluate(T0 + timedelta(seconds=300 + 30 * i), rows(5))[1] for i in range(5)]
    assert all(not r for r in later), "cooldown per model holds"


def test_restore_prevents_a_second_page_after_restart() -> None:
    """A restarted engine restored from stored alerts does not page the same episode again."""
    first = engine()
    [a], _ = first.evaluate(T0, rows(5))
    second = engine()
    second.restore([(a.fingerprint, a.rule, a.service, a.model, "firing", a.episode_id, T0)])
    alerts, _ = second.evaluate(T0 + timedelta(seconds=10), rows(5))
    assert alerts == []
    alerts, _ = second.evaluate(T0 + timedelta(seconds=20), rows(0))
    assert [(x.status, x.episode_id) for x in alerts] == [(AlertStatus.RESOLVED, a.episode_id)]


def test_sql_literal_escapes_quotes_and_backslashes() -> None:
    """Series names from producers cannot break out of the evidence SQL."""
    assert sql_literal("a'b\\c") == "'a\\'b\\\\c'"
