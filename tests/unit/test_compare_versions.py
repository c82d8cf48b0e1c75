"""Versions compared on the embedded store: the compare_versions query's tests agree with
scipy on the raw data, and the variant rule metrics with one-sided scipy tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scipy.stats import chi2_contingency, mannwhitneyu

from alerting.rules import Rule
from detectors.pipeline import ScoredEvent
from schemas.events import InferenceEvent
from schemas.results import Signal
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink
from sinks.feedback import FEEDBACK_COLUMNS
from sinks.queries import run_query

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
# arm -> (events, error rate, log-latency mean, toxicity rate)
ARMS = {"control": (400, 0.05, 6.0, 0.02), "B": (300, 0.15, 6.3, 0.02), "C": (12, 0.0, 6.0, 0.0)}


def build(seed: int = 3) -> tuple[list[ScoredEvent], list[list], dict]:
    rng = random.Random(seed)
    scored, feedback = [], []
    raw: dict[str, dict[str, list]] = {
        a: {"error": [], "latency": [], "negative": []} for a in ARMS
    }
    i = 0
    for arm, (n, err, mu, tox) in ARMS.items():
        for _ in range(n):
            i += 1
            error = rng.random() < err
            latency = round(rng.lognormvariate(mu, 0.3), 3)
            event = InferenceEvent(
                event_id=f"cv-{i:04d}", timestamp=T0 + timedelta(seconds=i), service="shop",
                model="gpt-4o", provider="openai", experiment="prompt-v2", variant=arm,
                prompt_template_id="answer", prompt_template_version=arm,
                status="error" if error else "ok", latency_ms=latency,
                usage={"input_tokens": 100, "output_tokens": 20},
            )  # fmt: skip
            fired = rng.random() < tox
            sig = Signal(detector="toxicity", event_id=event.event_id, score=float(fired),
                         fired=fired, reason="t")  # fmt: skip
            scored.append(ScoredEvent(event=event, signals=[sig]))
            raw[arm]["error"].append(error)
            raw[arm]["latency"].append(latency)
            if rng.random() < 0.5:  # half the calls are judged
                negative = rng.random() < (0.4 if arm == "B" else 0.1)
                raw[arm]["negative"].append(negative)
                feedback.append([event.event_id, "u", event.timestamp.replace(tzinfo=None),
                                 "down" if negative else "up", None, "", "", int(negative), [],
                                 T0.replace(tzinfo=None)])  # fmt: skip
    return scored, feedback, raw


@pytest.fixture(scope="module")
def db(chdb_dir: Path):
    sink = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="compare"))
    sink.migrate()
    scored, feedback, raw = build()
    sink.write_results(scored)
    sink.write_results(scored[::5])  # replays count once
    sink.insert("feedback", feedback, FEEDBACK_COLUMNS)
    yield sink, raw
    sink.close()


def chi2_p(a: list[bool], b: list[bool]) -> float:
    """The pooled two-proportion z-test's p-value, computed as scipy's chi-square test."""
    table = [[sum(a), len(a) - sum(a)], [sum(b), len(b) - sum(b)]]
    return float(chi2_contingency(table, correction=False).pvalue)


def compare(sink: ClickHouseSink, **params: str) -> dict[str, dict]:
    params = {"since": "2026-04-01", "until": "2026-04-01", "by": "variant", **params}
    result = run_query(sink, "compare_versions", params)
    return {r[0]: dict(zip(result.columns, r, strict=True)) for r in result.rows}


def test_compare_versions_tests_each_variant_against_the_control(db) -> None:
    """B's error and latency p-values equal scipy's on the raw values; B is worse on error,
    latency and negative feedback; C has too few calls to be tested; control is control."""
    sink, raw = db
    got = compare(sink, experiment="prompt-v2", control="control")
    assert [got[a]["events"] for a in ("control", "B", "C")] == [400, 300, 12]
    b, c, ctl = got["B"], got["C"], got["control"]
    assert ctl["role"] == "control" and ctl["verdict"] == "control" and ctl["error_p"] is None
    assert b["error_rate"] == pytest.approx(sum(raw["B"]["error"]) / 300)
    assert b["error_p"] == pytest.approx(chi2_p(raw["B"]["error"], raw["control"]["error"]))
    expected = mannwhitneyu(raw["B"]["latency"], raw["control"]["latency"]).pvalue
    assert b["latency_p"] == pytest.approx(expected, rel=1e-6)
    assert b["negative_feedback_p"] == pytest.approx(
        chi2_p(raw["B"]["negative"], raw["control"]["negative"])
    )
    assert b["verdict"].startswith("worse: latency, error")
    assert "negative_feedback" in b["verdict"].split(";")[0]
    assert c["latency_p"] is None and c["error_p"] is None
    assert c["verdict"].startswith("under 30 observations: latency, cost, error")


def test_control_defaults_to_the_busiest_arm_and_by_switches_dimension(db) -> None:
    """Without control the arm with most events is the control; by=prompt_template_version
    compares the template versions the same way."""
    sink, _ = db
    assert compare(sink)["control"]["role"] == "control"
    by_version = compare(sink, by="prompt_template_version", min_sample="500")
    assert by_version["B"]["verdict"].startswith("under 500 observations")


def metric_value(sink: ClickHouseSink, rule: Rule) -> float:
    _, [(experiment, value, *_)] = sink.query(
        rule.render(T0, T0 + timedelta(hours=1), {"experiment": "prompt-v2"})
    )
    assert experiment == "prompt-v2"
    return value


def test_variant_rate_rule_gives_the_one_sided_p_of_a_worse_variant(db) -> None:
    """variant_rate_worse_p over {control, B}: half the two-sided p when B's rate is higher."""
    sink, raw = db
    rule = Rule("variant_errors", "variant_rate_worse_p", 0.01, comparison="<",
                group_by=("experiment",), where={"variant": ("control", "B")},
                params={"control": "control", "outcome": "error"})  # fmt: skip
    p = metric_value(sink, rule)
    assert p == pytest.approx(chi2_p(raw["B"]["error"], raw["control"]["error"]) / 2)
    assert rule.breached(p)


