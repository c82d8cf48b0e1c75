"""Dashboard query latency on the rollups, with N events (default 10 M) in embedded chDB.

Generates the events and their signals inside ClickHouse (``numbers()``, hashed columns),
builds the rollups with the backfill statements of migrations 030/031, 060 and 061 (what
upgrading a populated database does; 030/031's are given their column names, since 050
added one, and every backfill is dated in the past as 060's is; with ``--reuse`` a store
built before 061 is upgraded by ``migrate()`` itself), times one refresh cycle after a
fresh batch, then runs every Grafana panel (macros expanded for the last 24 hours, 7 and
30 days, and the p95 panel over 30 days in 6-hour and 1-day buckets) and the rollup-based
named queries
``--repeat`` times each, printing p50/p95/max. The same panels and named queries as they
were before migration 060 (reading the 030–032 rollups with ``FINAL`` and merging sketches
at query time) run ``--legacy-repeat`` times each on the same data, and their rows are
compared with the new ones. Raw-table named queries are timed too, for reference (they are
not dashboard queries and have no target). ``--accuracy`` then compares the stored p95
with the exact one (``quantileExact`` over the raw events) and with a t-digest.

    nice python benchmarks/speed/dashboard_queries.py --events 10000000 --optimize \
        --report benchmarks/speed/reports/dashboard_queries.md

Target: p95 <= 100 ms per dashboard query.
"""

from __future__ import annotations

import argparse
import math
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
from sinks.queries import ROLLUP_VIEWS, refresh_rollups, run_query  # noqa: E402
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


#: The named queries as they read the 030–032 rollups before migration 060 (for the
#: before/after comparison; parameters bound the same way).
LEGACY_NAMED = {
    "cost_by_model_day": """
SELECT toDate(hour) AS day, model, sum(r.events) AS events,
    sum(r.events) - sum(r.priced_events) AS unpriced_events, sum(r.input_tokens) AS input_tokens,
    sum(r.output_tokens) AS output_tokens, sum(r.cache_read_tokens) AS cache_read_tokens,
    sum(r.cost_usd) AS cost_usd, sum(r.reasoning_tokens) AS reasoning_tokens
FROM rollup_events_hour AS r FINAL
WHERE hour >= toDateTime({since:Date}, 'UTC')
  AND hour < toDateTime({until:Date}, 'UTC') + INTERVAL 1 DAY
GROUP BY day, model ORDER BY day, cost_usd DESC, model""",
    "toxicity_trend": """
SELECT toStartOfInterval(hour, toIntervalHour(24)) AS bucket, service, sum(r.scored) AS scored,
    sum(r.fired) AS toxic, round(toxic / scored, 4) AS toxicity_rate,
    round(sum(r.score_sum) / scored, 4) AS mean_score
FROM rollup_signals_hour AS r FINAL
WHERE detector = 'toxicity' AND hour >= toDateTime({since:Date}, 'UTC')
  AND hour < toDateTime({until:Date}, 'UTC') + INTERVAL 1 DAY
GROUP BY bucket, service ORDER BY bucket, service""",
    "slowest_models": """
SELECT model, sum(r.events) AS events, sum(r.latency_ms_count) AS timed_events,
    round(quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[1], 1) AS p50_ms,
    round(quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[3], 1) AS p95_ms,
    round(quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[4], 1) AS p99_ms,
    round(quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.ttft_ms)[3], 1) AS ttft_p95_ms
FROM rollup_events_hour AS r FINAL
WHERE hour >= toDateTime({since:Date}, 'UTC')
  AND hour < toDateTime({until:Date}, 'UTC') + INTERVAL 1 DAY
GROUP BY model HAVING timed_events > 0 ORDER BY p95_ms DESC, model LIMIT 10""",
}


def legacy_panel_sql(panel) -> str:
    """A panel as it read the rollups before migration 060: its minute-grain SQL (the old
    SQL, unchanged) at hour grain."""
    return panel.minute_sql.replace("minute", "hour")


def same_rows(a: list[tuple], b: list[tuple]) -> tuple[bool, float]:
    """Whether two results are equal, and the largest relative difference of a number."""
    if len(a) != len(b):
        return False, float("inf")
    worst = 0.0
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, float) and isinstance(y, float) and x != y:
                if math.isnan(x) and math.isnan(y):
                    continue
                worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-12))
            elif x != y and not isinstance(x, float):
                return False, float("inf")
    return worst == 0.0, worst


def backfill_statements() -> list[str]:
    """The backfill INSERTs of 030/031 (given column names: they are positional and 050
    added a column), 060 and 061, every version dated in the past."""
    out = []
    for mig in migrations():
        for stmt in mig.statements():
            if mig.version in (30, 31, 60, 61) and stmt.startswith("INSERT INTO"):
                out.append(
                    stmt.replace("now64(3) AS version", "toDateTime64(0, 3, 'UTC') AS version")
                )
    return out


