"""The dashboard rollups of migrations 060 and 061 on the real embedded engine: late and
backfilled events land in their own hour once, a refresh after the upgrade wins over the
backfilled rows, and readers see one row per key whatever versions are stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detectors.cost import CostDetector
from detectors.pipeline import ScoringPipeline
from schemas.events import InferenceEvent
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, migrations
from sinks.queries import ROLLUP_VIEWS, refresh_rollups, run_query

NOW = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=30, second=0, microsecond=0)
OLD_HOUR = NOW - timedelta(days=3, hours=5)


def _scored(prefix: str, n: int, at: datetime, model: str = "gpt-4o") -> list:
    events = [
        InferenceEvent(
            service="late-svc",
            model=model,
            event_id=f"{prefix}-{i}",
            timestamp=at + timedelta(seconds=i),
            latency_ms=100.0 + 10 * i,
        )
        for i in range(n)
    ]
    return ScoringPipeline([CostDetector()]).score(events)[0]


def _hour_row(sink: ClickHouseSink, hour: datetime, service: str, model: str) -> list[tuple]:
    return sink.query(
        "SELECT events, latency_ms_count, latency_p95_ms FROM dashboard_hour "
        "WHERE hour = {h:DateTime} AND service = {s:String} AND model = {m:String}",
        {"h": hour.replace(minute=0, tzinfo=None), "s": service, "m": model},
    )[1]


def _refresh(sink: ClickHouseSink, views: tuple[str, ...]) -> None:
    """refresh_rollups for the views a database migrated part of the way has."""
    for view in views:
        sink.query(f"SYSTEM REFRESH VIEW {view}")
        sink.query(f"SYSTEM WAIT VIEW {view}")


@pytest.fixture(scope="module")
def sink(chdb_dir):
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="dashboard_unit"))
    s.migrate()
    yield s
    s.close()


def test_a_late_event_lands_in_its_own_hour_once(sink) -> None:
    """Events of this hour, then one dated three days back (a backfill) delivered twice and
    a redelivered batch: the old hour counts 1 event, this hour 20, the totals 21."""
    sink.write_results(_scored("now", 20, NOW))
    refresh_rollups(sink)
    late = _scored("late", 1, OLD_HOUR)
    sink.write_results(late)
    sink.write_results(late + _scored("now", 20, NOW)[:5])  # redelivered
    refresh_rollups(sink)
    assert _hour_row(sink, OLD_HOUR, "late-svc", "gpt-4o") == [(1, 1, pytest.approx(100, 0.01))]
    assert _hour_row(sink, OLD_HOUR, "__all", "__all")[0][0] == 1
    assert _hour_row(sink, NOW, "late-svc", "__all")[0][0] == 20
    total = sink.scalar(
        "SELECT sum(events) FROM dashboard_hour WHERE service = 'late-svc' AND model = '__all'"
    )
    assert total == 21
    day = run_query(sink, "slowest_models", {"since": f"{OLD_HOUR.date()}",
                                             "until": f"{NOW.date()}", "service": "late-svc"})  # fmt: skip
    assert [(r[0], r[1], r[2]) for r in day.rows] == [("gpt-4o", 21, 21)]


def test_readers_see_one_row_per_key_whatever_the_versions(sink) -> None:
    """Each refresh appends a version of the hours it recomputed; the views return one row
    per hour, service and model (the newest)."""
    sink.write_results(_scored("more", 3, NOW + timedelta(minutes=1)))
    refresh_rollups(sink)
    for view, key in (("dashboard_hour", "hour, service, model"),
                      ("dashboard_day", "day, service, model"),
                      ("dashboard_latency", "grain_s, period, service, model"),
                      ("dashboard_signals_hour", "hour, service, detector")):  # fmt: skip
        rows, keys = sink.query(f"SELECT count(), uniqExact({key}) FROM {view}")[1][0]
        assert rows == keys > 0, view
    assert _hour_row(sink, NOW, "late-svc", "__all")[0][0] == 23


def test_upgrade_backfill_is_dated_in_the_past_and_a_later_refresh_wins(chdb_dir) -> None:
    """A database populated before 060: the migration's backfill fills the dashboard
    rollups with the figures of the hour rollups, versioned 1970-01-01, so a refresh after
    it (here: one more late event in a backfilled hour) replaces the backfilled row."""
    # Same process, same chDB directory: a second database, migrated up to 052 by hand.
    db = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="dashboard_upgrade"))
    for mig in migrations():
        if mig.version < 60:
            for stmt in mig.statements():
                db.query(stmt)
    db.write_results(_scored("old", 4, OLD_HOUR))
    _refresh(db, ROLLUP_VIEWS[:4])  # the 030-032 views: 060's do not exist yet
    db.query("SYSTEM STOP VIEWS")  # nothing refreshes until the test says so
    [mig060] = [m for m in migrations() if m.version == 60]
    for stmt in mig060.statements():
        db.query(stmt)
    db.query("SYSTEM STOP VIEWS")  # the views 060 created too
    # The views refresh once when created; the backfill wrote every key again, at epoch.
    backfilled, keys = db.query(
        "SELECT countIf(toUnixTimestamp64Milli(version) = 0), "
        "(SELECT count() FROM dashboard_hour) FROM rollup_dashboard_hour"
    )[1][0]
    assert backfilled == keys == 4  # (late-svc | __all) x (gpt-4o | __all), one hour
    assert _hour_row(db, OLD_HOUR, "late-svc", "gpt-4o")[0][:2] == (4, 4)
    db.write_results(_scored("old-late", 1, OLD_HOUR + timedelta(minutes=2)))
    db.query("SYSTEM START VIEWS")
    _refresh(db, ROLLUP_VIEWS[:-3])  # 061's views do not exist here
    assert _hour_row(db, OLD_HOUR, "late-svc", "gpt-4o")[0][:2] == (5, 5)
    assert _hour_row(db, OLD_HOUR, "__all", "__all")[0][0] == 5
    db.close()


def test_stored_percentiles_are_the_hours_sketch_and_the_panel_shows_them(sink) -> None:
    """200 calls in one hour with distinct latencies: the stored p50/p95/p99 equal the
    DDSketch of the raw latencies (and differ from each other), and the p95 panel shows the
    stored p95 for that hour, as the pre-060 panel did."""
    from sinks.report import PANELS, expand_macros

    at = NOW - timedelta(hours=2)
    events = [
        InferenceEvent(service="dense-svc", model="gpt-4o", event_id=f"dense-{i}",
                       timestamp=at + timedelta(seconds=i), latency_ms=float(10 * (i + 1)))
        for i in range(200)
    ]  # fmt: skip
    sink.write_results(ScoringPipeline([CostDetector()]).score(events)[0])
    refresh_rollups(sink)
    [(quantiles,)] = sink.query(
        "SELECT quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99)(e.latency_ms) FROM events AS e FINAL "
        "WHERE service = 'dense-svc'"
    )[1]
    p50, _, p95, p99 = quantiles
    assert len({p50, p95, p99}) == 3
    stored = sink.query(
        "SELECT latency_p50_ms, latency_p95_ms, latency_p99_ms FROM dashboard_hour "
        "WHERE service = 'dense-svc' AND model = 'gpt-4o'"
    )[1]
    assert stored == [(p50, p95, p99)]
    start, end = at.replace(minute=0), at.replace(minute=59)
    panel = PANELS[2]
    new = sink.query(expand_macros(panel.sql, start, end, "dense-svc"))[1]
    old = sink.query(expand_macros(panel.minute_sql.replace("minute", "hour"), start, end,
                                   "dense-svc"))[1]  # fmt: skip
    assert [r[1:] for r in new] == [r[1:] for r in old] == [("gpt-4o", p95)]


def _latency_rows(sink: ClickHouseSink, at: datetime, service: str, model: str) -> list[tuple]:
    """(grain, events, timed events, p95) of the hour, six hours and day holding ``at``."""
    return sink.query(
        "SELECT grain_s, events, latency_ms_count, "
        "quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_ms)[3] FROM dashboard_latency "
        "WHERE period = toDateTime(intDiv(toUInt32({t:DateTime}), grain_s) * grain_s, 'UTC') "
        "AND service = {s:String} AND model = {m:String} GROUP BY grain_s, events, "
        "latency_ms_count ORDER BY grain_s",
        {"t": at.replace(tzinfo=None), "s": service, "m": model},
    )[1]


def test_latency_backfill_is_dated_in_the_past_and_a_later_refresh_wins(chdb_dir) -> None:
    """A database populated before 061: its backfill writes the hour, six hours and day of
    each key once, versioned 1970-01-01, with the hour rollup's sketch; one more late event
    in that hour, refreshed, replaces the backfilled rows at every grain (5 events, not 4
    or 9)."""
    db = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="latency_upgrade"))
    for mig in migrations():
        if mig.version < 61:
            for stmt in mig.statements():
                db.query(stmt)
    db.write_results(_scored("old", 4, OLD_HOUR))
    _refresh(db, ROLLUP_VIEWS[:-3])  # 061's views do not exist yet
    db.query("SYSTEM STOP VIEWS")
    [mig061] = [m for m in migrations() if m.version == 61]
    for stmt in mig061.statements():
        db.query(stmt)
    db.query("SYSTEM STOP VIEWS")  # the views 061 created too
    backfilled, keys = db.query(
        "SELECT countIf(toUnixTimestamp64Milli(version) = 0), "
        "(SELECT count() FROM dashboard_latency) FROM rollup_dashboard_latency"
    )[1][0]
    assert backfilled == keys == 12  # 3 grains x (late-svc | __all) x (gpt-4o | __all)
    [(hour_p95,)] = db.query(
        "SELECT latency_p95_ms FROM dashboard_hour WHERE service = '__all' AND model = '__all'"
    )[1]
    expected = [(g, 4, 4, hour_p95) for g in (3600, 21600, 86400)]
    assert _latency_rows(db, OLD_HOUR, "__all", "__all") == expected
    db.write_results(_scored("old-late", 1, OLD_HOUR + timedelta(minutes=2)))
    db.query("SYSTEM START VIEWS")
    refresh_rollups(db)
    for service, model in (("late-svc", "gpt-4o"), ("__all", "__all")):
        rows = _latency_rows(db, OLD_HOUR, service, model)
        assert [r[:3] for r in rows] == [(g, 5, 5) for g in (3600, 21600, 86400)]
    db.close()


def test_every_migration_statement_parses_as_clickhouse_sql(sink) -> None:
    """What a ClickHouse server would be sent: each statement of every migration, 061's
    included, is read by ClickHouse's own parser (formatQuery, as for roles.sql); chDB
    applying them is the other half (the fixtures above migrate)."""
    for mig in migrations():
        for stmt in mig.statements():
            formatted = sink.scalar("SELECT formatQuery({q:String})", {"q": stmt})
            assert formatted.split()[0] == stmt.split()[0], (mig.name, stmt[:60])
