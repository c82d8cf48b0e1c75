"""Named, parameterised queries for analysts, and the helpers that keep rollups fresh.

Every query reads deduplicated data only (``FINAL`` tables, or the rollups of 030–032 and
the dashboard rollups of 060, which are themselves built from ``FINAL``), so each event
counts once however often it was redelivered. The SQL of each query is in ``QUERIES``
(text in ``sinks.named_sql``) and in docs/analysts.md.

Parameters are bound server-side (``{name:Type}``), never formatted into the SQL text.

Examples
--------
>>> q = QUERIES["cost_by_model_day"]
>>> [p.name for p in q.params]
['since', 'until', 'service']
>>> q.bind({"since": "2026-01-02", "until": "2026-01-02"})["since"]
datetime.date(2026, 1, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.errors import InfersightError
from sinks.clickhouse import ClickHouseSink
from sinks.live_queries import LIVE_QUERIES
from sinks.named_sql import (
    ALERT_HISTORY,
    CACHE_SAVINGS,
    COST_BY_MODEL_DAY,
    DRIFT_HISTORY,
    DRIFT_TABLE,
    HALLUCINATION_RATE_RAG,
    SLOWEST_MODELS,
    TOP_SERVICES_PII_LEAKS,
    TOXICITY_TREND,
)
from sinks.prices import cache_read_saving

__all__ = [
    "QUERIES",
    "ROLLUP_VIEWS",
    "NamedQuery",
    "Param",
    "QueryError",
    "QueryResult",
    "refresh_rollups",
    "run_query",
]

#: Refreshable materialized views, in dependency order (minute, hour, then the dashboard
#: rollups of migrations 060 and 061, which read the hour rollups).
ROLLUP_VIEWS = (
    "rollup_events_minute_mv",
    "rollup_signals_minute_mv",
    "rollup_events_hour_mv",
    "rollup_signals_hour_mv",
    "rollup_dashboard_hour_mv",
    "rollup_dashboard_day_mv",
    "rollup_dashboard_signals_hour_mv",
    "rollup_dashboard_latency_hour_mv",
    "rollup_dashboard_latency_6h_mv",
    "rollup_dashboard_latency_day_mv",
)


class QueryError(InfersightError, ValueError):
    """A named query cannot run as asked: unknown name or parameter, bad value, missing table."""


def _today() -> date:
    return datetime.now(UTC).date()


def _yesterday() -> date:
    return _today() - timedelta(days=1)


def _week_ago() -> date:
    return _today() - timedelta(days=7)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "Date": date.fromisoformat,
    "UInt32": int,
    "Float64": float,
    "String": str,
}


@dataclass(frozen=True)
class Param:
    """One query parameter: its ClickHouse type, default (a value or a callable) and help."""

    name: str
    type: str
    default: Any
    help: str

    def parse(self, text: str) -> Any:
        try:
            value = _PARSERS[self.type](text)
        except ValueError as exc:
            msg = f"--param {self.name}={text!r}: not a valid {self.type} ({exc})"
            raise QueryError(msg) from None
        if self.type == "UInt32" and not 0 <= value < 2**32:
            msg = f"--param {self.name}={text!r}: must be a non-negative 32-bit integer"
            raise QueryError(msg)
        return value

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows, as ClickHouse returned them (then post-processed)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class NamedQuery:
    """A documented query: SQL with ``{name:Type}`` placeholders and its parameters.

    ``requires`` names tables that must exist (a clear error instead of a ClickHouse one);
    ``post`` turns the SQL result into the final one (used where Python adds columns).
    """

    name: str
    title: str
    sql: str
    params: tuple[Param, ...]
    requires: tuple[str, ...] = ()
    post: Callable[[QueryResult], QueryResult] | None = field(default=None, repr=False)

    def bind(self, given: Mapping[str, str]) -> dict[str, Any]:
        """Parse ``given`` (text, as from ``--param k=v``) and fill in defaults."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            msg = f"query {self.name} has no parameter(s) {unknown}; it takes {sorted(known)}"
            raise QueryError(msg)
        return {
            name: p.parse(given[name]) if name in given else p.default_value()
            for name, p in known.items()
        }


SINCE = Param("since", "Date", _week_ago, "first day, inclusive (default: 7 days ago)")
UNTIL = Param("until", "Date", _today, "last day, inclusive (default: today)")
SERVICE = Param("service", "String", "", "only this service (default: all)")
LIMIT = Param("limit", "UInt32", 10, "at most this many rows")


def _price_cache_savings(result: QueryResult) -> QueryResult:
    rows = [
        (*row, cache_read_saving(row[1], row[2], row[0], row[3], row[4], row[5]))
        for row in result.rows
    ]
    return QueryResult([*result.columns, "saved_usd"], rows)


