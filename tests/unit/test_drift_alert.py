"""A drift alert carries the drift test's explanation, not just a count."""

from __future__ import annotations

from datetime import UTC, datetime

from alerting.engine import RuleEngine
from alerting.rulefile import DEFAULT_RULES_FILE, load_rules
from schemas.results import AlertStatus

REASON = ("prompt embeddings of bot/gpt-4o: MMD statistic 0.31, p=2e-16 < alpha=0.0017; "
          "New here: 'Is it a good time to move my pension into bitcoin?'")  # fmt: skip


def test_drift_alert_summary_quotes_the_explanation() -> None:
    """The embedding_drift rule's firing alert includes the stored drift reason."""
    ruleset = load_rules(DEFAULT_RULES_FILE, {
        "window_s": 300, "cost_budget_usd": 5, "pii_leak_threshold": 5,
        "retrain_after_s": 900, "retrain_cooldown_s": 86400,
    })  # fmt: skip
    engine = RuleEngine(ruleset.rules, policy=ruleset.retraining)

    def query(sql: str):  # noqa: ANN202 - rows only for the drift rule
        if "FROM drift_results FINAL" in sql and "countIf(drift = 1)" in sql:
            assert "argMaxIf(reason, window_end, drift = 1) AS note" in sql
            return [("bot", "gpt-4o", "prompt", 2.0, 2, ["e1", "e2"], REASON)]
        return []

    out = engine.evaluate(datetime(2026, 11, 23, 12, tzinfo=UTC), query)
    [alert] = [a for a in out.alerts if a.rule == "embedding_drift"]
    assert alert.status is AlertStatus.FIRING
    assert alert.summary.endswith(REASON)
    assert alert.labels["field"] == "prompt" and alert.sample_event_ids == ["e1", "e2"]
