"""What the running worker serves from its store, without the web framework: the SELECT gate,
the row and time limits, the output formats and the typed wire format (the endpoints are in
``streams.api``, the page in ``streams.live``).

In the embedded default the worker is the data directory's one owner (``streams.owner``), so
everyone else reads through it, over its web port (``INFERSIGHT_WEB_HOST:PORT``):

``GET  /api/queries``                 the named queries and their parameters (JSON)
``GET  /api/query/NAME?k=v&format=F`` one named query, parameters bound server-side
``POST /api/sql``                     ``{"sql": "SELECT ...", "params": {...}, "format": F}``
``GET  /api/silences``                active silences; ``POST`` adds one and
``DELETE /api/silences/ID``           ends one (the only writes served)
``POST /api/rollups/refresh``         bring the rollups up to date now (the report does this)
``GET  /``                            the live page (``streams.live``)

``F`` is ``json`` (default: columns, ClickHouse types, rows, ``truncated``), ``csv``,
``arrow`` (an Arrow IPC stream) or ``rows`` (values tagged with their Python types: what the
command line reads, so its output is the same as on an open directory).

Ad-hoc SQL must be one SELECT (or WITH ... SELECT) statement; it runs on a separate
ClickHouse session with ``readonly = 1``, at most ``limit`` rows (default 10,000, at most
1,000,000; ``truncated`` says when there were more) and ``max_execution_time`` seconds
(default 30, at most 300). Errors are JSON ``{"error": "one line"}`` with status 400
(bad request), 404 (unknown query or silence), 504 (time limit) or 503 (store unavailable).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "DEFAULT_ROWS",
    "DEFAULT_TIMEOUT_S",
    "FORMATS",
    "MAX_ROWS",
    "MAX_TIMEOUT_S",
    "NotASelect",
    "ReadOnlyStore",
    "check_select",
    "decode",
    "encode",
    "error_status",
    "limits",
    "one_line",
    "render",
    "silence_from_json",
    "silence_json",
]

DEFAULT_ROWS = 10_000
MAX_ROWS = 1_000_000
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 300.0
FORMATS = ("json", "csv", "arrow", "rows")


class NotASelect(ValueError):
    """Ad-hoc SQL that is not one read-only SELECT statement."""


# Functions that read files or the network, or run programs: readonly = 1 refuses the table
# functions, but not the scalar file(); refused by name so no such call reaches ClickHouse.
_DENIED_FUNCTIONS = frozenset(
    name.lower()
    for name in (
        "file", "fileCluster", "url", "urlCluster", "s3", "s3Cluster", "gcs", "hdfs",
        "hdfsCluster", "azureBlobStorage", "azureBlobStorageCluster", "remote", "remoteSecure",
        "cluster", "clusterAllReplicas", "mysql", "postgresql", "mongodb", "redis", "sqlite",
        "jdbc", "odbc", "executable", "executablePool", "input", "deltaLake", "iceberg",
        "icebergS3", "icebergAzure", "icebergHDFS", "icebergLocal", "hudi", "dictionary",
        "python", "loop",
    )
)  # fmt: skip

_LEXEME = re.compile(
    r"""(?P<comment>--[^\n]*|\#[^\n]*|/\*.*?\*/)
      | (?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<quoted>"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`)
      | (?P<other>[^'"`\-\#/]+|[-\#/])""",
    re.S | re.X,
)


def _code_only(sql: str) -> str:
    """``sql`` with comments removed and literals/quoted names blanked (their content can
    hold anything and is not code)."""
    out = []
    pos = 0
    for m in _LEXEME.finditer(sql):
        if m.start() != pos:  # an unterminated quote: the rest is a literal
            break
        pos = m.end()
        if m["comment"]:
            out.append(" ")
        elif m["string"]:
            out.append("''")
        elif m["quoted"]:
            out.append('"q"')
        else:
            out.append(m["other"])
    if pos != len(sql):
        msg = "unterminated quote or comment in the SQL"
        raise NotASelect(msg)
    return "".join(out)


def check_select(sql: str) -> str:
    """Return ``sql`` (trailing ``;`` removed) if it is one SELECT statement we serve;
    raise ``NotASelect`` with the reason otherwise.

    Examples
    --------
    >>> check_select("SELECT 1;")
    'SELECT 1'
    >>> check_select("with x AS (SELECT 1) SELECT * FROM x -- ; DROP TABLE y")
    'with x AS (SELECT 1) SELECT * FROM x -- ; DROP TABLE y'
    >>> check_select("DROP TABLE events")
    Traceback (most recent call last):
    ...
    streams.serve.NotASelect: only SELECT statements are served (got DROP)
    """
    text = sql.strip().rstrip(";").rstrip()
    code = _code_only(text)
    if not code.strip():
        msg = "empty SQL"
        raise NotASelect(msg)
    if ";" in code:
        msg = "one statement only (found ';' between statements)"
        raise NotASelect(msg)
    first = code.split(None, 1)[0].upper()
    first = re.match(r"[A-Z_]*", first.lstrip("(")).group(0) or first  # type: ignore[union-attr]
    if first not in ("SELECT", "WITH"):
        msg = f"only SELECT statements are served (got {first})"
        raise NotASelect(msg)
    if re.search(r"\bINTO\s+OUTFILE\b", code, re.I):
        msg = "INTO OUTFILE is not served: the result comes back in the response"
        raise NotASelect(msg)
    if re.search(r"\bFORMAT\s+\w+\s*$", code, re.I):
        msg = "leave out FORMAT: ask for format=json, csv or arrow instead"
        raise NotASelect(msg)
    for name in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", code):
        if name.lower() in _DENIED_FUNCTIONS:
            msg = f"{name}() reads outside the database and is not served"
            raise NotASelect(msg)
    return text


# -- values on the wire ------------------------------------------------------------------------
def encode(value: Any) -> Any:
    """A Python value from clickhouse-connect as JSON, types kept (``decode`` inverts it).

    Examples
    --------
    >>> decode(json.loads(json.dumps(encode([Decimal("1.50"), date(2026, 1, 2), (1, "a")]))))
    [Decimal('1.50'), datetime.date(2026, 1, 2), (1, 'a')]
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$f": repr(value)}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, tuple):
        return {"$t": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"$b64": base64.b64encode(value).decode()}
    return str(value)  # IP addresses and other rare types: their text


_DECODERS = {
    "$f": float,
    "$dec": Decimal,
    "$dt": datetime.fromisoformat,
    "$d": date.fromisoformat,
    "$uuid": uuid.UUID,
    "$b64": base64.b64decode,
}


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        [(tag, inner)] = value.items()
        if tag == "$t":
            return tuple(decode(v) for v in inner)
        if tag == "$map":
            return {decode(k): decode(v) for k, v in inner}
        return _DECODERS[tag](inner)
    return value


def _plain(value: Any) -> Any:
    """JSON for people and browsers: exact decimals as strings, times in ISO 8601."""
    from sinks.tables import _plain as plain

    return plain(value)


# -- reading the store ------------------------------------------------------------------------
@dataclass
class ReadOnlyStore:
    """The ``query(sql, parameters)`` interface of ``ClickHouseSink`` on the sink's read-only
    session, with a row and a time limit. ``truncated`` is set when a result was cut."""

    sink: Any
    limit: int = DEFAULT_ROWS
    timeout_s: float = DEFAULT_TIMEOUT_S
    truncated: bool = False
    types: list[str] | None = None

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        *,
        columns_when_empty: bool = False,  # ClickHouseSink.query's keyword; read() has them
    ) -> tuple[list, list]:
        columns, types, rows = self.sink.read(
            sql, parameters,
            settings={"max_execution_time": self.timeout_s, "max_result_rows": self.limit + 1,
                      "result_overflow_mode": "break"},
        )  # fmt: skip
        if len(rows) > self.limit:
            rows = rows[: self.limit]
            self.truncated = True
        self.types = types
        return columns, rows


def render(columns: list[str], rows: list[Any], fmt: str, **extra: Any) -> tuple[bytes, str]:
    """The body and content type of one result in ``fmt``."""
    if fmt == "rows":
        body = {"columns": columns, "rows": [encode(list(r)) for r in rows], **extra}
        return json.dumps(body).encode(), "application/json"
    if fmt == "json":
        body = {"columns": columns, "rows": [[_plain(v) for v in r] for r in rows], **extra}
        return json.dumps(body, default=str).encode(), "application/json"
    if fmt == "csv":
        from sinks.tables import cell_text

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell_text(v) for v in r] for r in rows)
        return out.getvalue().encode(), "text/csv"
    if fmt == "arrow":
        import pyarrow as pa

        data = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
        try:
            table = pa.table(data) if rows else pa.table({c: pa.array([]) for c in columns})
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed or nested values: as text
            table = pa.table({c: [None if v is None else str(v) for v in vs]
                              for c, vs in data.items()})  # fmt: skip
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue(), "application/vnd.apache.arrow.stream"
    msg = f"format must be one of {', '.join(FORMATS)}, got {fmt!r}"
    raise ValueError(msg)


def limits(given: dict[str, Any]) -> tuple[int, float]:
    try:
        limit = int(given.get("limit") or DEFAULT_ROWS)
        timeout = float(given.get("max_execution_time") or DEFAULT_TIMEOUT_S)
    except (TypeError, ValueError) as exc:
        msg = f"limit and max_execution_time must be numbers ({exc})"
        raise ValueError(msg) from None
    if not 1 <= limit <= MAX_ROWS:
        msg = f"limit must be between 1 and {MAX_ROWS:,}, got {limit}"
        raise ValueError(msg)
    if not 0 < timeout <= MAX_TIMEOUT_S:
        msg = f"max_execution_time must be in (0, {MAX_TIMEOUT_S:g}] seconds, got {timeout:g}"
        raise ValueError(msg)
    return limit, timeout


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    m = re.search(r"DB::Exception: (.*?)(?: \(version [^)]*\))?(?:\. \(([A-Z_]+)\))?$", text)
    if m:
        text = f"{m[1].rstrip('.')} ({m[2]})" if m[2] else m[1]
        text = text.replace("DB::Exception: ", "")
    return text[:500]


def error_status(exc: BaseException) -> int:
    text = str(exc)
    if "TIMEOUT_EXCEEDED" in text:
        return 504
    from sinks.clickhouse import SinkUnavailable

    return 503 if isinstance(exc, SinkUnavailable) else 400


def silence_json(s: Any) -> dict[str, Any]:
    return {
        "id": s.silence_id,
        "matchers": [str(m) for m in s.matchers],
        "starts_at": s.starts_at.isoformat(),
        "ends_at": s.ends_at.isoformat(),
        "created_by": s.created_by,
        "comment": s.comment,
    }


def silence_from_json(body: Any) -> Any:
    from alerting.dispatch import Matcher, Silence

    def when(text: str) -> datetime:
        ts = datetime.fromisoformat(text)
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)

    def matcher(m: Any) -> Any:
        if isinstance(m, str):
            return Matcher.parse(m)
        name, op, value = m
        if op not in ("=", "!=", "=~", "!~"):
            raise ValueError(f"matcher operator must be =, !=, =~ or !~, got {op!r}")
        return Matcher(str(name), op, str(value))

    return Silence(
        tuple(matcher(m) for m in body["matchers"]),
        when(body["starts_at"]),
        when(body["ends_at"]),
        str(body.get("created_by", "")),
        str(body.get("comment", "")),
        str(body["id"]),
    )
