"""Analyst ClickHouse layer on chDB: migrations, replay-proof rollups, named queries,
dashboard SQL and the HTML report, against one seeded dataset written through the sink.

The dataset is built with the real contracts and priced by the real cost detector; the
expected figures are computed from those Python objects, independently of ClickHouse.
chDB allows one data directory per process at a time: this module opens one and closes it.
"""

from __future__ import annotations

import html
import json
import random
import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from detectors.cost import price_event
from detectors.pii import Finding
from detectors.pipeline import ScoredEvent
from schemas.events import InferenceEvent
from schemas.results import Alert, AlertStatus, Severity, Signal
from sinks.alert_store import AlertStore
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink
from sinks.feedback import FEEDBACK_COLUMNS
from sinks.queries import QUERIES, QueryError, refresh_rollups, run_query
from sinks.report import PANELS, expand_macros, render_report
from sinks.tables import format_result

REPO = Path(__file__).resolve().parents[2]

DAY1 = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = ("2026-01-05", "2026-01-06")
SERVICES = ("checkout-bot", "search-rag", "support-chat")
MODELS = (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"))
LOCAL_MODEL = ("", "my-local-llm")  # no known price: cost NULL
N_EVENTS = 300


@dataclass
class Dataset:
    scored: list[ScoredEvent]
    alerts: list[Alert]


def build(seed: int = 6) -> Dataset:
    """``N_EVENTS`` events over two days, with cost, pii, toxicity, injection signals on
    every event and hallucination signals on the RAG ones."""
    rng = random.Random(seed)
    scored = []
    for i in range(N_EVENTS):
        provider, model = rng.choice([*MODELS, LOCAL_MODEL])
        service = SERVICES[i % 3]
        rag = service == "search-rag" and rng.random() < 0.8
        input_tokens = rng.randint(50, 4000)
        cache_read = rng.choice([0, 0, input_tokens // 2])
        event = InferenceEvent(
            event_id=f"ev-{i:04d}",
            timestamp=DAY1 + timedelta(seconds=rng.randint(0, 2 * 86_400 - 1)),
            service=service,
            environment=rng.choice(["production", "staging"]),
            provider=provider or None,
            request_model=model,
            prompt=f"question {i}",
            response=f"answer {i}",
            context=[{"text": f"document {i}"}] if rag else [],
            usage={
                "input_tokens": input_tokens,
                "output_tokens": rng.randint(10, 800),
                "cache_read_tokens": cache_read,
            },
            latency_ms=round(rng.lognormvariate(6.5, 0.6), 1) if rng.random() < 0.95 else None,
            ttft_ms=round(rng.uniform(50, 900), 1),
            status="error" if rng.random() < 0.05 else "ok",
            user_id=f"user-{rng.randint(1, 40)}",
        )
        priced = price_event(event)
        cost = priced[0] if priced else None
        leak = rng.random() < 0.1
        leaked_types = sorted(rng.sample(["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"], 1))
        tox = rng.random()
        signals = [
            Signal(
                detector="cost",
                event_id=event.event_id,
                score=float(cost or 0),
                fired=False,
                reason="cost",
                detail={"priced": cost is not None, "cost_usd": str(cost)},
            ),
            Signal(
                detector="pii",
                event_id=event.event_id,
                score=float(len(leaked_types)) if leak else 0.0,
                fired=leak,
                reason="pii",
                detail={"leaked_types": leaked_types if leak else [], "findings": []},
            ),
            Signal(
                detector="toxicity",
                event_id=event.event_id,
                score=tox,
                fired=tox >= 0.8,
                reason="toxicity",
            ),
            Signal(
                detector="injection",
                event_id=event.event_id,
                score=rng.random() / 2,
                fired=rng.random() < 0.03,
                reason="injection",
            ),
        ]
        if rag:
            h = rng.random()
            signals.append(
                Signal(
                    detector="hallucination",
                    event_id=event.event_id,
                    score=h,
                    fired=h >= 0.7,
                    reason="hallucination",
                )
            )
        findings = (
            [Finding(field="response", type=t, start=0, end=3) for t in leaked_types]
            if leak
            else []
        )
        scored.append(ScoredEvent(event=event, signals=signals, findings=findings, cost_usd=cost))
    return Dataset(scored=scored, alerts=_alerts())


def _alerts() -> list[Alert]:
    def alert(episode: str, status: AlertStatus, at: datetime, value: float) -> Alert:
        return Alert(
            alert_id=f"{episode}-{status}",
            fingerprint=f"fp-{episode}",
            episode_id=episode,
            rule="pii_leaks",
            status=status,
            severity=Severity.CRITICAL,
            service="support-chat",
            model="gpt-4o",
            summary=f"{value:.0f} PII leaks in 5 minutes",
            value=value,
            threshold=5,
            window_start=at - timedelta(minutes=5),
            window_end=at,
            created_at=at,
        )

    t = DAY1 + timedelta(hours=3)
    return [
        alert("ep-1", AlertStatus.FIRING, t, 7),
        alert("ep-1", AlertStatus.RESOLVED, t + timedelta(minutes=20), 2),
        alert("ep-2", AlertStatus.FIRING, t + timedelta(days=1), 9),
    ]


# -- expectations, computed from the Python objects only -------------------------------------
def day_of(s: ScoredEvent) -> str:
    return s.event.timestamp.date().isoformat()


def cost_by_model_day(data: Dataset) -> dict[tuple[str, str], tuple[int, int, Decimal]]:
    """(day, model) -> (events, unpriced events, cost)."""
    out: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0, Decimal(0)])
    for s in data.scored:
        row = out[(day_of(s), s.event.model)]
        row[0] += 1
        row[1] += s.cost_usd is None
        row[2] += s.cost_usd or Decimal(0)
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def fired_by(data: Dataset, detector: str, key) -> dict:
    """key(scored) -> (scored count, fired count) for one detector."""
    out: dict = defaultdict(lambda: [0, 0])
    for s in data.scored:
        for sig in s.signals:
            if sig.detector == detector:
                row = out[key(s)]
                row[0] += 1
                row[1] += sig.fired
    return {k: tuple(v) for k, v in out.items()}


# -- the database, written once per module ----------------------------------------------------
@dataclass
class Db:
    sink: ClickHouseSink
    data: Dataset
    applied: list[str]


DRIFT_INSERT = (
    "INSERT INTO drift_results (service, model, field, test, window_index, window_start, "
    "window_end, n_ref, n_cur, statistic, p_value, alpha, significant, drift, streak, reason)"
    " VALUES ('search-rag', 'gpt-4o', 'prompt', 'mmd', 1, '2026-01-05 10:00:00', "
    "'2026-01-05 11:00:00', 500, 200, 0.01, 0.4, 0.05, 0, 0, 0, 'no drift'), "
    "('search-rag', 'gpt-4o', 'prompt', 'mmd', 2, '2026-01-05 11:00:00', "
    "'2026-01-05 12:00:00', 500, 200, 0.2, 0.001, 0.05, 1, 1, 2, 'prompts moved')"
)

DEADLETTER_INSERT = (
    "INSERT INTO deadletters (topic, partition, offset, reason, message, original_size, "
    "original_sha256, received_at) VALUES ('llm.inference.v1', 0, 7, 'invalid_json', "
    "'not JSON', 9, 'ab', '2026-01-05 10:00:00'), ('llm.inference.v1', 0, 8, 'invalid_json', "
    "'not JSON', 9, 'cd', '2026-01-05 11:00:00'), ('llm.inference.v1', 0, 9, "
    "'schema_violation', 'service: missing', 20, 'ef', '2026-01-06 10:00:00')"
)


FEEDBACK_ROWS = [
    [f"ev-{i:04d}", "u1", DAY1 + timedelta(hours=i), "down" if i % 3 == 0 else "up", None, "",
     "", int(i % 3 == 0), [], DAY1]
    for i in range(12)
]  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory):
    settings = ClickHouseSettings(data_dir=tmp_path_factory.mktemp("chdb"), database="analyst")
    sink = ClickHouseSink(settings)
    applied = sink.migrate()
    data = build()
    sink.write_results(data.scored)
    sink.write_results(data.scored[::3])  # a redelivered batch before the rollups ran
    AlertStore(sink).write_alerts(data.alerts)
    AlertStore(sink).write_alerts(data.alerts)
    sink.query(DRIFT_INSERT)
    sink.query(DRIFT_INSERT)  # a window re-tested after a restart collapses
    sink.query(DEADLETTER_INSERT)
    sink.query(DEADLETTER_INSERT)  # redelivered: counted once
    sink.insert("feedback", FEEDBACK_ROWS, FEEDBACK_COLUMNS)  # feedback: 051
    refresh_rollups(sink)
    sink.write_results(data.scored[1::4])  # and one after: its buckets are recomputed
    refresh_rollups(sink)
    yield Db(sink, data, applied)
    sink.close()


