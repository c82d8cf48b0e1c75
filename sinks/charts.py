"""Time-series charts for people: one module for the static report and the live page.

Python decides what a chart shows: the bucket width from the span the data covers (minutes
for a short run, hours for days, days for weeks), an axis limited to the report's window and
to the data inside it, one aligned array per series. The browser draws it with uPlot (MIT,
vendored under ``sinks/static/uplot/`` with its licence; no CDN) through ``charts.js``.

Examples
--------
>>> choose_bucket(timedelta(minutes=50)).seconds, choose_bucket(timedelta(days=2)).seconds
(60, 3600)
>>> spec = series_chart("Calls", "short", [(datetime(2026, 1, 1, 10, 0), "gpt-4o", 3),
...     (datetime(2026, 1, 1, 10, 2), "gpt-4o", 5)], bucket_s=60,
...     window=(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)))
>>> spec["x"][:3], spec["series"][0]["values"][:3]
([1767261600, 1767261660, 1767261720], [3.0, 0.0, 5.0])
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

__all__ = [
    "Bucket",
    "assets",
    "choose_bucket",
    "chart_div",
    "inline_scripts",
    "series_chart",
]


@dataclass(frozen=True)
class Bucket:
    """A bucket width and the rollup grain that holds it (``minute`` or ``hour``)."""

    seconds: int

    @property
    def grain(self) -> str:
        return "minute" if self.seconds < 3600 else "hour"


# (longest span, bucket seconds): about 30 to 400 points per chart.
_BUCKETS = (
    (timedelta(hours=3), 60),
    (timedelta(hours=12), 300),
    (timedelta(days=1), 900),
    (timedelta(days=14), 3600),
    (timedelta(days=60), 6 * 3600),
)


def choose_bucket(span: timedelta) -> Bucket:
    """The bucket for data covering ``span``."""
    for longest, seconds in _BUCKETS:
        if span <= longest:
            return Bucket(seconds)
    return Bucket(86400)


def _epoch(ts: datetime) -> int:
    if ts.tzinfo is None:  # clickhouse-connect returns naive UTC for DateTime('UTC')
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp())


def series_chart(
    title: str,
    unit: str,
    rows: Sequence[tuple[Any, Any, Any]],
    *,
    bucket_s: int,
    window: tuple[datetime, datetime],
    zero_fill: bool = True,
) -> dict[str, Any]:
    """A chart spec from long-format rows ``(time, series, value)``.

    The x axis runs over every bucket from the first to the last row, clipped to
    ``window``; a series without a value in a bucket gets 0 (``zero_fill``, for counts and
    costs) or a gap bridged by the line (rates, latencies).
    """
    start, end = (_epoch(t) for t in window)
    points: dict[str, dict[int, float]] = {}
    for t, name, value in rows:
        x = _epoch(t)
        if start <= x <= end and value is not None and value == value:  # NaN: no point
            points.setdefault(str(name), {})[x - x % bucket_s] = float(value)
    xs: list[int] = []
    if points:
        first = min(min(p) for p in points.values())
        last = max(max(p) for p in points.values())
        xs = list(range(first, last + 1, bucket_s))
    fill = 0.0 if zero_fill else None
    series = [
        {"name": name, "values": [vals.get(x, fill) for x in xs]}
        for name, vals in sorted(points.items())
    ]
    xmin = max(start, xs[0]) if xs else start
    xmax = min(end, xs[-1] + bucket_s) if xs else end
    return {
        "title": title,
        "unit": unit,
        "bucket_s": bucket_s,
        "xmin": xmin,
        "xmax": xmax,
        "x": xs,
        "series": series,
        "span_gaps": not zero_fill,
    }


def assets() -> dict[str, str]:
    """The vendored uPlot (JS, CSS) and our ``charts.js``, as text."""
    static = resources.files("sinks") / "static"
    return {
        "uPlot.iife.min.js": (static / "uplot" / "uPlot.iife.min.js").read_text("utf-8"),
        "uPlot.min.css": (static / "uplot" / "uPlot.min.css").read_text("utf-8"),
        "charts.js": (static / "charts.js").read_text("utf-8"),
        "LICENSE.uPlot": (static / "uplot" / "LICENSE").read_text("utf-8"),
    }


CSS = """
.chart { display: inline-block; vertical-align: top; width: 48%; min-width: 340px;
         margin: 0 1% 1.2em 0; }
.chart-title { font-weight: 600; font-size: 13px; margin: 0 0 4px 0; }
.chart-empty { color: #888; font-size: 12px; padding: 2em 0; }
"""


def inline_scripts() -> str:
    """uPlot, its CSS and charts.js inlined: a page that needs no network at all."""
    a = assets()
    return (
        f"<style>{a['uPlot.min.css']}{CSS}</style>\n"
        f"<script>{a['uPlot.iife.min.js']}</script>\n<script>{a['charts.js']}</script>"
    )


def chart_div(spec: dict[str, Any]) -> str:
    """A placeholder that ``InfersightCharts.renderAll()`` turns into the chart."""
    data = html.escape(json.dumps(spec), quote=True)
    return f'<div class="chart" data-chart-spec="{data}"></div>'
