"""The live page: what the monitor sees, while it runs, at the worker's ``/``.

``GET /``                 the page (``page.html``); it polls ``/api/live`` every few seconds
``GET /api/live``         one JSON snapshot: worker counters and consumer lag, the report's
                          charts over today and yesterday (``sinks.report.panel_charts``), and
                          the named queries behind each table, with the command that reruns
                          them (``infersight query NAME -p ...``): the numbers are the same
``GET /static/NAME``      uPlot (vendored, MIT), its CSS and licence, and ``charts.js``

Reading order: ``snapshot`` (what the page shows), then ``mount``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

__all__ = ["LIVE_TABLES", "MIN_INTERVAL_S", "mount", "snapshot"]

#: The page polls every 3 s; the store is read at most this often, whatever the page count.
MIN_INTERVAL_S = 2.5

#: Tables on the page: (named query, which parameters it takes from the page's window).
LIVE_TABLES = (
    ("cost_by_service_model", ("since", "until")),
    ("deadletters_by_reason", ("since", "until")),
    ("open_alerts", ()),
    ("drift_explanations", ("since", "until")),
)


def _command(name: str, params: dict[str, str]) -> str:
    return " ".join(["infersight query", name, *(f"-p {k}={v}" for k, v in params.items())])


def snapshot(sink: Any, now: datetime | None = None) -> dict[str, Any]:
    """Everything the page shows except the worker's counters, read from the store through
    the same SQL as ``infersight query`` and ``infersight report`` (synchronous)."""
    from sinks.queries import _plain, run_query
    from sinks.report import panel_charts
    from streams.serve import ReadOnlyStore

    now = now or datetime.now(UTC)
    today = now.date()
    since = today - timedelta(days=1)
    window = {"since": since.isoformat(), "until": today.isoformat()}
    store = ReadOnlyStore(sink)
    start = datetime.combine(since, datetime.min.time(), tzinfo=UTC)
    bucket, panels = panel_charts(store, start, now)
    charts = [spec for panel, spec in panels if panel.kind == "timeseries"]
    tables = {}
    for name, takes in LIVE_TABLES:
        params = {k: v for k, v in window.items() if k in takes}
        try:
            result = run_query(store, name, params)
        except Exception as exc:  # one table failing must not blank the page
            tables[name] = {"error": str(exc).splitlines()[0][:300]}
            continue
        tables[name] = {
            "command": _command(name, params),
            "columns": result.columns,
            "rows": [[_plain(v) for v in r] for r in result.rows],
        }
    return {
        "generated_at": now.isoformat(),
        "window": window,
        "bucket_s": bucket.seconds,
        "charts": charts,
        "tables": tables,
    }


def consumer_lag(app: Any, topic: str) -> dict[str, Any]:
    """Messages between what this worker has read and the broker's high watermark, per
    assigned partition of ``topic`` (from the consumer's fetch responses)."""
    try:
        consumer = app.consumer
        lag = {}
        for tp in consumer.assignment():
            if tp.topic != topic:
                continue
            high = consumer.highwater(tp)
            read = consumer._read_offset.get(tp)  # faust keeps the last offset read
            if high is not None:
                done = int(read) + 1 if read is not None else 0
                lag[str(tp.partition)] = max(0, int(high) - done)
        return {"partitions": lag, "total": sum(lag.values())}
    except Exception as exc:  # not started, or rebalancing
        return {"partitions": {}, "total": None, "note": type(exc).__name__}


def mount(app: Any, sink: Any, metrics: Any, call: Callable[..., Any]) -> None:
    """Register the page, its snapshot endpoint and its static files on ``app``."""
    from faust.web import View

    from sinks.charts import assets

    page = (resources.files("streams.live") / "page.html").read_text("utf-8")
    static = assets()
    types = {".js": "application/javascript", ".css": "text/css"}
    started = time.time()

    @app.page("/")
    class Page(View):
        async def get(self, request: Any) -> Any:
            return self.web.html(page)

    @app.page("/static/{name}")
    class Static(View):
        async def get(self, request: Any, name: str) -> Any:
            if name not in static:
                return self.web.json({"error": f"no static file {name!r}"}, status=404)
            ctype = next((t for ext, t in types.items() if name.endswith(ext)), "text/plain")
            return self.web.bytes(static[name].encode(), content_type=ctype)

    cache: dict[str, Any] = {"at": 0.0, "took": 0.0, "data": None}

    async def cached_snapshot() -> dict[str, Any]:
        # The store's reads share chDB with the writer: however many pages are open, read
        # at most once per MIN_INTERVAL_S, and never more than a third of the time.
        age = time.monotonic() - cache["at"]
        if cache["data"] is None or age >= max(MIN_INTERVAL_S, 2 * cache["took"]):
            t0 = time.monotonic()
            cache["data"] = await call(snapshot, sink)
            cache["at"], cache["took"] = time.monotonic(), time.monotonic() - t0
        return dict(cache["data"])

    @app.page("/api/live")
    class Live(View):
        async def get(self, request: Any) -> Any:
            try:
                data = await cached_snapshot()
            except Exception as exc:
                return self.web.json({"error": str(exc).splitlines()[0][:300]}, status=503)
            stats = metrics.snapshot() if metrics is not None else {}
            names = [t for t in _topics_of(app) if t.endswith("llm.inference.v1")]
            data["worker"] = {
                "stats": stats,
                "lag": consumer_lag(app, names[0]) if names else {"total": None},
                "uptime_s": round(time.time() - started, 1),
            }
            return self.web.json(data)


def _topics_of(app: Any) -> list[str]:
    try:
        return sorted({tp.topic for tp in app.consumer.assignment()})
    except Exception:
        return []