RANGE = {"since": DAYS[0], "until": DAYS[1]}


def rows_of(db: Db, name: str, **params: str) -> list[dict]:
    result = run_query(db.sink, name, params)
    return [dict(zip(result.columns, r, strict=True)) for r in result.rows]


def schema(sink: ClickHouseSink) -> dict[str, str]:
    _, rows = sink.query(
        "SELECT name, create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND name != 'schema_migrations'"
    )
    return dict(rows)


def rollup_totals(sink: ClickHouseSink) -> list[tuple]:
    events = "SELECT count(), sum(events), sum(cost_usd), sum(input_tokens) FROM rollup_events_hour"
    signals = "SELECT count(), sum(scored), sum(fired), 0 FROM rollup_signals_hour"
    return [sink.query(f"{sql} FINAL")[1][0] for sql in (events, signals)]


# -- migrations ---------------------------------------------------------------------------------
def test_migrations_apply_once_and_a_second_run_changes_nothing(db: Db) -> None:
    """005–032 are applied in order; migrating again applies nothing and alters no table."""
    mine = [a for a in db.applied if a[:3] in {"005", "006", "007"} or "030" <= a < "040"]
    assert mine == [
        "005_retention", "006_skip_indexes", "007_embeddings", "030_rollups_minute",
        "031_rollups_hour", "032_rollup_views",
    ]  # fmt: skip
    assert "050_reasoning_tokens" in db.applied
    assert db.applied == sorted(db.applied)
    before = schema(db.sink)
    assert db.sink.migrate() == []
    assert schema(db.sink) == before


