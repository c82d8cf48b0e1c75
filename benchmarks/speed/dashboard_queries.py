"""Dashboard query latency on the rollups, with N events (default 10 M) in embedded chDB.

Generates the events and their signals inside ClickHouse (``numbers()``, hashed columns),
builds the rollups with the backfill statements of migrations 030/031 (what upgrading a
populated database does), times one refresh cycle after a fresh batch, then runs every
Grafana panel (macros expanded for the last 24 hours, 7 and 30 days) and the rollup-based
named queries ``--repeat`` times each, printing p50/p95/max. Raw-table named queries are
timed too, for reference (they are not dashboard queries and have no target).

    nice python benchmarks/speed/dashboard_queries.py --events 10000000 \
        --report benchmarks/speed/reports/dashboard_queries.md

Target: p95 < 100 ms per dashboard query on the rollups.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, migrations  # noqa: E402
from sinks.queries import refresh_rollups, run_query  # noqa: E402
from sinks.report import PANELS, expand_macros  # noqa: E402

SERVICES = "['checkout-bot', 'search-rag', 'support-chat', 'email-drafts', 'code-review']"
MODELS = "['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'gemini-2.5-pro', 'my-local-llm']"  # noqa: E501
SPAN_DAYS = 30

EVENTS_SQL = """
INSERT INTO events (event_id, timestamp, service, environment, operation, provider,
    request_model, model, prompt, response, context, input_tokens, output_tokens,
    cache_read_tokens, cost_usd, latency_ms, ttft_ms, status, user_id, pii_types, ingested_at)
SELECT
    concat('{tag}-', toString(number)) AS event_id,
    toDateTime64({start}, 3, 'UTC') + toIntervalMillisecond(intDiv(number * {span_ms}, {n})),
    {services}[1 + h % 5],
    if(h % 7 = 0, 'staging', 'production'),
    'chat',
    'openai',
    {models}[1 + intDiv(h, 5) % 6] AS m,
    m,
    'redacted prompt',
    'redacted response',
    if(h % 10 < 3, ['retrieved document'], []),
    toUInt32(100 + h % 4000) AS inp,
    toUInt32(20 + intDiv(h, 7) % 800),
    if(h % 3 = 0, intDiv(inp, 2), 0),
    if(m = 'my-local-llm', NULL, toDecimal64((h % 100000) / 10000000, 9)),
    if(h % 20 = 0, NULL, toFloat32(150 + intDiv(h, 11) % 6000)),
    toFloat32(40 + intDiv(h, 13) % 900),
    if(h % 50 = 0, 'error', 'ok'),
    concat('user-', toString(intDiv(h, 17) % 5000)),
    if(h % 40 = 0, ['EMAIL_ADDRESS'], []),
    {ingested}
FROM (SELECT number + {offset} AS number, cityHash64(number + {offset}) AS h
      FROM numbers({n}))
"""

SIGNALS_SQL = """
INSERT INTO signals (event_id, timestamp, service, environment, model, detector, score, fired,
    reason, ingested_at)
SELECT event_id, timestamp, service, environment, model, detector,
    (cityHash64(event_id, detector) % 1000) / 1000 AS score,
    score >= if(detector = 'pii', 0.96, 0.9), '', ingested_at
FROM events
ARRAY JOIN if(context_count > 0, ['toxicity', 'pii', 'injection', 'hallucination'],
              ['toxicity', 'pii', 'injection']) AS detector
