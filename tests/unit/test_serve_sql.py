"""What the worker serves: the SELECT gate, the typed wire format, and where the command
line goes for each ClickHouse setting (no worker, no broker)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinks.clickhouse import ClickHouseSettings, ClickHouseSink
from streams.owner import LOCK_FILE, DirectoryBusy, DirectoryLock, find_worker, write_discovery
from streams.remote import StoreUnavailable, open_store
from streams.serve import NotASelect, check_select, decode, encode


@pytest.mark.parametrize("sql", [
    "SELECT 1", "select count() from events FINAL;", "  WITH t AS (SELECT 1) SELECT * FROM t",
    "(SELECT 1) UNION ALL (SELECT 2)", "SELECT ';' AS semicolon, 'DROP TABLE x' AS text",
    "SELECT 1 -- DROP TABLE x; INSERT", "SELECT `file` FROM t",
    "SELECT profile FROM t", "SELECT * FROM events WHERE service = 'url(x)'",
])  # fmt: skip
def test_one_select_is_served(sql: str) -> None:
    """SELECT and WITH statements pass, with text that only looks dangerous inside literals
    and comments."""
    assert check_select(sql) == sql.strip().rstrip(";").rstrip()


@pytest.mark.parametrize("sql,why", [
    ("DROP TABLE events", "got DROP"),
    ("INSERT INTO events SELECT * FROM events", "got INSERT"),
    ("ALTER TABLE events DELETE WHERE 1", "got ALTER"),
    ("SYSTEM REFRESH VIEW rollup_events_minute_mv", "got SYSTEM"),
    ("SELECT 1; DROP TABLE events", "one statement only"),
    ("SELECT file('/etc/passwd')", "file() reads outside"),
    ("SELECT * FROM url('http://x', 'CSV')", "url() reads outside"),
    ("SELECT * FROM remote('h', default.t)", "remote() reads outside"),
    ("SELECT 1 INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
    ("SELECT 1 FORMAT CSV", "leave out FORMAT"),
    ("SELECT 'unterminated", "unterminated"),
    ("   ", "empty SQL"),
])  # fmt: skip
def test_anything_else_is_refused_with_the_reason(sql: str, why: str) -> None:
    """Writes, DDL, several statements, file and network reads: refused before ClickHouse."""
    with pytest.raises(NotASelect, match=re.escape(why)):
        check_select(sql)


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text()
    | st.decimals(allow_nan=False, places=6) | st.dates() | st.datetimes(timezones=st.just(UTC)).map(lambda d: d.replace(fold=0))
    | st.uuids(),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@given(VALUES)
def test_wire_format_round_trips_every_value_clickhouse_returns(value) -> None:
    """encode -> JSON -> decode gives back the same Python value and type (NaN included)."""
    back = decode(json.loads(json.dumps(encode(value))))
    assert repr(back) == repr(value)


def test_wire_format_examples() -> None:
    row = [Decimal("0.300120000"), datetime(2026, 1, 5, 10, tzinfo=UTC), date(2026, 1, 5),
           {"k": (1, "a")}, uuid.UUID(int=1), b"\x00", float("nan")]  # fmt: skip
    back = decode(json.loads(json.dumps(encode(row))))
    assert back[:6] == row[:6] and back[6] != back[6]


def test_server_settings_skip_the_directory_lock(tmp_path: Path) -> None:
    """With INFERSIGHT_CLICKHOUSE_URL the CLI goes to the server: no lock, no discovery."""
    settings = ClickHouseSettings(url="http://127.0.0.1:9", data_dir=tmp_path / "ch")
    sink = open_store(settings, "infersight query")
    assert isinstance(sink, ClickHouseSink) and sink.settings.url == "http://127.0.0.1:9"
    assert not (tmp_path / "ch").exists()
    from sinks.clickhouse import SinkUnavailable

    with pytest.raises(SinkUnavailable, match=r"cannot open ClickHouse \(http://127.0.0.1"):
        sink.query("SELECT 1")


def test_a_held_directory_is_one_line_and_a_stale_discovery_file_is_ignored(
    tmp_path: Path,
) -> None:
    """Another process's lock: a one-line StoreUnavailable; worker.json of a dead pid: none."""
    import subprocess
    import sys

    directory = tmp_path / "ch"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from streams.owner import DirectoryLock; "
         f"DirectoryLock.acquire(Path({str(directory)!r}), 'infersight worker'); "
         "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreUnavailable, match="not serving yet: retry in a few seconds"):
            open_store(ClickHouseSettings(data_dir=directory), "infersight query")
        with pytest.raises(DirectoryBusy, match=f"pid {holder.pid}"):
            DirectoryLock.acquire(directory, "infersight worker")
    finally:
        holder.kill()
        holder.wait()
    write_discovery(directory, "127.0.0.1", 9)  # as if written by a worker ...
    info = json.loads((directory / "worker.json").read_text())
    (directory / "worker.json").write_text(json.dumps({**info, "pid": holder.pid}))  # ... now dead
    assert find_worker(directory) is None
    lock = DirectoryLock.acquire(directory, "infersight worker")  # the kernel freed it
    assert json.loads((directory / LOCK_FILE).read_text())["command"] == "infersight worker"
    lock.release()