def test_rerunning_every_statement_after_a_crash_is_harmless(db: Db) -> None:
    """A crash before a migration is recorded re-runs it: same schema, same rollup figures."""
    from sinks.clickhouse import migrations

    before, totals = schema(db.sink), rollup_totals(db.sink)
    for mig in migrations():
        if mig.version >= 5 and mig.version not in (10, 20):
            for stmt in mig.statements():
                # 030/031's positional backfills predate the column 050 adds; a crash only
                # ever re-runs the last unrecorded migration, never one before an ALTER.
                if mig.version < 50 and stmt.startswith("INSERT INTO rollup_events_"):
                    continue
                db.sink.query(stmt)
    assert schema(db.sink) == before
    assert rollup_totals(db.sink) == totals


def test_body_ttl_and_skip_indexes_are_declared(db: Db) -> None:
    """Bodies carry a 90-day TTL, metadata does not; event_id and user_id have bloom filters."""
    ddl = schema(db.sink)["events"]
    for column in ("prompt", "prompt_messages", "response", "context"):
        assert f"`{column}` " in ddl
    assert ddl.count("TTL toDateTime(timestamp) + toIntervalDay(90)") == 4
    assert "INDEX idx_event_id event_id TYPE bloom_filter" in ddl
    assert "INDEX idx_user_id user_id TYPE bloom_filter" in ddl
    assert "TTL toDateTime(timestamp) + toIntervalDay(30)" in schema(db.sink)["embeddings"]


def test_roles_sql_parses_and_chdb_has_no_access_control(db: Db) -> None:
    """roles.sql is valid ClickHouse SQL; chDB refuses CREATE ROLE (no RBAC embedded)."""
    from sinks.clickhouse import Migration

    sql = (REPO / "sinks/queries/roles.sql").read_text()
    statements = Migration(version=0, name="roles", sql=sql).statements()
    assert len(statements) == 11
    for stmt in statements:
        db.sink.query(f"EXPLAIN AST {stmt}")
    with pytest.raises(Exception, match="ACCESS_DENIED"):
        db.sink.query(statements[0])


# -- rollups ------------------------------------------------------------------------------------
def test_rollups_count_each_redelivered_event_once(db: Db) -> None:
    """After two redeliveries the hour rollup holds 300 events and exactly their cost."""
    total_cost = sum((s.cost_usd or Decimal(0)) for s in db.data.scored)
    (_, events, cost, tokens), _ = rollup_totals(db.sink)
    assert events == N_EVENTS == 300
    assert cost == total_cost
    assert tokens == sum(s.event.usage.input_tokens for s in db.data.scored)


@pytest.mark.parametrize("grain", ["minute", "hour"])
def test_event_rollups_equal_raw_aggregates(db: Db, grain: str) -> None:
    """Every rollup bucket equals the same aggregate over events FINAL, quantiles included."""
    fn = "toStartOfMinute" if grain == "minute" else "toStartOfHour"
    raw = f"""
        SELECT {fn}(timestamp) AS b, service, environment, model, count(), countIf(status != 'ok'),
            sum(ifNull(e.cost_usd, 0)), sum(e.output_tokens), countIf(context_count > 0),
            countIf(notEmpty(pii_types)), quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99)(e.latency_ms)
        FROM events AS e FINAL GROUP BY b, service, environment, model ORDER BY b, service,
            environment, model"""
    rolled = f"""
        SELECT {grain}, service, environment, model, events, errors, cost_usd, output_tokens,
            rag_events, pii_events, latency_q
        FROM events_per_{grain} ORDER BY {grain}, service, environment, model"""
    expected, got = db.sink.query(raw)[1], db.sink.query(rolled)[1]
    assert len(got) == len(expected) > 100
    assert list(map(repr, got)) == list(map(repr, expected))  # repr: NaN == NaN for no latency