def test_variant_latency_rule_matches_scipy_and_needs_the_minimum_sample(db) -> None:
    """variant_latency_worse_p equals scipy's one-sided U test; C alone (12 calls) is NaN."""
    import math

    sink, raw = db
    rule = Rule("variant_slower", "variant_latency_worse_p", 0.01, comparison="<",
                group_by=("experiment",), where={"variant": ("control", "B")},
                params={"control": "control"})  # fmt: skip
    expected = mannwhitneyu(raw["B"]["latency"], raw["control"]["latency"], alternative="greater")
    assert metric_value(sink, rule) == pytest.approx(expected.pvalue, rel=1e-6)
    small = Rule("variant_slower_c", "variant_latency_worse_p", 0.01, comparison="<",
                 group_by=("experiment",), where={"variant": ("control", "C")},
                 params={"control": "control"})  # fmt: skip
    value = metric_value(sink, small)
    assert math.isnan(value) and not small.breached(value)


def test_variant_rule_params_are_validated() -> None:
    """A control that is not a plain name, or an unknown outcome, is refused by name."""
    with pytest.raises(ValueError, match="params.control"):
        Rule("r", "variant_rate_worse_p", 0.01, params={"control": "x' OR 1", "outcome": "error"})
    with pytest.raises(ValueError, match="params.outcome"):
        Rule("r", "variant_rate_worse_p", 0.01, params={"control": "a", "outcome": "cost"})


def test_dashboard_file_is_generated_and_its_panel_agrees_with_the_query(db) -> None:
    """The committed versions dashboard equals versions_dashboard(); its panel SQL, with the
    plugin's macros expanded, gives the query's z-test p-values and (ClickHouse's own U test)
    scipy's latency p-values."""
    import json

    from sinks.compare import versions_dashboard
    from sinks.report import expand_macros

    sink, _ = db
    path = (
        Path(__file__).resolve().parents[2] / "deploy/grafana/dashboards/infersight-versions.json"
    )
    dashboard = json.loads(path.read_text())
    assert dashboard == versions_dashboard()
    sql = dashboard["panels"][0]["targets"][0]["rawSql"]
    sql = expand_macros(sql, T0, T0 + timedelta(hours=2))
    sql = sql.replace("${by}", "variant").replace("${experiment}", "prompt-v2")
    sql = sql.replace("${control}", "control")
    columns, rows = sink.query(sql)
    panel = {r[0]: dict(zip(columns, r, strict=True)) for r in rows}
    query = compare(sink, experiment="prompt-v2", control="control")
    assert set(panel) == {"control", "B", "C"} and panel["control"]["role"] == "control"
    assert panel["B"]["error_p"] == pytest.approx(query["B"]["error_p"], abs=1e-6)
    assert panel["B"]["negative_feedback_p"] == pytest.approx(
        query["B"]["negative_feedback_p"], abs=1e-6
    )
    assert panel["B"]["latency_p"] == pytest.approx(query["B"]["latency_p"], abs=1e-6)
    assert panel["C"]["latency_p"] is None and panel["C"]["error_p"] is None
    variable = dashboard["templating"]["list"][2]["query"].replace("${by}", "variant")
    assert {r[0] for r in sink.query(variable)[1]} == {"control", "B", "C"}


def test_variant_rules_never_fail_on_a_group_without_its_control(db) -> None:
    """A group holding only one side gives NaN for both metrics (ClickHouse's own U test
    would throw there and fail every rule's evaluation)."""
    import math

    sink, _ = db
    for metric, params in (
        ("variant_latency_worse_p", {"control": "nobody"}),
        ("variant_rate_worse_p", {"control": "nobody", "outcome": "error"}),
    ):
        rule = Rule("r", metric, 0.01, comparison="<", group_by=("experiment",), params=params)
        assert math.isnan(metric_value(sink, rule))  # fmt: skip