def with_column_names(sink: ClickHouseSink, stmt: str) -> str:
    head, select = stmt.split("\n", 1)
    if "(" in head:
        return stmt
    names = [r[0] for r in sink.query(f"DESCRIBE ({select.split(' SETTINGS ')[0]})")[1]]
    return f"{head} ({', '.join(names)})\n{select}"


ACCURACY_SQL = """
SELECT e.model, count(e.latency_ms), quantileExact(0.95)(e.latency_ms) AS exact,
    d.p95 AS dd, quantileTDigest(0.95)(e.latency_ms) AS tdigest
FROM events AS e FINAL
JOIN (SELECT model, quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_ms)[3] AS p95
      FROM dashboard_day WHERE day >= {since:Date} AND day <= {until:Date}
        AND service = '__all' AND model != '__all' GROUP BY model) AS d ON d.model = e.model
WHERE e.timestamp >= toDateTime64({since:Date}, 3, 'UTC')
  AND e.timestamp < toDateTime64({until:Date}, 3, 'UTC') + INTERVAL 1 DAY
GROUP BY e.model, d.p95 ORDER BY e.model"""

HOURLY_ACCURACY_SQL = """
SELECT count(), max(abs(d.latency_p95_ms - x.exact) / x.exact) AS worst,
    avg(abs(d.latency_p95_ms - x.exact) / x.exact) AS mean
FROM (SELECT toStartOfHour(timestamp) AS hour, model, quantileExact(0.95)(e.latency_ms) AS exact
      FROM events AS e FINAL WHERE timestamp >= toStartOfHour(now() - INTERVAL 1 DAY)
      GROUP BY hour, model) AS x
JOIN dashboard_hour AS d ON d.hour = x.hour AND d.model = x.model
WHERE d.service = '__all' AND d.hour >= toStartOfHour(now() - INTERVAL 1 DAY)"""


def accuracy(sink: ClickHouseSink, week: dict, say) -> None:
    """The stored DDSketch p95 (what the panels show) and a t-digest against the exact p95."""
    bound = {k: datetime.fromisoformat(v).date() for k, v in week.items()}
    say()
    say(f"p95 latency per model, {week['since']} to {week['until']}: exact (quantileExact over "
        "events FINAL), the dashboard rollups' DDSketch, a t-digest of the raw values")  # fmt: skip
    say()
    say("| model | timed events | exact ms | DDSketch ms | rel. error | t-digest ms | rel. error |")
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for model, n, exact, dd, td in sink.query(ACCURACY_SQL, bound)[1]:
        say(f"| {model} | {n:,} | {exact:.1f} | {dd:.1f} | {(dd - exact) / exact:+.2%} | "
            f"{td:.1f} | {(td - exact) / exact:+.2%} |")  # fmt: skip
    n, worst, mean = sink.query(HOURLY_ACCURACY_SQL)[1][0]
    say()
    say(
        f"hourly p95 per model over the last 24 h ({n} hours x models): stored DDSketch p95 "
        f"against the exact p95, relative error mean {mean:.2%}, max {worst:.2%}"
    )


ARGMAX_HOUR = """(SELECT hour, service, model, argMax(events, version) AS events,
    argMax(cost_usd, version) AS cost_usd, argMax(input_tokens, version) AS input_tokens,
    argMax(output_tokens, version) AS output_tokens, argMax(pii_events, version) AS pii_events
    FROM rollup_dashboard_hour GROUP BY hour, service, model)"""


def dedupe_comparison(sink: ClickHouseSink, now: datetime, bench, repeat: int) -> None:
    """The dashboard views read FINAL; time the alternative, argMax(column, version) per key,
    on the panels that read the most rows (30 days)."""
    for panel in (PANELS[0], PANELS[5]):
        sql = expand_macros(panel.sql, now - timedelta(days=30), now)
        sql = sql.replace("FROM dashboard_hour", f"FROM {ARGMAX_HOUR}")
        bench("argMax instead of FINAL", f"{panel.title} [30d]",
              lambda sql=sql: sink.query(sql)[1], repeat)  # fmt: skip


def load() -> str:
    return "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return statistics.median(ms), p95, ms[-1]