@pytest.mark.parametrize("grain", ["minute", "hour"])
def test_signal_rollups_equal_raw_aggregates(db: Db, grain: str) -> None:
    """Scored and fired counts per bucket and detector equal signals FINAL."""
    fn = "toStartOfMinute" if grain == "minute" else "toStartOfHour"
    raw = f"""SELECT {fn}(timestamp) AS b, service, environment, model, detector, count(),
        sum(s.fired) FROM signals AS s FINAL GROUP BY b, service, environment, model, detector
        ORDER BY b, service, environment, model, detector"""
    rolled = f"""SELECT {grain}, service, environment, model, detector, scored, fired
        FROM detectors_per_{grain} ORDER BY {grain}, service, environment, model, detector"""
    assert db.sink.query(rolled)[1] == db.sink.query(raw)[1]
    by_detector = fired_by(db.data, "toxicity", lambda s: "all")["all"]
    (scored, fired), *_ = db.sink.query(
        f"SELECT sum(scored), sum(fired) FROM detectors_per_{grain} WHERE detector = 'toxicity'"
    )[1]
    assert (scored, fired) == by_detector


CUBE = "GROUPING SETS ((b, e.service, e.model), (b, e.model), (b, e.service), (b))"


def cube_key(column: str) -> str:
    """``service``/``model`` of a grouping-set row: the value, or ``'__all'`` (aggregated)."""
    return f"if(grouping(e.{column}) = 1, '__all', e.{column}) AS {column}_key"


def test_dashboard_hour_rollup_equals_raw_aggregates_totals_included(db: Db) -> None:
    """Every row of dashboard_hour (each service and model, and the '__all' totals) equals
    the same aggregate over events FINAL, stored p50/p95/p99 and the sketch included."""
    raw = f"""
        SELECT toStartOfHour(timestamp) AS b, {cube_key("service")}, {cube_key("model")},
            count(), countIf(status != 'ok'), sum(ifNull(e.cost_usd, 0)), sum(e.input_tokens),
            countIf(notEmpty(pii_types)), count(e.latency_ms),
            quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99)(e.latency_ms) AS q, q[1], q[3], q[4],
            quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99)(e.ttft_ms)[3]
        FROM events AS e FINAL GROUP BY {CUBE}
        ORDER BY b, service_key, model_key"""
    rolled = """
        SELECT hour, service, model, events, errors, cost_usd, input_tokens, pii_events,
            latency_ms_count, finalizeAggregation(latency_ms), latency_p50_ms, latency_p95_ms,
            latency_p99_ms, ttft_p95_ms
        FROM dashboard_hour ORDER BY hour, service, model"""
    expected, got = db.sink.query(raw)[1], db.sink.query(rolled)[1]
    assert len(got) == len(expected) > 300
    assert list(map(repr, got)) == list(map(repr, expected))  # repr: NaN == NaN
    _, [(rows, keys)] = db.sink.query(
        "SELECT count(), uniqExact(hour, service, model) FROM dashboard_hour"
    )
    assert rows == keys  # one row per key although refreshes appended several versions


def test_dashboard_signals_and_day_rollups_equal_raw_aggregates(db: Db) -> None:
    """dashboard_signals_hour counts equal signals FINAL (totals included); dashboard_day
    latency sketches equal the raw sketch of each day, service and model."""
    raw = """
        SELECT toStartOfHour(timestamp) AS b,
            if(grouping(s.service) = 1, '__all', s.service) AS service_key, detector,
            count(), sum(s.fired)
        FROM signals AS s FINAL GROUP BY GROUPING SETS ((b, s.service, detector), (b, detector))
        ORDER BY b, service_key, detector"""
    rolled = """SELECT hour, service, detector, scored, fired FROM dashboard_signals_hour
        ORDER BY hour, service, detector"""
    assert db.sink.query(rolled)[1] == db.sink.query(raw)[1]
    raw_day = f"""
        SELECT toDate(timestamp) AS b, {cube_key("service")}, {cube_key("model")}, count(),
            quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99)(e.latency_ms),
            quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99)(e.ttft_ms)
        FROM events AS e FINAL GROUP BY {CUBE} ORDER BY b, service_key, model_key"""
    rolled_day = """SELECT day, service, model, events, finalizeAggregation(latency_ms),
        finalizeAggregation(ttft_ms) FROM dashboard_day ORDER BY day, service, model"""
    expected, got = db.sink.query(raw_day)[1], db.sink.query(rolled_day)[1]
    assert len(got) == len(expected) == 2 * 4 * 5  # days x (3 services + all) x (4 models + all)
    assert list(map(repr, got)) == list(map(repr, expected))


