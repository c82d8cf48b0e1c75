"""Versions compared: arms of one dimension (experiment variants, prompt template versions,
models) side by side on cost, latency p95, error rate, detector rates and negative feedback,
each tested against a control arm.

Rates (errors, each quality detector's firing, negative feedback) use the two-proportion
z-test (pooled, two-sided); cost per call and latency use the Mann–Whitney U test
(two-sided; no normality assumed: both are skewed). A test runs only when both arms have at
least ``min_sample`` observations of that outcome (default ``MIN_SAMPLE`` = 30); otherwise
its p-value is empty and the verdict says so. ``verdict`` lists what is significantly worse
or better than the control at ``ALPHA`` = 0.05 (uncorrected: with many arms and outcomes,
read single p-values near 0.05 with care).

The control is the ``control`` parameter, or else the arm with the most events.

Examples
--------
>>> round(two_proportion_p(30, 100, 10, 100), 6)
0.000407
>>> two_proportion_p(0, 100, 0, 100)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ALPHA",
    "COMPARE_VERSIONS",
    "MIN_SAMPLE",
    "RATES",
    "compare_arms",
    "compare_result",
    "two_proportion_p",
]

MIN_SAMPLE = 30
ALPHA = 0.05
#: Rate outcomes of event_outcomes (migration 052), each 0/1 or NULL where not observed.
RATES = ("error", "toxicity", "pii", "hallucination", "injection", "negative_feedback")
_SAMPLE = 20_000  # values per arm kept for Mann-Whitney U (a seeded, reproducible sample)

_ARM = """multiIf(
        {by:String} = 'variant', variant,
        {by:String} = 'prompt_template_version', prompt_template_version,
        {by:String} = 'prompt_template_id', prompt_template_id,
        {by:String} = 'experiment', experiment,
        {by:String} = 'provider', provider,
        model)"""

_RATE_COLUMNS = ",\n    ".join(f"count({r}) AS {r}_n, sum({r}) AS {r}_k" for r in RATES)

COMPARE_VERSIONS = f"""
SELECT
    {_ARM} AS arm,
    count() AS events,
    {_RATE_COLUMNS},
    quantile(0.95)(latency_ms) AS latency_p95_ms,
    avg(toFloat64(cost_usd)) AS cost_avg_usd,
    groupArraySampleIf({_SAMPLE}, 1)(toFloat64(latency_ms), latency_ms IS NOT NULL) AS latency,
    groupArraySampleIf({_SAMPLE}, 1)(toFloat64(cost_usd), cost_usd IS NOT NULL) AS cost,
    any({{control:String}}) AS control_arm,
    any({{min_sample:UInt32}}) AS min_sample
FROM event_outcomes
WHERE timestamp >= toDateTime64({{since:Date}}, 3, 'UTC')
  AND timestamp < toDateTime64({{until:Date}}, 3, 'UTC') + INTERVAL 1 DAY
  AND ({{service:String}} = '' OR service = {{service:String}})
  AND ({{experiment:String}} = '' OR experiment = {{experiment:String}})
  AND ({{prompt_template_id:String}} = '' OR prompt_template_id = {{prompt_template_id:String}})
  AND {{by:String}} IN ('variant', 'prompt_template_version', 'prompt_template_id',
                        'experiment', 'provider', 'model')
GROUP BY arm
HAVING arm != ''
ORDER BY events DESC, arm
"""


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1.0 when both rates are 0 or
    both are 1: no variance, no evidence of a difference)."""
    from scipy.stats import norm

    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (k1 / n1 - k2 / n2) / se
    return float(2 * norm.sf(abs(z)))


