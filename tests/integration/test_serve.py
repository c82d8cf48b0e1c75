"""The running worker serves its embedded store: the analyst's and on-call's commands work
while it runs (through it, found by ``worker.json``), a second worker on the same directory
refuses in one line, and with the worker stopped the commands open the directory again.

Real parts: tansu, ``infersight worker`` subprocesses, chDB, the CLI as subprocesses.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import wait_until
from helpers import create_topics, publish, start_worker, worker_settings

from streams.demo import settings_env

N_EVENTS = 40
#: The module's worker has a token (streams.webauth): the command line finds it in its
#: environment (as INFERSIGHT_API_TOKEN, like the worker's), direct calls send it.
TOKEN = "serve-test-" + uuid.uuid4().hex
authed = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"})


def cli(settings: Any, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    return subprocess.run([sys.executable, "-m", "streams.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=180, check=False)  # fmt: skip


def event(i: int) -> tuple[bytes, bytes]:
    model = "gpt-4o" if i % 2 else "gpt-4o-mini"
    body = {
        "event_id": f"sv-{uuid.uuid4().hex[:8]}-{i}",
        "timestamp": datetime.now(UTC).isoformat(),
        "service": "shop" if i % 3 else "search",
        "request_model": model,
        "provider": "openai",
        "prompt": "Where is my order?",
        "response": f"Write to jane.doe{i}@example.com." if i % 4 == 0 else "It ships today.",
        "usage": {"input_tokens": 100 + i, "output_tokens": 20},
    }
    return f"shop|{model}".encode(), orjson.dumps(body)


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one line on stderr and no traceback."""
    assert out.returncode != 0, out
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


