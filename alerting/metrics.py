"""The metric catalogue: every quantity a rule can compare, as ClickHouse SQL.

A ``Metric`` renders one aggregate over a window of the deduplicated tables (read ``FINAL``,
so a replayed batch can never inflate a count), grouped by the rule's dimensions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sinks.sql import sql_literal, time_literal

__all__ = [
    "DRIFT_DIMENSIONS",
    "EVENT_DIMENSIONS",
    "FEEDBACK_DIMENSIONS",
    "OUTCOME_DIMENSIONS",
    "VARIANT_MIN_SAMPLE",
    "VARIANT_OUTCOMES",
    "METRICS",
    "PERIODS",
    "SIGNAL_DIMENSIONS",
    "Metric",
]

EVENT_DIMENSIONS = frozenset(
    {
        "service", "model", "environment", "operation", "provider", "request_model", "status",
        "error_type", "prompt_template_id", "prompt_template_version", "experiment", "variant",
        "user_id", "session_id",
    }
)  # fmt: skip
SIGNAL_DIMENSIONS = frozenset({"service", "model", "environment"})
DRIFT_DIMENSIONS = frozenset({"service", "model", "field", "test"})
OUTCOME_DIMENSIONS = frozenset(
    {
        "service", "model", "environment", "operation", "provider", "prompt_template_id",
        "prompt_template_version", "experiment", "variant",
    }
)  # fmt: skip
FEEDBACK_DIMENSIONS = frozenset(
    {
        "service", "model", "environment", "operation", "provider", "prompt_template_id",
        "prompt_template_version", "experiment", "variant", "user_id", "thumbs", "label",
    }
)  # fmt: skip
PERIODS = {"day": 86_400.0, "month": 30 * 86_400.0}


@dataclass(frozen=True)
class Metric:
    """One measurable quantity over a window, per group of dimensions.

    ``value``, ``count`` and ``samples`` are ClickHouse aggregate expressions over ``table``
    (read ``FINAL``); ``condition`` narrows the rows (e.g. one detector). ``value`` may name
    rule parameters as ``{param}``. ``examples`` (optional) is a condition on ``events_v``
    that selects the events behind a breach, for retraining.
    """

    name: str
    description: str
    table: str
    value: str
    samples: str
    count: str = "count()"
    time_column: str = "timestamp"
    condition: str = ""
    dimensions: frozenset[str] = EVENT_DIMENSIONS
    params: tuple[str, ...] = ()
    period_window: bool = False  # window = start of the budget period to now
    examples: str = ""
    #: Optional aggregate giving a sentence of evidence added to the alert (drift's reason).
    note: str = ""

    def dimension_sql(self, name: str) -> str:
        """The SQL for one group-by/where dimension (``metadata.KEY`` reads a map entry)."""
        if name.startswith("metadata.") and self.table == "events" and len(name) > 9:
            return f"metadata[{sql_literal(name[9:])}]"
        if name in self.dimensions:
            return name
        msg = (
            f"metric {self.name!r} cannot group or filter by {name!r}; it knows "
            f"{sorted(self.dimensions)}{' and metadata.KEY' if self.table == 'events' else ''}"
        )
        raise ValueError(msg)

    def render(
        self,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] = ("service", "model"),
        where: Mapping[str, str | Sequence[str]] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> str:
        """SQL returning ``*group_by, value, events, samples`` for the window [start, end)."""
        col = self.time_column
        conds = [f"{col} >= {time_literal(start)}", f"{col} < {time_literal(end)}"]
        if self.condition:
            conds.append(self.condition)
        for name, wanted in (where or {}).items():
            col = self.dimension_sql(name)
            if isinstance(wanted, str):
                conds.append(f"{col} = {sql_literal(wanted)}")
            else:
                conds.append(f"{col} IN ({', '.join(sql_literal(w) for w in wanted)})")
        dims = [f"{self.dimension_sql(d)} AS {_alias(d)}" for d in group_by]
        value = self.value.format(**(params or {}))
        select = ", ".join(
            [*dims, f"toFloat64({value}) AS value", f"{self.count} AS events",
             f"{self.samples} AS samples", *([f"{self.note} AS note"] if self.note else [])]
        )  # fmt: skip
        sql = f"SELECT {select} FROM {self.table} FINAL WHERE {' AND '.join(conds)}"
        if group_by:
            sql += " GROUP BY " + ", ".join(_alias(d) for d in group_by)
        return sql


def _alias(name: str) -> str:
    """A column alias, quoted only when it must be (``metadata.team``)."""
    return name if re.fullmatch(r"[A-Za-z_]\w*", name) else f"`{name}`"


def _signal_rate(detector: str, what: str) -> Metric:
    return Metric(
        f"{detector}_rate",
        f"share of calls the {detector} detector flagged ({what})",
        "signals",
        "countIf(fired = 1) / count()",
        "groupArrayIf(5)(event_id, fired = 1)",
        condition=f"detector = {sql_literal(detector)}",
        dimensions=SIGNAL_DIMENSIONS,
        examples=f"event_id IN (SELECT event_id FROM signals_v WHERE detector = "
        f"{sql_literal(detector)} AND fired = 1 AND {{time}})",
    )


def _p95(column: str, what: str) -> Metric:
    return Metric(
        f"{column.removesuffix('_ms')}_p95_ms",
        f"95th percentile of {what} in milliseconds",
        "events",
        f"quantile(0.95)({column})",
        # The slowest calls are the evidence.
        f"arrayMap(x -> x.2, groupArraySorted(5)((-{column}, event_id)))",
        count=f"count({column})",
        condition=f"{column} IS NOT NULL",
        examples=f"{column} >= {{value}}",
    )


#: Observations each side needs before a variant is tested against its control.
VARIANT_MIN_SAMPLE = 30
#: Outcomes of event_outcomes that variant_rate_worse_p can compare.
VARIANT_OUTCOMES = ("error", "negative_feedback", "toxicity", "pii", "hallucination", "injection")


def _variant_rate_p() -> str:
    treated = "{outcome} IS NOT NULL AND variant != '{control}'"
    control = "{outcome} IS NOT NULL AND variant = '{control}'"
    z = (
        f"proportionsZTest(countIf({treated} AND {{outcome}} = 1), "
        f"countIf({control} AND {{outcome}} = 1), countIf({treated}), countIf({control}), "
        "0.95, 'pooled')"
    )
    return (
        f"if(least(countIf({treated}), countIf({control})) < {VARIANT_MIN_SAMPLE}, nan, "
        f"if(tupleElement({z}, 1) > 0, tupleElement({z}, 2) / 2, 1 - tupleElement({z}, 2) / 2))"
    )


def _variant_latency_p() -> str:
    # One-sided Mann-Whitney U (normal approximation with continuity correction, as scipy's
    # asymptotic test) on arrays: ClickHouse's mannWhitneyUTest throws when a group lacks one
    # side, which would fail every rule's evaluation. Up to 2000 values a side (a seeded
    # sample); arrayMap over one-element arrays binds the two samples to names.
    side = (
        "[groupArraySampleIf(2000, 1)(toFloat64(latency_ms), latency_ms IS NOT NULL "
        "AND variant {op} '{{control}}')]"
    )
    u = "arraySum(arrayMap(x -> arrayCount(y -> y < x, c) + 0.5 * arrayCount(y -> y = x, c), t))"
    n = "length(t) * length(c)"
    z = f"({u} - {n} / 2 - 0.5) / sqrt({n} * (length(t) + length(c) + 1) / 12)"
    return (
        f"arrayMap((t, c) -> if(least(length(t), length(c)) < {VARIANT_MIN_SAMPLE}, nan, "
        f"0.5 * erfc({z} / sqrt(2))), {side.format(op='!=')}, {side.format(op='=')})[1]"
    )


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric(
            "cost_usd",
            "US dollars spent in the window",
            "events",
            "sum(ifNull(cost_usd, 0))",
            "groupArray(5)(event_id)",
        ),
        Metric(
            "cost_per_hour_usd",
            "spend rate in US dollars per hour over the window",
            "events",
            "toFloat64(sum(ifNull(cost_usd, 0))) * 3600 / {window_s}",
            "groupArray(5)(event_id)",
        ),
        Metric(
            "budget_burn_rate",
            "budget burn rate (1 = on course to spend exactly the period's budget)",
            "events",
            "toFloat64(sum(ifNull(cost_usd, 0))) / {window_s} * {period_s} / {budget_usd}",
            "groupArray(5)(event_id)",
            params=("budget_usd", "period"),
        ),
        Metric(
            "budget_used",
            "share of the period's budget spent since the period began (UTC)",
            "events",
            "toFloat64(sum(ifNull(cost_usd, 0))) / {budget_usd}",
            "groupArray(5)(event_id)",
            params=("budget_usd", "period"),
            period_window=True,
        ),
        Metric(
            "pii_leaks",
            "responses that leaked PII or secrets not present in the prompt",
            "signals",
            "countIf(fired = 1)",
            "groupArrayIf(5)(event_id, fired = 1)",
            condition="detector = 'pii'",
            dimensions=SIGNAL_DIMENSIONS,
            examples="event_id IN (SELECT event_id FROM signals_v WHERE detector = 'pii' "
            "AND fired = 1 AND {time})",
        ),
        _signal_rate("toxicity", "toxic responses"),
        _signal_rate("hallucination", "responses unsupported by their context"),
        _signal_rate("injection", "prompt-injection attempts"),
        Metric(
            "error_rate",
            "share of calls with status error",
            "events",
            "countIf(status = 'error') / count()",
            "groupArrayIf(5)(event_id, status = 'error')",
            examples="status = 'error'",
        ),
        _p95("latency_ms", "end-to-end latency"),
        _p95("ttft_ms", "time to first token"),
        Metric(
            "drift_p_value",
            "smallest embedding-drift p-value of the windows tested",
            "drift_results",
            "min(p_value)",
            "arraySlice(arrayFlatten(groupArray(sample_event_ids)), 1, 5)",
            time_column="window_end",
            dimensions=DRIFT_DIMENSIONS,
        ),
        Metric(
            "drift_windows",
            "tested windows in which drift was declared",
            "drift_results",
            "countIf(drift = 1)",
            "arraySlice(arrayFlatten(groupArrayIf(sample_event_ids, drift = 1)), 1, 5)",
            time_column="window_end",
            dimensions=DRIFT_DIMENSIONS,
            note="argMaxIf(reason, window_end, drift = 1)",
        ),
        Metric(
            "events",
            "calls in the window (traffic)",
            "events",
            "count()",
            "groupArray(5)(event_id)",
        ),
        # User feedback (051), by the time it was given, with the dimensions of its call.
        Metric(
            "negative_feedback_rate",
            "share of user judgements that were negative (thumbs down, a negative label, "
            "or a negative score alone)",
            "feedback_events",
            "sum(negative) / count()",
            "groupArrayIf(5)(event_id, negative = 1)",
            dimensions=FEEDBACK_DIMENSIONS,
            examples="event_id IN (SELECT event_id FROM feedback_v WHERE negative = 1 AND {time})",
        ),
        Metric(
            "feedback_count",
            "user judgements received",
            "feedback_events",
            "count()",
            "groupArray(5)(event_id)",
            dimensions=FEEDBACK_DIMENSIONS,
        ),
        # A variant against its control (052 event_outcomes): one-sided p-values that the
        # other variants in the group do worse than `control`; NaN (never breached) while
        # either side has fewer than VARIANT_MIN_SAMPLE observations.
        Metric(
            "variant_rate_worse_p",
            "p-value that the variants have a higher rate of the outcome than the control "
            "(two-proportion z-test, one-sided; small means significantly worse)",
            "event_outcomes",
            _variant_rate_p(),
            "groupArray(5)(event_id)",
            dimensions=OUTCOME_DIMENSIONS,
            params=("control", "outcome"),
        ),
        Metric(
            "variant_latency_worse_p",
            "p-value that the variants are slower than the control (Mann-Whitney U, "
            "one-sided; small means significantly slower)",
            "event_outcomes",
            _variant_latency_p(),
            "arrayMap(x -> x.2, groupArraySorted(5)((-latency_ms, event_id)))",
            dimensions=OUTCOME_DIMENSIONS,
            params=("control",),
        ),
    ]
}
