"""Alert rules over windows of stored results: metrics, a state machine per series, retraining.

Pure logic. A rule's metric is SQL over the deduplicated ClickHouse tables (so a replayed batch
can never inflate a count), run by a caller-supplied ``query`` function; the engine keeps each
series' state and returns what changed. Reading order: ``METRICS`` (what can be measured),
``Rule`` (one YAML rule), ``load_rules`` (the file, validated), ``RuleEngine`` (evaluate,
restore).

States of one series (rule × group labels)::

    OK ──breach──▶ PENDING ──breached for `for`──▶ FIRING ──clear──▶ RESOLVED
     ▲               │ clear                          │ no data        │ breach: new episode
     └───────────────┘                                ▼                ▼
                          NO_DATA (no rows in the window; per rule: resolve, keep or alert)

An ``Alert`` is emitted when a series starts FIRING, when it RESOLVES, every ``renotify``
interval while it keeps firing, and (``no_data: alert``) when its data stops. Alert ids are
derived from (episode, status, sequence), so a re-evaluation or a replayed message carries the
same id and every consumer can deduplicate. Every state change is a ``Transition``; the caller
stores them (table ``alert_states``) and a restarted engine rebuilds its state from them with
``restore``: no second page for an episode already paged.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from schemas.results import Alert, AlertStatus, RetrainingEvent, Severity

__all__ = [
    "DEFAULT_RULES_FILE",
    "METRICS",
    "Evaluation",
    "Metric",
    "RetrainPolicy",
    "Rule",
    "RuleEngine",
    "RuleFileError",
    "RuleSet",
    "SeriesState",
    "State",
    "Transition",
    "load_rules",
    "parse_duration",
    "sql_literal",
]

Query = Callable[[str], Sequence[Sequence[Any]]]
DEFAULT_RULES_FILE = Path(__file__).with_name("alert_rules.yaml")


def sql_literal(value: str) -> str:
    """A ClickHouse string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ts(value: datetime) -> str:
    return f"toDateTime64('{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC')"


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


# -- metrics ---------------------------------------------------------------------------------

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
_PERIODS = {"day": 86_400.0, "month": 30 * 86_400.0}


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
        conds = [f"{self.time_column} >= {_ts(start)}", f"{self.time_column} < {_ts(end)}"]
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

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}  # fmt: skip
_NO_DATA = ("resolve", "keep", "alert")


