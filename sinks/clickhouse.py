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
import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlparse

import orjson
from pydantic import BaseModel, Field, SecretStr, field_validator

from detectors.drift import DriftResult
from detectors.pipeline import ScoredEvent
from schemas.results import Alert, DeadLetter, RetrainingEvent

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


class SinkUnavailable(RuntimeError):
    """ClickHouse could not be reached or refused a write; the caller retries or holds."""


#: ClickHouse error codes that say nothing about the rows: the same insert can succeed later
#: (timeouts, network, memory, too many parts, overload), or the operator must fix the
#: server (read-only, access, missing tables after a failed migration). Held and retried.
TRANSIENT_CODES = frozenset({
    3, 16, 32, 47, 60, 81, 159, 160, 164, 173, 202, 209, 210, 236, 241, 242, 252, 285, 319,
    394, 425, 439, 497, 516, 999, 1000,
})  # fmt: skip
#: Per-insert limit of ClickHouse (``max_partitions_per_insert_block``, default 100): inserts
#: are grouped so that no block touches more months than this.
MAX_PARTITIONS_PER_INSERT = 50


def is_transient(exc: BaseException) -> bool:
    """True when a failed write may succeed unchanged later (hold and retry), False when
    ClickHouse refused these rows for what they hold (isolate and dead-letter them).

    Anything that is not a ClickHouse error with a code (connection refused, a timeout, a
    driver error) is transient: holding is safe, dead-lettering valid events is not.
    ``Code: 252`` is both "Too many parts" (transient: merges catch up) and "Too many
    partitions for single INSERT block" (permanent for that block: a smaller block works).
    """
    code = getattr(exc, "code", None)
    if not isinstance(code, int):
        found = re.search(r"\bCode: (\d+)\.", str(exc))
        if found is None:
            return True
        code = int(found[1])
    if code == 252:
        return "too many partitions" not in str(exc).lower()
    return code in TRANSIENT_CODES


def clickhouse_error(exc: BaseException, limit: int = 300) -> str:
    """ClickHouse's error for a dead letter: code and reason, never the row's values
    (``Column values: ...`` can hold the offending text)."""
    text = " ".join(str(exc).split())
    text = re.split(r"\s*Column values:", text, maxsplit=1)[0]
    return text[:limit]


class Rejected(NamedTuple):
    """An event ClickHouse refused for its content, with ClickHouse's reason."""

    scored: ScoredEvent
    error: str


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


EVENT_COLUMNS = [
    "event_id", "timestamp", "service", "environment", "operation", "provider",
    "request_model", "model", "prompt", "prompt_messages", "response", "context",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd",
    "latency_ms", "ttft_ms", "status", "error_type", "finish_reasons", "user_id", "session_id",
    "prompt_template_id", "prompt_template_version", "experiment", "variant", "segments",
    "metadata", "pii_types", "ingested_at",
]  # fmt: skip
SIGNAL_COLUMNS = [
    "event_id", "timestamp", "service", "environment", "model", "detector", "score", "fired",
    "reason", "detail", "ingested_at",
]  # fmt: skip
DEADLETTER_COLUMNS = [
    "topic", "partition", "offset", "reason", "message", "event_id", "original_size",
    "original_sha256", "received_at",
]  # fmt: skip
ALERT_COLUMNS = [
    "alert_id", "fingerprint", "episode_id", "rule", "status", "severity", "service", "model",
    "summary", "value", "threshold", "window_start", "window_end", "labels",
    "sample_event_ids", "evidence_sql", "runbook_url", "created_at",
]  # fmt: skip
DRIFT_COLUMNS = [
    "service", "model", "field", "test", "window_index", "window_start", "window_end", "n_ref",
    "n_cur", "statistic", "p_value", "alpha", "significant", "drift", "streak", "reason",
    "detail", "sample_event_ids",
]  # fmt: skip
DRIFT_STATE_COLUMNS = [
    "service", "model", "field", "state_b64", "updated_at",
]  # fmt: skip
RETRAINING_COLUMNS = [
    "retraining_id", "service", "model", "reason", "triggered_by", "since", "window_start",
    "window_end", "statistics", "selection_sql", "created_at",
]  # fmt: skip


