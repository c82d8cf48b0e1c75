"""The store's HTTP endpoints on the worker's faust web server (what they do: ``streams.serve``).

``mount(app, sink)`` registers one view class per path, each bound to a ``Store``: the sink
and the one thread its reads and writes run in (chDB calls are synchronous; the event loop,
which carries the Kafka heartbeats, must stay free). It returns that ``Store`` for the live
page to share.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from faust.web import View

from streams.serve import (
    FORMATS,
    NotASelect,
    ReadOnlyStore,
    check_select,
    decode,
    error_status,
    limits,
    one_line,
    render,
    silence_from_json,
    silence_json,
)
from streams.webauth import Gate, Refusal

__all__ = ["GatedView", "Store", "mount"]


@dataclass
class Store:
    """The sink as the endpoints use it: every call in one dedicated thread, behind the gate
    (``streams.webauth``: same origin, the token, loopback without one)."""

    sink: Any
    gate: Gate = field(default_factory=lambda: Gate(None, "127.0.0.1"))
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="serve")
    )

    async def call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        msg = f"format must be one of {', '.join(FORMATS)}, got {fmt!r}"
        raise ValueError(msg)
    return fmt


class GatedView(View):
    """A view that answers only what its gate (``streams.webauth``) lets through; a refusal
    is JSON ``{"error": ...}`` with the gate's status and headers."""

    def gate(self) -> Gate:
        raise NotImplementedError

    async def dispatch(self, request: Any) -> Any:
        refusal: Refusal | None = self.gate().refuse(request.headers)
        if refusal is not None:
            headers = dict(refusal.headers)
            return self.web.json({"error": refusal.message}, status=refusal.status, headers=headers)
        return await super().dispatch(request)


class _StoreView(GatedView):
    store: Store  # set per app by mount()

    def gate(self) -> Gate:
        return self.store.gate

    def error(self, status: int, message: str) -> Any:
        return self.web.json({"error": message}, status=status)

    def failure(self, exc: Exception) -> Any:
        """ClickHouse's refusal (or an outage) as one line with its HTTP status."""
        return self.error(error_status(exc), one_line(exc))

    def result(self, columns: list[str], rows: list[Any], fmt: str, **extra: Any) -> Any:
        body, ctype = render(columns, rows, fmt, **extra)
        headers = {"X-Infersight-Truncated": "1"} if extra.get("truncated") else None
        return self.web.bytes(body, content_type=ctype, headers=headers)


class SqlView(_StoreView):
    """``/api/sql``: one SELECT, from ``?sql=`` or a JSON body."""

    async def get(self, request: Any) -> Any:
        given = dict(request.query)
        return await self.run(given.pop("sql", ""), None, given)

    async def post(self, request: Any) -> Any:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError as exc:
            return self.error(400, f"bad JSON body: {exc}")
        return await self.run(str(body.get("sql", "")), body.get("params"), body)

    async def run(self, sql: str, params: Any, given: dict[str, Any]) -> Any:
        try:
            fmt = _check_format(str(given.get("format") or "json"))
            store = ReadOnlyStore(self.store.sink, *limits(given))
            sql = check_select(sql)
            columns, rows = await self.store.call(store.query, sql, decode(params) or None)
        except (NotASelect, ValueError) as exc:
            return self.error(400, str(exc))
        except Exception as exc:
            return self.failure(exc)
        return self.result(columns, rows, fmt, types=store.types, truncated=store.truncated)


class QueriesView(_StoreView):
    """``/api/queries``: the library of named queries."""

    async def get(self, request: Any) -> Any:
        from sinks.queries import QUERIES

        return self.web.json([
            {"name": q.name, "title": q.title,
             "params": [{"name": p.name, "type": p.type, "help": p.help} for p in q.params]}
            for q in QUERIES.values()
        ])  # fmt: skip


class QueryView(_StoreView):
    """``/api/query/NAME``: a named query, its parameters from the query string."""

    async def get(self, request: Any, name: str) -> Any:
        from sinks.queries import QueryError, run_query

        given = dict(request.query)
        try:
            fmt = _check_format(given.pop("format", "json"))
            store = ReadOnlyStore(self.store.sink, *limits(given))
            given.pop("limit", None), given.pop("max_execution_time", None)
            result = await self.store.call(run_query, store, name, given)
        except QueryError as exc:
            return self.error(404 if str(exc).startswith("no query") else 400, str(exc))
        except ValueError as exc:
            return self.error(400, str(exc))
        except Exception as exc:
            return self.failure(exc)
        return self.result(result.columns, result.rows, fmt, truncated=store.truncated)


def _alert_store(sink: Any) -> Any:
    from sinks.alert_store import AlertStore

    return AlertStore(sink)


class SilencesView(_StoreView):
    """``/api/silences``: list the active ones, add one (or replace one with the same id)."""

    async def get(self, request: Any) -> Any:
        from alerting.dispatch import active_silences

        store = _alert_store(ReadOnlyStore(self.store.sink))
        found = await self.store.call(active_silences, store)
        return self.web.json([silence_json(s) for s in found])

    async def post(self, request: Any) -> Any:
        try:
            silence = silence_from_json(await request.json())
        except (ValueError, KeyError, TypeError) as exc:
            return self.error(400, f"bad silence: {exc}")
        try:
            await self.store.call(_alert_store(self.store.sink).write_silence, silence)
        except Exception as exc:
            return self.failure(exc)
        return self.web.json(silence_json(silence), status=201)


class SilenceView(_StoreView):
    """``/api/silences/ID``: end one now."""

    async def delete(self, request: Any, silence_id: str) -> Any:
        from alerting.dispatch import expire_silence

        store = _alert_store(self.store.sink)
        try:
            ended = await self.store.call(expire_silence, store, silence_id)
        except Exception as exc:
            return self.failure(exc)
        if not ended:
            return self.error(404, f"no active silence {silence_id!r}")
        return self.web.json({"id": silence_id, "ended": True})


class RefreshView(_StoreView):
    """``/api/rollups/refresh``: the rollups, up to date now."""

    async def post(self, request: Any) -> Any:
        from sinks.queries import refresh_rollups

        try:
            await self.store.call(refresh_rollups, self.store.sink)
        except Exception as exc:
            return self.failure(exc)
        return self.web.json({"refreshed": True})


ROUTES: tuple[tuple[str, type[_StoreView]], ...] = (
    ("/api/sql", SqlView),
    ("/api/queries", QueriesView),
    ("/api/query/{name}", QueryView),
    ("/api/silences", SilencesView),
    ("/api/silences/{silence_id}", SilenceView),
    ("/api/rollups/refresh", RefreshView),
)


def mount(app: Any, sink: Any, gate: Gate | None = None) -> Store:
    """Register the endpoints on ``app``; returns the ``Store`` they share (and its gate)."""
    store = Store(sink) if gate is None else Store(sink, gate=gate)
    for path, view in ROUTES:
        app.page(path)(type(view.__name__, (view,), {"store": store}))
    return store