WHERE event_id LIKE '{tag}-%'
"""


def timed(sink: ClickHouseSink, sql: str, params: dict | None = None) -> float:
    t = time.perf_counter()
    sink.query(sql, params)
    return time.perf_counter() - t


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return statistics.median(ms), p95, ms[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=30, help="timed runs per query (30)")
    ap.add_argument("--dir", type=Path, help="chDB directory (default: a fresh temp dir)")
    ap.add_argument("--report", type=Path, help="write a Markdown report here")
    ap.add_argument(
        "--optimize",
        action="store_true",
        help="merge rollup versions after the backfill (steady state) before timing",
    )
    args = ap.parse_args()
    if args.events < 1000 or args.repeat < 5:
        ap.error("--events must be at least 1000 and --repeat at least 5")

    root = args.dir or Path(tempfile.mkdtemp(prefix="infersight-bench-"))
    sink = ClickHouseSink(ClickHouseSettings(data_dir=root, database="bench"))
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    sink.migrate()
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=SPAN_DAYS)
    common = {"services": SERVICES, "models": MODELS, "span_ms": SPAN_DAYS * 86_400_000}
    t = time.perf_counter()
    for offset in range(0, args.events, 2_000_000):  # 2 M per statement bounds memory
        n = min(2_000_000, args.events - offset)
        sink.query(
            EVENTS_SQL.format(
                tag="bulk", start=f"'{start:%Y-%m-%d %H:%M:%S}'", n=args.events, offset=offset,
                ingested="now64(3) - INTERVAL 1 DAY", **common,
            ).replace(f"FROM numbers({args.events})", f"FROM numbers({n})")
        )  # fmt: skip
    gen_events = time.perf_counter() - t
    t = time.perf_counter()
    sink.query(SIGNALS_SQL.format(tag="bulk"))
    gen_signals = time.perf_counter() - t
    n_signals = sink.scalar("SELECT count() FROM signals")
    say(f"generated {args.events:,} events in {gen_events:.1f} s, {n_signals:,} signals in "
        f"{gen_signals:.1f} s")  # fmt: skip

    backfill = [
        stmt
        for mig in migrations()
        if mig.version in (30, 31)
        for stmt in mig.statements()
        if stmt.startswith("INSERT INTO")
    ]
    t = time.perf_counter()
    for stmt in backfill:
        sink.query(stmt)
    build = time.perf_counter() - t
    physical = sink.scalar("SELECT count() FROM rollup_events_hour")
    say(f"rollup_events_hour holds {physical:,} physical rows (versions not yet merged)")
    if args.optimize:
        t = time.perf_counter()
        for table in ("rollup_events_minute", "rollup_events_hour", "rollup_signals_minute",
                      "rollup_signals_hour"):  # fmt: skip
            sink.query(f"OPTIMIZE TABLE {table} FINAL")
        say(f"OPTIMIZE FINAL of the rollups (what background merges converge to): "
            f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    sizes = {
        table: sink.scalar(f"SELECT count() FROM {table} FINAL")
        for table in ("rollup_events_minute", "rollup_events_hour", "rollup_signals_hour")
    }
    say(f"rollup backfill (030/031 INSERT statements) over all events: {build:.1f} s; rows: "
        + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))  # fmt: skip

    # one refresh cycle after a one-minute batch of 10 k fresh events (ingested now)
    sink.query(
        EVENTS_SQL.format(
            tag="fresh", start=f"'{now - timedelta(minutes=1):%Y-%m-%d %H:%M:%S}'", n=10_000,
            offset=args.events, ingested="now64(3)", **{**common, "span_ms": 60_000},
        )
    )  # fmt: skip
    sink.query(SIGNALS_SQL.format(tag="fresh"))
    t = time.perf_counter()
    refresh_rollups(sink)
    refresh = time.perf_counter() - t
    total = sink.scalar("SELECT sum(events) FROM rollup_events_hour FINAL")
    say(f"refresh cycle (4 views, minute then hour) after a 10 k-event batch: {refresh:.2f} s; "
        f"hour rollup now counts {total:,} events")  # fmt: skip
    if total != args.events + 10_000:
        say(f"MISMATCH: rollup counts {total}, expected {args.events + 10_000}")

    results: list[tuple[str, str, float, float, float, int]] = []

    def bench(kind: str, name: str, run) -> None:
        run()  # warm-up (first read of the parts)
        samples = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            rows = run()
            samples.append(time.perf_counter() - t0)
        p50, p95, worst = percentiles(samples)
        results.append((kind, name, p50, p95, worst, rows))

    for label, days in (("24h", 1), ("7d", 7), ("30d", 30)):
        for panel in PANELS:
            sql = expand_macros(panel.sql, now - timedelta(days=days), now)
            bench("panel", f"{panel.title} [{label}]", lambda sql=sql: len(sink.query(sql)[1]))
        sql = expand_macros(PANELS[0].sql, now - timedelta(days=days), now, "search-rag")
        bench("panel", f"{PANELS[0].title}, one service [{label}]",
              lambda sql=sql: len(sink.query(sql)[1]))  # fmt: skip

    week = {"since": f"{(now - timedelta(days=7)).date()}", "until": f"{now.date()}"}
    yesterday = {"since": f"{(now - timedelta(days=1)).date()}"} | {
        "until": f"{(now - timedelta(days=1)).date()}"
    }
    for name, params in (
        ("cost_by_model_day", yesterday),
        ("toxicity_trend", week),
        ("slowest_models", week),
    ):
        bench("named (rollup)", f"{name} {params}",
              lambda n=name, p=params: len(run_query(sink, n, p).rows))  # fmt: skip
    for name in ("top_services_pii_leaks", "hallucination_rate_rag", "cache_savings"):
        bench("named (raw, reference)", f"{name} {yesterday}",
              lambda n=name: len(run_query(sink, n, yesterday).rows))  # fmt: skip

    say()
    say("| kind | query | p50 ms | p95 ms | max ms | rows |")
    say("| --- | --- | ---: | ---: | ---: | ---: |")
    for kind, name, p50, p95, worst, rows in results:
        say(f"| {kind} | {name} | {p50:.1f} | {p95:.1f} | {worst:.1f} | {rows} |")
    rollup = [r for r in results if r[0] != "named (raw, reference)"]
    over = [r for r in rollup if r[3] >= 100]
    say()
    say(f"dashboard/rollup queries: {len(rollup)}, worst p95 {max(r[3] for r in rollup):.1f} ms, "
        f"{len(over)} at or over the 100 ms target")  # fmt: skip
    sink.close()
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)

    if args.report:
        cmd = "nice python benchmarks/speed/dashboard_queries.py " + " ".join(sys.argv[1:])
        cpu = next(
            (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
             if ln.startswith("model name")), platform.processor(),
        )  # fmt: skip
        header = [
            "# Dashboard query latency on the rollups",
            "",
            f"Command: `{cmd}`",
            "",
            f"Machine: {cpu}, {os.cpu_count()} cores visible (shared with other jobs), "
            f"chDB (ClickHouse 26.9 embedded), Python {platform.python_version()}; "
            f"run {now:%Y-%m-%d %H:%M} UTC. {args.repeat} timed runs per query after one "
            "warm-up; wall time of `ClickHouseSink.query` (includes result conversion).",
            "",
        ]
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
