"""1 vs 2 worker processes on a 4-partition topic (issue 13): the backlog rate of each.

For each configuration and worker count, on a fresh broker and topics:

1. the workers start (one consumer group, each its own embedded chDB directory: chDB allows
   one process per directory) and the benchmark waits until the 4 partitions are assigned
   among them (``assigned_partitions`` of ``/healthz``);
2. a warm-up of 16 messages per partition is published and stored (models load, every
   worker has taken a batch);
3. the backlog (N demo messages, 2 % malformed) is published round-robin over the
   partitions, the clock starting before the first send; the rate is the valid events of
   the backlog over (the last one's ``ingested_at``, read from every worker's store after
   they stopped, minus that start).

On a machine with fewer cores than workers × the cores one worker uses, two workers share
the same cores: the figure says what this machine gives, and the report states the
projection from partitions.

    nice python benchmarks/speed/throughput.py scaling --events 4000 \\
        --report benchmarks/speed/reports/throughput_scaling.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from streams.broker import LocalBroker, free_port  # noqa: E402
from streams.demo import WorkerProcess  # noqa: E402
from streams.demo_data import DemoMessage, generate  # noqa: E402
from streams.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4
WARM_PER_PARTITION = 16


async def _publish(bootstrap: str, topic: str, messages: list[DemoMessage]) -> float:
    """Round-robin over the partitions (keys kept); returns the time the first send began."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=16 * 1024 * 1024)  # fmt: skip
    await producer.start()
    try:
        started = time.time()
        futures = [
            await producer.send(topic, m.value, key=m.key, partition=i % PARTITIONS)
            for i, m in enumerate(messages)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return started


def _assigned(workers: list[WorkerProcess]) -> list[int]:
    out = []
    for w in workers:
        s = w.settings
        try:
            h = httpx.get(f"http://{s.web_host}:{s.web_port}/healthz", timeout=2).json()
            out.append(int(h.get("assigned_partitions", 0)))
        except (httpx.HTTPError, ValueError):
            out.append(0)
    return out


def _wait(probe: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.25)
    msg = f"timed out after {timeout_s:.0f}s waiting for {what}"
    raise TimeoutError(msg)


def _handled(workers: list[WorkerProcess]) -> int:
    return sum(int((s := w.stats()).get("events_stored", 0) + s.get("deadlettered", 0))
               for w in workers)  # fmt: skip


def _settings(bootstrap: str, work: Path, config: str, n_workers: int) -> list[Settings]:
    """One consumer group and topics; a data directory and port per worker."""
    from benchmarks.speed.throughput import CONFIGS

    detectors, drift, extra = CONFIGS[config]
    tag = uuid.uuid4().hex[:8]
    kafka = {"bootstrap": bootstrap, "topic_prefix": f"s{tag}.", "session_timeout_s": 6.0,
             "heartbeat_interval_s": 2.0, "partitions": PARTITIONS}  # fmt: skip
    return [
        Settings(
            app_id=f"scaling-{tag}",
            data_dir=work / tag / f"w{i}",
            web_port=free_port(),
            log_level="warning",
            kafka=kafka,
            drift={"enabled": drift},
            detectors={"enabled": detectors, **extra.get("detectors", {})},
            ingest=extra.get("ingest", {}),
        )  # fmt: skip
        for i in range(n_workers)
    ]


def run(bootstrap: str, work: Path, config: str, n_workers: int, events: int) -> dict[str, Any]:
    """One configuration with ``n_workers`` workers: warm, then time the backlog."""
    from streams.app import ensure_topics

    settings = _settings(bootstrap, work, config, n_workers)
    asyncio.run(ensure_topics(settings[0].kafka, (settings[0].otel.topic,)))
    topic = settings[0].kafka.topic("llm.inference.v1")
    load0 = os.getloadavg()
    workers: list[WorkerProcess] = []
    try:
        for s in settings:  # each appended before it starts: a failed start is stopped too
            workers.append(WorkerProcess(s, s.data_dir / "worker.log"))
            workers[-1].start(timeout_s=300)
        _wait(lambda: (a := _assigned(workers)) and sum(a) == PARTITIONS and min(a) > 0, 180,
              f"{PARTITIONS} partitions over {n_workers} workers")  # fmt: skip
        warm = generate(WARM_PER_PARTITION * PARTITIONS, seed=3, run_id="warm", bad_every=0)
        asyncio.run(_publish(bootstrap, topic, warm))
        _wait(lambda: _handled(workers) >= len(warm), 600, "the warm-up stored")
        backlog = generate(events, seed=7, run_id="scaling")
        cpu0, stages0 = sum(_cpu_s(w) for w in workers), _stage_totals(workers)
        started = asyncio.run(_publish(bootstrap, topic, backlog))
        _wait(lambda: _handled(workers) >= len(warm) + events, 1800, "the backlog drained")
        cpu = sum(_cpu_s(w) for w in workers) - cpu0
        stages = _minus(_stage_totals(workers), stages0)
        assigned = _assigned(workers)
    finally:
        codes = [w.stop(timeout_s=60) for w in workers]
    result = _result(settings, backlog, started, load0, assigned, codes)
    return {**result, "cpu_s": cpu, "stages": stages}


def _stage_totals(workers: list[WorkerProcess]) -> dict[str, tuple[float, float]]:
    """(seconds, batches) per stage of the score hop, summed over the workers' /metrics;
    ``batch_size`` holds (messages, batches)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, tuple[float, float]] = {}
    for w in workers:
        s = w.settings
        text = httpx.get(f"http://{s.web_host}:{s.web_port}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                hop = sample.labels.get("hop")
                if family.name == "infersight_stage_seconds" and hop in ("ScoreEvents", "consumer"):
                    key = sample.labels["stage"]
                elif family.name == "infersight_batch_size" and hop == "ScoreEvents":
                    key = "batch_size"
                else:
                    continue
                total, count = out.get(key, (0.0, 0.0))
                if sample.name.endswith("_sum"):
                    out[key] = (total + sample.value, count)
                elif sample.name.endswith("_count"):
                    out[key] = (total, count + sample.value)
    return out


def _minus(after: dict[str, tuple[float, float]], before: dict[str, tuple[float, float]]
           ) -> dict[str, tuple[float, float]]:  # fmt: skip
    zero = (0.0, 0.0)
    return {k: (v[0] - before.get(k, zero)[0], v[1] - before.get(k, zero)[1])
            for k, v in after.items()}  # fmt: skip


def _cpu_s(worker: WorkerProcess) -> float:
    """CPU seconds (user + system, all threads) the worker process has used so far."""
    assert worker.proc is not None
    fields = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _result(
    settings: list[Settings],
    backlog: list[DemoMessage],
    started: float,
    load0: tuple[float, ...],
    assigned: list[int],
    codes: list[Any],
) -> dict[str, Any]:
    from benchmarks.speed.throughput import query

    ids = {m.event_id for m in backlog if m.valid}
    per_worker, last = [], 0.0
    for s in settings:
        rows = query(
            s, "SELECT event_id, toUnixTimestamp64Milli(ingested_at) AS t FROM events FINAL"
        )
        mine = [int(r["t"]) / 1000 for r in rows if r["event_id"] in ids]
        per_worker.append(len(mine))
        last = max([last, *mine])
    seconds = last - started
    return {"workers": len(settings), "stored": sum(per_worker), "valid": len(ids),
            "per_worker": per_worker, "assigned": assigned, "seconds": seconds,
            "rate": sum(per_worker) / seconds if seconds > 0 else 0.0, "exit_codes": codes,
            "load": (load0, os.getloadavg())}  # fmt: skip


def report(cmd: str, facts: dict[str, str], results: dict[str, list[dict[str, Any]]],
           events: int) -> str:  # fmt: skip
    lines = [
        "# 1 vs 2 workers on a 4-partition topic (issue 13)", "",
        f"Command: `{cmd}`  ", f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {events} demo "
        "messages (2 % malformed) per run, published round-robin over 4 partitions.", "",
        "| machine | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in facts.items()], "",
        __doc__.split("\n\n    nice")[0].split("\n", 2)[2].strip(), "",
        "| configuration | workers | stored | per worker | partitions each | seconds "
        "| torch threads each | events/s | vs 1 worker | worker CPU s | events per CPU-second "
        "| load 1/5/15 start → end |",
        "| --- | ---: | ---: | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]  # fmt: skip
    for config, runs in results.items():
        one = next((r["rate"] for r in runs if r["workers"] == 1), None)
        for r in runs:
            ratio = f"{r['rate'] / one:.2f}×" if one else "n/a"
            ld = " → ".join("/".join(f"{x:.2f}" for x in ld) for ld in r["load"])
            lines.append(
                f"| {config} | {r['workers']} | {r['stored']} of {r['valid']} "
                f"| {' + '.join(map(str, r['per_worker']))} "
                f"| {' + '.join(map(str, r['assigned']))} | {r['seconds']:.1f} "
                f"| {r['torch_threads']} | **{r['rate']:.0f}** | {ratio} | {r['cpu_s']:.1f} "
                f"| {r['stored'] / r['cpu_s']:.0f} | {ld} |"
            )
    return "\n".join(lines + _stage_table(results) + _projection(results)) + "\n"


def _stage_table(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Mean milliseconds per batch in each stage, from the workers' own /metrics
    (``infersight_stage_seconds``), backlog only (scraped before and after it)."""
    runs = [(c, r) for c, rs in results.items() for r in rs if r.get("stages")]
    if not runs:
        return []
    names = sorted({k for _, r in runs for k in r["stages"] if k != "batch_size"})
    head = " | ".join(f"{c}, {r['workers']}w" for c, r in runs)
    out = ["", "## Where a batch's time goes, from the workers' /metrics", "",
           "Mean milliseconds per batch in each stage of the score hop (`commit`: per offset "
           "commit of the consumer), from `infersight_stage_seconds` scraped before and after "
           "the backlog, summed over the workers. Stages are exclusive of the stages inside "
           "them (docs/operations.md).", "",
           f"| stage | {head} |", "| --- |" + " ---: |" * len(runs)]  # fmt: skip

    def cell(r: dict[str, Any], key: str, scale: float) -> str:
        total, count = r["stages"].get(key, (0.0, 0.0))
        return f"{scale * total / count:.1f}" if count else ""

    out.append("| messages per batch | " + " | ".join(cell(r, "batch_size", 1) for _, r in runs)
               + " |")  # fmt: skip
    out.append("| batches | " + " | ".join(f"{r['stages'].get('batch_size', (0, 0))[1]:.0f}"
                                           for _, r in runs) + " |")  # fmt: skip
    out += [f"| {n} | " + " | ".join(cell(r, n, 1000) for _, r in runs) + " |" for n in names]
    return out


def _projection(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    """What N workers would do with cores of their own, from the CPU each event cost."""
    out = [
        "",
        "## Projection",
        "",
        "Wall-clock rates here depend on what else the shared machine runs (the load "
        "averages above are mostly other jobs). The CPU the workers spent per event depends "
        "far less on it: with c cores of its own, one worker can at most store c × (events per "
        "CPU-second), and N workers on N × c cores about N times that while N ≤ the "
        "partitions (a worker beyond them owns none) and the ClickHouse server keeps up "
        "(here every worker had an embedded store of its own). torch's threads spin while "
        "they wait for a core, so on a crowded machine the model configurations' CPU "
        "seconds overstate the work: their events per CPU-second are lower bounds.",
        "",
    ]
    for config, runs in results.items():
        per_cpu = [r["stored"] / r["cpu_s"] for r in runs if r["cpu_s"] > 0]
        if per_cpu:
            low, high = min(per_cpu), max(per_cpu)
            out.append(f"- {config}: {low:.0f}-{high:.0f} events per CPU-second, so a 2-core "
                       f"worker ≤ {2 * low:.0f}-{2 * high:.0f} events/s and 4 such workers on "
                       f"4 partitions ≤ {8 * low:.0f}-{8 * high:.0f} events/s.")  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    from benchmarks.speed.machine import machine_facts
    from benchmarks.speed.throughput import CONFIGS

    ap = argparse.ArgumentParser(prog="throughput.py scaling", description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=4000, help="backlog messages per run")
    ap.add_argument("--configs", nargs="*", default=["cost + pii, drift off", "default"],
                    choices=list(CONFIGS))  # fmt: skip
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    ap.add_argument(
        "--split-cores",
        action="store_true",
        help="give each worker OMP_NUM_THREADS = cores // workers (torch threads)",
    )
    ap.add_argument("--torch-threads", type=int, help="OMP_NUM_THREADS of every worker")
    ap.add_argument("--report", type=Path,
                    default=ROOT / "benchmarks/speed/reports/throughput_scaling.md")  # fmt: skip
    args = ap.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    facts = machine_facts()
    (ROOT / "build").mkdir(exist_ok=True)  # ignored by git: absent in a fresh clone
    work = Path(tempfile.mkdtemp(prefix="scaling-", dir=ROOT / "build"))
    results: dict[str, list[dict[str, Any]]] = {}
    with LocalBroker(log_path=work / "broker.log") as broker:
        for config in args.configs:
            for n in args.workers:
                if args.split_cores:  # the workers inherit it: torch threads per worker
                    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
                if args.torch_threads:
                    os.environ["OMP_NUM_THREADS"] = str(args.torch_threads)
                r = run(broker.bootstrap, work, config, n, args.events)
                r["torch_threads"] = os.environ.get("OMP_NUM_THREADS", "torch's default")
                print(f"{config}, {n} workers: {r}", file=sys.stderr)
                results.setdefault(config, []).append(r)
    shutil.rmtree(work, ignore_errors=True)
    cmd = "nice python benchmarks/speed/throughput.py scaling " + " ".join(argv or [])
    text = report(cmd.strip(), facts, results, args.events)
    args.report.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