# -- named queries ------------------------------------------------------------------------------
def test_cost_by_model_day_gives_each_models_exact_cost(db: Db) -> None:
    """Per day and model: events, unpriced events and the exact Decimal cost."""
    expected = cost_by_model_day(db.data)
    for day in DAYS:
        got = {
            (r["day"].isoformat(), r["model"]): (r["events"], r["unpriced_events"], r["cost_usd"])
            for r in rows_of(db, "cost_by_model_day", since=day, until=day)
        }
        assert got == {k: v for k, v in expected.items() if k[0] == day}
    assert rows_of(db, "cost_by_model_day", since=DAYS[0], until=DAYS[0])[0]["model"] == "gpt-4o"


def test_top_services_pii_leaks_ranks_services_by_leaks(db: Db) -> None:
    """Leaks, scored events and leaked types per service, most leaks first."""
    per_service = fired_by(db.data, "pii", lambda s: s.event.service)
    types: dict[str, set[str]] = defaultdict(set)
    for s in db.data.scored:
        if s.findings:
            types[s.event.service] |= {f.type for f in s.findings}
    got = rows_of(db, "top_services_pii_leaks", **RANGE)
    assert [(r["service"], r["scored"], r["leaks"]) for r in got] == [
        ("support-chat", 100, 11), ("search-rag", 100, 8), ("checkout-bot", 100, 4),
    ]  # fmt: skip
    for r in got:
        assert (r["scored"], r["leaks"]) == per_service[r["service"]]
        assert set(r["leaked_types"]) == types[r["service"]]
    assert len(rows_of(db, "top_services_pii_leaks", **RANGE, limit="1")) == 1


def test_toxicity_trend_gives_daily_rate_per_service(db: Db) -> None:
    """Toxic share per day and service equals the fired toxicity signals."""
    expected = fired_by(db.data, "toxicity", lambda s: (day_of(s), s.event.service))
    got = rows_of(db, "toxicity_trend", **RANGE)
    assert {(r["bucket"].date().isoformat(), r["service"]): (r["scored"], r["toxic"])
            for r in got} == expected  # fmt: skip
    hourly = rows_of(db, "toxicity_trend", **RANGE, service="search-rag", bucket_hours="1")
    assert {r["service"] for r in hourly} == {"search-rag"}
    assert sum(r["toxic"] for r in hourly) == sum(
        v[1] for k, v in expected.items() if k[1] == "search-rag"
    )


def test_hallucination_rate_rag_counts_rag_calls_only(db: Db) -> None:
    """RAG calls, hallucination-scored and fired per service and model."""
    expected = fired_by(db.data, "hallucination", lambda s: (s.event.service, s.event.model))
    got = rows_of(db, "hallucination_rate_rag", **RANGE)
    assert {(r["service"], r["model"]): (r["rag_events"], r["hallucinated"]) for r in got} == {
        k: v for k, v in expected.items()
    }
    assert sum(r["rag_events"] for r in got) == 78


def test_alert_history_pairs_firing_and_resolved(db: Db) -> None:
    """One row per episode, newest first; a resolved episode has its duration."""
    got = rows_of(db, "alert_history", **RANGE)
    assert [(r["episode_id"], r["value"], r["duration_s"]) for r in got] == [
        ("ep-2", 9.0, None),
        ("ep-1", 7.0, 1200.0),
    ]
    assert got[1]["resolved_at"] == datetime(2026, 1, 5, 3, 20)


def test_slowest_models_quantiles_equal_the_raw_sketch(db: Db) -> None:
    """p95 from merged hour sketches equals the sketch of the raw latencies (lossless)."""
    got = rows_of(db, "slowest_models", **RANGE, limit="10")
    _, raw = db.sink.query(
        "SELECT model, round(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99)(e.latency_ms)[3], 1), "
        "count(e.latency_ms) FROM events AS e FINAL GROUP BY model"
    )
    assert {r["model"]: (r["p95_ms"], r["timed_events"]) for r in got} == {
        m: (p95, n) for m, p95, n in raw
    }
    assert [r["p95_ms"] for r in got] == sorted((r["p95_ms"] for r in got), reverse=True)


