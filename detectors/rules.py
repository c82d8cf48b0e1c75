"""Threshold rules over windows of stored results, with alert state and retraining policy.

Pure logic: a rule's metric is a SQL query over the deduplicated tables (so a replayed batch
can never inflate a count), run by a caller-supplied ``query`` function; the engine keeps
each series' state (OK or FIRING, its episode), emits an ``Alert`` on every state change
and, when trouble is sustained, one ``RetrainingEvent`` per episode.

State survives restarts by :meth:`RuleEngine.restore` from the stored alerts, so a restarted
worker does not page again for an episode it already paged for.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from schemas.results import Alert, AlertStatus, RetrainingEvent, Severity

__all__ = ["METRICS", "Metric", "Rule", "RuleEngine", "SeriesState", "sql_literal"]

Query = Callable[[str], Sequence[Sequence[Any]]]


def sql_literal(value: str) -> str:
    """A ClickHouse string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ts(value: datetime) -> str:
    return f"toDateTime64('{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC')"


@dataclass(frozen=True)
class Metric:
    """A per-(service, model) aggregate over a time window.

    ``sql`` is a template with ``{start}``, ``{end}`` and ``{where}``; it must return
    ``service, model, value, events, sample_event_ids``.
    """

    name: str
    description: str
    sql: str

    def render(self, start: datetime, end: datetime, series: tuple[str, str] | None = None) -> str:
        where = ""
        if series is not None:
            where = f" AND service = {sql_literal(series[0])} AND model = {sql_literal(series[1])}"
        return self.sql.format(start=_ts(start), end=_ts(end), where=where)


METRICS: dict[str, Metric] = {
    "cost_usd": Metric(
        "cost_usd",
        "US dollars spent in the window",
        "SELECT service, model, toFloat64(sum(ifNull(cost_usd, 0))) AS value, count() AS events, "
        "groupArray(5)(event_id) AS samples FROM events FINAL "
        "WHERE timestamp >= {start} AND timestamp < {end}{where} GROUP BY service, model",
    ),
    "pii_leaks": Metric(
        "pii_leaks",
        "responses that leaked PII or secrets not present in the prompt",
        "SELECT service, model, toFloat64(countIf(fired = 1)) AS value, count() AS events, "
        "groupArrayIf(5)(event_id, fired = 1) AS samples FROM signals FINAL "
        "WHERE detector = 'pii' AND timestamp >= {start} AND timestamp < {end}{where} "
        "GROUP BY service, model",
    ),
    "error_rate": Metric(
        "error_rate",
        "share of calls with status error",
        "SELECT service, model, countIf(status = 'error') / count() AS value, count() AS events, "
        "groupArrayIf(5)(event_id, status = 'error') AS samples FROM events FINAL "
        "WHERE timestamp >= {start} AND timestamp < {end}{where} GROUP BY service, model",
    ),
}

_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Rule:
    """``metric`` compared to ``threshold`` over the last ``window_s`` seconds, per series."""

    name: str
    metric: str
    threshold: float
    comparison: Literal[">", ">=", "<", "<="] = ">"
    severity: Severity = Severity.WARNING
    window_s: float = 300.0
    runbook_url: str | None = None
    min_events: int = 1

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            msg = f"rule {self.name!r}: unknown metric {self.metric!r}; known: {sorted(METRICS)}"
            raise ValueError(msg)
        if self.comparison not in _COMPARE:
            msg = f"rule {self.name!r}: comparison must be one of {sorted(_COMPARE)}"
            raise ValueError(msg)
        if self.window_s <= 0:
            msg = f"rule {self.name!r}: window_s must be > 0, got {self.window_s!r}"
            raise ValueError(msg)

    def breached(self, value: float) -> bool:
        return bool(_COMPARE[self.comparison](value, self.threshold))


@dataclass
class SeriesState:
    rule: str
    service: str
    model: str
    status: AlertStatus = AlertStatus.RESOLVED
    episode_id: str = ""
    since: datetime | None = None
    retrained: bool = False


