"""The fault scenarios, each a function of its size: ``tests/faults`` runs them short and
asserts exactly; ``benchmarks/faults/run.py`` runs them longer and writes REPORT.md.

Each returns an :class:`~faultkit.Accounting` whose ``notes`` carry the facts a test asserts
on (kill points, committed offsets during an outage, reasons per dead letter, ...).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import faultkit as fk
from helpers import consume, create_topics, worker_settings

from streams.broker import LocalBroker, free_port
from streams.demo import WebhookReceiver, WorkerProcess
from streams.demo_data import generate
from streams.settings import Settings

FAST = {"batch_size": 50, "batch_within_s": 0.2}


def _start(settings: Settings, name: str, sampler: fk.Sampler | None = None) -> WorkerProcess:
    w = WorkerProcess(settings, settings.data_dir / f"{name}.log").start(timeout_s=180)
    if sampler is not None and w.proc is not None:
        sampler.watch(w.proc.pid)
    return w


def _inference(settings: Settings) -> str:
    return settings.kafka.topic("llm.inference.v1")


def _lag(settings: Settings, published: fk.Published) -> Any:
    topic, parts = _inference(settings), settings.kafka.partitions

    def lag() -> int:
        return published.count - fk.committed_total(
            settings.kafka.bootstrap or "", settings.app_id, topic, parts
        )

    return lag


def _all_committed(settings: Settings, n: int, timeout_s: float) -> None:
    topic, parts = _inference(settings), settings.kafka.partitions
    fk.wait_for(
        lambda: (
            fk.committed_total(settings.kafka.bootstrap or "", settings.app_id, topic, parts) >= n
        ),
        timeout_s,
        f"committed offsets to reach {n}",
        interval_s=1.0,
    )


# -- (1) worker SIGKILL at random points, restart -------------------------------------------
def worker_sigkill(bootstrap: str, tmp: Path, n: int, kills: int, seed: int) -> fk.Accounting:
    """SIGKILL the worker ``kills`` times at seeded random points of the stream (a random
    count of stored events, then a random sub-second delay so the kill lands anywhere in a
    batch: scoring, writing, publishing or acking), restarting it each time."""
    t0 = time.monotonic()
    rng = random.Random(seed)
    settings = worker_settings(bootstrap, tmp, kafka={"partitions": 3}, ingest=FAST)
    create_topics(settings)
    messages = generate(n, seed=seed, bad_every=0)
    published = fk.produce(bootstrap, _inference(settings), [(m.key, m.value) for m in messages])
    sampler = fk.Sampler(_lag(settings, published))
    sampler.start()
    kill_points: list[dict[str, Any]] = []
    resumed: list[dict[str, int]] = []
    for k in range(kills + 1):
        before = fk.committed_total(bootstrap, settings.app_id, _inference(settings), 3)
        worker = _start(settings, f"worker-{k}", sampler)
        if k == kills:
            break
        target = rng.randint(1, max(1, (n - before) // 2))
        fk.wait_for(
            lambda w=worker, t=target: w.stats().get("events_stored", 0) >= t,
            180, f"{target} stored",
        )  # fmt: skip
        if k == kills - 1:
            # The last restart must have something committed to resume from, or "offsets
            # resumed" would be checked against zero (faust commits every ~3 s).
            fk.wait_for(
                lambda b=before: fk.committed_total(
                    bootstrap, settings.app_id, _inference(settings), 3) > b,
                60, "a commit before the last kill",
            )  # fmt: skip
        delay = rng.uniform(0.0, 0.6)
        time.sleep(delay)
        stats = worker.stats()
        worker.kill()
        kill_points.append(
            {"committed_before_start": before, "stored_at_kill": stats.get("events_stored", 0),
             "delay_s": round(delay, 3)}
        )  # fmt: skip
    committed_at_last_start = before
    _all_committed(settings, n, 240)
    final = worker.stats()
    final_received = final.get("messages_received", 0)
    stored_by_workers = sum(k["stored_at_kill"] for k in kill_points) + final.get(
        "events_stored", 0
    )
    worker.stop()
    sampler.stop()
    resumed.append({"committed_at_start": committed_at_last_start, "received": final_received})
    p = fk.stored(settings)
    return fk.account(
        "worker SIGKILL", n, [m.event_id or "" for m in messages], [p],
        int(p["queries"]["deadletters"][0]["n"]), sampler, time.monotonic() - t0,
        kills=kill_points, resumed=resumed,
        replays_written=stored_by_workers - n,  # writes beyond one per event (lower bound)
    )  # fmt: skip


# -- (2) ClickHouse outage and (6) slow sink --------------------------------------------------
def sink_faults(
    bootstrap: str, tmp: Path, n: int, delay_s: float, outage_s: float, seed: int
) -> fk.Accounting:
    """One worker, three phases through the sink's test-only fault file: inserts slowed by
    ``delay_s`` (slow sink) while half the stream arrives; ClickHouse down for ``outage_s``
    while the other half arrives; then recovery."""
    t0 = time.monotonic()
    fault = tmp / "clickhouse.fault"
    settings = worker_settings(
        bootstrap, tmp, kafka={"partitions": 2}, ingest=FAST,
        clickhouse={"fault_file": str(fault), "retry_initial_s": 0.2, "retry_max_s": 1.0},
    )  # fmt: skip
    create_topics(settings)
    messages = generate(n, seed=seed, bad_every=0)
    pairs = [(m.key, m.value) for m in messages]
    published = fk.Published()
    sampler = fk.Sampler(_lag(settings, published))
    worker = _start(settings, "worker", sampler)
    baseline_rss_kib = fk.proc_status(worker.proc.pid).get("VmRSS", 0) if worker.proc else 0
    sampler.start()
    fault.write_text(f"delay {delay_s}")
    half = n // 2
    t_slow = time.monotonic()
    fk.produce(bootstrap, _inference(settings), pairs[:half], published)
    fk.wait_for(lambda: worker.stats().get("events_stored", 0) >= half, 300, "slow half stored")
    slow_rate = half / (time.monotonic() - t_slow)
    # Outage: wait until a write has failed, then nothing may be stored or committed.
    fault.write_text("down")
    fk.produce(bootstrap, _inference(settings), pairs[half:], published)
    fk.wait_for(lambda: worker.stats().get("sink_failures", 0) >= 1, 60, "a failed write")
    st0 = worker.stats()
    c0 = fk.committed_total(bootstrap, settings.app_id, _inference(settings), 2)
    during: list[dict[str, int]] = []
    end = time.monotonic() + outage_s
    while time.monotonic() < end:
        s = worker.stats()
        during.append(
            {"stored": int(s.get("events_stored", 0)), "received": int(s.get("messages_received", 0)),
             "committed": fk.committed_total(bootstrap, settings.app_id, _inference(settings), 2)}
        )  # fmt: skip
        time.sleep(1.0)
    st1 = worker.stats()
    fault.unlink()
    t_rec = time.monotonic()
    _all_committed(settings, n, 240)
    recovery_s = time.monotonic() - t_rec
    alive = worker.alive()
    worker.stop()
    sampler.stop()
    p = fk.stored(settings)
    return fk.account(
        "ClickHouse outage + slow sink", n, [m.event_id or "" for m in messages], [p],
        int(p["queries"]["deadletters"][0]["n"]), sampler, time.monotonic() - t0,
        baseline_rss_mib=round(baseline_rss_kib / 1024, 1), slow_rate_ev_s=round(slow_rate, 1),
        outage_start=st0, outage_end=st1, committed_at_outage=c0, during=during,
        sink_failures=int(st1.get("sink_failures", 0)), recovery_s=round(recovery_s, 1),
        alive=alive, batch_size=FAST["batch_size"],
    )  # fmt: skip


# -- (3) broker SIGKILL and restart (durable storage) ----------------------------------------
def broker_restart(tmp: Path, n: int, down_s: float, seed: int) -> fk.Accounting:
    """A durable tansu (s3:// on localbucket) killed with SIGKILL while a producer publishes
    and the worker consumes; restarted on the same port after ``down_s``."""
    t0 = time.monotonic()
    broker = LocalBroker(s3_root=tmp / "s3", log_path=tmp / "tansu.log").start()
    try:
        settings = worker_settings(broker.bootstrap, tmp, kafka={"partitions": 2}, ingest=FAST)
        create_topics(settings)
        messages = generate(n, seed=seed, bad_every=0)
        pairs = [(m.key, m.value) for m in messages]
        worker = _start(settings, "worker")
        thread, published, errors = fk.produce_in_background(
            broker.bootstrap, _inference(settings), pairs, chunk=max(1, n // 50), pause_s=0.3,
            deadline_s=300,
        )  # fmt: skip
        sampler = fk.Sampler(_lag(settings, published))
        if worker.proc is not None:
            sampler.watch(worker.proc.pid)
        sampler.start()
        fk.wait_for(lambda: published.count >= n // 3, 180, "a third published")
        at_kill = {"published": published.count, "stored": worker.stats().get("events_stored")}
        broker.kill()
        time.sleep(down_s)
        broker.start()
        thread.join(timeout=300)
        if errors:
            raise errors[0]
        _all_committed(settings, n, 300)
        alive = worker.alive()
        worker.stop()
        sampler.stop()
    finally:
        broker.stop()
    p = fk.stored(settings)
    return fk.account(
        "broker SIGKILL + restart", n, [m.event_id or "" for m in messages], [p],
        int(p["queries"]["deadletters"][0]["n"]), sampler, time.monotonic() - t0,
        at_kill=at_kill, producer_retries=published.attempts, worker_alive=alive,
        acked_publishes=published.count,
    )  # fmt: skip


# -- (4) two workers, one killed during a rebalance -----------------------------------------
def rebalance_kill(bootstrap: str, tmp: Path, n: int, seed: int) -> fk.Accounting:
    """Worker A consumes; worker B joins (rebalance); A is SIGKILLed at a seeded random
    moment within the rebalance. Each worker owns its chDB directory (one process per
    directory), so "as queried" is the union of the two directories by event id."""
    t0 = time.monotonic()
    rng = random.Random(seed)
    base = worker_settings(
        bootstrap, tmp, kafka={"partitions": 4}, ingest=FAST,
        monitor={"interval_s": 1.0, "pii_leak_threshold": 1},
    )  # fmt: skip

    def at(name: str) -> Settings:
        d = tmp / name
        return base.model_copy(
            update={"data_dir": d, "web_port": free_port(),
                    "clickhouse": base.clickhouse.model_copy(update={"data_dir": d / "clickhouse"})}
        )  # fmt: skip

    a, b = at("a"), at("b")
    create_topics(a)
    messages = generate(n, seed=seed, bad_every=0)
    pairs = [(m.key, m.value) for m in messages]
    published = fk.produce(bootstrap, _inference(a), pairs[: n // 2])
    sampler = fk.Sampler(_lag(a, published))
    wa = _start(a, "worker-a", sampler)
    sampler.start()
    fk.wait_for(lambda: wa.stats().get("events_stored", 0) >= n // 8, 180, "A stored n/8")
    wb = _start(b, "worker-b", sampler)
    delay = rng.uniform(0.0, 3.0)  # tansu holds JoinGroup for session_timeout/2 = 3 s
    time.sleep(delay)
    a_at_kill = wa.stats()
    wa.kill()
    fk.produce(bootstrap, _inference(a), pairs[n // 2 :], published)
    _all_committed(a, n, 300)
    time.sleep(3 * 1.0 + 1)  # let B's monitor evaluate the finished stream
    b_stats = wb.stats()
    wb.stop()
    sampler.stop()
    q = {"alerts": "SELECT fingerprint, episode_id, status, count() AS n FROM alerts FINAL "
                   "GROUP BY fingerprint, episode_id, status"}  # fmt: skip
    pa, pb = fk.stored(a, extra=q), fk.stored(b, extra=q)
    alerts = consume(bootstrap, a.kafka.topic("llm.alerts.v1"), 10_000, timeout_s=5)
    per_transition: dict[tuple[str, str], int] = {}
    for rec in alerts:
        import orjson

        al = orjson.loads(rec.value)
        k = (al["fingerprint"], al["status"])
        per_transition[k] = per_transition.get(k, 0) + 1
    ids_a = {r["event_id"] for r in pa["queries"]["event_ids"]}
    ids_b = {r["event_id"] for r in pb["queries"]["event_ids"]}
    return fk.account(
        "two workers, one killed in a rebalance", n, [m.event_id or "" for m in messages],
        [pa, pb], int(pa["queries"]["deadletters"][0]["n"]) + int(
            pb["queries"]["deadletters"][0]["n"]), sampler, time.monotonic() - t0,
        kill_delay_s=round(delay, 3), a_stored_at_kill=a_at_kill.get("events_stored", 0),
        stored_in_a=len(ids_a), stored_in_b=len(ids_b), in_both_dirs=len(ids_a & ids_b),
        b_received=b_stats.get("messages_received", 0), alert_messages=len(alerts),
        alert_transitions={f"{k[0]}:{k[1]}": v for k, v in per_transition.items()},
        alerts_per_dir={"a": pa["queries"]["alerts"], "b": pb["queries"]["alerts"]},
    )  # fmt: skip


# -- (5) poison input and (7) PII canaries ----------------------------------------------------
def poison_and_canaries(
    bootstrap: str,
    tmp: Path,
    n_hyp_each: int,
    n_hand: int,
    n_canary: int,
    seed: int,
    store_raw_pii: bool = False,
    ner: bool = True,
) -> fk.Accounting:
    """Hostile messages interleaved with valid events (some carrying PII canaries) into one
    worker with an HMAC-signed webhook and a PII-leak rule that fires on one leak. Afterwards
    every table, column, alert, notification and log line is searched for the raw canaries."""
    import orjson
    import poison

    t0 = time.monotonic()
    rng = random.Random(seed)
    run = f"p{seed}"
    hostile = poison.hypothesis_messages(n_hyp_each, rng, run) + poison.handmade_messages(
        n_hand, rng, run
    )
    canary_values: set[str] = set()
    for i in range(n_canary):
        event, raw = poison.canary_event(rng, i, run)
        canary_values.update(raw)
        hostile.append(poison.Hostile(orjson.dumps(event), None, "canary", event["event_id"]))
    rng.shuffle(hostile)
    secret = f"whsec-{rng.getrandbits(64):016x}"
    with WebhookReceiver() as hook:
        detectors: dict[str, Any] = {"store_raw_pii": store_raw_pii}
        if ner:
            detectors |= {"enabled": ["cost", "pii_ner"], "pii_scanner": "pii_ner"}
        settings = worker_settings(
            bootstrap, tmp, kafka={"partitions": 2},
            ingest={"batch_size": 200, "batch_within_s": 0.3}, detectors=detectors,
            monitor={"interval_s": 1.0, "pii_leak_threshold": 1},
            alerts={"webhook_url": hook.url, "webhook_secret": secret},
        )  # fmt: skip
        create_topics(settings)
        published = fk.Published()
        sampler = fk.Sampler(_lag(settings, published))
        worker = _start(settings, "worker", sampler)
        pid = worker.proc.pid if worker.proc else -1
        sampler.start()
        fk.produce(bootstrap, _inference(settings), [(h.key, h.value) for h in hostile], published)
        total = len(hostile)
        fk.wait_for(
            lambda: (s := worker.stats()).get("events_stored", 0) + s.get("deadlettered", 0)
            >= total,
            600, f"{total} stored or dead-lettered", interval_s=1.0,
        )  # fmt: skip
        _all_committed(settings, total, 120)
        fk.wait_for(lambda: hook.requests, 30, "a PII-leak alert at the webhook")
        time.sleep(2.5)  # the next monitor ticks and their notifications
        stats = worker.stats()
        alive = worker.alive() and worker.proc is not None and worker.proc.pid == pid
        n_bad = sum(h.expected is not None for h in hostile)
        dead = fk_consume(bootstrap, settings.kafka.topic("llm.deadletter.v1"), n_bad)
        alerts = fk_consume(bootstrap, settings.kafka.topic("llm.alerts.v1"), 1, timeout_s=5)
        signals = fk_consume(
            bootstrap, settings.kafka.topic("llm.signals.v1"), total - n_bad, timeout_s=60
        )
        worker.stop()
        sampler.stop()
    p = fk.stored(settings, dump=True)
    # Every bad message's dead letter, matched by its source partition and offset.
    by_pos = {pos: h for pos, h in zip(published.positions, hostile, strict=True)}
    reasons: dict[str, int] = {}
    mismatches: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()
    for rec in dead:
        d = orjson.loads(rec.value)
        pos = (d["partition"], d["offset"])
        h = by_pos.get(pos)
        seen.add(pos)
        reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
        if h is None or h.expected != d["reason"]:
            mismatches.append({"kind": h and h.kind, "expected": h and h.expected,
                               "got": d["reason"], "message": d["message"][:200]})  # fmt: skip
    missing = [h.kind for pos, h in by_pos.items() if h.expected and pos not in seen]
    texts = {f"clickhouse.{t}": text for t, text in p["tables"].items()}
    texts["worker log"] = fk.log_text([settings.data_dir / "worker.log"])
    texts["webhook bodies"] = "\n".join(b.decode() for _, b in hook.requests)
    texts["webhook headers"] = "\n".join(json_dumps(h) for h, _ in hook.requests)
    texts["llm.alerts.v1"] = "\n".join(r.value.decode() for r in alerts)
    texts["llm.signals.v1"] = "\n".join(r.value.decode() for r in signals)
    found = fk.find_canaries(canary_values, texts)
    valid_ids = [h.event_id or "" for h in hostile if h.expected is None]
    return fk.account(
        "poison input + PII canaries" + (" (STORE_RAW_PII on)" if store_raw_pii else ""),
        total, valid_ids, [p], len(dead), sampler, time.monotonic() - t0,
        bad_published=n_bad, valid_published=len(valid_ids), dl_reasons=reasons,
        dl_mismatches=mismatches, dl_missing=missing, canaries=len(canary_values),
        canary_hits=found, canary_hit_places=sorted({w for w, _ in found}),
        webhook_posts=len(hook.requests),
        webhook_signed_ok=sum(fk.signature_ok(secret, h, b) for h, b in hook.requests),
        secret_in_logs=secret in texts["worker log"], alive_same_pid=alive,
        batch_retries=int(stats.get("batch_retries", 0)),
        tracebacks=texts["worker log"].count("Traceback"), tables=sorted(p["tables"]),
        hostile_kinds=len({h.kind for h in hostile}),
    )  # fmt: skip


def fk_consume(bootstrap: str, topic: str, expected: int, timeout_s: float = 120) -> list[Any]:
    return consume(bootstrap, topic, expected, timeout_s=timeout_s)


def json_dumps(obj: Any) -> str:
    import json

    return json.dumps(obj)


# -- (8) a backfill across years, and an event ClickHouse refuses ----------------------------
def backfill_and_refused(bootstrap: str, tmp: Path, months: int, after: int) -> fk.Accounting:
    """``months`` valid events, each in a different month (a backfill), one event that a
    real ClickHouse constraint refuses (standing in for any content ClickHouse will never
    accept), then ``after`` ordinary events. Every valid event must be stored, the refused
    one dead-lettered as ``storage_rejected``, and the stream must go on behind them."""
    import orjson

    t0 = time.monotonic()
    settings = worker_settings(bootstrap, tmp, kafka={"partitions": 1}, ingest=FAST)
    create_topics(settings)
    # The constraint is real ClickHouse DDL on the worker's own directory, added before it
    # starts (one process per chDB directory); the worker's migrate leaves it in place.
    _migrate_and(settings, "ALTER TABLE events ADD CONSTRAINT refuse CHECK event_id != 'refuse-me'")

    def ev(i: int, eid: str, ts: str | None) -> bytes:
        body: dict[str, Any] = {"event_id": eid, "service": "backfill", "model": "gpt-4o",
                                "prompt": f"question {i}", "response": "answer"}  # fmt: skip
        if ts:
            body["timestamp"] = ts
        return orjson.dumps(body)

    values = [ev(i, f"bf-{i}", f"{2010 + i // 12:04d}-{i % 12 + 1:02d}-15T12:00:00Z")
              for i in range(months)]  # fmt: skip
    values.append(ev(-1, "refuse-me", "2026-01-01T00:00:00Z"))
    values += [ev(i, f"after-{i}", None) for i in range(after)]
    valid_ids = [f"bf-{i}" for i in range(months)] + [f"after-{i}" for i in range(after)]
    published = fk.Published()
    worker = _start(settings, "worker")
    fk.produce(bootstrap, _inference(settings), [(None, v) for v in values], published)
    total = len(values)
    try:
        fk.wait_for(
            lambda: (s := worker.stats()).get("events_stored", 0) + s.get("deadlettered", 0)
            >= total,
            90, f"{total} stored or dead-lettered",
        )  # fmt: skip
        _all_committed(settings, total, 60)
    finally:
        stats = worker.stats()
        worker.stop()
    dead = consume(bootstrap, settings.kafka.topic("llm.deadletter.v1"), 1, timeout_s=10)
    reasons = [(d["event_id"], d["reason"], d["message"]) for d in
               (orjson.loads(r.value) for r in dead)]  # fmt: skip
    p = fk.stored(settings, extra={"months": "SELECT uniqExact(toYYYYMM(timestamp)) AS n "
                                             "FROM events_v WHERE event_id LIKE 'bf-%'"})  # fmt: skip
    return fk.account(
        f"backfill across {months} months + 1 event ClickHouse refuses", total, valid_ids, [p],
        int(p["queries"]["deadletters"][0]["n"]), None, time.monotonic() - t0,
        dead_letters=reasons, months_stored=int(p["queries"]["months"][0]["n"]),
        sink_failures=int(stats.get("sink_failures", 0)),
    )  # fmt: skip


def _migrate_and(settings: Settings, *statements: str) -> None:
    """Bring a stopped worker's chDB up to date, then run ``statements`` on it (child
    process: one chDB directory per process)."""
    import os
    import subprocess
    import sys

    from streams.demo import settings_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    code = (
        "import sys; from streams.settings import Settings; from sinks.clickhouse import "
        "ClickHouseSink; s = ClickHouseSink(Settings().clickhouse); s.migrate(); "
        "[s.query(q) for q in sys.argv[1:]]; s.close()"
    )
    subprocess.run([sys.executable, "-c", code, *statements], env=env, check=True, timeout=120)


# -- (9) SIGTERM while ClickHouse is down -----------------------------------------------------
def sigterm_during_outage(
    bootstrap: str, tmp: Path, n: int, shutdown_timeout_s: float, seed: int
) -> fk.Accounting:
    """ClickHouse down from the start; ``n`` events arrive; once a write has failed and the
    health endpoints had their chance to say "stalled", SIGTERM. The worker must exit within
    ``shutdown_timeout_s`` (plus start-up slack) having committed nothing; a second worker,
    ClickHouse back, stores everything."""
    import httpx

    t0 = time.monotonic()
    tmp.mkdir(parents=True, exist_ok=True)
    fault = tmp / "clickhouse.fault"
    fault.write_text("down")
    settings = worker_settings(
        bootstrap, tmp, kafka={"partitions": 2}, ingest=FAST,
        clickhouse={"fault_file": str(fault), "retry_initial_s": 0.2, "retry_max_s": 1.0},
        shutdown_timeout_s=shutdown_timeout_s, stall_after_s=2.0,
    )  # fmt: skip
    create_topics(settings)
    messages = generate(n, seed=seed, bad_every=0)
    published = fk.produce(bootstrap, _inference(settings), [(m.key, m.value) for m in messages])
    worker = _start(settings, "worker-0")
    base = f"http://{settings.web_host}:{settings.web_port}"
    fk.wait_for(lambda: worker.stats().get("sink_failures", 0) >= 1, 60, "a failed write")

    def health() -> dict[str, Any] | None:
        h, r = httpx.get(f"{base}/healthz", timeout=2), httpx.get(f"{base}/readyz", timeout=2)
        if h.status_code == 503 and r.status_code == 503:
            return {"healthz": h.json(), "readyz": r.json()}
        return None

    seen = fk.wait_for(health, 30, "/healthz and /readyz to report the stall")
    gauges = httpx.get(f"{base}/metrics", timeout=2).text
    committed_before = fk.committed_total(bootstrap, settings.app_id, _inference(settings), 2)
    t_term = time.monotonic()
    code = worker.stop(timeout_s=shutdown_timeout_s + 60)
    stop_s = time.monotonic() - t_term
    committed_after = fk.committed_total(bootstrap, settings.app_id, _inference(settings), 2)
    fault.unlink()
    worker = _start(settings, "worker-1")
    _all_committed(settings, published.count, 120)
    worker.stop()
    p = fk.stored(settings)
    return fk.account(
        "SIGTERM during a ClickHouse outage", n, [m.event_id or "" for m in messages], [p],
        int(p["queries"]["deadletters"][0]["n"]), None, time.monotonic() - t0,
        stop_s=round(stop_s, 1), exit_code=code, committed_before_term=committed_before,
        committed_after_term=committed_after, health=seen,
        gauge_lines=[ln for ln in gauges.splitlines() if ln.startswith(
            ("infersight_seconds_since_last_stored_batch", "infersight_consumer_lag",
             "infersight_ingest_in_flight"))],
    )  # fmt: skip


# -- (10) duplicates of events that carry no timestamp ----------------------------------------
def duplicates_without_timestamp(bootstrap: str, tmp: Path, n: int, seed: int) -> fk.Accounting:
    """``n`` events without ``timestamp``, each sent twice as the same record (same key,
    value and record timestamp, as a producer retry re-sends it). As queried, each must be
    stored once, at its record's time."""
    import asyncio

    import orjson
    from aiokafka import AIOKafkaProducer

    t0 = time.monotonic()
    rng = random.Random(seed)
    settings = worker_settings(bootstrap, tmp, kafka={"partitions": 2}, ingest=FAST)
    create_topics(settings)
    base_ms = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    records = []
    for i in range(n):
        body = {"event_id": f"dup-{seed}-{i}", "service": "dups", "model": "gpt-4o-mini",
                "prompt": f"q{i}", "response": "a", "usage": {"input_tokens": rng.randint(1, 99)}}  # fmt: skip
        records.append((f"k{i}".encode(), orjson.dumps(body), base_ms + i * 1000))

    async def send() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            futures = [
                await producer.send(_inference(settings), v, key=k, timestamp_ms=ts)
                for k, v, ts in records + records
            ]
            return len(await asyncio.gather(*futures))
        finally:
            await producer.stop()

    published = asyncio.run(send())
    worker = _start(settings, "worker")
    try:
        _all_committed(settings, published, 120)
    finally:
        worker.stop()
    p = fk.stored(settings, extra={
        "times": "SELECT count() AS n FROM events_v WHERE service = 'dups' AND "
                 f"toUnixTimestamp64Milli(timestamp) - {base_ms} = "
                 "toUInt64(replaceOne(event_id, 'dup-" + str(seed) + "-', '')) * 1000"})  # fmt: skip
    return fk.account(
        "duplicate events without timestamps (each record sent twice)", n,
        [f"dup-{seed}-{i}" for i in range(n)], [p],
        int(p["queries"]["deadletters"][0]["n"]), None, time.monotonic() - t0,
        records_sent=published, at_record_time=int(p["queries"]["times"][0]["n"]),
        rows_before_dedup=int(p["queries"]["raw_events"][0]["n"]),
    )  # fmt: skip


