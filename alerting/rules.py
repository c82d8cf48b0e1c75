"""What a rule is: one metric compared to a threshold over a window, per group of labels.

``Rule`` validates itself on construction (the message names the rule and the key);
``RetrainPolicy`` says which rules may ask for retraining; ``RuleSet`` is a loaded file.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.metrics import METRICS, PERIODS, VARIANT_OUTCOMES, Metric
from schemas.results import Severity

__all__ = ["COMPARISONS", "NO_DATA_POLICIES", "RetrainPolicy", "Rule", "RuleSet"]

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}  # fmt: skip
NO_DATA_POLICIES = ("resolve", "keep", "alert")


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
        if self.comparison not in COMPARISONS:
            raise bad(
                "comparison", f"must be one of {sorted(COMPARISONS)}, got {self.comparison!r}"
            )
        if not math.isfinite(self.threshold):
            raise bad("threshold", f"must be a finite number, got {self.threshold!r}")
        if self.window_s <= 0:
            raise bad("window", f"must be > 0 seconds, got {self.window_s!r}")
        if self.for_s < 0:
            raise bad("for", f"must be >= 0 seconds, got {self.for_s!r}")
        if self.min_events < 1:
            raise bad("min_events", f"must be >= 1, got {self.min_events!r}")
        if self.no_data not in NO_DATA_POLICIES:
            raise bad("no_data", f"must be one of {list(NO_DATA_POLICIES)}, got {self.no_data!r}")
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
        if "period" in self.params and self.params["period"] not in PERIODS:
            raise bad("params.period", f"must be one of {list(PERIODS)}")
        _check_variant_params(self.params, bad)

    @property
    def metric_def(self) -> Metric:
        return METRICS[self.metric]

    def breached(self, value: float) -> bool:
        return bool(COMPARISONS[self.comparison](value, self.threshold))

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
            params["period_s"] = f"{PERIODS[self.params['period']]:g}"
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


def _check_variant_params(params: Mapping[str, Any], bad: Callable[[str, str], Exception]) -> None:
    """The variant metrics' parameters: a plain variant name and a known outcome."""
    if "control" in params and not re.fullmatch(r"[A-Za-z0-9_.:-]+", str(params["control"])):
        raise bad("params.control", "must be a variant name (letters, digits, _.:-)")
    if "outcome" in params and params["outcome"] not in VARIANT_OUTCOMES:
        raise bad("params.outcome", f"must be one of {list(VARIANT_OUTCOMES)}")