def build(sink: ClickHouseSink, args, start: datetime, common: dict, say) -> None:
    """Generate the events and signals, then backfill every rollup as an upgrade would."""
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
        f"{gen_signals:.1f} s; {load()}")  # fmt: skip

    final_by_partition = {"do_not_merge_across_partitions_select_final": 1}
    for stmt in backfill_statements():
        t = time.perf_counter()
        sink.query(with_column_names(sink, stmt), settings=final_by_partition)
        say(f"backfill {stmt.split()[2]}: {time.perf_counter() - t:.1f} s")
    say(f"after the backfill: {load()}")
    if args.optimize:
        t = time.perf_counter()
        for table in ("rollup_events_hour", "rollup_signals_hour", "rollup_dashboard_hour",
                      "rollup_dashboard_day", "rollup_dashboard_signals_hour",
                      "rollup_dashboard_latency"):  # fmt: skip
            sink.query(f"OPTIMIZE TABLE {table} FINAL")
        say(f"OPTIMIZE FINAL of the hour and dashboard rollups: {time.perf_counter() - t:.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=30, help="timed runs per query (30)")
    ap.add_argument(
        "--legacy-repeat", type=int, default=10, help="timed runs per pre-060 query (10)"
    )
    ap.add_argument("--dir", type=Path, help="chDB directory (default: a fresh temp dir)")
    ap.add_argument("--report", type=Path, help="write a Markdown report here")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="time the data a previous run left in --dir (no generation or backfill)",
    )
    ap.add_argument(
        "--accuracy",
        action="store_true",
        help="after the timings, compare the stored p95 with the exact one (slow: raw events)",
    )
    ap.add_argument(
        "--optimize",
        action="store_true",
        help="merge the hour and dashboard rollup versions after the backfill (steady state)",
    )
    args = ap.parse_args()
    if args.events < 1000 or args.repeat < 5 or args.legacy_repeat < 1:
        ap.error("--events must be at least 1000, --repeat at least 5, --legacy-repeat 1")

    root = args.dir or Path(tempfile.mkdtemp(prefix="infersight-bench-"))
    sink = ClickHouseSink(ClickHouseSettings(data_dir=root, database="bench"))
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"start: {load()}")
    t = time.perf_counter()
    applied = sink.migrate()
    say(f"migrations applied now: {', '.join(applied[-3:]) or 'none'}"
        f"{' ...' if len(applied) > 3 else ''} ({time.perf_counter() - t:.1f} s)")  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=SPAN_DAYS)
    common = {"services": SERVICES, "models": MODELS, "span_ms": SPAN_DAYS * 86_400_000}
    if args.reuse:
        say(f"reusing the data in {root} (--reuse): nothing generated or backfilled")
    else:
        build(sink, args, start, common, say)
    sizes = {
        table: sink.scalar(f"SELECT count() FROM {table}")
        for table in ("rollup_events_minute", "rollup_events_hour", "rollup_signals_hour",
                      "rollup_dashboard_hour", "rollup_dashboard_day",
                      "rollup_dashboard_signals_hour", "rollup_dashboard_latency")
    }  # fmt: skip
    say("physical rows: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))

    # one refresh cycle after a one-minute batch of 10 k fresh events (ingested now)
    fresh = f"fresh{now:%H%M%S}"
    sink.query(
        EVENTS_SQL.format(
            tag=fresh, start=f"'{now - timedelta(minutes=1):%Y-%m-%d %H:%M:%S}'", n=10_000,
            offset=args.events, ingested="now64(3)", **{**common, "span_ms": 60_000},
        )
    )  # fmt: skip
    sink.query(SIGNALS_SQL.format(tag=fresh))
    t = time.perf_counter()
    refresh_rollups(sink)
    refresh = time.perf_counter() - t
    totals = [
        sink.scalar(sql)
        for sql in (
            "SELECT sum(events) FROM rollup_events_hour FINAL",
            "SELECT sum(events) FROM dashboard_hour WHERE service = '__all' AND model = '__all'",
            "SELECT sum(events) FROM dashboard_hour WHERE service != '__all' AND model != '__all'",
            "SELECT sum(events) FROM dashboard_day WHERE service = '__all' AND model = '__all'",
            "SELECT sum(events) FROM dashboard_latency WHERE grain_s = 21600 "
            "AND service = '__all' AND model = '__all'",
        )
    ]
    say(f"refresh cycle ({len(ROLLUP_VIEWS)} views: minute, hour, dashboard) after a 10 k-event "
        f"batch: {refresh:.2f} s; events counted by the hour rollup, the dashboard totals, the "
        "dashboard series, the day totals and the six-hour latency totals: "
        f"{', '.join(f'{x:,}' for x in totals)}")  # fmt: skip
    stored = sink.scalar("SELECT count() FROM events")  # the generator writes no duplicates
    if set(totals) != {stored}:
        say(f"MISMATCH: expected {stored:,} everywhere")

    results: list[tuple[str, str, float, float, float, int]] = []
    answers: dict[str, list[tuple]] = {}

    def bench(kind: str, name: str, run, repeat: int) -> None:
        answers[f"{kind}|{name}"] = run()  # warm-up (first read of the parts)
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            rows = run()
            samples.append(time.perf_counter() - t0)
        p50, p95, worst = percentiles(samples)
        results.append((kind, name, p50, p95, worst, len(rows)))

    def rows_of(sql: str, params: dict | None = None):
        return lambda: sink.query(sql, params)[1]

    windows = (("24h", 1, 3600), ("7d", 7, 3600), ("30d", 30, 3600),
               ("30d, 6 h buckets", 30, 6 * 3600), ("30d, 1 day buckets", 30, 86_400))  # fmt: skip
    say(f"before the timings: {load()}")
    for label, days, bucket in windows:
        cases = [(p.title, p, "__all") for p in PANELS]
        if bucket == 3600:
            cases.append((f"{PANELS[0].title}, one service", PANELS[0], "search-rag"))
        else:
            cases = [c for c in cases if "p95" in c[0]]
        for title, panel, service in cases:
            for kind, sql, repeat in (("panel", panel.sql, args.repeat),
                                      ("panel before 060", legacy_panel_sql(panel),
                                       args.legacy_repeat)):  # fmt: skip
                sql = expand_macros(sql, now - timedelta(days=days), now, service, bucket)
                bench(kind, f"{title} [{label}]", rows_of(sql), repeat)

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
              lambda n=name, p=params: run_query(sink, n, p).rows, args.repeat)  # fmt: skip
        bound = {k: datetime.fromisoformat(v).date() for k, v in params.items()}
        bench("named before 060", f"{name} {params}", rows_of(LEGACY_NAMED[name], bound),
              args.legacy_repeat)  # fmt: skip
    for name in ("top_services_pii_leaks", "hallucination_rate_rag", "cache_savings"):
        bench("named (raw, reference)", f"{name} {yesterday}",
              lambda n=name: run_query(sink, n, yesterday).rows, args.legacy_repeat)  # fmt: skip
    dedupe_comparison(sink, now, bench, args.repeat)
    say(f"after the timings: {load()}")
    write_tables(say, results, answers)
    if args.accuracy:
        accuracy(sink, week, say)
    sink.close()
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    if args.report:
        write_report(args, now, lines)
    return 0


