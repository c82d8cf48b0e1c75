"""Interleaved A/B timings of dashboard SQL on a store ``dashboard_queries.py`` built.

Each round runs every variant once, so load swings on a shared machine hit both sides of a
comparison alike; the refreshable views are stopped meanwhile, so the process's CPU time
per query (every thread of the embedded engine) is the query's own work, however loaded
the machine. Every pair is first checked to give the same rows.

* The p95 panel as migration 060 left it (over ``dashboard_hour``: the stored p95 in hour
  buckets, a merge of hour sketches in wider ones) against the panel now (061:
  ``rollup_dashboard_latency`` at the coarsest grain that tiles the bucket).
* The 30-day errors and quality panels (hour buckets) on their 060 tables against copies of
  the rows they read in tables of their own with 256-row granules ("rollups of small
  cardinality"); the copies are dropped at the end.

    nice python benchmarks/speed/dashboard_ab.py --dir /tmp/dash10m --rounds 40
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sinks.clickhouse import ClickHouseSettings, ClickHouseSink  # noqa: E402
from sinks.report import PANELS, expand_macros  # noqa: E402

#: The p95 panel as migration 060 wrote it (sinks/report.py before 061), both branches.
P95_060 = """WITH toDateTime('1970-01-01 01:00:00', 'UTC') AS probe_hour
SELECT time, model, p95_ms FROM (
    SELECT $__timeInterval(hour) AS time, model, any(latency_p95_ms) AS p95_ms
    FROM dashboard_hour
    WHERE (NOT $__timeInterval(probe_hour) != probe_hour OR hour < probe_hour - 3600)
      AND $__timeFilter(hour) AND service = '${service}' AND model != '__all'
    GROUP BY time, model
    UNION ALL
    SELECT $__timeInterval(hour) AS time, model,
        quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_ms)[3] AS p95_ms
    FROM dashboard_hour
    WHERE ($__timeInterval(probe_hour) != probe_hour OR hour < probe_hour - 3600)
      AND $__timeFilter(hour) AND service = '${service}' AND model != '__all'
    GROUP BY time, model)
ORDER BY time, model"""
WIDE = (("30d, 6 h buckets", 30, 6 * 3600), ("30d, 1 day buckets", 30, 86_400),
        ("30d, 2 h buckets", 30, 2 * 3600), ("7d, 6 h buckets", 7, 6 * 3600),
        ("30d, 1 h buckets", 30, 3600), ("7d, 1 h buckets", 7, 3600))  # fmt: skip

COPIES = {
    "small_errors_hour": (
        "hour DateTime('UTC'), service LowCardinality(String), errors UInt64",
        "(service, hour)",
        "SELECT hour, service, errors, now64(3) FROM dashboard_hour WHERE model = '__all'",
    ),
    "small_signals_hour": (
        "hour DateTime('UTC'), service LowCardinality(String), "
        "detector LowCardinality(String), scored UInt64, fired UInt64",
        "(service, detector, hour)",
        "SELECT hour, service, detector, scored, fired, now64(3) FROM dashboard_signals_hour",
    ),
}


def copies(sink: ClickHouseSink, now: datetime) -> dict[str, str]:
    """The errors and quality panels, 30 days: on the 060 tables and on 256-row copies."""
    for name, (columns, order, select) in COPIES.items():
        sink.query(f"DROP TABLE IF EXISTS {name}")
        sink.query(f"CREATE TABLE {name} ({columns}, version DateTime64(3, 'UTC')) "
                   f"ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(hour) "
                   f"ORDER BY {order} SETTINGS index_granularity = 256")  # fmt: skip
        sink.query(f"INSERT INTO {name} {select}")
    cases = {}
    for panel, table, copy in ((PANELS[4], "dashboard_hour", "small_errors_hour FINAL"),
                               (PANELS[3], "dashboard_signals_hour",
                                "small_signals_hour FINAL")):  # fmt: skip
        sql = expand_macros(panel.sql, now - timedelta(days=30), now)
        small = sql.replace(f"FROM {table}", f"FROM {copy}").replace("AND model = '__all'", "")
        rows = [sink.query(f"EXPLAIN ESTIMATE {q}")[1][0][3] for q in (sql, small)]
        print(f"{panel.title} [30d]: rows read {rows[0]:,} (060 table) / {rows[1]:,} (copy)")
        cases[f"{panel.title} [30d], 060 table"] = sql
        cases[f"{panel.title} [30d], 256-row copy"] = small
    return cases


def wide_p95(now: datetime) -> dict[str, str]:
    """The p95 panel in wide and hour buckets: 060's SQL, then 061's."""
    cases = {}
    for label, days, bucket in WIDE:
        for kind, sql in (("060", P95_060), ("061", PANELS[2].sql)):
            cases[f"p95 latency by model [{label}], {kind}"] = expand_macros(
                sql, now - timedelta(days=days), now, bucket_s=bucket
            )
    return cases


def load() -> str:
    return "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, required=True, help="chDB directory of a built store")
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    sink = ClickHouseSink(ClickHouseSettings(data_dir=args.dir, database="bench"))
    sink.query("SYSTEM STOP VIEWS")
    now = datetime.now(UTC).replace(microsecond=0)
    cases = wide_p95(now) | copies(sink, now)
    names = list(cases)
    for a, b in zip(names[::2], names[1::2], strict=True):
        if sink.query(cases[a])[1] != sink.query(cases[b])[1]:
            raise SystemExit(f"{a} and {b} give different rows")
    print(f"every pair gives the same rows; before: {load()}")
    samples: dict[str, list[float]] = {k: [] for k in cases}
    cpu = dict.fromkeys(cases, 0.0)
    for _ in range(args.rounds):
        for name, sql in cases.items():
            c, t = time.process_time(), time.perf_counter()
            sink.query(sql)
            samples[name].append((time.perf_counter() - t) * 1000)
            cpu[name] += (time.process_time() - c) * 1000 / args.rounds
    print(f"after: {load()}")
    print("| query | p50 ms | p95 ms | max ms | CPU ms per query |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, ms in samples.items():
        ms.sort()
        p95 = ms[round(0.95 * (len(ms) - 1))]
        print(f"| {name} | {statistics.median(ms):.1f} | {p95:.1f} | {ms[-1]:.1f} | "
              f"{cpu[name]:.1f} |")  # fmt: skip
    for name in COPIES:
        sink.query(f"DROP TABLE {name}")
    sink.query("SYSTEM START VIEWS")
    sink.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