@pytest.fixture(scope="module")
def running(broker: str, tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("serve")
    settings = worker_settings(broker, tmp, api_token=TOKEN)
    create_topics(settings)
    worker = start_worker(settings, "owner")
    try:
        publish(
            broker, settings.kafka.topic("llm.inference.v1"), [event(i) for i in range(N_EVENTS)]
        )
        wait_until(lambda: worker.stats().get("events_stored", 0) >= N_EVENTS, 90,
                   what="the worker to store every event")  # fmt: skip
        discovery = settings.clickhouse.data_dir / "worker.json"
        wait_until(discovery.exists, 30, what="worker.json")
        base = f"http://127.0.0.1:{settings.web_port}"
        assert authed.post(f"{base}/api/rollups/refresh", timeout=60).status_code == 200
        yield settings, worker, base
    finally:
        worker.stop()


def test_discovery_file_names_the_worker(running) -> None:
    """worker.json holds the owner's pid and URL."""
    settings, worker, base = running
    info = json.loads((settings.clickhouse.data_dir / "worker.json").read_text())
    assert info["pid"] == worker.proc.pid and info["url"] == base


def test_db_query_goes_through_the_running_worker(running) -> None:
    """`infersight db query` answers while the worker owns the directory."""
    settings, *_ = running
    out = cli(settings, "db", "query", "SELECT count() AS n FROM events FINAL", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"n": N_EVENTS}


def test_named_query_matches_the_http_api(running) -> None:
    """`infersight query cost_by_model_day` through the worker equals GET /api/query/..."""
    settings, _, base = running
    today = datetime.now(UTC).date().isoformat()
    out = cli(settings, "query", "cost_by_model_day", "-p", f"since={today}", "-p",
              f"until={today}", "--format", "json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert sum(r["events"] for r in rows) == N_EVENTS
    api = authed.get(f"{base}/api/query/cost_by_model_day",
                    params={"since": today, "until": today}, timeout=30).json()  # fmt: skip
    assert [dict(zip(api["columns"], r, strict=True)) for r in api["rows"]] == rows


def test_report_and_alerts_list_work_while_the_worker_runs(running, tmp_path: Path) -> None:
    """`infersight report` and `infersight alerts list` through the worker."""
    settings, *_ = running
    out = cli(settings, "report", "--out", str(tmp_path / "r.html"), "--days", "1")
    assert out.returncode == 0, out.stderr
    assert "gpt-4o-mini" in (tmp_path / "r.html").read_text()
    listed = cli(settings, "alerts", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert {r["rule"] for r in json.loads(listed.stdout)["rules"]}


def test_silence_and_unsilence_through_the_running_worker(running) -> None:
    """A silence made from the CLI while the worker runs is stored, listed, and ended."""
    settings, _, base = running
    made = cli(settings, "alerts", "silence", "rule=cost_budget", "service=~sh.*", "--for",
               "30m", "--comment", "deploy window", "--by", "oncall")  # fmt: skip
    assert made.returncode == 0, made.stderr
    sid = made.stdout.strip()
    listed = json.loads(cli(settings, "alerts", "list", "--format", "json").stdout)
    [mine] = [s for s in listed["silences"] if s["id"] == sid]
    assert mine["matchers"] == ["rule=cost_budget", "service=~sh.*"]
    assert (mine["created_by"], mine["comment"]) == ("oncall", "deploy window")
    assert [s["id"] for s in authed.get(f"{base}/api/silences", timeout=10).json()] == [sid]
    ended = cli(settings, "alerts", "unsilence", sid)
    assert ended.returncode == 0 and f"silence {sid} ended" in ended.stdout, ended.stderr
    assert authed.get(f"{base}/api/silences", timeout=10).json() == []
    again = cli(settings, "alerts", "unsilence", sid)
    assert again.returncode == 2 and "no active silence" in again.stderr


#: A silence of every rule until 2099, as another site's form would post it (text/plain: no
#: preflight). Valid: without the gate the worker stores it (201).
FORGED = {"id": "forged", "matchers": [["rule", "=~", ".*"]], "ends_at": "2099-01-01T00:00:00",
          "starts_at": "2026-01-01T00:00:00"}  # fmt: skip


def test_the_store_needs_the_token_and_refuses_other_sites(running) -> None:
    """Without the token (or with a wrong one) neither the data nor the page is served, and
    a command line without it says so in one line; a browser's Basic password is the token;
    a form another site posts (a silence, with the token even) is refused and stores nothing;
    health and metrics stay open for probes and scrapers."""
    settings, _, base = running
    for path in ("/api/sql?sql=SELECT%201", "/", "/api/live", "/api/silences"):
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            got = httpx.get(base + path, headers=headers, timeout=10)
            assert got.status_code == 401, (path, got.status_code)
            assert got.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert httpx.get(base + "/", auth=("oncall", TOKEN), timeout=10).status_code == 200
    forged = authed.post(
        f"{base}/api/silences",
        content=json.dumps(FORGED),
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
        timeout=10,
    )
    assert forged.status_code == 403 and "cross-origin" in forged.json()["error"]
    assert authed.get(f"{base}/api/silences", timeout=10).json() == []
    for open_path in ("/healthz", "/metrics", "/stats"):
        assert httpx.get(base + open_path, timeout=10).status_code == 200, open_path
    env_settings = settings.model_copy(update={"api_token": None})
    line = one_line_error(cli(env_settings, "db", "query", "SELECT 1"))
    assert "the worker refused (401)" in line and "INFERSIGHT_API_TOKEN" in line, line


def test_writes_and_other_statements_are_refused_in_one_line(running) -> None:
    """Anything but one SELECT is refused before it reaches ClickHouse, in one line."""
    settings, *_ = running
    for sql, why in [
        ("DROP TABLE events", "only SELECT statements are served (got DROP)"),
        ("INSERT INTO silences SELECT * FROM silences", "only SELECT"),
        ("SELECT 1; SELECT 2", "one statement only"),
        ("SELECT file('/etc/passwd')", "file() reads outside the database"),
        ("SELECT * FROM nowhere_table", "UNKNOWN_TABLE"),
    ]:
        line = one_line_error(cli(settings, "db", "query", sql))
        assert line.startswith("infersight db: the worker refused (400): ") and why in line, line
    count = cli(
        settings, "db", "query", "SELECT count() AS n FROM events FINAL", "--format", "json"
    )
    assert json.loads(count.stdout) == {"n": N_EVENTS}  # nothing was dropped


def test_http_formats_row_limit_and_time_limit(running) -> None:
    """JSON, CSV and Arrow; a row limit that says it cut; a time limit that stops a query."""
    import pyarrow as pa

    _, _, base = running
    sql = "SELECT number AS n, toDecimal64(number, 2) AS d FROM numbers(100)"
    js = authed.post(f"{base}/api/sql", json={"sql": sql, "limit": 5}, timeout=30)
    body = js.json()
    assert (body["columns"], body["types"], body["truncated"]) == (
        ["n", "d"], ["UInt64", "Decimal(18, 2)"], True
    )  # fmt: skip
    assert body["rows"] == [[i, f"{i:.2f}"] for i in range(5)]
    assert js.headers["X-Infersight-Truncated"] == "1"
    csv_text = authed.get(f"{base}/api/sql", params={"sql": sql, "format": "csv"}, timeout=30).text
    assert csv_text.splitlines()[:2] == ["n,d", "0,0.00"] and len(csv_text.splitlines()) == 101
    raw = authed.get(f"{base}/api/sql", params={"sql": sql, "format": "arrow"}, timeout=30).content
    table = pa.ipc.open_stream(io.BytesIO(raw)).read_all()
    assert table.num_rows == 100 and table.column("n").to_pylist()[-1] == 99
    slow = authed.post(f"{base}/api/sql", timeout=60, json={
        "sql": "SELECT sum(cityHash64(number)) FROM numbers(100000000000)",
        "max_execution_time": 1})  # fmt: skip
    assert slow.status_code == 504 and "TIMEOUT_EXCEEDED" in slow.json()["error"]
    # The refused query left the writer's session as it was: the worker still writes.
    after = authed.post(f"{base}/api/sql", json={"sql": "SELECT count() FROM events"}, timeout=30)
    assert after.json()["rows"] == [[N_EVENTS]]


def test_a_second_worker_on_the_directory_refuses_in_one_line(running) -> None:
    """Two real workers, one directory: the second exits 2 with one line saying what to do."""
    settings, worker, _ = running
    second = settings.model_copy(update={"web_port": settings.web_port + 1})
    out = cli(second, "worker")
    line = one_line_error(out)
    assert out.returncode == 2
    assert f"is in use by pid {worker.proc.pid} (infersight worker)" in line
    assert "INFERSIGHT_CLICKHOUSE_URL" in line and "INFERSIGHT_DATA_DIR" in line
    assert worker.alive()


def test_with_the_worker_stopped_commands_open_the_directory(running) -> None:
    """After a clean stop worker.json is gone and the CLI reads the directory itself; a
    stale worker.json (dead pid) is ignored."""
    settings, worker, _ = running
    assert worker.stop() == 0
    data_dir = settings.clickhouse.data_dir
    assert not (data_dir / "worker.json").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    (data_dir / "worker.json").write_text(json.dumps(
        {"pid": int(dead.stdout), "host": "127.0.0.1", "port": 9, "url": "http://127.0.0.1:9"}
    ))  # fmt: skip
    out = cli(settings, "db", "query", "SELECT count() AS n FROM events FINAL", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"n": N_EVENTS}


def test_a_worker_pointed_at_a_clickhouse_server_takes_no_directory_lock(
    broker: str, tmp_path: Path
) -> None:
    """Server settings skip the embedded lock and discovery (several workers may share a
    server); an unreachable server is one line naming the URL without its password."""
    settings = worker_settings(
        broker, tmp_path, clickhouse={"url": "http://infersight:s3cret@127.0.0.1:9"}
    )
    create_topics(settings)
    out = cli(settings, "worker")
    line = one_line_error(out)
    assert line.startswith("infersight worker: cannot open ClickHouse (http://127.0.0.1")
    assert "s3cret" not in out.stderr
    assert not (settings.clickhouse.data_dir / ".infersight.lock").exists()
    assert not (settings.clickhouse.data_dir / "worker.json").exists()