def write_tables(say, results, answers) -> None:
    say()
    say("| query | p50 ms | p95 ms | max ms | rows | before 060: p50 ms | p95 ms | same rows |")
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    by_key = {(kind, name): (p50, p95, worst, rows) for kind, name, p50, p95, worst, rows
              in results}  # fmt: skip
    for (kind, name), (p50, p95, worst, rows) in by_key.items():
        if kind not in ("panel", "named (rollup)", "named (raw, reference)"):
            continue
        old_kind = {"panel": "panel before 060", "named (rollup)": "named before 060"}.get(kind)
        old = by_key.get((old_kind, name))
        label = name if kind == "panel" else f"{kind}: {name}"
        if old is None:
            say(f"| {label} | {p50:.1f} | {p95:.1f} | {worst:.1f} | {rows} | | | |")
            continue
        equal, diff = same_rows(answers[f"{kind}|{name}"], answers[f"{old_kind}|{name}"])
        same = "identical" if equal else f"max rel. diff {diff:.2g}"
        say(f"| {label} | {p50:.1f} | {p95:.1f} | {worst:.1f} | {rows} | {old[0]:.1f} | "
            f"{old[1]:.1f} | {same} |")  # fmt: skip
    alt = [r for r in results if r[0] == "argMax instead of FINAL"]
    if alt:
        say()
        say("The same panels, deduplicated with argMax(column, version) ... GROUP BY instead of "
            "the views' FINAL:")  # fmt: skip
        say()
        say("| query | p50 ms | p95 ms | max ms | rows | with FINAL (above): p50 ms | p95 ms |")
        say("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for _, name, p50, p95, worst, rows in alt:
            mine = by_key[("panel", name)]
            say(f"| {name} | {p50:.1f} | {p95:.1f} | {worst:.1f} | {rows} | {mine[0]:.1f} | "
                f"{mine[1]:.1f} |")  # fmt: skip
    dash = [r for r in results if r[0] in ("panel", "named (rollup)")]
    over = [r for r in dash if r[3] > 100]
    say()
    say(f"dashboard/rollup queries: {len(dash)}, worst p95 {max(r[3] for r in dash):.1f} ms, "
        f"{len(over)} over the 100 ms target" + (": " + "; ".join(r[1] for r in over) if over
                                                  else ""))  # fmt: skip


def write_report(args, now: datetime, lines: list[str]) -> None:
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
        f"warm-up ({args.legacy_repeat} for the queries as they were before migration 060 "
        "and the raw reference queries); wall time of `ClickHouseSink.query` (includes "
        "result conversion).",
        "",
    ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(header + lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