def test_cache_savings_prices_cache_reads_against_full_input(db: Db) -> None:
    """Savings per day and model equal the per-call price difference from genai-prices."""
    from genai_prices import Usage, calc_price

    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for s in db.data.scored:
        e = s.event
        if e.usage.cache_read_tokens and e.provider:
            kw = {"model_ref": e.model, "provider_id": e.provider}
            full = calc_price(Usage(input_tokens=e.usage.input_tokens), **kw).total_price
            cached = calc_price(
                Usage(input_tokens=e.usage.input_tokens,
                      cache_read_tokens=e.usage.cache_read_tokens), **kw
            ).total_price  # fmt: skip
            expected[(day_of(s), e.model)] += Decimal(full) - Decimal(cached)
    got = rows_of(db, "cache_savings", **RANGE)
    priced = {(r["day"].isoformat(), r["model"]): r["saved_usd"] for r in got if r["provider"]}
    assert priced == expected
    assert {r["saved_usd"] for r in got if r["model"] == "my-local-llm"} == {None}


def test_drift_history_lists_windows_newest_first(db: Db) -> None:
    """Drift windows from 010's table, deduplicated, newest first; drifted_only filters."""
    got = rows_of(db, "drift_history", **RANGE)
    assert [(r["window_index"], r["drift"], r["p_value"]) for r in got] == [
        (2, 1, 0.001),
        (1, 0, 0.4),
    ]
    assert [r["window_index"] for r in rows_of(db, "drift_history", **RANGE, drifted_only="1")] == [
        2
    ]


