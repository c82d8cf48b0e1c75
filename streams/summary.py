"""The demo's closing summary, read back from ClickHouse."""

from __future__ import annotations

import time
from typing import Any

from sinks.clickhouse import ClickHouseSink
from sinks.tables import render_table
from streams.settings import Settings

__all__ = ["print_summary"]


def _table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    return render_table(columns, rows, cell=_cell, indent="    ")


def _cell(v: Any) -> str:
    return f"{v:.6f}" if isinstance(v, float) else str(v)


def _read(sink: ClickHouseSink, run: str, started_at: float) -> dict[str, Any]:
    """What the summary shows, read back from the deduplicated views."""
    got: dict[str, Any] = {}
    got["stored"] = sink.scalar(f"SELECT count() FROM events_v WHERE {run}")
    got["cost"] = sink.query(
        "SELECT model, count() AS calls, sum(input_tokens) AS input_tokens, "
        "sum(cache_read_tokens) AS cached_tokens, "
        "toString(sum(cost_usd)) AS total_usd, countIf(cost_usd IS NULL) AS unpriced "
        f"FROM events_v WHERE {run} GROUP BY model ORDER BY sum(cost_usd) DESC NULLS LAST"
    )
    got["leaks"] = sink.query(
        "SELECT service, model, countIf(fired = 1) AS pii_leaks, count() AS events "
        "FROM signals_v WHERE detector = 'pii' AND event_id IN "
        f"(SELECT event_id FROM events_v WHERE {run}) GROUP BY service, model "
        "HAVING pii_leaks > 0 ORDER BY pii_leaks DESC"
    )
    got["fired"] = sink.query(
        "SELECT detector, countIf(fired = 1), count() FROM signals_v WHERE event_id IN "
        f"(SELECT event_id FROM events_v WHERE {run}) GROUP BY detector ORDER BY detector"
    )[1]
    got["redacted"] = sink.scalar(
        f"SELECT countIf(length(pii_types) > 0) FROM events_v WHERE {run}"
    )
    got["drift"] = sink.query(
        "SELECT service, model, field, argMax(reason, window_index) FROM drift_results_v "
        f"WHERE drift = 1 AND window_end >= toDateTime64({started_at}, 3) "
        "GROUP BY service, model, field ORDER BY service, model, field"
    )[1]
    got["windows"] = sink.scalar(
        f"SELECT count() FROM drift_results_v WHERE window_end >= toDateTime64({started_at}, 3)"
    )
    return got


def print_summary(
    settings: Settings,
    run_id: str,
    stats: dict[str, Any],
    webhook_bodies: list[dict[str, Any]],
    elapsed_s: float,
) -> None:
    started_at = time.time() - elapsed_s - 120  # event timestamps reach 60 s back
    sink = ClickHouseSink(settings.clickhouse)
    try:
        got = _read(sink, f"metadata['demo_run'] = '{run_id}'", started_at)
    finally:
        sink.close()
    received = int(stats.get("messages_received", 0))
    dead = stats.get("deadlettered_by", {})
    out = [
        "",
        f"infersight demo summary (run {run_id}, {elapsed_s:.0f}s)",
        f"  messages received   {received}",
        f"  events stored       {got['stored']}  (in ClickHouse, each exactly once)",
        f"  dead-lettered       {sum(dead.values()):.0f}  "
        "(llm.deadletter.v1: original bytes + reason)",
    ]
    out += [f"      {reason:<28} {n:.0f}" for reason, n in sorted(dead.items())]
    out += _findings(got, webhook_bodies)
    data = settings.clickhouse.data_dir
    out += [
        "",
        f"  data: embedded ClickHouse at {data} (database {settings.clickhouse.database})",
        "  query it:",
        f"    INFERSIGHT_DATA_DIR={settings.data_dir} infersight db query "
        '"SELECT model, sum(cost_usd) FROM events_v GROUP BY model"',
        "",
    ]
    print("\n".join(out))


def _findings(got: dict[str, Any], webhook_bodies: list[dict[str, Any]]) -> list[str]:
    """Signals, cost, PII, drift and alerts, a few lines each."""
    fired = ", ".join(f"{d} {f}/{n}" for d, f, n in got["fired"])
    out = ["", f"  signals fired (detector fired/scored): {fired}"]
    out += [
        "",
        "  cost by model (USD, cached tokens at their own rate):",
        _table(*got["cost"]),
    ]
    leak_cols, leak_rows = got["leaks"]
    out += [
        "",
        f"  PII: {got['redacted']} events had PII redacted before storage; leaks by series:",
    ]
    out += [_table(leak_cols, leak_rows) if leak_rows else "    none"]
    out += ["", f"  drift: {got['windows']} embedding windows tested; drifted streams:"]
    out += [f"    {svc}/{model} {field}: {reason}" for svc, model, field, reason in got["drift"]]
    out += ["    none"] if not got["drift"] else []
    firing = [b for b in webhook_bodies if b.get("status") == "firing"]
    out += ["", f"  alerts delivered to the webhook: {len(webhook_bodies)} ({len(firing)} firing)"]
    out += [f"    [{b['severity']}] {b['summary']}" for b in firing[:10]]
    return out