def _naive(ts: datetime) -> datetime:
    """UTC wall time: clickhouse-connect writes naive datetimes as given."""
    return ts.astimezone(UTC).replace(tzinfo=None)


def event_row(s: ScoredEvent, now: datetime) -> list[Any]:
    e = s.event
    messages = (
        ""
        if isinstance(e.prompt, str)
        else orjson.dumps([m.model_dump() for m in e.prompt]).decode()
    )
    return [
        e.event_id, _naive(e.timestamp), e.service, e.environment, e.operation,
        e.provider or "", e.request_model, e.model, e.prompt_text, messages, e.response,
        [d.text for d in e.context], e.usage.input_tokens, e.usage.output_tokens,
        e.usage.cache_read_tokens, e.usage.cache_write_tokens, s.cost_usd, e.latency_ms,
        e.ttft_ms, e.status, e.error_type or "", list(e.finish_reasons), e.user_id or "",
        e.session_id or "", e.prompt_template_id or "", e.prompt_template_version or "",
        e.experiment or "", e.variant or "", list(e.segments), dict(e.metadata), s.pii_types,
        now,
    ]  # fmt: skip


def signal_rows(s: ScoredEvent, now: datetime) -> list[list[Any]]:
    e = s.event
    return [
        [
            e.event_id,
            _naive(e.timestamp),
            e.service,
            e.environment,
            e.model,
            sig.detector,
            sig.score,
            int(sig.fired),
            sig.reason,
            orjson.dumps(sig.detail).decode(),
            now,
        ]  # fmt: skip
        for sig in s.signals
    ]


EMBEDDING_COLUMNS = [
    "event_id", "timestamp", "service", "environment", "model", "field", "embedding_model",
    "vector", "ingested_at",
]  # fmt: skip


def embedding_rows(s: ScoredEvent, embedding_model: str, now: datetime) -> list[list[Any]]:
    e = s.event
    return [
        [e.event_id, _naive(e.timestamp), e.service, e.environment, e.model, field,
         embedding_model, vector.astype("float32").tolist(), now]
        for field, vector in s.embeddings.items()
    ]  # fmt: skip


def deadletter_row(d: DeadLetter) -> list[Any]:
    return [
        d.topic, d.partition, d.offset, d.reason.value, d.message, d.event_id or "",
        d.original_size, d.original_sha256, _naive(d.received_at),
    ]  # fmt: skip


def alert_row(a: Alert) -> list[Any]:
    return [
        a.alert_id, a.fingerprint, a.episode_id, a.rule, a.status.value, a.severity.value,
        a.service, a.model, a.summary, a.value, a.threshold, _naive(a.window_start),
        _naive(a.window_end), dict(a.labels), list(a.sample_event_ids), a.evidence_sql,
        a.runbook_url or "", _naive(a.created_at),
    ]  # fmt: skip


def retraining_row(r: RetrainingEvent) -> list[Any]:
    return [
        r.retraining_id, r.service, r.model, r.reason, r.triggered_by, _naive(r.since),
        _naive(r.window_start), _naive(r.window_end), dict(r.statistics), r.selection_sql,
        _naive(r.created_at),
    ]  # fmt: skip


class _Captured:
    text = ""
    failed = False


@contextlib.contextmanager
def _native_stderr() -> Iterator[_Captured]:
    """Capture what chDB's C++ code writes to file descriptor 2 while it opens a directory:
    a refused open (another process holds the directory) is explained by our error
    instead of a raw server log line; after a successful open it is passed on unchanged."""
    import sys
    import tempfile

    got = _Captured()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded in something odd): no capture
        yield got
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield got
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            got.text = tmp.read().decode(errors="replace")
            if got.text and not got.failed:
                sys.stderr.write(got.text)


