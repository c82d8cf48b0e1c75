"""Rules files: the packaged defaults load, and every mistake names the file, rule and key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerting.metrics import METRICS
from alerting.rulefile import DEFAULT_RULES_FILE, RuleFileError, load_rules

VARS = {"window_s": 300.0, "cost_budget_usd": 5.0, "pii_leak_threshold": 5,
        "retrain_after_s": 900.0, "retrain_cooldown_s": 86400.0}  # fmt: skip
CHANNELS = ("webhook", "slack", "pagerduty", "alertmanager")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_default_rules_keep_the_spine_rules_and_follow_settings() -> None:
    """cost_budget and pii_leaks read their thresholds and window from the monitor settings."""
    rs = load_rules(DEFAULT_RULES_FILE, {**VARS, "pii_leak_threshold": 3, "window_s": 60.0})
    by = {r.name: r for r in rs.rules}
    assert (by["cost_budget"].metric, by["cost_budget"].comparison,
            by["cost_budget"].threshold) == ("cost_usd", ">", 5.0)  # fmt: skip
    assert (by["pii_leaks"].metric, by["pii_leaks"].comparison, by["pii_leaks"].threshold,
            by["pii_leaks"].window_s, by["pii_leaks"].for_s) == ("pii_leaks", ">=", 3, 60, 0)  # fmt: skip
    assert by["pii_leaks"].severity.value == "critical"
    assert rs.retraining.sustained_s == 900 and rs.retraining.cooldown_s == 86400
    assert rs.retraining.rules == {
        "toxicity_rate", "hallucination_rate", "embedding_drift", "negative_feedback",
    }  # fmt: skip


def test_a_full_rule_parses_every_key(tmp_path: Path) -> None:
    """Durations, group_by, where, labels, route, params and no_data are all read."""
    path = write(
        tmp_path,
        """
rules:
  - name: burn
    metric: budget_burn_rate
    comparison: ">"
    threshold: 2
    window: 1h
    for: 10m
    renotify: 2h
    severity: critical
    group_by: [service, metadata.team]
    where: {environment: [prod, staging]}
    labels: {team: ml}
    owner: finops
    route: [pagerduty, slack]
    runbook_url: https://runbooks/burn
    params: {budget_usd: 100, period: day}
    no_data: keep
    min_events: 10
""",
    )
    [r] = load_rules(path, VARS, CHANNELS).rules
    assert (r.window_s, r.for_s, r.renotify_s, r.min_events) == (3600, 600, 7200, 10)
    assert r.group_by == ("service", "metadata.team") and r.route == ("pagerduty", "slack")
    assert r.where == {"environment": ("prod", "staging")} and r.no_data == "keep"
    sql = r.render(*r.window(datetime(2026, 1, 1, tzinfo=UTC)))
    assert "metadata['team'] AS `metadata.team`" in sql
    assert "environment IN ('prod', 'staging')" in sql
    assert "/ 3600 * 86400 / 100" in sql


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{name: a, metric: nope, threshold: 1}]",
         "rule 'a' (rules[0]): key 'metric': unknown metric 'nope'"),
        ("rules: [{name: a, metric: error_rate, threshold: high}]",
         "rule 'a' (rules[0]): key 'threshold': could not convert"),
        ("rules: [{name: a, metric: error_rate, threshold: 1, window: soon}]",
         "rule 'a' (rules[0]): key 'window': expected a duration like 30s"),
        ("rules: [{name: a, metric: error_rate, threshold: 1, severity: loud}]",
         "rule 'a' (rules[0]): key 'severity': 'loud' is not a valid Severity"),
        ("rules: [{name: a, metric: error_rate, threshold: 1, treshold: 2}]",
         "rule 'a' (rules[0]): key 'treshold': unknown key"),
        ("rules: [{name: a, metric: error_rate}]",
         "rule 'a' (rules[0]): key 'threshold': is required"),
        ("rules: [{name: a, metric: error_rate, threshold: 1, route: [sms]}]",
         "rule 'a' (rules[0]): key 'route': unknown channel(s) ['sms']"),
        ("rules: [{name: a, metric: error_rate, threshold: 1, group_by: [detector]}]",
         "rule 'a' (rules[0]): key 'group_by': metric 'error_rate' cannot group or filter"),
        ("rules: [{name: a, metric: budget_used, threshold: 1}]",
         "rule 'a' (rules[0]): key 'params': metric 'budget_used' takes"),
        ("rules: [{name: a, metric: error_rate, threshold: '${nope}'}]",
         "rule 'a' (rules[0]): key 'threshold': unknown variable ${nope}"),
        ("rules: [{name: a, metric: error_rate, threshold: 1}, "
         "{name: a, metric: error_rate, threshold: 2}]",
         "rule 'a' (rules[1]): key 'name': duplicate rule name"),
        ("rules: [{name: a, metric: error_rate, threshold: 1, group_by: [service]}]\n"
         "retraining: {rules: [a]}",
         "retraining: key 'rules': rule 'a' must group_by model to retrain"),
        ("rules: [{name: a, metric: error_rate, threshold: 1}]\nretraining: {rules: [b]}",
         "retraining: key 'rules': unknown rule 'b'"),
        ("rules: []", "top level: key 'rules': must be a non-empty list"),
        ("rulez: []", "top level: key 'rulez': unknown key"),
        ("rules: [{name: a, metric: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_rule_file_errors_name_file_rule_and_key(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake fails at load with the file path, the rule and the key at fault."""
    path = write(tmp_path, text)
    with pytest.raises(RuleFileError) as err:
        load_rules(path, VARS, CHANNELS)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_a_missing_rules_file_is_named(tmp_path: Path) -> None:
    """A path that does not exist is reported with the path."""
    with pytest.raises(RuleFileError, match="cannot read rules file"):
        load_rules(tmp_path / "absent.yaml")


def test_every_metric_is_documented() -> None:
    """Each metric has a description an on-call engineer can read."""
    assert all(m.description and m.name == k for k, m in METRICS.items())
    assert set(METRICS) >= {
        "cost_usd", "cost_per_hour_usd", "budget_burn_rate", "budget_used", "pii_leaks",
        "toxicity_rate", "hallucination_rate", "injection_rate", "error_rate",
        "latency_p95_ms", "ttft_p95_ms", "drift_p_value", "drift_windows", "events",
    }  # fmt: skip