# -- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """``metric`` compared to ``threshold`` over the last ``window_s`` seconds, per group.

    A breach must hold for ``for_s`` seconds (PENDING) before the series fires. ``group_by``
    names the dimensions that make a series (any column the metric's table has, or
    ``metadata.KEY`` on events); ``where`` narrows the rows. ``labels``, ``owner`` and
    ``route`` (channel names; empty = every channel) travel on the alert. ``no_data``: what a
    firing series does when its rows stop (``resolve``, ``keep`` firing, or ``alert``).
    """

    name: str
    metric: str
    threshold: float
    comparison: str = ">"
    severity: Severity = Severity.WARNING
    window_s: float = 300.0
    runbook_url: str | None = None
    min_events: int = 1
    for_s: float = 0.0
    group_by: tuple[str, ...] = ("service", "model")
    where: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""
    route: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    no_data: str = "resolve"
    renotify_s: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        def bad(key: str, problem: str) -> ValueError:
            return ValueError(f"rule {self.name!r}: {key}: {problem}")

        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", self.name or ""):
            raise bad("name", f"must be letters, digits, '_', '.', ':' or '-', got {self.name!r}")
        if self.metric not in METRICS:
            raise bad("metric", f"unknown metric {self.metric!r}; known: {sorted(METRICS)}")
        if self.comparison not in _COMPARE:
            raise bad("comparison", f"must be one of {sorted(_COMPARE)}, got {self.comparison!r}")
        if not math.isfinite(self.threshold):
            raise bad("threshold", f"must be a finite number, got {self.threshold!r}")
        if self.window_s <= 0:
            raise bad("window", f"must be > 0 seconds, got {self.window_s!r}")
        if self.for_s < 0:
            raise bad("for", f"must be >= 0 seconds, got {self.for_s!r}")
        if self.min_events < 1:
            raise bad("min_events", f"must be >= 1, got {self.min_events!r}")
        if self.no_data not in _NO_DATA:
            raise bad("no_data", f"must be one of {list(_NO_DATA)}, got {self.no_data!r}")
        if self.renotify_s is not None and self.renotify_s < 0:
            raise bad("renotify", f"must be >= 0 seconds, got {self.renotify_s!r}")
        object.__setattr__(self, "severity", Severity(self.severity))
        metric = METRICS[self.metric]
        for key, names in (("group_by", self.group_by), ("where", list(self.where))):
            for d in names:
                try:
                    metric.dimension_sql(d)
                except ValueError as exc:
                    raise bad(key, str(exc)) from None
        missing = [p for p in metric.params if p not in self.params]
        unknown = sorted(set(self.params) - set(metric.params))
        if missing or unknown:
            raise bad(
                "params", f"metric {self.metric!r} takes {list(metric.params)}; "
                f"missing {missing}, unknown {unknown}"
            )  # fmt: skip
        if "budget_usd" in self.params and not float(self.params["budget_usd"]) > 0:
            raise bad("params.budget_usd", f"must be > 0, got {self.params['budget_usd']!r}")
        if "period" in self.params and self.params["period"] not in _PERIODS:
            raise bad("params.period", f"must be one of {list(_PERIODS)}")
        if "control" in self.params and not re.fullmatch(
            r"[A-Za-z0-9_.:-]+", str(self.params["control"])
        ):
            raise bad("params.control", "must be a variant name (letters, digits, _.:-)")
        if "outcome" in self.params and self.params["outcome"] not in VARIANT_OUTCOMES:
            raise bad("params.outcome", f"must be one of {list(VARIANT_OUTCOMES)}")

    @property
    def metric_def(self) -> Metric:
        return METRICS[self.metric]

    def breached(self, value: float) -> bool:
        return bool(_COMPARE[self.comparison](value, self.threshold))

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """[start, end) of the window evaluated at ``now``."""
        if self.metric_def.period_window:
            utc = now.astimezone(UTC)
            day = utc.replace(hour=0, minute=0, second=0, microsecond=0)
            return (day if self.params["period"] == "day" else day.replace(day=1)), now
        return now - timedelta(seconds=self.window_s), now

    def render(
        self, start: datetime, end: datetime, series: Mapping[str, str] | None = None
    ) -> str:
        """The metric's SQL; with ``series``, narrowed to that one group (the evidence)."""
        where: dict[str, str | Sequence[str]] = dict(self.where)
        if series:
            where.update(series)
        params = {"window_s": f"{(end - start).total_seconds():g}", **self.params}
        if "period" in self.params:
            params["period_s"] = f"{_PERIODS[self.params['period']]:g}"
        return self.metric_def.render(start, end, self.group_by, where, params)


@dataclass(frozen=True)
class RetrainPolicy:
    """Which rules may ask for retraining, after how long firing, how often per model."""

    rules: frozenset[str] | None = None  # None: every rule
    sustained_s: float = 900.0
    cooldown_s: float = 86_400.0

    def applies(self, rule: str) -> bool:
        return self.rules is None or rule in self.rules


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    retraining: RetrainPolicy