# -- (11) slow and dead alert receivers, with a restart in the middle -------------------------
OUTBOX_RULES = """
rules:
  - name: leaks
    metric: pii_leaks
    comparison: ">="
    threshold: 1
    window: 10s
    severity: critical
"""


def slow_and_dead_receivers(
    bootstrap: str, tmp: Path, slow_s: float, expiry_s: float
) -> fk.Accounting:
    """One PII-leak episode (firing, then resolved when the leaks leave the 10 s window) and
    three channels: the webhook is slow (answers after ``slow_s``, past the 1 s timeout)
    until the restart, Slack is healthy, PagerDuty is dead (nothing listens). The worker is
    SIGKILLed once the healthy channel has the firing and restarted with the webhook healed.
    Every state change must reach webhook and Slack, firing before resolve; PagerDuty's page
    is given up after ``expiry_s`` and that raises an alert on webhook and Slack."""
    import orjson

    t0 = time.monotonic()
    rules = tmp / "rules.yaml"
    tmp.mkdir(parents=True, exist_ok=True)
    rules.write_text(OUTBOX_RULES)
    dead_url = f"http://127.0.0.1:{free_port()}/v2/enqueue"
    with WebhookReceiver() as hook, WebhookReceiver() as slack:
        hook.delay_s = slow_s
        settings = worker_settings(
            bootstrap, tmp, monitor={"interval_s": 1.0, "rules_file": str(rules)},
            alerts={"webhook_url": hook.url, "slack_webhook_url": slack.url + "/services/T/B/x",
                    "pagerduty_routing_key": "pd-key", "pagerduty_url": dead_url,
                    "timeout_s": 1.0, "backoff_s": 0.5, "delivery_backoff_max_s": 2.0,
                    "delivery_expiry_s": expiry_s},
        )  # fmt: skip
        create_topics(settings)
        ids = [f"leak-{i}" for i in range(3)]
        leaks = [orjson.dumps({"event_id": e, "service": "shop", "model": "gpt-4o",
                               "prompt": "contact?", "response": f"Write to {e}@northwind-mail.com"})
                 for e in ids]  # fmt: skip
        worker = _start(settings, "worker-0")
        t_pub = time.monotonic()
        fk.produce(bootstrap, _inference(settings), [(None, v) for v in leaks])
        fk.wait_for(lambda: slack.requests, 60, "the firing on the healthy channel")
        healthy_after_s = time.monotonic() - t_pub
        slow_tries_before_kill = len(hook.late)
        worker.kill()
        hook.delay_s = 0.0
        worker = _start(settings, "worker-1")

        def statuses(r: WebhookReceiver, key: str) -> list[tuple[str, str]]:
            out = []
            for b in r.bodies:
                if key == "slack":
                    head = b["blocks"][0]["text"]["text"]  # "FIRING: leaks (...)"
                    out.append((head.split(":")[1].split()[0], head.split(":")[0].lower()))
                else:
                    out.append((b["rule"], b["status"]))
            return out

        want = {("leaks", "firing"), ("leaks", "resolved"),
                ("infersight_delivery_expired", "firing")}  # fmt: skip

        def done() -> bool:
            return want <= set(statuses(hook, "hook")) and want <= set(statuses(slack, "slack"))

        try:
            fk.wait_for(done, 120, "every page on webhook and Slack", interval_s=1.0)
            time.sleep(2.0)
        finally:
            worker.stop()
        got = {"webhook": statuses(hook, "hook"), "slack": statuses(slack, "slack")}
        late = len(hook.late)
    p = fk.stored(settings, extra={"outbox": "SELECT channel, rule, status, state, attempts "
                                             "FROM alert_outbox FINAL ORDER BY channel, rule, "
                                             "status"})  # fmt: skip
    expected = {ch: sorted(want) for ch in got}
    delivered = {ch: sorted(set(v) & want) for ch, v in got.items()}
    return fk.account(
        "slow + dead alert receivers, worker SIGKILL mid-delivery", 3, ids, [p],
        int(p["queries"]["deadletters"][0]["n"]), None, time.monotonic() - t0,
        pages_expected=sum(len(v) for v in expected.values()),
        pages_delivered=sum(len(v) for v in delivered.values()), received=got,
        healthy_channel_after_s=round(healthy_after_s, 1),
        slow_attempts_before_kill=slow_tries_before_kill, slow_attempts_total=late,
        outbox=p["queries"]["outbox"],
    )  # fmt: skip
