"""Read a stopped worker's chDB directory in a child process (chDB allows one directory per
process, and one process per directory): named queries, and optionally every row of every
table of the database as JSON text, for the exactly-once and PII-canary checks.

Request on stdin, answer on stdout, both JSON::

    {"data_dir": "...", "database": "infersight", "queries": {"name": "SELECT ..."},
     "dump": true}
    -> {"queries": {"name": [{column: value, ...}, ...]}, "tables": {"events": "<rows>"}}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import orjson

    from sinks.clickhouse import ClickHouseSettings, ClickHouseSink

    req = json.load(sys.stdin)
    sink = ClickHouseSink(
        ClickHouseSettings(data_dir=Path(req["data_dir"]), database=req["database"])
    )
    out: dict[str, dict[str, object]] = {"queries": {}, "tables": {}}
    for name, sql in req.get("queries", {}).items():
        columns, rows = sink.query(sql)
        out["queries"][name] = [dict(zip(columns, row, strict=True)) for row in rows]
    if req.get("dump"):
        # Every stored table (views only re-read them): MergeTree tables, rollup targets.
        _, tables = sink.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND engine NOT IN ('View', 'MaterializedView') ORDER BY name"
        )
        for (table,) in tables:
            # ClickHouse's own text output: aggregate states (rollups) included, bytes as is.
            raw = sink.client.raw_query(f"SELECT * FROM `{table}` FORMAT JSONEachRow")
            out["tables"][table] = raw.decode("utf-8", errors="replace")
    sink.close()
    sys.stdout.write(orjson.dumps(out, default=str).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
