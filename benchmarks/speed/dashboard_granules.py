"""Would the 30-day errors and quality panels gain from rollups of smaller cardinality?

On a store that ``dashboard_queries.py`` built (``--dir``), copies the rows the two panels
read into tables of their own (errors: service x hour; quality: service x detector x hour)
with 256-row granules, then times the 30-day panels (hour buckets) on the 060 tables and on
the copies, interleaved round by round, with the refreshable views stopped, after checking
that both give the same rows. The copies are dropped at the end.

    nice python benchmarks/speed/dashboard_granules.py --dir /tmp/dash10m --rounds 60
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, required=True, help="chDB directory of a built store")
    ap.add_argument("--rounds", type=int, default=60)
    args = ap.parse_args()
    sink = ClickHouseSink(ClickHouseSettings(data_dir=args.dir, database="bench"))
    sink.query("SYSTEM STOP VIEWS")
    for name, (columns, order, select) in COPIES.items():
        sink.query(f"DROP TABLE IF EXISTS {name}")
        sink.query(f"CREATE TABLE {name} ({columns}, version DateTime64(3, 'UTC')) "
                   f"ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(hour) "
                   f"ORDER BY {order} SETTINGS index_granularity = 256")  # fmt: skip
        sink.query(f"INSERT INTO {name} {select}")
    now = datetime.now(UTC).replace(microsecond=0)
    cases = {}
    for panel, table, copy in ((PANELS[4], "dashboard_hour", "small_errors_hour FINAL"),
                               (PANELS[3], "dashboard_signals_hour",
                                "small_signals_hour FINAL")):  # fmt: skip
        sql = expand_macros(panel.sql, now - timedelta(days=30), now)
        small = sql.replace(f"FROM {table}", f"FROM {copy}").replace("AND model = '__all'", "")
        if sink.query(sql)[1] != sink.query(small)[1]:
            raise SystemExit(f"{panel.title}: the copy gives other rows")
        rows = [sink.query(f"EXPLAIN ESTIMATE {q}")[1][0][3] for q in (sql, small)]
        print(f"{panel.title} [30d]: rows read {rows[0]:,} (060) / {rows[1]:,} (copy)")
        cases[f"{panel.title} [30d], 060 table"] = sql
        cases[f"{panel.title} [30d], 256-row copy"] = small
    print(f"before: load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, sql in cases.items():
            t = time.perf_counter()
            sink.query(sql)
            samples[name].append((time.perf_counter() - t) * 1000)
    print(f"after: load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| query | p50 ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: |")
    for name, ms in samples.items():
        ms.sort()
        p95 = ms[round(0.95 * (len(ms) - 1))]
        print(f"| {name} | {statistics.median(ms):.1f} | {p95:.1f} | {ms[-1]:.1f} |")
    for name in COPIES:
        sink.query(f"DROP TABLE {name}")
    sink.query("SYSTEM START VIEWS")
    sink.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