@dataclass
class RuleEngine:
    """Evaluate rules, track each series' state, decide on retraining.

    Parameters
    ----------
    rules
        The rules, each evaluated over every (service, model) with data in its window.
    retrain_after_s
        A series firing at least this long emits one ``RetrainingEvent`` for the episode.
    retrain_cooldown_s
        At most one ``RetrainingEvent`` per (service, model) within this many seconds.
    """

    rules: Sequence[Rule]
    retrain_after_s: float = 900.0
    retrain_cooldown_s: float = 86_400.0
    states: dict[str, SeriesState] = field(default_factory=dict)
    last_retrain: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            msg = f"rule names must be unique, got {names}"
            raise ValueError(msg)

    @staticmethod
    def fingerprint(rule: str, service: str, model: str) -> str:
        return Alert.fingerprint_of(rule, {"service": service, "model": model})

    def restore(
        self,
        alerts: Iterable[tuple[str, str, str, str, str, str, datetime]],
        retraining: Iterable[tuple[str, str, datetime]] = (),
    ) -> None:
        """Rebuild state from stored rows.

        ``alerts``: (fingerprint, rule, service, model, status, episode_id, episode_start) of
        each series' latest alert. ``retraining``: (service, model, last created_at).
        """
        for fp, rule, service, model, status, episode, since in alerts:
            self.states[fp] = SeriesState(
                rule, service, model, AlertStatus(status), episode, _aware(since)
            )
        for service, model, created in retraining:
            self.last_retrain[(service, model)] = _aware(created)

    def evaluate(
        self, now: datetime, query: Query
    ) -> tuple[list[Alert], list[RetrainingEvent]]:
        """Run every rule once at ``now``; return the state changes and retraining events."""
        alerts: list[Alert] = []
        retraining: list[RetrainingEvent] = []
        for rule in self.rules:
            metric = METRICS[rule.metric]
            start = now - timedelta(seconds=rule.window_s)
            seen: set[str] = set()
            for service, model, value, events, samples in query(metric.render(start, now)):
                fp = self.fingerprint(rule.name, service, model)
                seen.add(fp)
                breached = int(events) >= rule.min_events and rule.breached(float(value))
                alerts.extend(
                    self._step(rule, fp, service, model, float(value), breached, start, now,
                               list(samples), retraining)
                )  # fmt: skip
            # Series that went quiet: no data in the window means the condition has cleared.
            for fp, state in list(self.states.items()):
                if state.rule == rule.name and fp not in seen:
                    if state.status is AlertStatus.FIRING:
                        alerts.extend(
                            self._step(rule, fp, state.service, state.model, 0.0, False, start,
                                       now, [], retraining)
                        )  # fmt: skip
        return alerts, retraining

    def _step(
        self,
        rule: Rule,
        fp: str,
        service: str,
        model: str,
        value: float,
        breached: bool,
        start: datetime,
        now: datetime,
        samples: list[str],
        retraining: list[RetrainingEvent],
    ) -> list[Alert]:
        state = self.states.setdefault(fp, SeriesState(rule.name, service, model))
        firing = state.status is AlertStatus.FIRING
        if breached and not firing:
            state.status = AlertStatus.FIRING
            state.episode_id = f"{fp}-{int(now.timestamp())}"
            state.since = now
            state.retrained = False
            return [self._alert(rule, state, value, start, now, samples)]
        if breached and firing:
            self._maybe_retrain(rule, state, value, start, now, retraining)
            return []
        if firing:
            state.status = AlertStatus.RESOLVED
            return [self._alert(rule, state, value, start, now, samples)]
        return []

    def _alert(
        self,
        rule: Rule,
        state: SeriesState,
        value: float,
        start: datetime,
        now: datetime,
        samples: list[str],
    ) -> Alert:
        metric = METRICS[rule.metric]
        if state.status is AlertStatus.FIRING:
            summary = (
                f"{rule.name}: {metric.description} for {state.service}/{state.model} is "
                f"{value:g}, {rule.comparison} {rule.threshold:g} over the last {rule.window_s:g}s"
            )
        else:
            summary = (
                f"{rule.name} resolved for {state.service}/{state.model}: {value:g} is back "
                f"within {rule.threshold:g}"
            )
        return Alert(
            fingerprint=self.fingerprint(rule.name, state.service, state.model),
            episode_id=state.episode_id,
            rule=rule.name,
            status=state.status,
            severity=rule.severity,
            service=state.service,
            model=state.model,
            summary=summary,
            value=value,
            threshold=rule.threshold,
            window_start=start,
            window_end=now,
            labels={"service": state.service, "model": state.model, "metric": rule.metric},
            sample_event_ids=samples,
            evidence_sql=metric.render(start, now, (state.service, state.model)),
            runbook_url=rule.runbook_url,
            created_at=now,
        )

    def _maybe_retrain(
        self,
        rule: Rule,
        state: SeriesState,
        value: float,
        start: datetime,
        now: datetime,
        out: list[RetrainingEvent],
    ) -> None:
        if state.retrained or state.since is None:
            return
        if (now - state.since).total_seconds() < self.retrain_after_s:
            return
        key = (state.service, state.model)
        last = self.last_retrain.get(key)
        if last is not None and (now - last).total_seconds() < self.retrain_cooldown_s:
            return
        state.retrained = True
        self.last_retrain[key] = now
        where = (
            f"service = {sql_literal(state.service)} AND model = {sql_literal(state.model)} "
            f"AND timestamp >= {_ts(state.since - timedelta(seconds=rule.window_s))} "
            f"AND timestamp < {_ts(now)}"
        )
        out.append(
            RetrainingEvent(
                retraining_id=hashlib.sha256(state.episode_id.encode()).hexdigest()[:16],
                service=state.service,
                model=state.model,
                reason=(
                    f"{rule.name} has fired for {(now - state.since).total_seconds():.0f}s "
                    f"({METRICS[rule.metric].description}: {value:g} vs {rule.threshold:g})"
                ),
                triggered_by=f"{rule.name}:{state.episode_id}",
                since=state.since,
                window_start=state.since - timedelta(seconds=rule.window_s),
                window_end=now,
                statistics={"value": value, "threshold": rule.threshold},
                selection_sql=f"SELECT * FROM events_v WHERE {where}",
                created_at=now,
            )
        )


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
