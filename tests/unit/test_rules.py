"""The rule engine: states per series, one page per episode, resolve, retrain once, restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerting.engine import RuleEngine, State, Transition
from alerting.rules import RetrainPolicy, Rule
from schemas.results import AlertStatus, Severity
from sinks.sql import sql_literal

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def engine(
    rule: Rule | None = None,
    retrain_after_s: float = 900.0,
    retrain_cooldown_s: float = 86_400.0,
    **kw: float,
) -> RuleEngine:
    rules = [rule or Rule("pii_leaks", "pii_leaks", 3, ">=", Severity.CRITICAL, window_s=300)]
    policy = RetrainPolicy(None, retrain_after_s, retrain_cooldown_s)
    return RuleEngine(rules, policy=policy, **kw)


def rows(value: float):  # noqa: ANN201 - a fake query returning one series
    return lambda sql: [("bot", "gpt-4o", value, 100, ["e1", "e2"])] if value >= 0 else []


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def restored_rows(transitions: list[Transition]) -> list[tuple]:
    """What RESTORE_STATES_SQL returns for these stored transitions (latest per series)."""
    latest: dict[str, Transition] = {}
    for t in transitions:
        latest[t.fingerprint] = t
    return [
        (t.fingerprint, t.rule, t.labels, t.to_state.value, t.episode_id, t.pending_since,
         t.firing_since, t.notified_at, t.notify_seq, t.value)
        for t in latest.values()
    ]  # fmt: skip


def test_breach_fires_once_then_resolves_once() -> None:
    """OK→FIRING pages once; staying breached pages nothing; recovery sends one resolve."""
    e = engine()
    statuses = []
    for i, value in enumerate([1, 3, 4, 5, 2, 1]):
        alerts, _, _ = e.evaluate(at(10 * i), rows(value))
        statuses.append([a.status for a in alerts])
    assert statuses == [[], [AlertStatus.FIRING], [], [], [AlertStatus.RESOLVED], []]


def test_for_duration_holds_a_breach_pending_before_it_fires() -> None:
    """With for=60s a breach is PENDING for 60 s, a short blip never pages, then it fires."""
    e = engine(Rule("leaks", "pii_leaks", 3, ">=", for_s=60))
    trace = []
    for i, value in enumerate([5, 1, 5, 5, 5, 5, 5, 0]):
        ev = e.evaluate(at(20 * i), rows(value))
        trace.append((
            [t.to_state.value for t in ev.transitions], [a.status.value for a in ev.alerts]
        ))  # fmt: skip
    assert trace == [
        (["pending"], []),
        (["ok"], []),  # the blip cleared before `for`
        (["pending"], []),
        ([], []),
        ([], []),
        (["firing"], ["firing"]),  # 60 s after the breach began
        ([], []),
        (["resolved"], ["resolved"]),
    ]


def test_every_state_of_the_machine_is_reachable() -> None:
    """OK, PENDING, FIRING, RESOLVED and NO_DATA are all visited on a scripted series."""
    e = engine(Rule("leaks", "pii_leaks", 3, ">=", for_s=10))
    states = []
    for i, value in enumerate([1, 5, 5, 0, -1, 1]):
        e.evaluate(at(10 * i), rows(value))
        states.append(next(iter(e.states.values())).state)
    assert states == [
        State.OK, State.PENDING, State.FIRING, State.RESOLVED, State.NO_DATA, State.OK
    ]  # fmt: skip


def test_alert_carries_its_evidence() -> None:
    """Value, threshold, window, sample ids, labels and the SQL reproducing the number."""
    rule = Rule(
        "pii_leaks", "pii_leaks", 3, ">=", Severity.CRITICAL, 300,
        runbook_url="https://runbooks/pii", owner="trust", route=("pagerduty",),
        labels={"team": "ml"},
    )  # fmt: skip
    [a], _, [t] = engine(rule).evaluate(T0, rows(4))
    assert (a.value, a.threshold, a.rule, a.service, a.model) == (4.0, 3, "pii_leaks", "bot",
                                                                  "gpt-4o")  # fmt: skip
    assert a.window_end - a.window_start == timedelta(seconds=300)
    assert a.sample_event_ids == ["e1", "e2"]
    assert "`service` = 'bot' AND `model` = 'gpt-4o'" not in a.evidence_sql
    assert "service = 'bot' AND model = 'gpt-4o'" in a.evidence_sql
    assert "FROM signals FINAL" in a.evidence_sql and "detector = 'pii'" in a.evidence_sql
    assert a.labels == {
        "team": "ml", "service": "bot", "model": "gpt-4o", "rule": "pii_leaks",
        "metric": "pii_leaks", "severity": "critical", "owner": "trust", "route": "pagerduty",
    }  # fmt: skip
    assert a.runbook_url == "https://runbooks/pii"
    assert (t.from_state, t.to_state, t.alert_id) == (State.OK, State.FIRING, a.alert_id)


def test_alert_ids_are_deterministic_per_episode_and_status() -> None:
    """Re-evaluating the same change gives the same alert id: consumers deduplicate replays."""
    a1 = engine().evaluate(T0, rows(5)).alerts[0]
    a2 = engine().evaluate(T0, rows(5)).alerts[0]
    assert a1.alert_id == a2.alert_id and a1.episode_id == a2.episode_id


def test_a_series_that_goes_quiet_resolves() -> None:
    """No data in the window for a firing series resolves it (no_data: resolve)."""
    e = engine()
    e.evaluate(T0, rows(5))
    ev = e.evaluate(at(10), rows(-1))
    assert [a.status for a in ev.alerts] == [AlertStatus.RESOLVED]
    assert "no data" in ev.alerts[0].summary
    assert [t.to_state for t in ev.transitions] == [State.NO_DATA]


def test_no_data_keep_leaves_a_firing_series_firing() -> None:
    """With no_data: keep a quiet firing series stays FIRING without any notification."""
    e = engine(Rule("leaks", "pii_leaks", 3, ">=", no_data="keep"))
    e.evaluate(T0, rows(5))
    ev = e.evaluate(at(10), rows(-1))
    assert ev.alerts == [] and next(iter(e.states.values())).state is State.FIRING


def test_no_data_alert_pages_when_traffic_stops_and_resolves_when_it_returns() -> None:
    """With no_data: alert a quiet series pages (alertstate=no_data) and resolves on data."""
    e = engine(Rule("traffic", "events", 0, ">", no_data="alert"))
    e.evaluate(T0, rows(1))  # fires: traffic > 0 is this rule's (odd) condition
    ev = e.evaluate(at(10), rows(-1))
    assert [(a.status.value, a.labels.get("alertstate")) for a in ev.alerts] == [
        ("resolved", None), ("firing", "no_data")
    ]  # fmt: skip
    back = e.evaluate(at(20), rows(0))
    assert [(a.status.value, a.episode_id) for a in back.alerts] == [
        ("resolved", ev.alerts[1].episode_id)
    ]


def test_renotify_reminds_while_firing_with_new_alert_ids() -> None:
    """A series firing longer than renotify_s is re-sent once per interval, same episode."""
    e = engine(renotify_s=60)
    sent = [e.evaluate(at(20 * i), rows(5)).alerts for i in range(8)]
    assert [len(a) for a in sent] == [1, 0, 0, 1, 0, 0, 1, 0]
    ids = {a[0].alert_id for a in sent if a}
    assert len(ids) == 3 and len({a[0].episode_id for a in sent if a}) == 1
    assert "reminder 1" in sent[3][0].summary


def test_group_by_any_dimension_makes_separate_series() -> None:
    """group_by [environment] evaluates each environment as its own series."""
    rule = Rule(
        "errors", "error_rate", 0.1, ">", group_by=("environment",), where={"service": "bot"}
    )
    e = engine(rule)
    sqls: list[str] = []

    def query(sql: str):  # noqa: ANN202 - a fake ClickHouse
        sqls.append(sql)
        return [("prod", 0.5, 10, ["e1"]), ("dev", 0.0, 10, [])]

    ev = e.evaluate(T0, query)
    assert [(a.labels["environment"], a.service, a.model) for a in ev.alerts] == [
        ("prod", "*", "*")
    ]
    assert "GROUP BY environment" in sqls[0] and "service = 'bot'" in sqls[0]
    assert "environment = 'prod'" in ev.alerts[0].evidence_sql


def test_sustained_trouble_emits_one_retraining_event_per_episode() -> None:
    """Firing for retrain_after_s emits one RetrainingEvent; cooldown blocks the next episode."""
    e = engine(retrain_after_s=60, retrain_cooldown_s=3600)
    out = [e.evaluate(at(30 * i), rows(5))[1] for i in range(5)]
    assert [len(r) for r in out] == [0, 0, 1, 0, 0]
    r = out[2][0]
    assert r.model == "gpt-4o" and r.since == T0 and "events_v" in r.selection_sql
    assert "detector = 'pii' AND fired = 1" in r.selection_sql
    assert r.triggered_by.startswith("pii_leaks:")
    e.evaluate(at(200), rows(0))  # resolve
    later = [e.evaluate(at(300 + 30 * i), rows(5))[1] for i in range(5)]
    assert all(not r for r in later), "cooldown per model holds"


def test_retraining_cooldown_expires_and_the_next_episode_retrains() -> None:
    """After the cooldown a new episode of the same model emits its own RetrainingEvent."""
    e = engine(retrain_after_s=60, retrain_cooldown_s=600)
    first = [r for i in range(4) for r in e.evaluate(at(30 * i), rows(5)).retraining]
    e.evaluate(at(150), rows(0))
    second = [r for i in range(30) for r in e.evaluate(at(700 + 30 * i), rows(5)).retraining]
    assert len(first) == 1 and len(second) == 1
    assert first[0].retraining_id != second[0].retraining_id
    assert second[0].created_at == at(760)  # 60 s after the episode began, past the cooldown


def test_retraining_is_not_repeated_after_restore() -> None:
    """A restarted engine knows the episode already retrained (from retraining_events)."""
    e = engine(retrain_after_s=60)
    trans: list[Transition] = []
    retrain = []
    for i in range(4):
        ev = e.evaluate(at(30 * i), rows(5))
        trans += ev.transitions
        retrain += ev.retraining
    assert len(retrain) == 1
    again = engine(retrain_after_s=60, retrain_cooldown_s=0)
    again.restore(restored_rows(trans), [("gpt-4o", at(60), [retrain[0].triggered_by])])
    assert not any(again.evaluate(at(120 + 30 * i), rows(5)).retraining for i in range(3))


def test_restore_prevents_a_second_page_after_restart() -> None:
    """A restarted engine restored from stored transitions does not page the same episode."""
    first = engine()
    [a], _, trans = first.evaluate(T0, rows(5))
    second = engine()
    second.restore(restored_rows(trans))
    alerts, _, _ = second.evaluate(at(10), rows(5))
    assert alerts == []
    alerts, _, _ = second.evaluate(at(20), rows(0))
    assert [(x.status, x.episode_id) for x in alerts] == [(AlertStatus.RESOLVED, a.episode_id)]


def test_restore_keeps_a_pending_series_timer() -> None:
    """A series PENDING at restart fires when its original `for` elapses, not later."""
    rule = Rule("leaks", "pii_leaks", 3, ">=", for_s=60)
    trans = engine(rule).evaluate(T0, rows(5)).transitions
    e = engine(rule)
    e.restore(restored_rows(trans))
    assert e.evaluate(at(50), rows(5)).alerts == []
    assert [a.status.value for a in e.evaluate(at(60), rows(5)).alerts] == ["firing"]


def test_restore_drops_states_of_rules_no_longer_configured() -> None:
    """A rule removed from the file leaves no ghost series behind."""
    trans = engine().evaluate(T0, rows(5)).transitions
    e = engine(Rule("other", "error_rate", 0.5))
    e.restore(restored_rows(trans))
    assert e.states == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "nope"}, "metric: unknown metric 'nope'"),
        ({"comparison": "=>"}, "comparison: must be one of"),
        ({"window_s": 0}, "window: must be > 0"),
        ({"for_s": -1}, "for: must be >= 0"),
        ({"group_by": ("field",)}, "group_by: metric 'pii_leaks' cannot group"),
        ({"no_data": "page"}, "no_data: must be one of"),
    ],
)
def test_invalid_rule_parameters_are_named(kwargs: dict, message: str) -> None:
    """Each bad parameter fails at construction with the rule and key in the message."""
    spec = {"name": "r", "metric": "pii_leaks", "threshold": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        Rule(**spec)


def test_sql_literal_escapes_quotes_and_backslashes() -> None:
    """Series names from producers cannot break out of the evidence SQL."""
    assert sql_literal("a'b\\c") == "'a\\'b\\\\c'"