class ClickHouseSink:
    """Synchronous ClickHouse access for one process: migrate, write batches, query.

    Every public method is safe to call from any one thread at a time; a lock serialises
    them (chDB is not reentrant).
    """

    def __init__(self, settings: ClickHouseSettings | None = None) -> None:
        self.settings = settings or ClickHouseSettings()
        self._client: Any = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        where = self.settings.url or f"chdb:{self.settings.data_dir}"
        return f"ClickHouseSink({where!r}, database={self.settings.database!r})"

    # -- connection -------------------------------------------------------------------
    def _connect(self) -> Any:
        import clickhouse_connect

        s = self.settings
        native = _Captured()
        try:
            if s.embedded:
                s.data_dir.mkdir(parents=True, exist_ok=True)
                with _native_stderr() as native:
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
        now = _naive(datetime.now(UTC))
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
        now = _naive(datetime.now(UTC))
        rows = []
        for r in results:
            row = r.to_row()
            row["window_start"] = _naive(row["window_start"])
            row["window_end"] = _naive(row["window_end"])
            rows.append([row[c] for c in DRIFT_COLUMNS])
        state_rows = [
            [svc, model, field, base64.b64encode(blob).decode(), now]
            for (svc, model, field), blob in states.items()
        ]
        with self._lock:
            try:
                self._insert("drift_results", rows, DRIFT_COLUMNS)
                self._insert("drift_state", state_rows, DRIFT_STATE_COLUMNS)
            except Exception as exc:
                self._client = None
                msg = f"ClickHouse drift write failed: {type(exc).__name__}: {exc}"
                raise SinkUnavailable(msg) from exc

    def load_drift_state(self, key: tuple[str, str, str]) -> bytes | None:
        """The latest saved state of one drift stream, or None."""
        from detectors.rules import sql_literal

        service, model, field = key
        blob = self.scalar(
            "SELECT argMax(state_b64, updated_at) FROM drift_state WHERE "
            f"service = {sql_literal(service)} AND model = {sql_literal(model)} "
            f"AND field = {sql_literal(field)} HAVING count() > 0"
        )
        return base64.b64decode(blob) if blob else None

    def write_alerts(self, alerts: Sequence[Alert]) -> None:
        with self._lock:
            self._insert("alerts", [alert_row(a) for a in alerts], ALERT_COLUMNS)

    def write_retraining(self, events: Sequence[RetrainingEvent]) -> None:
        with self._lock:
            self._insert(
                "retraining_events", [retraining_row(r) for r in events], RETRAINING_COLUMNS
            )

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

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        _, rows = self.query(sql, parameters)
        return rows[0][0] if rows else None


def single_statement(sql: str) -> str:
    """``sql`` without trailing semicolons, or ``ValueError`` if it holds more than one
    statement. Quotes (``'`` ``"`` `````), ``--``/``#`` comments and ``/* */`` are skipped, so
    a ``;`` inside a string literal is not a separator.

    >>> single_statement("SELECT ';' AS x;  ")
    "SELECT ';' AS x"
    >>> single_statement("SELECT 1; DROP TABLE events")
    Traceback (most recent call last):
    ...
    ValueError: one SQL statement at a time: found 2 (separated by ';')
    """
    parts: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            i += 1
            while i < n and sql[i] != c:
                i += 2 if sql[i] == "\\" else 1
        elif sql.startswith("--", i) or c == "#":
            i = sql.find("\n", i)
            i = n if i < 0 else i
        elif sql.startswith("/*", i):
            i = sql.find("*/", i + 2)
            i = n if i < 0 else i + 1
        elif c == ";":
            parts.append(sql[start:i])
            start = i + 1
        i += 1
    parts.append(sql[start:])
    stripped = [p for p in parts if re.sub(r"--[^\n]*|#[^\n]*|/\*.*?\*/|\s", "", p, flags=re.S)]
    if len(stripped) != 1:
        msg = (
            f"one SQL statement at a time: found {len(stripped)} (separated by ';')"
            if stripped
            else "no SQL statement given"
        )
        raise ValueError(msg)
    return stripped[0].strip()


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
    delay = initial_s
    attempt = 0
    while True:
        try:
            return action()
        except SinkUnavailable as exc:
            attempt += 1
            if on_failure is not None:
                on_failure(exc, attempt, delay)
            if should_stop():
                raise
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not should_stop():
                time.sleep(min(0.1, delay))
            delay = min(delay * 2, max_s)