def test_a_query_whose_table_is_missing_names_the_migration(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database not yet migrated to a query's table gets a clear message, not SQL noise."""
    from dataclasses import replace

    query = replace(QUERIES["drift_history"], requires=("no_such_table",))
    monkeypatch.setitem(QUERIES, "drift_history", query)
    with pytest.raises(QueryError, match=r"needs table\(s\) \['no_such_table'\].*010_drift"):
        run_query(db.sink, "drift_history", RANGE)


def test_live_page_queries_on_the_seeded_data(db: Db) -> None:
    """Dead letters count once per message; open alerts are the latest firing state of each
    series, with evidence; drift explanations are the windows that raised drift."""
    dead = run_query(db.sink, "deadletters_by_reason", RANGE)
    assert [(r[0], r[1]) for r in dead.rows] == [("invalid_json", 2), ("schema_violation", 1)]
    alerts = run_query(db.sink, "open_alerts", {})
    firing = {a.fingerprint for a in db.data.alerts}
    latest = {}
    for a in sorted(db.data.alerts, key=lambda a: a.created_at):
        latest[a.fingerprint] = a
    expected = sorted(a.rule for a in latest.values() if a.status == AlertStatus.FIRING)
    assert sorted(r[0] for r in alerts.rows) == expected and firing
    evidence = sorted(a.evidence_sql for a in latest.values() if a.status == AlertStatus.FIRING)
    assert sorted(r[-1] for r in alerts.rows) == evidence
    drift = run_query(db.sink, "drift_explanations", RANGE)
    assert [(r[1], r[7]) for r in drift.rows] == [("search-rag", "prompts moved")]
    by_service = run_query(db.sink, "cost_by_service_model", RANGE)
    by_day = run_query(db.sink, "cost_by_model_day", RANGE)
    assert sum(r[6] for r in by_service.rows) == sum(r[7] for r in by_day.rows)
    assert sum(r[2] for r in by_service.rows) == 300


def test_drift_explanations_quote_the_texts_that_moved(db: Db) -> None:
    """The example texts come from the stored detail JSON (its ``moved`` list), newest first;
    windows that did not raise drift are left out. (A database of its own: one chDB path.)"""
    sink = ClickHouseSink(db.sink.settings.model_copy(update={"database": "live_drift"}))
    try:
        sink.migrate()
        detail = json.dumps({"moved": [{"text": "How do I refinance?", "event_id": "e1"},
                                       {"text": "", "event_id": None},
                                       {"text": "Best index fund?", "event_id": "e2"}]})  # fmt: skip
        sink.query(
            "INSERT INTO drift_results (service, model, field, test, window_index, window_start,"
            " window_end, n_ref, n_cur, statistic, p_value, alpha, significant, drift, streak,"
            " reason, detail) VALUES "
            "('support-bot', 'gpt-4o-mini', 'prompt', 'mmd', 3, '2026-01-05 10:00:00',"
            " '2026-01-05 10:10:00', 150, 100, 0.2, 0.0001, 0.001, 1, 1, 2, 'prompts moved',"
            " {d:String}), ('support-bot', 'gpt-4o-mini', 'prompt', 'mmd', 2,"
            " '2026-01-05 09:50:00', '2026-01-05 10:00:00', 150, 100, 0.1, 0.01, 0.001, 1, 0, 1,"
            " 'one window', '{}')",
            {"d": detail},
        )
        result = run_query(sink, "drift_explanations", RANGE)
        assert [(r[7], r[8]) for r in result.rows] == [
            ("prompts moved", ["How do I refinance?", "Best index fund?"])
        ]
    finally:
        sink.close()


def test_unknown_query_or_parameter_is_refused_with_the_known_ones(db: Db) -> None:
    """A typo names what exists instead of failing inside ClickHouse."""
    with pytest.raises(QueryError, match="known: alert_history, cache_savings"):
        run_query(db.sink, "cost_per_model", {})
    with pytest.raises(QueryError, match=r"no parameter\(s\) \['day'\]"):
        run_query(db.sink, "cost_by_model_day", {"day": "2026-01-05"})
    with pytest.raises(QueryError, match="not a valid Date"):
        run_query(db.sink, "cost_by_model_day", {"since": "yesterday"})


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_named_query_prints_as_table_csv_and_json(db: Db, name: str) -> None:
    """Each query returns rows on the seeded data, in all three output formats."""
    params = RANGE if name != "cost_by_model_day" else {"since": DAYS[0], "until": DAYS[0]}
    takes = {p.name for p in QUERIES[name].params}
    result = run_query(db.sink, name, {k: v for k, v in params.items() if k in takes})
    assert result.rows
    assert len(format_result(result, "table").splitlines()) == len(result.rows) + 2
    assert len(format_result(result, "csv").splitlines()) == len(result.rows) + 1
    assert len(json.loads(format_result(result, "json"))) == len(result.rows)


# -- dashboards and report ----------------------------------------------------------------------
T0 = datetime(2026, 1, 5, tzinfo=UTC)
T1 = datetime(2026, 1, 6, 23, 59, 59, tzinfo=UTC)


def test_dashboard_file_is_generated_from_the_panels(db: Db) -> None:
    """The committed Grafana JSON parses and equals what sinks.report generates."""
    from sinks.report import grafana_dashboard

    path = REPO / "deploy/grafana/dashboards/infersight-overview.json"
    assert json.loads(path.read_text()) == grafana_dashboard()


@pytest.mark.parametrize("service", ["__all", "search-rag"])
def test_every_dashboard_panel_sql_runs_after_macro_expansion(db: Db, service: str) -> None:
    """Each panel's rawSql (and the variable query) runs on chDB and returns rows."""
    dashboard = json.loads(
        (REPO / "deploy/grafana/dashboards/infersight-overview.json").read_text()
    )
    for panel in dashboard["panels"]:
        sql = expand_macros(panel["targets"][0]["rawSql"], T0, T1, service)
        _, rows = db.sink.query(sql)
        assert rows, panel["title"]
    variable = dashboard["templating"]["list"][0]["query"]
    assert [r[0] for r in db.sink.query(variable)[1]] == list(SERVICES)
    calls = expand_macros(PANELS[0].sql, T0, T1, service)
    total = sum(r[2] for r in db.sink.query(calls)[1])
    assert total == (300 if service == "__all" else 100)


#: Whole days, and a range cut inside a six-hour period at both ends (buckets wider than an
#: hour then mix hours and six-hour or day states: the first and last periods are partial).
WINDOWS = {"days": (T0, T1), "cut": (T0 + timedelta(hours=3, minutes=17, seconds=5),
                                     T1 - timedelta(hours=8, minutes=2))}  # fmt: skip


@pytest.mark.parametrize("window", sorted(WINDOWS))
@pytest.mark.parametrize("bucket_s", [1800, 3600, 2 * 3600, 6 * 3600, 12 * 3600, 86_400,
                                      2 * 86_400])  # fmt: skip
@pytest.mark.parametrize("service", ["__all", "search-rag"])
def test_hour_panels_give_the_rows_the_pre_060_panels_gave(
    db: Db, service: str, bucket_s: int, window: str
) -> None:
    """Each panel on the dashboard rollups returns exactly the rows it returned when it read
    the 030-032 hour rollups with FINAL (that SQL is the panel's minute SQL at hour grain),
    for buckets under, at and over an hour (over: the p95 panel merges sketches of hours, six
    hours (061) or days), over whole days and over a range that cuts periods at both ends."""
    start, end = WINDOWS[window]
    for panel in PANELS:
        new = expand_macros(panel.sql_at("hour"), start, end, service, bucket_s)
        old = expand_macros(panel.minute_sql.replace("minute", "hour"), start, end, service,
                            bucket_s)  # fmt: skip
        got, expected = db.sink.query(new)[1], db.sink.query(old)[1]
        assert got, panel.title
        assert list(map(repr, got)) == list(map(repr, expected)), panel.title


_MERGE = "quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_ms)[3] AS p95_ms"
_STORED = "any(latency_p95_ms) AS p95_ms"


@pytest.mark.parametrize(("window", "bucket_s", "reads"), [
    ("days", 1800, {"stored"}), ("days", 3600, {"stored"}), ("days", 2 * 3600, {3600}),
    ("days", 6 * 3600, {"stored"}), ("days", 12 * 3600, {21600}),
    ("days", 86_400, {"stored"}), ("days", 2 * 86_400, {86400}),
    ("cut", 6 * 3600, {3600, "stored"}), ("cut", 86_400, {3600})])  # fmt: skip
def test_the_p95_panel_reads_the_coarsest_grain_that_tiles_its_bucket(
    db: Db, window: str, bucket_s: int, reads: set[int | str]
) -> None:
    """Over whole days, a bucket of an hour or less, six hours or one day reads the stored
    p95 of its one hour or period; two-hour buckets merge hour sketches, twelve-hour ones
    six-hour sketches, two-day ones day sketches. A range cutting the periods at both ends
    merges the hours of the cut periods (all of them when no day is whole). The panel's
    merge is replaced by a bit mask of the grains it merges, its stored read by a marker."""
    sql = expand_macros(PANELS[2].sql, *WINDOWS[window], "__all", bucket_s)
    assert sql.count(_MERGE) == sql.count(_STORED) == 1
    probe = sql.replace(_MERGE, "toFloat64(groupBitOr(toUInt8(intDiv(grain_s, 3600)))) AS p95_ms")
    probe = probe.replace(_STORED, "toFloat64(256) AS p95_ms")
    seen: set[int | str] = set()
    for mask in {int(r[2]) for r in db.sink.query(probe)[1]}:
        seen |= {"stored"} if mask == 256 else {g for g in (3600, 21600, 86400) if mask & g // 3600}
    assert seen == reads


def test_report_is_self_contained_html_that_chromium_renders(db: Db, tmp_path: Path) -> None:
    """The report inlines uPlot and one chart per panel; headless Chromium draws a canvas
    for each, with lines over hourly buckets limited to the two days of data."""
    out = render_report(db.sink, tmp_path / "report.html", date(2026, 1, 5), date(2026, 1, 6))
    page = out.read_text()
    charts = sum(p.kind == "timeseries" for p in PANELS)
    assert page.count("data-chart-spec=") == charts == 5
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # nothing loaded from outside
    assert "infersight query cost_by_model_day" in page
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is needed: apt-get install -y chromium"
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", out.as_uri()],
        check=True, capture_output=True, text=True, timeout=90,
    ).stdout  # fmt: skip
    assert dom.count("<canvas") == charts
    specs = [json.loads(html.unescape(m)) for m in re.findall(r'data-chart-spec="([^"]*)"', page)]
    for spec in specs:
        assert spec["bucket_s"] == 3600 and len(spec["x"]) > 2, spec["title"]
        assert T0.timestamp() <= spec["xmin"] < spec["xmax"] <= T1.timestamp() + 1


def test_cli_query_and_report_run_on_the_embedded_database(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`infersight query cost_by_model_day` and `infersight report` work from argv."""
    import argparse

    from streams.cli_analyst import register

    parser = argparse.ArgumentParser(prog="infersight")
    register(parser.add_subparsers(dest="command", required=True))
    db.sink.close()  # one chDB handle per process: the command opens and closes its own
    settings = db.sink.settings
    args = parser.parse_args(
        ["query", "cost_by_model_day", "-p", "since=2026-01-05", "-p", "until=2026-01-05",
         "--format", "csv"]
    )  # fmt: skip
    assert args.func(args, settings) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("day,model,events,unpriced_events")
    assert lines[1] == "2026-01-05,gpt-4o,35,0,67437,15048,15162,0.300120000,0"
    args = parser.parse_args(["query", "no_such_query"])
    assert args.func(args, settings) == 2
    assert "known:" in capsys.readouterr().err
    out = tmp_path / "r.html"
    args = parser.parse_args(["report", "--out", str(out), "--since", "2026-01-05", "--until",
                              "2026-01-06"])  # fmt: skip
    assert args.func(args, settings) == 0
    assert out.stat().st_size > 50_000


def test_text_ttl_empties_old_bodies_but_keeps_rag_counts(db: Db) -> None:
    """After a merge, bodies older than 90 days are empty; context_count and cost remain."""
    db.sink.query("OPTIMIZE TABLE events FINAL")
    _, rows = db.sink.query(
        "SELECT countIf(prompt != '' OR response != '' OR notEmpty(context)), "
        "countIf(context_count > 0), count(), sum(e.cost_usd) FROM events AS e"
    )
    empty_bodies_left, rag, n, cost = rows[0]
    assert (empty_bodies_left, rag, n) == (0, 78, 300)
    assert cost == sum((s.cost_usd or Decimal(0)) for s in db.data.scored)
    assert sum(r["rag_events"] for r in rows_of(db, "hallucination_rate_rag", **RANGE)) == 78