def _feedback_queries() -> list[NamedQuery]:
    from sinks.compare import COMPARE_VERSIONS, MIN_SAMPLE, compare_result
    from sinks.queries_feedback import FEEDBACK_BY_MODEL, NEGATIVE_FEEDBACK

    return [
        NamedQuery(
            "compare_versions",
            "Variants, prompt versions or models against a control: cost, latency p95, error, "
            "detector and negative-feedback rates, with significance tests",
            COMPARE_VERSIONS,
            (
                SINCE,
                UNTIL,
                SERVICE,
                Param(
                    "by",
                    "String",
                    "model",
                    "variant, prompt_template_version, "
                    "prompt_template_id, experiment, provider or model (default: model)",
                ),
                Param("experiment", "String", "", "only this experiment (default: all)"),
                Param("prompt_template_id", "String", "", "only this template (default: all)"),
                Param("control", "String", "", "the control arm (default: most events)"),
                Param(
                    "min_sample",
                    "UInt32",
                    MIN_SAMPLE,
                    f"observations each arm needs for a test (default: {MIN_SAMPLE})",
                ),
            ),
            requires=("event_outcomes",),
            post=lambda r: QueryResult(*compare_result(r.columns, r.rows)),
        ),
        NamedQuery(
            "feedback_by_model",
            "User feedback per day, service and model: judgements, negative rate, avg score",
            FEEDBACK_BY_MODEL,
            (SINCE, UNTIL, SERVICE),
            requires=("feedback",),
        ),
        NamedQuery(
            "negative_feedback",
            "Calls users judged negatively, newest first, with comment and answer (redacted)",
            NEGATIVE_FEEDBACK,
            (SINCE, UNTIL, SERVICE, Param("limit", "UInt32", 50, "at most this many rows")),
            requires=("feedback",),
        ),
    ]


QUERIES: dict[str, NamedQuery] = {
    q.name: q
    for q in [
        NamedQuery(
            "cost_by_model_day",
            "What each model cost per day (exact, USD)",
            COST_BY_MODEL_DAY,
            (
                Param("since", "Date", _yesterday, "first day, inclusive (default: yesterday)"),
                Param("until", "Date", _yesterday, "last day, inclusive (default: yesterday)"),
                SERVICE,
            ),
        ),
        NamedQuery(
            "top_services_pii_leaks",
            "Services whose responses leaked PII, most leaks first",
            TOP_SERVICES_PII_LEAKS,
            (SINCE, UNTIL, LIMIT),
        ),
        NamedQuery(
            "toxicity_trend",
            "Share of toxic responses per service over time",
            TOXICITY_TREND,
            (
                SINCE,
                UNTIL,
                SERVICE,
                Param("bucket_hours", "UInt32", 24, "bucket width in hours (default: a day)"),
            ),
        ),
        NamedQuery(
            "hallucination_rate_rag",
            "Hallucination rate of RAG calls (calls with retrieved context)",
            HALLUCINATION_RATE_RAG,
            (SINCE, UNTIL, SERVICE),
        ),
        NamedQuery(
            "drift_history",
            "Drift test results, newest first",
            DRIFT_HISTORY,
            (
                SINCE,
                UNTIL,
                SERVICE,
                Param("drifted_only", "UInt32", 0, "1: only windows that raised drift"),
                Param("limit", "UInt32", 100, "at most this many rows"),
            ),
            requires=(DRIFT_TABLE,),
        ),
        NamedQuery(
            "alert_history",
            "Alert episodes: when each fired and resolved",
            ALERT_HISTORY,
            (SINCE, UNTIL, SERVICE, Param("limit", "UInt32", 100, "at most this many rows")),
        ),
        NamedQuery(
            "slowest_models",
            "Models by 95th-percentile latency",
            SLOWEST_MODELS,
            (SINCE, UNTIL, SERVICE, LIMIT),
        ),
        NamedQuery(
            "cache_savings",
            "What prompt-cache reads saved against the full input price",
            CACHE_SAVINGS,
            (SINCE, UNTIL, SERVICE),
            post=_price_cache_savings,
        ),
        *_feedback_queries(),
    ]
}


def _live_queries() -> dict[str, NamedQuery]:
    """The live page's queries (sinks/live_queries.py), with the library's parameters."""
    shared = {p.name: p for p in (SINCE, UNTIL, SERVICE)}

    def param(spec: Any) -> Param:
        if isinstance(spec, str):
            return shared[spec]
        name, default = spec
        return Param(name, "UInt32", default, "at most this many rows")

    return {
        name: NamedQuery(name, title, sql, tuple(param(p) for p in params), requires=needs)
        for name, title, sql, params, needs in LIVE_QUERIES
    }


QUERIES.update(_live_queries())


def _missing_tables(sink: ClickHouseSink, tables: Sequence[str]) -> list[str]:
    if not tables:
        return []
    _, rows = sink.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND name IN {names:Array(String)}",
        {"names": list(tables)},
    )
    present = {r[0] for r in rows}
    return [t for t in tables if t not in present]


def run_query(
    sink: ClickHouseSink, name: str, params: Mapping[str, str] | None = None
) -> QueryResult:
    """Run the named query with ``params`` given as text (``{"since": "2026-01-01"}``).

    Raises ``QueryError`` for an unknown query or parameter, a bad value, or a table the
    query needs that this database does not have yet.
    """
    try:
        query = QUERIES[name]
    except KeyError:
        msg = f"no query named {name!r}; known: {', '.join(sorted(QUERIES))}"
        raise QueryError(msg) from None
    bound = query.bind(params or {})
    missing = _missing_tables(sink, query.requires)
    if missing:
        msg = (
            f"query {name} needs table(s) {missing}, which this database does not have yet "
            "(created by migration 010_drift.sql; run `infersight db migrate` after upgrading)"
        )
        raise QueryError(msg)
    columns, rows = sink.query(query.sql, bound, columns_when_empty=True)
    result = QueryResult(columns, rows)
    return query.post(result) if query.post else result


def refresh_rollups(sink: ClickHouseSink) -> None:
    """Refresh the rollups now and wait for them, minute before hour.

    The refreshable views run by themselves every minute; call this where a reader must
    see what was just written (tests, the static report, a backfill script).
    """
    for view in ROLLUP_VIEWS:
        sink.query(f"SYSTEM REFRESH VIEW {view}")
        sink.query(f"SYSTEM WAIT VIEW {view}")
