"""The command line's way to the store: through the running worker, or the directory itself.

``open_store(settings, command)`` returns an object with the ``ClickHouseSink`` methods the
commands use (``query``, ``scalar``, ``migrate``, ``close``):

- a ClickHouse server (``INFERSIGHT_CLICKHOUSE_URL``): a ``ClickHouseSink``, as always;
- an embedded directory that a live worker owns (``worker.json``, see ``streams.owner``): a
  ``RemoteSink`` that sends each query to the worker (``streams.serve``);
- an embedded directory nobody owns: a ``ClickHouseSink`` on it, holding the directory's
  lock so that a worker started meanwhile refuses rather than corrupts.

Anything that stops a command is a ``StoreUnavailable`` whose text is one line for the user.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from sinks.alert_store import AlertStore
from streams.owner import DirectoryBusy, DirectoryLock, LiveWorker, find_worker
from streams.serve import MAX_ROWS, decode, encode, silence_json

__all__ = ["RemoteAlertStore", "RemoteSink", "StoreUnavailable", "open_store"]


class StoreUnavailable(RuntimeError):
    """The store cannot be reached as asked; the message is one line saying what to do."""


class WorkerRefused(StoreUnavailable):
    """The worker answered, and refused (its status: 400, 401, 403, 404, 503, ...)."""

    def __init__(self, msg: str, status: int) -> None:
        super().__init__(msg)
        self.status = status


class RemoteSink:
    """``ClickHouseSink``'s read interface over a worker's HTTP API."""

    def __init__(
        self, worker: LiveWorker, timeout_s: float = 330.0, token: str | None = None
    ) -> None:
        self.worker = worker
        # The worker's INFERSIGHT_API_TOKEN, when it has one (streams.webauth): the command
        # line runs with the same environment as the worker it talks to.
        token = token if token is not None else os.environ.get("INFERSIGHT_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._http = httpx.Client(base_url=worker.url, timeout=timeout_s, headers=headers)
        self.truncated = False

    def __repr__(self) -> str:
        return f"RemoteSink({self.worker.url!r}, pid={self.worker.pid})"

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            msg = (
                f"the worker (pid {self.worker.pid}) at {self.worker.url} did not answer "
                f"({type(exc).__name__}); is it still running?"
            )
            raise StoreUnavailable(msg) from None
        if response.status_code >= 400:
            try:
                why = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                why = response.text.strip()[:300] or response.reason_phrase
            msg = f"the worker refused ({response.status_code}): {why}"
            raise WorkerRefused(msg, response.status_code)
        return response.json()

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        *,
        columns_when_empty: bool = False,  # the API always sends the column names
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        body = {"sql": sql, "params": encode(parameters) if parameters else None,
                "format": "rows", "limit": MAX_ROWS}  # fmt: skip
        data = self._call("POST", "/api/sql", json=body)
        self.truncated = self.truncated or bool(data.get("truncated"))
        return list(data["columns"]), [tuple(decode(r)) for r in data["rows"]]

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        _, rows = self.query(sql, parameters)
        return rows[0][0] if rows else None

    def migrate(self) -> list[str]:
        return []  # the worker applied the migrations when it started

    def refresh_rollups(self) -> None:
        self._call("POST", "/api/rollups/refresh")

    def close(self) -> None:
        self._http.close()


class RemoteAlertStore(AlertStore):
    """``AlertStore`` through the worker: reads are plain SELECTs (the generic path); the one
    write the command line makes, a silence (added, or ended by rewriting it), is a POST."""

    sink: RemoteSink

    def write_silence(self, silence: Any) -> None:
        body = silence_json(silence)
        body["matchers"] = [[m.name, m.op, m.value] for m in silence.matchers]
        self.sink._call("POST", "/api/silences", json=body)


_HELD: dict[str, DirectoryLock] = {}  # locks this process holds, by directory


def _busy_message(exc: DirectoryBusy) -> str:
    holder = exc.holder
    who = f"pid {holder.get('pid', '?')}, `{holder.get('command', '?')}`"
    if str(holder.get("command", "")).endswith("worker"):
        return (
            f"a worker ({who}) owns {exc.directory} but is not serving yet: retry in a few seconds"
        )
    return f"{exc.directory} is in use by another command ({who}): retry when it has finished"


def open_store(clickhouse: Any, command: str) -> Any:
    """The store for one command: see the module docstring. Raises ``StoreUnavailable``."""
    from sinks.clickhouse import ClickHouseSink

    if not clickhouse.embedded:
        return ClickHouseSink(clickhouse)
    directory = clickhouse.data_dir
    worker = find_worker(directory)
    if worker is not None:
        remote = RemoteSink(worker)
        try:
            remote._call("GET", "/api/queries")  # serving (a stalled stream still serves)
            return remote
        except WorkerRefused as exc:
            remote.close()
            if exc.status in (401, 403):  # serving, but not to us: say why, in one line
                raise
        except StoreUnavailable:
            remote.close()  # a stale file whose pid was reused: fall through to the lock
    key = str(directory.resolve())
    if key not in _HELD:
        try:
            _HELD[key] = DirectoryLock.acquire(directory, command)
        except DirectoryBusy as exc:
            raise StoreUnavailable(_busy_message(exc)) from None
    return ClickHouseSink(clickhouse)
