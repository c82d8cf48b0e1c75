"""The dashboards, twice from one definition: Grafana JSON and a static HTML report.

``PANELS`` holds each chart's SQL with the Grafana ClickHouse plugin's macros
(``$__timeFilter(col)``, ``$__fromTime``, ``$__toTime``) and a ``${service}`` variable.
``grafana_dashboard()`` turns them into the dashboard provisioned from deploy/grafana/;
``render_report()`` substitutes the macros itself, runs the same SQL on a ClickHouseSink and
draws the same charts (``sinks.charts``: uPlot, inlined) into one self-contained HTML
file, for people without Grafana. The live page (``streams.live``) draws them too.

Every panel reads rollups (replay-proof, small), never the raw tables, except the tables
below the charts that reuse named queries: buckets of an hour and more read the pre-merged
dashboard rollups of migration 060 (one row per hour and series, totals included, no
sketch merged for hour buckets) and, for the p95 panel in wider buckets, the latency
sketches of 061 at the coarsest grain that tiles the bucket; shorter buckets read the
minute rollups of 030–032.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from schemas.events import RESERVED_NAME
from sinks.charts import Bucket, chart_div, choose_bucket, inline_scripts, series_chart
from sinks.clickhouse import ClickHouseSink
from sinks.queries import QUERIES, refresh_rollups, run_query
from sinks.tables import cell_text

__all__ = [
    "ALL_SERVICES",
    "DATASOURCE_UID",
    "PANELS",
    "Panel",
    "data_extent",
    "expand_macros",
    "grafana_dashboard",
    "panel_charts",
    "render_report",
]

DATASOURCE_UID = "infersight-clickhouse"
#: Value of the ``service`` variable that means "every service".
ALL_SERVICES = RESERVED_NAME
_SERVICE_FILTER = f"('${{service}}' = '{ALL_SERVICES}' OR service = '${{service}}')"


@dataclass(frozen=True)
class Panel:
    """One chart: a time series of ``value`` per ``series`` (long format: time, series,
    value, ordered by time), or a table.

    ``sql`` reads the pre-merged dashboard rollups of migration 060 (buckets of an hour
    and more: Grafana, the report over days); ``minute_sql`` reads the minute rollups
    (buckets under an hour: the live page, a report over a few hours).
    """

    title: str
    unit: str
    sql: str
    minute_sql: str
    kind: str = "timeseries"  # or "table"
    zero_fill: bool = True  # a bucket without rows is 0 (counts, costs), else a gap (rates)

    def sql_at(self, grain: str) -> str:
        """The SQL reading the ``minute`` or ``hour`` rollups."""
        return self.minute_sql if grain == "minute" else self.sql


#: The bucket width decides what the p95 panel reads (``$__interval_s``: the plugin's bucket
#: in seconds, the N of ``$__timeInterval``) from the rollup of 061, which holds hours, six
#: hours and days: the coarsest grain that tiles the bucket (``tile_s``: days when the bucket
#: is whole days, six hours when it is a multiple of six hours, else hours). A bucket that is
#: one hour or one whole period (or divides an hour) reads that row's stored p95; a wider
#: bucket merges the sketches of its whole periods; the hours of a period cut by either end
#: of the range are merged as hours. So every bucket shows exactly the figure it showed when
#: it merged its hours. Each branch's condition is written ``(applies OR key < 1970-01-01)``:
#: a condition on the key, so that a branch that does not apply reads nothing. The panel reads
#: ``rollup_dashboard_latency FINAL`` rather than its view: planning two branches through
#: views cost more than running them.
_GRAINS = """WITH $__interval_s AS bucket_s, 3600 % bucket_s != 0 AS wide,
    toDateTime(0, 'UTC') AS epoch,
    multiIf(bucket_s % 86400 = 0, 86400, bucket_s % 21600 = 0, 21600, 3600) AS tile_s,
    toDateTime(intDiv(toUInt32($__fromTime) + tile_s - 1, tile_s) * tile_s, 'UTC')
        AS whole_from,
    toDateTime(intDiv(toUInt32($__toTime) + 3600, tile_s) * tile_s, 'UTC') AS whole_to"""
_ONE_SERVICE = "service = '${service}'"  # '__all': the rows that total every service

PANELS: tuple[Panel, ...] = (
    Panel(
        "Calls by model",
        "short",
        f"""SELECT $__timeInterval(hour) AS time, model, sum(events) AS calls
