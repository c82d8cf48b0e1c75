"""The command line on a real chDB directory: errors are one line with the fix (a traceback
only with --debug), `db query` is one read-only statement unless --write, and an empty
table still prints its header."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env["INFERSIGHT_DATA_DIR"] = str(data)
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    err = out.stderr.strip()
    assert out.returncode != 0 and "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    assert cli(d, "db", "migrate").returncode == 0
    return d


def test_db_query_runs_one_read_only_statement_unless_write(data: Path) -> None:
    """'SELECT 1; DROP TABLE events' is refused before it runs; a lone DROP is refused by
    ClickHouse's readonly=1; --write runs one statement, still never two."""
    one_line_error(cli(data, "db", "query", "SELECT 1; DROP TABLE events"), "one SQL statement")
    one_line_error(cli(data, "db", "query", "DROP TABLE events"), "--write")
    one_line_error(cli(data, "db", "query", "--write", "SELECT 1; DROP TABLE events"),
                   "one SQL statement")  # fmt: skip
    ins = cli(data, "db", "query", "--write",
              "INSERT INTO events (event_id, timestamp, service, model) "
              "VALUES ('e;1', now64(3), 's', 'm');")  # fmt: skip
    assert ins.returncode == 0, ins.stderr
    out = cli(data, "db", "query", "SELECT event_id FROM events", "--format", "csv")
    assert out.stdout.split() == ["event_id", "e;1"]


def test_empty_table_result_prints_its_header(data: Path) -> None:
    """No rows: the header and rule are printed, not blank lines."""
    out = cli(data, "db", "query", "SELECT event_id, service FROM events WHERE 0")
    assert out.returncode == 0
    assert out.stdout.split("\n")[:2] == ["event_id  service", "--------  -------"]


def test_cli_errors_are_one_line_with_the_fix_and_debug_shows_the_traceback(
    data: Path,
) -> None:
    """SQL syntax error, a bad -p value, an aggregate-state table: one line each; --debug
    gives the traceback."""
    one_line_error(cli(data, "db", "query", "SELEC 1"), "SQL syntax error at line 1")
    one_line_error(cli(data, "query", "toxicity_trend", "-p", "bucket_hours=0"),
                   "--param", "ClickHouse refused")  # fmt: skip
    assert cli(data, "db", "query", "--write", "SYSTEM REFRESH VIEW rollup_events_minute_mv"
               ).returncode == 0  # fmt: skip
    cli(data, "db", "query", "--write", "SYSTEM WAIT VIEW rollup_events_minute_mv")
    one_line_error(cli(data, "db", "query", "SELECT * FROM rollup_events_minute"),
                   "aggregate states", "events_per_minute")  # fmt: skip
    debug = cli(data, "--debug", "db", "query", "SELEC 1")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_locked_data_directory_is_one_line_naming_the_owner(data: Path) -> None:
    """While another process holds the chDB directory, db query says so in one line."""
    hold = subprocess.Popen(
        [sys.executable, "-c", "import sys, clickhouse_connect as c; "
         f"k = c.get_client(interface='chdb', path={str(data / 'clickhouse')!r}); k.query('SELECT 1');"
         " print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert hold.stdout is not None and hold.stdout.readline().strip() == "held"
        one_line_error(cli(data, "db", "query", "SELECT 1"), "another process holds it")
        one_line_error(cli(data, "query", "cost_by_model_day"), "another process holds it")
    finally:
        assert hold.stdin is not None
        hold.stdin.close()
        hold.wait(timeout=60)


def test_no_message_names_a_command_that_does_not_exist() -> None:
    """Messages send people to `infersight db migrate`; `infersight migrate` does not exist."""
    offenders = [str(p.relative_to(ROOT)) for base in ("sinks", "streams", "schemas")
                 for p in (ROOT / base).rglob("*.py") if "infersight migrate`" in p.read_text()]  # fmt: skip
    assert offenders == []
