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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from streams.api import GatedView
from streams.webauth import Gate

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
    from sinks.queries import run_query
    from sinks.report import panel_charts
    from sinks.tables import _plain
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


class _LiveView(GatedView):
    live: _Live  # set per app by mount()

    def gate(self) -> Gate:
        return self.live.store.gate


class PageView(_LiveView):
    async def get(self, request: Any) -> Any:
        return self.web.html(self.live.page)


class StaticView(_LiveView):
    async def get(self, request: Any, name: str) -> Any:
        if name not in self.live.static:
            return self.web.json({"error": f"no static file {name!r}"}, status=404)
        ctype = next((t for ext, t in _TYPES.items() if name.endswith(ext)), "text/plain")
        return self.web.bytes(self.live.static[name].encode(), content_type=ctype)


class LiveView(_LiveView):
    async def get(self, request: Any) -> Any:
        live = self.live
        try:
            data = await live.cached_snapshot()
        except Exception as exc:
            return self.web.json({"error": str(exc).splitlines()[0][:300]}, status=503)
        names = [t for t in _topics_of(live.app) if t.endswith("llm.inference.v1")]
        data["worker"] = {
            "stats": live.metrics.snapshot() if live.metrics is not None else {},
            "lag": consumer_lag(live.app, names[0]) if names else {"total": None},
            "uptime_s": round(time.time() - live.started, 1),
        }
        return self.web.json(data)


_TYPES = {".js": "application/javascript", ".css": "text/css"}


@dataclass
class _Live:
    app: Any
    store: Any  # streams.api.Store: the sink and its thread
    metrics: Any
    page: str
    static: dict[str, str]
    started: float = field(default_factory=time.time)
    cache: dict[str, Any] = field(default_factory=lambda: {"at": 0.0, "took": 0.0, "data": None})

    async def cached_snapshot(self) -> dict[str, Any]:
        # The store's reads share chDB with the writer: however many pages are open, read
        # at most once per MIN_INTERVAL_S, and never more than a third of the time.
        c = self.cache
        if c["data"] is None or time.monotonic() - c["at"] >= max(MIN_INTERVAL_S, 2 * c["took"]):
            t0 = time.monotonic()
            c["data"] = await self.store.call(snapshot, self.store.sink)
            c["at"], c["took"] = time.monotonic(), time.monotonic() - t0
        return dict(c["data"])


def mount(app: Any, store: Any, metrics: Any) -> None:
    """Register the page, its snapshot endpoint and its static files on ``app``."""
    from sinks.charts import assets

    page = (resources.files("streams.live") / "page.html").read_text("utf-8")
    live = _Live(app, store, metrics, page, assets())
    for path, view in (("/", PageView), ("/static/{name}", StaticView), ("/api/live", LiveView)):
        app.page(path)(type(view.__name__, (view,), {"live": live}))


def _topics_of(app: Any) -> list[str]:
    try:
        return sorted({tp.topic for tp in app.consumer.assignment()})
    except Exception:
        return []