FROM dashboard_hour
WHERE $__timeFilter(hour) AND {_ONE_SERVICE} AND model != '__all'
GROUP BY time, model ORDER BY time, model""",
        f"""SELECT $__timeInterval(minute) AS time, model, sum(events) AS calls
FROM events_per_minute
WHERE $__timeFilter(minute) AND {_SERVICE_FILTER}
GROUP BY time, model ORDER BY time, model""",
    ),
    Panel(
        "Cost by model (USD)",
        "currencyUSD",
        f"""SELECT $__timeInterval(hour) AS time, model, toFloat64(sum(cost_usd)) AS cost_usd
FROM dashboard_hour
WHERE $__timeFilter(hour) AND {_ONE_SERVICE} AND model != '__all'
GROUP BY time, model ORDER BY time, model""",
        f"""SELECT $__timeInterval(minute) AS time, model, toFloat64(sum(cost_usd)) AS cost_usd
FROM events_per_minute
WHERE $__timeFilter(minute) AND {_SERVICE_FILTER}
GROUP BY time, model ORDER BY time, model""",
    ),
    Panel(
        "p95 latency by model (ms)",
        "ms",
        f"""{_GRAINS}
SELECT time, model, p95_ms FROM (
    SELECT $__timeInterval(period) AS time, model, any(latency_p95_ms) AS p95_ms
    FROM rollup_dashboard_latency FINAL
    WHERE (NOT wide OR bucket_s = tile_s OR period < epoch) AND grain_s = tile_s
      AND period >= whole_from AND period < whole_to AND $__timeFilter(period)
      AND {_ONE_SERVICE} AND model != '__all'
    GROUP BY time, model
    UNION ALL
    SELECT $__timeInterval(period) AS time, model,
        quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_ms)[3] AS p95_ms
    FROM rollup_dashboard_latency FINAL
    WHERE (wide OR period < epoch) AND $__timeFilter(period) AND {_ONE_SERVICE}
      AND model != '__all'
      AND (grain_s = tile_s AND bucket_s != tile_s AND period >= whole_from
           AND period < whole_to
           OR grain_s = 3600 AND (period < whole_from OR period >= whole_to))
    GROUP BY time, model)
ORDER BY time, model""",
        f"""SELECT $__timeInterval(minute) AS time, model,
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[3] AS p95_ms
FROM rollup_events_minute AS r FINAL
WHERE $__timeFilter(minute) AND {_SERVICE_FILTER}
GROUP BY time, model ORDER BY time, model""",
        zero_fill=False,
    ),
    Panel(
        "Quality: share of scored events flagged, by detector",
        "percentunit",
        f"""SELECT $__timeInterval(hour) AS time, detector, sum(fired) / sum(scored) AS rate
FROM dashboard_signals_hour
WHERE $__timeFilter(hour) AND {_ONE_SERVICE}
  AND detector IN ('toxicity', 'pii', 'hallucination', 'injection')
GROUP BY time, detector ORDER BY time, detector""",
        f"""SELECT $__timeInterval(minute) AS time, detector, sum(fired) / sum(scored) AS rate
FROM detectors_per_minute
WHERE $__timeFilter(minute) AND {_SERVICE_FILTER}
  AND detector IN ('toxicity', 'pii', 'hallucination', 'injection')
GROUP BY time, detector ORDER BY time, detector""",
        zero_fill=False,
    ),
    Panel(
        "Errors by service",
        "short",
        """SELECT $__timeInterval(hour) AS time, service, sum(errors) AS errors
FROM dashboard_hour
WHERE $__timeFilter(hour) AND service != '__all' AND model = '__all'
GROUP BY time, service ORDER BY time, service""",
        """SELECT $__timeInterval(minute) AS time, service, sum(errors) AS errors
FROM events_per_minute
WHERE $__timeFilter(minute)
GROUP BY time, service ORDER BY time, service""",
    ),
    Panel(
        "Cost and calls by service and model",
        "none",
        f"""SELECT service, model, sum(events) AS calls, sum(cost_usd) AS cost_usd,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(pii_events) AS events_with_pii
FROM dashboard_hour
WHERE $__timeFilter(hour) AND service != '__all' AND model != '__all' AND {_SERVICE_FILTER}
GROUP BY service, model ORDER BY cost_usd DESC, service, model""",
        f"""SELECT service, model, sum(events) AS calls, sum(cost_usd) AS cost_usd,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(pii_events) AS events_with_pii