class RuleFileError(ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the key."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"1.5h"``, ``"1d"``.

    >>> parse_duration("5m"), parse_duration(30), parse_duration("1d")
    (300.0, 30.0, 86400.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m, 1h, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration like 30s, 5m, 1h, got {value!r}")
    return float(m[1]) * _UNITS[m[2]]


_RULE_KEYS = {
    "name", "metric", "threshold", "comparison", "severity", "window", "for", "min_events",
    "group_by", "where", "labels", "owner", "route", "runbook_url", "params", "no_data",
    "renotify", "description",
}  # fmt: skip
_VAR = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def load_rules(
    path: str | Path, variables: Mapping[str, Any] | None = None, channels: Iterable[str] = ()
) -> RuleSet:
    """Read and validate a rules file; raise ``RuleFileError`` naming file, rule and key.

    A value written ``${name}`` is replaced by ``variables[name]`` (the monitor settings), so
    the packaged defaults follow ``INFERSIGHT_MONITOR_*``. ``channels``, when given, are the
    channel names a ``route`` may use.
    """
    import yaml

    path = Path(path)
    variables = dict(variables or {})
    known_channels = set(channels)

    def fail(where: str, key: str | None, problem: str) -> RuleFileError:
        at = f"{path}: {where}" + (f": key {key!r}" if key else "")
        return RuleFileError(f"{at}: {problem}")

    def subst(where: str, key: str, value: Any) -> Any:
        if isinstance(value, str) and (m := _VAR.match(value)):
            if m[1] not in variables:
                raise fail(where, key, f"unknown variable ${{{m[1]}}}; known: {sorted(variables)}")
            return variables[m[1]]
        return value

    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RuleFileError(f"{path}: cannot read rules file: {exc}") from None
    except yaml.YAMLError as exc:
        raise RuleFileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise fail("top level", None, "must be a mapping with a 'rules' list")
    unknown_top = sorted(set(doc) - {"defaults", "rules", "retraining"})
    if unknown_top:
        raise fail("top level", unknown_top[0], "unknown key; allowed: defaults, rules, retraining")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - (_RULE_KEYS - {"name", "metric"}):
        raise fail("defaults", None, f"must be a mapping of rule keys, got {defaults!r}")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise fail("top level", "rules", "must be a non-empty list of rules")

    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        if not isinstance(raw, dict):
            raise fail(f"rules[{i}]", None, f"must be a mapping, got {raw!r}")
        where = f"rule {raw.get('name', '?')!r} (rules[{i}])"
        unknown = sorted(set(raw) - _RULE_KEYS)
        if unknown:
            raise fail(where, unknown[0], f"unknown key; allowed: {sorted(_RULE_KEYS)}")
        spec = {**defaults, **raw}
        spec = {k: subst(where, k, v) for k, v in spec.items()}
        for req in ("name", "metric", "threshold"):
            if req not in spec:
                raise fail(where, req, "is required")
        kw: dict[str, Any] = {}
        try:
            kw["name"] = str(spec["name"])
            kw["metric"] = str(spec["metric"])
            key = "threshold"
            kw["threshold"] = float(spec["threshold"])
            for key, attr in (("window", "window_s"), ("for", "for_s"), ("renotify", "renotify_s")):
                if key in spec:
                    kw[attr] = parse_duration(spec[key])
            key = "severity"
            if "severity" in spec:
                kw["severity"] = Severity(str(spec["severity"]).lower())
            key = "min_events"
            if "min_events" in spec:
                if not isinstance(spec["min_events"], int):
                    raise ValueError(f"must be an integer, got {spec['min_events']!r}")
                kw["min_events"] = spec["min_events"]
            for key in ("comparison", "owner", "runbook_url", "no_data", "description"):
                if key in spec:
                    kw[key] = str(spec[key])
            for key in ("group_by", "route"):
                if key in spec:
                    value = spec[key]
                    if isinstance(value, str):
                        value = [value]
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        raise ValueError(f"must be a list of names, got {value!r}")
                    kw[key] = tuple(value)
            for key in ("labels", "where", "params"):
                if key in spec:
                    value = spec[key]
                    if not isinstance(value, dict):
                        raise ValueError(f"must be a mapping, got {value!r}")
                    value = {str(k): subst(where, f"{key}.{k}", v) for k, v in value.items()}
                    if key == "labels":
                        value = {k: str(v) for k, v in value.items()}
                    if key == "where":
                        value = {
                            k: tuple(str(x) for x in v) if isinstance(v, list) else str(v)
                            for k, v in value.items()
                        }
                    kw[key] = value
        except (TypeError, ValueError) as exc:
            raise fail(where, key, str(exc)) from None
        try:
            rule = Rule(**kw)
        except ValueError as exc:
            text = str(exc)
            m = re.match(r"rule '.*?': ([\w.]+): (.*)$", text, re.S)
            raise fail(where, m[1] if m else None, m[2] if m else text) from None
        if known_channels:
            stray = [c for c in rule.route if c not in known_channels]
            if stray:
                raise fail(where, "route", f"unknown channel(s) {stray}; known: "
                           f"{sorted(known_channels)}")  # fmt: skip
        if any(r.name == rule.name for r in rules):
            raise fail(where, "name", "duplicate rule name")
        rules.append(rule)

    retrain = doc.get("retraining") or {}
    if not isinstance(retrain, dict):
        raise fail("retraining", None, "must be a mapping")
    stray = sorted(set(retrain) - {"rules", "sustained", "cooldown"})
    if stray:
        raise fail("retraining", stray[0], "unknown key; allowed: rules, sustained, cooldown")
    policy_kw: dict[str, Any] = {}
    for key, attr in (("sustained", "sustained_s"), ("cooldown", "cooldown_s")):
        if key in retrain:
            try:
                policy_kw[attr] = parse_duration(subst("retraining", key, retrain[key]))
            except ValueError as exc:
                raise fail("retraining", key, str(exc)) from None
    if "rules" in retrain:
        names = retrain["rules"]
        if not isinstance(names, list):
            raise fail("retraining", "rules", f"must be a list of rule names, got {names!r}")
        by_name = {r.name: r for r in rules}
        for n in names:
            if n not in by_name:
                raise fail("retraining", "rules", f"unknown rule {n!r}")
            if "model" not in by_name[n].group_by:
                raise fail("retraining", "rules", f"rule {n!r} must group_by model to retrain")
        policy_kw["rules"] = frozenset(names)
    return RuleSet(tuple(rules), RetrainPolicy(**policy_kw))


# -- state -----------------------------------------------------------------------------------


class State(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    NO_DATA = "no_data"


@dataclass
class SeriesState:
    """Where one series stands; every field is stored with each transition."""

    rule: str
    labels: dict[str, str]
    state: State = State.OK
    episode_id: str = ""
    pending_since: datetime | None = None
    since: datetime | None = None  # firing since
    notified_at: datetime | None = None
    notify_seq: int = 0
    retrained: bool = False
    value: float = 0.0

    @property
    def service(self) -> str:
        return self.labels.get("service", "*")

    @property
    def model(self) -> str:
        return self.labels.get("model", "*")


@dataclass(frozen=True)
class Transition:
    """One state change (or re-notification) of one series, as stored in ``alert_states``."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    from_state: State
    to_state: State
    episode_id: str
    value: float
    threshold: float
    at: datetime
    step: int
    reason: str
    alert_id: str
    pending_since: datetime | None
    firing_since: datetime | None
    notified_at: datetime | None
    notify_seq: int

    def row(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "rule": self.rule, "labels": dict(self.labels),
            "from_state": self.from_state.value, "to_state": self.to_state.value,
            "episode_id": self.episode_id, "value": self.value, "threshold": self.threshold,
            "at": self.at, "step": self.step, "reason": self.reason, "alert_id": self.alert_id,
            "pending_since": self.pending_since, "firing_since": self.firing_since,
            "notified_at": self.notified_at, "notify_seq": self.notify_seq,
        }  # fmt: skip


TRANSITION_COLUMNS = list(Transition.__dataclass_fields__)

RESTORE_STATES_SQL = (
    "SELECT fingerprint, argMax(rule, (at, step)), argMax(labels, (at, step)), "
    "argMax(to_state, (at, step)), argMax(episode_id, (at, step)), "
    "argMax(pending_since, (at, step)), argMax(firing_since, (at, step)), "
    "argMax(notified_at, (at, step)), argMax(notify_seq, (at, step)), "
    "argMax(value, (at, step)) FROM alert_states FINAL GROUP BY fingerprint"
)
RESTORE_RETRAINING_SQL = (
    "SELECT model, max(created_at), groupArray(triggered_by) FROM retraining_events FINAL "
    "GROUP BY model"
)


class Evaluation(tuple):  # noqa: SLOT001 - a named 3-tuple without NamedTuple's generics
    """``(alerts, retraining, transitions)`` of one evaluation."""

    __slots__ = ()

    def __new__(
        cls, alerts: list[Alert], retraining: list[RetrainingEvent], transitions: list[Transition]
    ) -> Evaluation:
        return super().__new__(cls, (alerts, retraining, transitions))

    @property
    def alerts(self) -> list[Alert]:
        return self[0]

    @property
    def retraining(self) -> list[RetrainingEvent]:
        return self[1]

    @property
    def transitions(self) -> list[Transition]:
        return self[2]


@dataclass
class RuleEngine:
    """Evaluate rules, track each series' state, decide on retraining.

    Parameters
    ----------
    rules
        The rules; each is evaluated over every group with data in its window.
    retrain_after_s
        A series of a retraining rule firing this long emits one ``RetrainingEvent`` for the
        episode (``policy`` overrides).
    retrain_cooldown_s
        At most one ``RetrainingEvent`` per model within this many seconds.
    renotify_s
        Re-send a still-firing alert this often (0: never); a rule's ``renotify`` overrides.
    policy
        Which rules retrain; default: every rule, with the two durations above.

    Examples
    --------
    >>> engine = RuleEngine([Rule("leaks", "pii_leaks", 3, ">=")])
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> ev = engine.evaluate(now, lambda sql: [("bot", "gpt-4o", 4.0, 10, ["e1"])])
    >>> [(a.status.value, a.value) for a in ev.alerts]
    [('firing', 4.0)]
    """

    rules: Sequence[Rule]
    retrain_after_s: float = 900.0
    retrain_cooldown_s: float = 86_400.0
    renotify_s: float = 0.0
    policy: RetrainPolicy | None = None
    states: dict[str, SeriesState] = field(default_factory=dict)
    last_retrain: dict[str, datetime] = field(default_factory=dict)
    retrained_episodes: set[str] = field(default_factory=set)
    #: The latest evidence sentence per series for metrics that have one (drift's reason).
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            msg = f"rule names must be unique, got {names}"
            raise ValueError(msg)
        if self.renotify_s < 0:
            msg = f"renotify_s must be >= 0, got {self.renotify_s!r}"
            raise ValueError(msg)
        if self.policy is None:
            self.policy = RetrainPolicy(None, self.retrain_after_s, self.retrain_cooldown_s)
        self._step_no = 0

    @staticmethod
    def fingerprint(rule: str, labels: Mapping[str, str] | str, model: str | None = None) -> str:
        """Stable id of one series (``fingerprint(rule, service, model)`` also accepted)."""
        if isinstance(labels, str):
            labels = {"service": labels, "model": model or ""}
        return Alert.fingerprint_of(rule, dict(labels))

    # -- restore -------------------------------------------------------------------------
    def restore(
        self,
        states: Iterable[Sequence[Any]],
        retraining: Iterable[Sequence[Any]] = (),
    ) -> None:
        """Rebuild state from stored rows (``RESTORE_STATES_SQL``, ``RESTORE_RETRAINING_SQL``).

        States of rules no longer configured are dropped; a series restored as FIRING does
        not page again for its episode.
        """
        rules = {r.name for r in self.rules}
        for fp, rule, labels, state, episode, pending, since, notified, seq, value in states:
            if rule not in rules:
                continue
            self.states[fp] = SeriesState(
                rule, dict(labels), State(state), episode, _opt(pending), _opt(since),
                _opt(notified), int(seq), value=float(value),
            )  # fmt: skip
        for model, created, triggered in retraining:
            self.last_retrain[model] = _aware(created)
            self.retrained_episodes.update(t.split(":", 1)[-1] for t in triggered)
        for st in self.states.values():
            st.retrained = st.episode_id in self.retrained_episodes

    def restore_from(self, query: Query) -> int:
        """Run the restore queries through ``query``; returns the number of series restored."""
        self.restore(query(RESTORE_STATES_SQL), query(RESTORE_RETRAINING_SQL))
        return len(self.states)

    # -- evaluate ------------------------------------------------------------------------
    def evaluate(self, now: datetime, query: Query) -> Evaluation:
        """Run every rule once at ``now``; return alerts, retraining events and transitions."""
        out = Evaluation([], [], [])
        for rule in self.rules:
            start, end = rule.window(now)
            seen: set[str] = set()
            for row in query(rule.render(start, end)):
                n = len(rule.group_by)
                labels = {d: str(v) for d, v in zip(rule.group_by, row[:n], strict=True)}
                value, events, samples = row[n], int(row[n + 1]), list(row[n + 2])
                if events == 0:  # an ungrouped aggregate over nothing: no data
                    continue
                value = float(value)
                fp = self.fingerprint(rule.name, labels)
                if rule.metric_def.note:
                    self.notes[fp] = str(row[n + 3] or "")
                seen.add(fp)
                breached = events >= rule.min_events and rule.breached(value)
                self._step(rule, fp, labels, value, breached, start, now, samples, out)
            for fp, st in list(self.states.items()):
                if st.rule == rule.name and fp not in seen:
                    self._no_data(rule, fp, st, start, now, out)
        return out

    def _transition(
        self, rule: Rule, fp: str, st: SeriesState, to: State, now: datetime, reason: str,
        out: Evaluation, alert: Alert | None = None,
    ) -> None:  # fmt: skip
        before = st.state
        st.state = to
        if alert is not None:
            out.alerts.append(alert)
        self._step_no += 1
        out.transitions.append(
            Transition(
                fp,
                rule.name,
                dict(st.labels),
                before,
                to,
                st.episode_id,
                st.value,
                rule.threshold,
                now,
                self._step_no,
                reason,
                alert.alert_id if alert else "",
                st.pending_since,
                st.since,
                st.notified_at,
                st.notify_seq,
            )  # fmt: skip
        )

    def _step(
        self, rule: Rule, fp: str, labels: dict[str, str], value: float, breached: bool,
        start: datetime, now: datetime, samples: list[str], out: Evaluation,
    ) -> None:  # fmt: skip
        st = self.states.get(fp)
        if st is None:
            st = self.states[fp] = SeriesState(rule.name, labels)
        st.value = value
        if st.state is State.NO_DATA and st.since is not None and rule.no_data == "alert":
            # Data is back: the no-data episode resolves before anything else.
            alert = self._alert(rule, fp, st, AlertStatus.RESOLVED, start, now, samples, "data")
            st.since = None
            self._transition(rule, fp, st, State.OK, now, "data is back", out, alert)
        if breached:
            if st.state in (State.OK, State.RESOLVED, State.NO_DATA):
                st.pending_since, st.since, st.notify_seq, st.notified_at = now, None, 0, None
                st.episode_id = f"{fp}-{int(now.timestamp())}"
                st.retrained = False
                if rule.for_s > 0:
                    self._transition(rule, fp, st, State.PENDING, now, "breach began", out)
                    return
            if st.state is State.PENDING or st.since is None:
                assert st.pending_since is not None
                if (now - st.pending_since).total_seconds() < rule.for_s:
                    return
                st.since = st.notified_at = now
                alert = self._alert(rule, fp, st, AlertStatus.FIRING, start, now, samples)
                self._transition(rule, fp, st, State.FIRING, now, "breach held", out, alert)
                return
            # FIRING and still breached: remind, and perhaps retrain.
            every = rule.renotify_s if rule.renotify_s is not None else self.renotify_s
            if every and st.notified_at and (now - st.notified_at).total_seconds() >= every:
                st.notify_seq += 1
                st.notified_at = now
                alert = self._alert(rule, fp, st, AlertStatus.FIRING, start, now, samples)
                self._transition(rule, fp, st, State.FIRING, now, "renotify", out, alert)
            self._maybe_retrain(rule, st, start, now, out)
            return
        if st.state is State.PENDING:
            self._transition(rule, fp, st, State.OK, now, "cleared before firing", out)
        elif st.state is State.FIRING:
            alert = self._alert(rule, fp, st, AlertStatus.RESOLVED, start, now, samples)
            self._transition(rule, fp, st, State.RESOLVED, now, "cleared", out, alert)
        elif st.state is State.NO_DATA:
            self._transition(rule, fp, st, State.OK, now, "data is back", out)

    def _no_data(
        self, rule: Rule, fp: str, st: SeriesState, start: datetime, now: datetime,
        out: Evaluation,
    ) -> None:  # fmt: skip
        if st.state is State.NO_DATA:
            return
        st.value = 0.0
        if st.state is State.FIRING:
            if rule.no_data == "keep":
                return
            alert = self._alert(rule, fp, st, AlertStatus.RESOLVED, start, now, [], "no data")
            self._transition(rule, fp, st, State.NO_DATA, now, "no data: resolved", out, alert)
            st.since = None
            if rule.no_data != "alert":
                return
        elif st.state is State.PENDING:
            st.since = None
        # A quiet series: with no_data=alert it pages (its own episode), else it just waits.
        if rule.no_data == "alert":
            st.episode_id = f"{fp}-nodata-{int(now.timestamp())}"
            st.since = st.notified_at = now
            st.notify_seq = 0
            alert = self._alert(rule, fp, st, AlertStatus.FIRING, start, now, [], "no data")
            self._transition(rule, fp, st, State.NO_DATA, now, "no data", out, alert)
        elif st.state is not State.NO_DATA:
            st.since = None
            self._transition(rule, fp, st, State.NO_DATA, now, "no data", out)

    def _alert(
        self, rule: Rule, fp: str, st: SeriesState, status: AlertStatus, start: datetime,
        now: datetime, samples: list[str], condition: str = "",
    ) -> Alert:  # fmt: skip
        metric = rule.metric_def
        series = "/".join(st.labels.values()) or "all"
        window = f"{(now - start).total_seconds():g}s"
        if condition == "no data" and status is AlertStatus.FIRING:
            summary = f"{rule.name}: no data for {series} in the last {window}"
        elif status is AlertStatus.FIRING:
            again = f" (reminder {st.notify_seq})" if st.notify_seq else ""
            summary = (
                f"{rule.name}: {metric.description} for {series} is {st.value:g}, "
                f"{rule.comparison} {rule.threshold:g} over the last {window}{again}"
            )
        elif condition == "no data":
            summary = f"{rule.name} resolved for {series}: no data in the last {window}"
        elif condition == "data":
            summary = f"{rule.name} resolved for {series}: data is flowing again"
        else:
            summary = (
                f"{rule.name} resolved for {series}: {metric.description} is {st.value:g}, "
                f"no longer {rule.comparison} {rule.threshold:g}"
            )
        labels = {**rule.labels, **st.labels, "rule": rule.name, "metric": rule.metric,
                  "severity": rule.severity.value}  # fmt: skip
        if rule.owner:
            labels["owner"] = rule.owner
        if rule.route:
            labels["route"] = ",".join(rule.route)
        if condition == "no data" and status is AlertStatus.FIRING:
            labels["alertstate"] = "no_data"
        note = self.notes.get(fp, "") if status is AlertStatus.FIRING else ""
        if note:
            summary = f"{summary}. {note}"
        seq = st.notify_seq if status is AlertStatus.FIRING else 0
        alert_id = hashlib.sha256(f"{st.episode_id}|{status.value}|{seq}".encode()).hexdigest()
        return Alert(
            alert_id=f"{alert_id[:8]}-{alert_id[8:12]}-{alert_id[12:16]}-{alert_id[16:20]}-"
            f"{alert_id[20:32]}",
            fingerprint=fp,
            episode_id=st.episode_id,
            rule=rule.name,
            status=status,
            severity=rule.severity,
            service=st.service,
            model=st.model,
            summary=summary,
            value=st.value,
            threshold=rule.threshold,
            window_start=start,
            window_end=now,
            labels=labels,
            sample_event_ids=samples,
            evidence_sql=rule.render(start, now, st.labels),
            runbook_url=rule.runbook_url,
            created_at=now,
        )

    def _maybe_retrain(
        self, rule: Rule, st: SeriesState, start: datetime, now: datetime, out: Evaluation
    ) -> None:
        policy = self.policy
        assert policy is not None
        if not policy.applies(rule.name) or "model" not in st.labels:
            return
        if st.retrained or st.since is None or st.episode_id in self.retrained_episodes:
            return
        if (now - st.since).total_seconds() < policy.sustained_s:
            return
        last = self.last_retrain.get(st.model)
        if last is not None and (now - last).total_seconds() < policy.cooldown_s:
            return
        st.retrained = True
        self.retrained_episodes.add(st.episode_id)
        self.last_retrain[st.model] = now
        since = st.pending_since or st.since
        first = since - timedelta(seconds=rule.window_s)
        time_cond = f"timestamp >= {_ts(first)} AND timestamp < {_ts(now)}"
        conds = [
            f"{rule.metric_def.dimension_sql(k)} = {sql_literal(v)}"
            for k, v in st.labels.items()
            if k in EVENT_DIMENSIONS or k.startswith("metadata.")
        ]
        conds.append(time_cond)
        if rule.metric_def.examples:
            conds.append(
                rule.metric_def.examples.format(time=time_cond, value=repr(rule.threshold))
            )
        out.retraining.append(
            RetrainingEvent(
                retraining_id=hashlib.sha256(st.episode_id.encode()).hexdigest()[:16],
                service=st.service,
                model=st.model,
                reason=(
                    f"{rule.name} has fired for {(now - st.since).total_seconds():.0f}s "
                    f"({rule.metric_def.description}: {st.value:g} {rule.comparison} "
                    f"{rule.threshold:g})"
                ),
                triggered_by=f"{rule.name}:{st.episode_id}",
                since=since,
                window_start=first,
                window_end=now,
                statistics={
                    "value": st.value,
                    "threshold": rule.threshold,
                    "firing_s": (now - st.since).total_seconds(),
                    "window_s": (now - start).total_seconds(),
                },
                selection_sql=f"SELECT * FROM events_v WHERE {' AND '.join(conds)}",
                created_at=now,
            )
        )

    def snapshot(self) -> Any:
        """A copy of the mutable state, to roll back an evaluation that was not stored."""
        return (
            {k: replace(v, labels=dict(v.labels)) for k, v in self.states.items()},
            dict(self.last_retrain),
            set(self.retrained_episodes),
        )

    def rollback(self, snap: Any) -> None:
        self.states, self.last_retrain, self.retrained_episodes = snap


def _opt(ts: datetime | None) -> datetime | None:
    if ts is None or ts.year < 1971:  # ClickHouse stores "no time" as the epoch
        return None
    return _aware(ts)
