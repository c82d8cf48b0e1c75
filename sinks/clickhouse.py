"""ClickHouse: the embedded engine (chDB) under a data directory by default, a ClickHouse
server when a URL is configured. The SQL is the same; everything goes through
clickhouse-connect.

The sink owns its data directory: chDB allows one process per directory and one directory
per process. All calls are synchronous; the stream layer runs them in a thread so the event
loop (and the Kafka heartbeats on it) stays free.

Writes are idempotent as analysts query: every table is a ReplacingMergeTree whose sorting
key identifies a row (event_id, detector, ...), and the ``*_v`` views read ``FINAL``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from pydantic import BaseModel, Field, SecretStr, field_validator

from schemas.errors import InfersightError
from schemas.results import DeadLetter
from sinks.backoff import Backoff
from sinks.rows import (
    DEADLETTER_COLUMNS,
    DRIFT_COLUMNS,
    DRIFT_STATE_COLUMNS,
    EMBEDDING_COLUMNS,
    EVENT_COLUMNS,
    SIGNAL_COLUMNS,
    deadletter_row,
    drift_row,
    drift_state_row,
    embedding_rows,
    event_row,
    signal_rows,
)
from sinks.sql import naive
from sinks.storage_errors import (
    MAX_PARTITIONS_PER_INSERT,
    Captured,
    Rejected,
    clickhouse_error,
    is_transient,
    native_stderr,
    single_statement,
)

if TYPE_CHECKING:
    from detectors.drift.monitor import DriftResult
    from detectors.pipeline import ScoredEvent

__all__ = [
    "ClickHouseSettings",
    "ClickHouseSink",
    "Migration",
    "Rejected",
    "SinkUnavailable",
    "is_transient",
    "migrations",
    "single_statement",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class SinkUnavailable(InfersightError, RuntimeError):
    """ClickHouse could not be reached or refused a write; the caller retries or holds."""


class ClickHouseSettings(BaseModel):
    """Where results are stored. With no ``url``, the embedded engine under ``data_dir``."""

    url: str | None = Field(
        default=None,
        description="ClickHouse server, e.g. https://host:8443 or http://localhost:8123. "
        "Unset: embedded chDB under data_dir.",
    )
    data_dir: Path = Field(
        default=Path("data/clickhouse"), description="chDB data directory (embedded mode)."
    )
    database: str = Field(default="infersight", description="Database holding every table.")
    username: str = Field(default="default", description="Server user (server mode).")
    password: SecretStr = Field(default=SecretStr(""), description="Server password.")
    secure: bool | None = Field(default=None, description="TLS; default from the URL scheme.")
    retry_initial_s: float = Field(default=0.5, gt=0, description="First retry delay.")
    retry_max_s: float = Field(default=30.0, gt=0, description="Longest delay between retries.")
    fault_file: Path | None = Field(
        default=None,
        description="TEST ONLY (tests/faults, benchmarks/faults): while this file exists, "
        "every result write first reads it: 'down' fails the write as an unreachable "
        "ClickHouse would, 'delay SECONDS' sleeps before writing. Unset (the default): "
        "never read.",
    )

    @field_validator("database")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            msg = f"database must be a plain identifier, got {value!r}"
            raise ValueError(msg)
        return value

    @property
    def embedded(self) -> bool:
        return self.url is None


class Migration(BaseModel):
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """Statements split on ``;`` at line end, comments dropped."""
        lines = [ln for ln in self.sql.splitlines() if not ln.lstrip().startswith("--")]
        return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip()]


def migrations() -> list[Migration]:
    """The numbered DDL files shipped in ``schemas/clickhouse``, in order."""
    folder = resources.files("schemas") / "clickhouse"
    found = []
    for entry in folder.iterdir():
        m = re.fullmatch(r"(\d{3})_(\w+)\.sql", entry.name)
        if m:
            found.append(Migration(version=int(m[1]), name=m[2], sql=entry.read_text()))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        msg = f"duplicate migration numbers in schemas/clickhouse: {versions}"
        raise RuntimeError(msg)
    return found


class ClickHouseSink:
    """Synchronous ClickHouse access for one process: migrate, write batches, query.

    Every public method is safe to call from any one thread at a time; a lock serialises
    them (chDB is not reentrant).
    """

    def __init__(self, settings: ClickHouseSettings | None = None) -> None:
        self.settings = settings or ClickHouseSettings()
        self._client: Any = None
        self._reader: Any = None  # a second session, read-only: see read()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        where = self.settings.url or f"chdb:{self.settings.data_dir}"
        return f"ClickHouseSink({where!r}, database={self.settings.database!r})"

    # -- connection -------------------------------------------------------------------
    def _connect(self) -> Any:
        import clickhouse_connect

        s = self.settings
        native = Captured()
        try:
            if s.embedded:
                s.data_dir.mkdir(parents=True, exist_ok=True)
                with native_stderr() as native:
                    try:
                        boot = clickhouse_connect.get_client(interface="chdb", path=str(s.data_dir))
                    except Exception:
                        native.failed = True
                        raise
                boot.command(f"CREATE DATABASE IF NOT EXISTS {s.database}")
                return clickhouse_connect.get_client(
                    interface="chdb", path=str(s.data_dir), database=s.database
                )
            url = urlparse(s.url)
            secure = s.secure if s.secure is not None else url.scheme == "https"
            kwargs: dict[str, Any] = {
                "host": url.hostname,
                "port": url.port or (8443 if secure else 8123),
                "username": url.username or s.username,
                "password": url.password or s.password.get_secret_value(),
                "secure": secure,
            }
            boot = clickhouse_connect.get_client(**kwargs)
            boot.command(f"CREATE DATABASE IF NOT EXISTS {s.database}")
            return clickhouse_connect.get_client(database=s.database, **kwargs)
        except Exception as exc:
            if s.embedded and "Cannot lock file" in native.text:
                msg = (
                    f"cannot open chDB at {s.data_dir}: another process holds it (chDB allows "
                    "one process per data directory; a running `infersight worker` owns it). "
                    "Stop that process, or use a ClickHouse server (INFERSIGHT_CLICKHOUSE_URL)"
                )
                raise SinkUnavailable(msg) from exc
            where = s.url and urlparse(s.url)._replace(netloc=urlparse(s.url).hostname or "")
            where = where.geturl() if where else f"chDB at {s.data_dir}"
            msg = f"cannot open ClickHouse ({where}): {type(exc).__name__}: {exc}"
            raise SinkUnavailable(msg) from exc

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            if self._client is not None:
                try:
                    self._client.close()
                finally:
                    self._client = None

    # -- schema -----------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations in order; returns the names applied (idempotent)."""
        with self._lock:
            c = self.client
            c.command(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
                "checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
                "ENGINE = ReplacingMergeTree ORDER BY version"
            )
            done = {
                int(v): chk
                for v, chk in c.query(
                    "SELECT version, checksum FROM schema_migrations FINAL"
                ).result_rows
            }
            applied = []
            for mig in migrations():
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        log.warning(
                            "migration %03d_%s changed after it was applied; migrations are "
                            "forward-only: add a new file instead",
                            mig.version,
                            mig.name,
                        )
                    continue
                for stmt in mig.statements():
                    c.command(stmt)
                c.insert(
                    "schema_migrations",
                    [[mig.version, mig.name, mig.checksum]],
                    column_names=["version", "name", "checksum"],
                )
                applied.append(f"{mig.version:03d}_{mig.name}")
            return applied

    # -- writes -----------------------------------------------------------------------
    def _insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        if rows:
            self.client.insert(table, rows, column_names=columns)

    def insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        """Insert ``rows`` (lists in ``columns`` order) under the sink's lock."""
        with self._lock:
            self._insert(table, rows, columns)

    def _insert_by_month(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        """Insert rows partitioned by ``toYYYYMM(timestamp)`` in blocks of at most
        ``MAX_PARTITIONS_PER_INSERT`` months: a backfill spanning years would otherwise
        exceed ClickHouse's per-insert partition limit and never be stored."""
        at = columns.index("timestamp")
        months: dict[tuple[int, int], list[list[Any]]] = {}
        for row in rows:
            months.setdefault((row[at].year, row[at].month), []).append(row)
        if len(months) <= MAX_PARTITIONS_PER_INSERT:
            self._insert(table, rows, columns)
            return
        keys = sorted(months)
        for i in range(0, len(keys), MAX_PARTITIONS_PER_INSERT):
            block = [r for k in keys[i : i + MAX_PARTITIONS_PER_INSERT] for r in months[k]]
            self._insert(table, block, columns)

    def _write_scored(
        self, scored: Sequence[ScoredEvent], embedding_model: str | None, now: datetime
    ) -> None:
        # Rows are built outside any error handling: a row that cannot be built is a bug in
        # our code, neither an outage to hold for nor bad input to dead-letter.
        events = [event_row(s, now) for s in scored]
        signals = [r for s in scored for r in signal_rows(s, now)]
        vectors = (
            [r for s in scored for r in embedding_rows(s, embedding_model, now)]
            if embedding_model
            else []
        )
        self._insert_by_month("events", events, EVENT_COLUMNS)
        self._insert_by_month("signals", signals, SIGNAL_COLUMNS)
        self._insert_by_month("embeddings", vectors, EMBEDDING_COLUMNS)

    def _store(
        self,
        scored: Sequence[ScoredEvent],
        embedding_model: str | None,
        now: datetime,
        rejected: list[Rejected],
    ) -> None:
        """Write ``scored``; on a permanent error split it in halves until the refused
        events are alone, and collect those in ``rejected``. A transient error anywhere
        raises ``SinkUnavailable`` (the caller holds and retries the whole batch; rows
        already written collapse with the retry)."""
        if not scored:
            return
        try:
            self._write_scored(scored, embedding_model, now)
            return
        except Exception as exc:
            if is_transient(exc):
                self._client = None  # reconnect next time: the failure may be the connection
                msg = f"ClickHouse write failed: {type(exc).__name__}: {exc}"
                raise SinkUnavailable(msg) from exc
            if len(scored) == 1:
                log.warning("ClickHouse refused event %s: %s", scored[0].event.event_id,
                            clickhouse_error(exc))  # fmt: skip
                rejected.append(Rejected(scored[0], clickhouse_error(exc)))
                return
        mid = len(scored) // 2
        self._store(scored[:mid], embedding_model, now, rejected)
        self._store(scored[mid:], embedding_model, now, rejected)

    def write_results(
        self,
        scored: Sequence[ScoredEvent],
        dead: Sequence[DeadLetter] = (),
        embedding_model: str | None = None,
    ) -> list[Rejected]:
        """Write one batch: events, their signals, and dead-letter records.

        Raises ``SinkUnavailable`` on a transient failure (connection, timeout, memory, too
        many parts); a retry writes the same rows again, which the ReplacingMergeTree tables
        collapse. Events that ClickHouse refuses for their content are isolated by splitting
        the batch: everything else is stored, and the refused events are returned with
        ClickHouse's error for the caller to dead-letter (``storage_rejected``). With
        ``embedding_model`` (a label such as ``all-MiniLM-L6-v2/fp32``) the events'
        embeddings go to the ``embeddings`` table.
        """
        now = naive(datetime.now(UTC))
        deadletters = [deadletter_row(d) for d in dead]
        rejected: list[Rejected] = []
        with self._lock:
            try:
                if self.settings.fault_file is not None:
                    self._injected_fault(self.settings.fault_file)
            except Exception as exc:
                msg = f"ClickHouse write failed: {type(exc).__name__}: {exc}"
                raise SinkUnavailable(msg) from exc
            self._store(list(scored), embedding_model, now, rejected)
            try:
                self._insert("deadletters", deadletters, DEADLETTER_COLUMNS)
            except Exception as exc:
                self._client = None
                msg = f"ClickHouse write failed: {type(exc).__name__}: {exc}"
                raise SinkUnavailable(msg) from exc
        return rejected

    @staticmethod
    def _injected_fault(path: Path) -> None:
        """Test-only fault injection (``fault_file``): an outage or a slow insert on demand."""
        try:
            words = path.read_text().split()
        except FileNotFoundError:
            return
        if words[:1] == ["down"]:
            msg = f"injected outage ({path} says down)"
            raise ConnectionRefusedError(msg)
        if words[:1] == ["delay"] and len(words) > 1:
            time.sleep(float(words[1]))

    def write_drift(
        self, results: Sequence[DriftResult], states: Mapping[tuple[str, str, str], bytes]
    ) -> None:
        """Tested drift windows (``drift_results``) and monitor states (``drift_state``)."""
        now = naive(datetime.now(UTC))
        rows = [drift_row(r) for r in results]
        state_rows = [drift_state_row(key, blob, now) for key, blob in states.items()]
        with self._lock:
            try:
                self._insert("drift_results", rows, DRIFT_COLUMNS)
                self._insert("drift_state", state_rows, DRIFT_STATE_COLUMNS)
            except Exception as exc:
                self._client = None
                msg = f"ClickHouse drift write failed: {type(exc).__name__}: {exc}"
                raise SinkUnavailable(msg) from exc

    def load_drift_states(
        self, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], bytes]:
        """The latest saved state of each drift stream in ``keys`` that has one: one query."""
        _, rows = self.query(
            "SELECT service, model, field, argMax(state_b64, updated_at) FROM drift_state "
            "WHERE (service, model, field) IN {keys:Array(Tuple(String, String, String))} "
            "GROUP BY service, model, field",
            {"keys": [tuple(k) for k in keys]},
        )
        return {(s, m, f): base64.b64decode(blob) for s, m, f, blob in rows if blob}

    # -- reads ------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        *,
        settings: dict[str, Any] | None = None,
        columns_when_empty: bool = False,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows. ``settings`` are ClickHouse query settings (``readonly``).
        chDB returns no column names for an empty result; with ``columns_when_empty`` they
        are read with ``DESCRIBE`` so that a printed table still has its header."""
        with self._lock:
            result = self.client.query(sql, parameters=parameters, settings=settings)
            columns, rows = list(result.column_names), list(result.result_rows)
            if columns_when_empty and not columns and not rows:
                try:
                    described = self.client.query(
                        f"DESCRIBE ({sql})", parameters=parameters, settings=settings
                    )
                    columns = [r[0] for r in described.result_rows]
                except Exception:  # noqa: S110 - not a SELECT: it has no columns to show
                    pass
            return columns, rows

    def read(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
        """Run ``sql`` with ``readonly = 1`` (and ``settings``, e.g. ``max_execution_time``) on
        a session of its own; returns column names, ClickHouse type names and rows.

        Served queries run here, never on the writer's session: chDB keeps the settings of
        a query that failed on its session, and ``readonly`` must never reach the writer.
        For the same reason the read session is replaced after any error.
        """
        with self._lock:
            if self._reader is None:
                self._reader = self._connect()
            try:
                result = self._reader.query(
                    sql, parameters=parameters, settings={**(settings or {}), "readonly": 1}
                )
            except Exception:
                reader, self._reader = self._reader, None
                reader.close()
                raise
            types = [t.name for t in result.column_types]
            return list(result.column_names), types, list(result.result_rows)

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        _, rows = self.query(sql, parameters)
        return rows[0][0] if rows else None


def retrying(
    action: Callable[[], T],
    *,
    initial_s: float,
    max_s: float,
    should_stop: Callable[[], bool] = lambda: False,
    on_failure: Callable[[Exception, int, float], None] | None = None,
) -> T:
    """Call ``action`` until it succeeds, sleeping with capped exponential backoff.

    Used by the stream layer (in a worker thread) to hold consumption while ClickHouse is
    down instead of buffering without bound. ``should_stop`` ends the wait on shutdown by
    re-raising the last error.
    """
    backoff = Backoff(initial_s, max_s)
    while True:
        try:
            return action()
        except SinkUnavailable as exc:
            delay = backoff.failure()
            if on_failure is not None:
                on_failure(exc, backoff.attempt, delay)
            if should_stop():
                raise
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not should_stop():
                time.sleep(min(0.1, delay))