FROM events_per_hour
WHERE $__timeFilter(hour) AND {_SERVICE_FILTER}
GROUP BY service, model ORDER BY cost_usd DESC, service, model""",
        kind="table",
    ),
)

#: Named queries shown as tables under the charts in the HTML report.
REPORT_TABLES = ("cost_by_model_day", "top_services_pii_leaks", "slowest_models", "alert_history")


def _ch_time(ts: datetime) -> str:
    return f"toDateTime('{ts.astimezone(UTC):%Y-%m-%d %H:%M:%S}', 'UTC')"


def expand_macros(
    sql: str, start: datetime, end: datetime, service: str = ALL_SERVICES, bucket_s: int = 3600
) -> str:
    """Do what the Grafana ClickHouse plugin does to a panel's SQL, for one time range and
    bucket width (``$__timeInterval(col)``, ``$__interval_s``); ``$__grain`` (ours) picks the
    rollup that holds the bucket: ``minute`` below an hour, ``hour`` from an hour on.

    Examples
    --------
    >>> t0, t1 = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
    >>> expand_macros("WHERE $__timeFilter(hour) AND '${service}' != ''", t0, t1, "api")
    "WHERE hour >= toDateTime('2026-01-05 00:00:00', 'UTC') AND hour <= toDateTime('2026-01-06 00:00:00', 'UTC') AND 'api' != ''"
    """  # noqa: E501 (a doctest output line cannot wrap)
    if "'" in service or "\\" in service:
        msg = f"service must not contain quotes or backslashes, got {service!r}"
        raise ValueError(msg)
    sql = sql.replace("$__grain", "minute" if bucket_s < 3600 else "hour")
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)",
        lambda m: f"{m[1]} >= {_ch_time(start)} AND {m[1]} <= {_ch_time(end)}",
        sql,
    )
    sql = sql.replace("$__fromTime", _ch_time(start)).replace("$__toTime", _ch_time(end))
    sql = sql.replace("$__interval_s", str(max(int(bucket_s), 1)))
    sql = re.sub(
        r"\$__timeInterval\((\w+)\)",
        lambda m: f"toStartOfInterval({m[1]}, INTERVAL {int(bucket_s)} SECOND)",
        sql,
    )
    return sql.replace("${service}", service)


_SERVICES_QUERY = (
    "SELECT DISTINCT service FROM rollup_dashboard_hour WHERE service != '__all' ORDER BY service"
)


# -- Grafana ----------------------------------------------------------------------------------
def _grafana_panel(i: int, p: Panel, ds: dict[str, str]) -> dict[str, Any]:
    """One panel: tables full width, time series two to a row."""
    table = p.kind == "table"
    return {
        "id": i + 1,
        "type": p.kind,
        "title": p.title,
        "datasource": ds,
        "gridPos": {
            "h": 9,
            "w": 24 if table else 12,
            "x": 0 if table else 12 * (i % 2),
            "y": 9 * (i // 2),
        },  # fmt: skip
        "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
        "options": {} if table else {"legend": {"displayMode": "list"}},
        "targets": [
            {
                "refId": "A",
                "datasource": ds,
                "editorType": "sql",
                "queryType": "table" if table else "timeseries",
                "format": 1 if table else 0,
                "rawSql": p.sql_at("hour"),
            }
        ],
    }


def grafana_dashboard() -> dict[str, Any]:
    """The overview dashboard for grafana-clickhouse-datasource (plugin v4 query model)."""
    ds = {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID}
    panels = [_grafana_panel(i, p, ds) for i, p in enumerate(PANELS)]
    return {
        "uid": "infersight-overview",
        "title": "infersight: LLM inference overview",
        "tags": ["infersight", "llm"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "service",
                    "label": "Service",
                    "type": "query",
                    "datasource": ds,
                    "query": _SERVICES_QUERY,
                    "definition": _SERVICES_QUERY,
                    "includeAll": True,
                    "allValue": ALL_SERVICES,
                    "multi": False,
                    "refresh": 2,
                    "current": {"text": "All", "value": "$__all"},
                }
            ]
        },
        "panels": panels,
    }


# -- HTML report ------------------------------------------------------------------------------
def data_extent(sink: Any, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """First and last bucket holding events in ``start``..``end`` (minute rollup, or the
    hour rollup where minutes are not kept); None when the window is empty."""
    for grain in ("minute", "hour"):
        _, rows = sink.query(
            f"SELECT min({grain}), max({grain}), count() FROM rollup_events_{grain} FINAL "
            f"WHERE {grain} >= {_ch_time(start)} AND {grain} <= {_ch_time(end)}"
        )
        if rows and rows[0][2]:
            first, last = rows[0][0], rows[0][1]
            last = last + timedelta(minutes=1 if grain == "minute" else 60)
            return first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)
    return None


def panel_charts(
    sink: Any, start: datetime, end: datetime, service: str = ALL_SERVICES
) -> tuple[Bucket, list[tuple[Panel, Any]]]:
    """Every panel over ``start``..``end``: a chart spec (``sinks.charts``) for a time
    series, ``(columns, rows)`` for a table. The bucket follows the span of the data in the
    window, and the axes stop where the data (or the window) does."""
    extent = data_extent(sink, start, end)
    bucket = choose_bucket(extent[1] - extent[0] if extent else end - start)
    out: list[tuple[Panel, Any]] = []
    for panel in PANELS:
        grain = "minute" if bucket.seconds < 3600 else "hour"
        sql = expand_macros(panel.sql_at(grain), start, end, service, bucket.seconds)
        columns, rows = sink.query(sql)
        if panel.kind == "table":
            out.append((panel, (columns, rows)))
        else:
            spec = series_chart(panel.title, panel.unit, rows, bucket_s=bucket.seconds,
                                window=(start, end), zero_fill=panel.zero_fill)  # fmt: skip
            out.append((panel, spec))
    return bucket, out


def _html_table(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell_text(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bucket_words(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour"
    return f"{seconds // 60} minute"


def render_report(
    sink: ClickHouseSink,
    out: Path,
    since: date,
    until: date,
    service: str = ALL_SERVICES,
    refresh: bool = True,
) -> Path:
    """Write a self-contained HTML report of ``since``..``until`` (days, inclusive) to ``out``.

    ``refresh`` first brings the rollups up to date (they refresh every minute by
    themselves; a report run right after a write would otherwise miss its last minute).
    Charts are drawn in the browser by the vendored uPlot, inlined: the file needs no
    network.
    """
    if until < since:
        msg = f"until ({until}) must not be before since ({since})"
        raise ValueError(msg)
    if refresh:
        refresh_rollups(sink)
    start = datetime.combine(since, time(), tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC) - timedelta(seconds=1)
    bucket, panels = panel_charts(sink, start, end, service)
    charts, tables = [], []
    for panel, result in panels:
        if panel.kind == "table":
            tables.append(f"<h2>{html.escape(panel.title)}</h2>" + _html_table(*result))
        else:
            charts.append(chart_div(result))
    parts = [f'<section class="charts">{"".join(charts)}</section>', *tables]
    params = {"since": since.isoformat(), "until": until.isoformat()}
    for name in REPORT_TABLES:
        query = QUERIES[name]
        given = {k: v for k, v in params.items() if k in {p.name for p in query.params}}
        if service != ALL_SERVICES and "service" in {p.name for p in query.params}:
            given["service"] = service
        result = run_query(sink, name, given)
        parts.append(
            f"<h2>{html.escape(query.title)} <code>infersight query {name}</code></h2>"
            + _html_table(result.columns, result.rows)
        )
    out.write_text(_page(since, until, service, bucket, parts), encoding="utf-8")
    return out


def _page(since: date, until: date, service: str, bucket: Bucket, parts: list[str]) -> str:
    scope = "all services" if service == ALL_SERVICES else f"service {service}"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>infersight report {since} to {until}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
th {{ background: #f3f3f3; }}
</style>
{inline_scripts()}
</head><body>
<h1>infersight report: {since} to {until} (UTC), {html.escape(scope)}</h1>
<p>Generated {generated} from the rollups (each event counted once, redeliveries
included), one point per {_bucket_words(bucket.seconds)}; each axis spans the data inside
the window. Charts match the Grafana dashboard <code>infersight-overview</code>.</p>
{"".join(parts)}
<script>InfersightCharts.renderAll();</script>
</body></html>
"""


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sinks.report DASHBOARD.json``: write the Grafana dashboard file."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        raise SystemExit("usage: python -m sinks.report deploy/grafana/dashboards/FILE.json")
    Path(args[0]).write_text(json.dumps(grafana_dashboard(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