def _mwu_p(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def compare_arms(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    control: str = "",
    min_sample: int = MIN_SAMPLE,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Turn per-arm aggregates (``COMPARE_VERSIONS``) into the comparison table."""
    arms = [dict(zip(columns, r, strict=True)) for r in rows]
    out_cols = ["arm", "role", "events", "latency_p95_ms", "latency_p", "cost_avg_usd", "cost_p"]
    for r in RATES:
        out_cols += [f"{r}_rate", f"{r}_p"]
    out_cols.append("verdict")
    if not arms:
        return out_cols, []
    names = [a["arm"] for a in arms]
    ctl = next((a for a in arms if a["arm"] == control), None) if control else arms[0]
    out: list[tuple[Any, ...]] = []
    for a in arms:
        is_control = ctl is not None and a["arm"] == ctl["arm"]
        row: dict[str, Any] = {
            "arm": a["arm"],
            "role": "control" if is_control else "variant",
            "events": a["events"],
            "latency_p95_ms": _num(a["latency_p95_ms"]),
            "cost_avg_usd": _num(a["cost_avg_usd"]),
        }
        found: dict[str, list[str]] = {"worse": [], "better": [], "untested": []}
        for metric, key in (("latency", "latency"), ("cost", "cost")):
            p = None
            if not is_control and ctl is not None:
                mine, theirs = list(a[key]), list(ctl[key])
                if min(len(mine), len(theirs)) >= min_sample:
                    p = _mwu_p(mine, theirs)
                diff = _median(mine) - _median(theirs) if mine and theirs else 0.0
                _judge(found, metric, p, diff)
            row[f"{metric}_p"] = p
        for r in RATES:
            n, k = a[f"{r}_n"], a[f"{r}_k"] or 0
            row[f"{r}_rate"] = k / n if n else None
            p = None
            if not is_control and ctl is not None:
                cn, ck = ctl[f"{r}_n"], ctl[f"{r}_k"] or 0
                if n and cn:
                    if min(n, cn) >= min_sample:
                        p = two_proportion_p(k, n, ck, cn)
                    _judge(found, r, p, k / n - ck / cn)
            row[f"{r}_p"] = p
        if is_control:
            verdict = "control"
        elif ctl is None:
            verdict = f"no control: {control!r} is not among {names}"
        else:
            parts = [f"{k}: {', '.join(v)}" for k, v in found.items() if v and k != "untested"]
            if found["untested"]:
                parts.append(f"under {min_sample} observations: {', '.join(found['untested'])}")
            verdict = "; ".join(parts) or "no significant difference"
        row["verdict"] = verdict
        out.append(tuple(row[c] for c in out_cols))
    return out_cols, out


def _judge(found: dict[str, list[str]], name: str, p: float | None, diff: float) -> None:
    """File outcome ``name`` as untested, worse or better (``diff``: arm minus control)."""
    if p is None:
        found["untested"].append(name)
    elif p < ALPHA and diff != 0:
        found["worse" if diff > 0 else "better"].append(name)


def compare_result(
    columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The post-processing of compare_versions: the SQL carries the control and the minimum
    sample as constant columns, the tests run here."""
    control, min_sample = "", MIN_SAMPLE
    if rows:
        first = dict(zip(columns, rows[0], strict=True))
        control, min_sample = first["control_arm"], int(first["min_sample"])
    return compare_arms(columns, rows, control, min_sample)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# -- Grafana ----------------------------------------------------------------------------------
_G_ARM = (
    "multiIf('${by}' = 'variant', variant, '${by}' = 'prompt_template_version', "
    "prompt_template_version, '${by}' = 'provider', provider, model)"
)
_G_FILTER = (
    "$__timeFilter(timestamp) AND ('${experiment}' = '__all' OR experiment = '${experiment}')"
)
_G_RATES = ",\n        ".join(f"count({r}) AS {r}_n, countIf({r} = 1) AS {r}_k" for r in RATES)
_G_TESTS = ",\n    ".join(
    f"round(a.{r}_k / a.{r}_n, 4) AS {r}_rate,\n    "
    f"if(a.arm = '${{control}}' OR least(a.{r}_n, c.{r}_n) < {MIN_SAMPLE}, NULL, "
    f"round(tupleElement(proportionsZTest(a.{r}_k, c.{r}_k, a.{r}_n, c.{r}_n, 0.95, "
    f"'pooled'), 2), 6)) AS {r}_p"
    for r in RATES
)

#: The versions panel: every arm against the control on the same outcomes as
#: compare_versions, tested in ClickHouse (proportionsZTest for rates, mannWhitneyUTest for
#: latency and cost; NULL under MIN_SAMPLE observations a side).
VERSIONS_PANEL_SQL = f"""WITH arms AS (
    SELECT
        {_G_ARM} AS arm,
        count() AS events,
        {_G_RATES},
        quantile(0.95)(latency_ms) AS latency_p95_ms,
        avg(toFloat64(cost_usd)) AS cost_avg_usd
    FROM event_outcomes
    WHERE {_G_FILTER}
    GROUP BY arm HAVING arm != ''
),
pairs AS (
    SELECT arrayJoin(if(x = '${{control}}', others, [x])) AS arm,
           toUInt8(x = '${{control}}') AS idx, latency_ms, cost_usd
    FROM (SELECT {_G_ARM} AS x, latency_ms, cost_usd FROM event_outcomes WHERE {_G_FILTER}) AS e
    CROSS JOIN (
        SELECT groupUniqArray({_G_ARM}) AS others FROM event_outcomes
        WHERE {_G_FILTER} AND {_G_ARM} NOT IN ('', '${{control}}')
    ) AS o
),
latency_tested AS (
    SELECT arm, tupleElement(mannWhitneyUTest('two-sided')(toFloat64(latency_ms), idx), 2) AS p
    FROM pairs
    WHERE latency_ms IS NOT NULL AND arm IN (
        SELECT arm FROM pairs WHERE latency_ms IS NOT NULL GROUP BY arm
        HAVING least(countIf(idx = 0), countIf(idx = 1)) >= {MIN_SAMPLE})
    GROUP BY arm
),
cost_tested AS (
    SELECT arm, tupleElement(mannWhitneyUTest('two-sided')(toFloat64(cost_usd), idx), 2) AS p
    FROM pairs
    WHERE cost_usd IS NOT NULL AND arm IN (
        SELECT arm FROM pairs WHERE cost_usd IS NOT NULL GROUP BY arm
        HAVING least(countIf(idx = 0), countIf(idx = 1)) >= {MIN_SAMPLE})
    GROUP BY arm
)
SELECT
    a.arm AS arm,
    if(a.arm = '${{control}}', 'control', 'variant') AS role,
    a.events AS events,
    round(a.latency_p95_ms, 1) AS latency_p95_ms,
    round(lt.p, 6) AS latency_p,
    round(a.cost_avg_usd, 9) AS cost_avg_usd,
    round(ct.p, 6) AS cost_p,
    {_G_TESTS}
FROM arms AS a
CROSS JOIN (SELECT * FROM arms WHERE arm = '${{control}}') AS c
LEFT JOIN latency_tested AS lt ON lt.arm = a.arm
LEFT JOIN cost_tested AS ct ON ct.arm = a.arm
ORDER BY role, a.events DESC, a.arm"""


def _variables(ds: dict[str, str]) -> list[dict[str, Any]]:
    """The dashboard's variables: what to compare, which experiment, which arm is control."""
    arm_values = f"SELECT DISTINCT {_G_ARM} AS arm FROM event_outcomes WHERE arm != '' ORDER BY arm"
    return [
        {
            "name": "by",
            "label": "Compare",
            "type": "custom",
            "query": "variant,prompt_template_version,model,provider",
            "current": {"text": "variant", "value": "variant"},
        },
        {
            "name": "experiment",
            "label": "Experiment",
            "type": "query",
            "datasource": ds,
            "query": "SELECT DISTINCT experiment FROM events_v WHERE experiment != '' "
            "ORDER BY experiment",
            "includeAll": True,
            "allValue": "__all",
            "refresh": 2,
            "current": {"text": "All", "value": "$__all"},
        },
        {
            "name": "control",
            "label": "Control",
            "type": "query",
            "datasource": ds,
            "query": arm_values,
            "refresh": 2,
        },
    ]


def versions_dashboard() -> dict[str, Any]:
    """The "versions compared" Grafana dashboard (grafana-clickhouse-datasource, plugin v4):
    variables by / experiment / control, one table panel of VERSIONS_PANEL_SQL.

    Written by ``python -m sinks.compare deploy/grafana/dashboards/infersight-versions.json``;
    a test keeps the committed file equal to this.
    """
    ds = {"type": "grafana-clickhouse-datasource", "uid": "infersight-clickhouse"}
    return {
        "uid": "infersight-versions",
        "title": "infersight: versions compared",
        "tags": ["infersight", "llm", "experiments"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "5m",
        "time": {"from": "now-7d", "to": "now"},
        "templating": {"list": _variables(ds)},
        "panels": [
            {
                "id": 1,
                "type": "table",
                "title": "Versions against the control: rates and p95 latency, p-values "
                f"(z-test for rates, Mann-Whitney U for latency and cost; empty under "
                f"{MIN_SAMPLE} observations a side)",
                "datasource": ds,
                "gridPos": {"h": 14, "w": 24, "x": 0, "y": 0},
                "fieldConfig": {"defaults": {"unit": "none"}, "overrides": []},
                "options": {},
                "targets": [
                    {
                        "refId": "A",
                        "datasource": ds,
                        "editorType": "sql",
                        "queryType": "table",
                        "format": 1,
                        "rawSql": VERSIONS_PANEL_SQL,
                    }
                ],
            }
        ],
    }


if __name__ == "__main__":
    import json
    import sys

    path = (
        sys.argv[1] if len(sys.argv) > 1 else "deploy/grafana/dashboards/infersight-versions.json"
    )
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(versions_dashboard(), indent=2) + "\n")
    print(path)
