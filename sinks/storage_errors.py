"""What a ClickHouse error means for the stream, and the small guards around the sink.

``is_transient`` splits errors in two: ones that say nothing about the rows (connection,
timeout, memory, too many parts: hold and retry) and ones ClickHouse raised for what the rows
hold (isolate those rows and dead-letter them as ``storage_rejected``). ``clickhouse_error``
is the part of an error a dead letter may carry (never the row's values).
``single_statement`` keeps ``db query`` to one statement; ``native_stderr`` catches what
chDB's C++ code prints while it opens a directory.

>>> is_transient(RuntimeError("Code: 241. DB::Exception: Memory limit (total) exceeded"))
True
>>> is_transient(RuntimeError("Code: 469. DB::Exception: Constraint `c` is violated"))
False
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from detectors.pipeline import ScoredEvent

__all__ = [
    "MAX_PARTITIONS_PER_INSERT",
    "TRANSIENT_CODES",
    "Captured",
    "Rejected",
    "clickhouse_error",
    "is_transient",
    "native_stderr",
    "single_statement",
]

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


class Captured:
    """What ``native_stderr`` caught, and whether the guarded call failed."""

    text = ""
    failed = False


@contextlib.contextmanager
def native_stderr() -> Iterator[Captured]:
    """Capture what chDB's C++ code writes to file descriptor 2 while it opens a directory:
    a refused open (another process holds the directory) is explained by our error
    instead of a raw server log line; after a successful open it is passed on unchanged.
    Set ``failed`` on the yielded object when the guarded call raised."""
    got = Captured()
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
