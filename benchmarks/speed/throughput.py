"""Worker throughput against the model's own ceiling, in one run (issue 13).

1. Ceiling: the project's ``Embedder`` (no cache), at the precision the worker runs
   (``embedding_precision=auto``: the probe saved on this machine), encodes the texts the default
   pipeline embeds — prompt and response of every valid event, in batches of the ingest
   batch size — in this process. Events per second = valid events / encode time.
   It is measured again, on the first two batches, right before each worker starts, and
   each configuration's ratio uses that figure: the shared machine's load moves.
2. Backlog rate per configuration: N demo messages (``streams.demo_data.generate``, 2 %
   malformed) are published to a real tansu broker, then one ``python -m streams.cli
   worker`` (embedded chDB) is started and drains them. The rate is taken from the first
   stored batch to the last: batches are told apart by ``ingested_at`` (one value per insert)
   in the stored ``events`` table, read after the worker stopped; the first batch's events
   are not counted (rate = events after the first batch / (last - first)).
3. The ratio of each rate to the ceiling, a markdown report and a bar plot.

    nice python benchmarks/speed/throughput.py --events 1500 \
        --report benchmarks/speed/reports/throughput.md

Figures on a shared machine are lower bounds: the load average at start and end is written
in the report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.speed.ceiling import ceiling, encode_seconds, valid_events, worker_precision  # noqa: E402
from benchmarks.speed.machine import machine_facts  # noqa: E402
from streams.broker import LocalBroker, free_port  # noqa: E402
from streams.demo import WorkerProcess, settings_env  # noqa: E402
from streams.demo_data import DemoMessage, generate  # noqa: E402
from streams.settings import DetectorSettings, Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = DetectorSettings().enabled  # the product default: cost, pii, toxicity, injection
ALL = ["cost", "pii", "toxicity", "injection", "hallucination"]

#: name -> (detectors, drift on, more settings by section)
CONFIGS: dict[str, tuple[list[str], bool, dict[str, dict[str, Any]]]] = {
    "default": (DEFAULT, True, {}),
    "default, embedding cache off": (DEFAULT, True, {"detectors": {"embedding_cache_size": 0}}),
    "default, pipelined": (DEFAULT, True, {"ingest": {"pipelined": True}}),
    "default, cache off, pipelined": (
        DEFAULT,
        True,
        {"detectors": {"embedding_cache_size": 0}, "ingest": {"pipelined": True}},
    ),
    "default, cache off, pipelined, one model thread": (DEFAULT, True, {
        "detectors": {"embedding_cache_size": 0, "model_threads": 1},
        "ingest": {"pipelined": True},
    }),  # fmt: skip
    "default, one batch at a time": (DEFAULT, True, {"ingest": {"pipelined": False}}),
    "default, cache off, one batch at a time": (
        DEFAULT,
        True,
        {"detectors": {"embedding_cache_size": 0}, "ingest": {"pipelined": False}},
    ),
    "cost + pii, drift off": (["cost", "pii"], False, {}),
    "all five detectors": (ALL, True, {}),
}

#: Run by default: all but the explicit one-batch configurations (the hop's default today;
#: they name it for comparisons that must not follow a change of default).
DEFAULT_RUN = [name for name in CONFIGS if "one batch at a time" not in name
               and "model thread" not in name]  # fmt: skip


@dataclass
class Run:
    name: str
    detectors: list[str]
    drift: bool
    stored: int = 0
    batches: int = 0
    rate: float = 0.0
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    ceiling: float = 0.0  # bare Embedder events/s measured just before this worker ran
    cpu_ms: float = 0.0  # the worker's CPU (all threads) per message after its first batch
    notes: list[str] = field(default_factory=list)


def _timed(acc: dict[str, float], name: str, fn: Any, *args: Any) -> Any:
    t = time.perf_counter()
    out = fn(*args)
    acc[name] = acc.get(name, 0.0) + time.perf_counter() - t
    return out


def stages(messages: list[DemoMessage], batch_size: int, work: Path) -> dict[str, float]:
    """Milliseconds per batch of each step of the default score hop, in this process on the
    same batches (the detectors one by one in the pipeline's order, the embedding cache on,
    then redaction and the rest of ``ScoringPipeline.score``, drift, the ClickHouse write to
    a chDB directory of its own). Publishing and acking are not included."""
    from detectors.base import BatchFeatures
    from detectors.drift.bank import DriftBank
    from schemas.parsing import parse_event
    from sinks.clickhouse import ClickHouseSink
    from streams.app import build_pipeline

    settings = Settings(data_dir=work / "stages")
    pipeline = build_pipeline(settings)
    drift = DriftBank(settings.drift.fields, settings.drift.monitor_params())
    sink = ClickHouseSink(settings.clickhouse)
    sink.migrate()
    pipeline.score(valid_events(messages[:8]))  # load every model before the clock
    acc: dict[str, float] = {}
    batches = [messages[i : i + batch_size] for i in range(0, len(messages), batch_size)]
    for batch in batches:
        events = []
        for m in batch:
            try:
                events.append(_timed(acc, "parse", parse_event, m.value))
            except Exception:  # the malformed 2 %: dead-lettered by the hop
                pass
        features = BatchFeatures(events)
        for d in pipeline.detectors:
            _timed(acc, f"detector {d.name}", d.score_batch, events, features)
        scored, _ = _timed(acc, "score (whole pipeline, after the detectors above)",
                           pipeline.score, events)  # fmt: skip
        _timed(acc, "drift learn", drift.learn, scored)
        _timed(acc, "ClickHouse write", sink.write_results, scored, [])
    sink.close()
    return {k: 1000 * v / len(batches) for k, v in acc.items()}


def config_settings(bootstrap: str, work: Path, name: str) -> Settings:
    detectors, drift, extra = CONFIGS[name]
    tag = uuid.uuid4().hex[:8]
    return Settings(
        app_id=f"bench-{tag}",
        data_dir=work / tag,
        web_port=free_port(),
        log_level="warning",
        kafka={
            "bootstrap": bootstrap,
            "topic_prefix": f"b{tag}.",
            "session_timeout_s": 6.0,
            "heartbeat_interval_s": 2.0,
        },  # fmt: skip
        drift={"enabled": drift},
        detectors={"enabled": detectors, **extra.get("detectors", {})},
        ingest=extra.get("ingest", {}),
    )


async def _publish(bootstrap: str, topic: str, messages: list[DemoMessage]) -> None:
    from streams.publish import Publisher

    async with Publisher(bootstrap, topic) as pub:
        pending = [await pub.send_raw(m.value, m.key) for m in messages]
        await asyncio.gather(*pending)


def query(settings: Settings, sql: str) -> list[dict[str, Any]]:
    """SQL on the stopped worker's chDB directory, in a child process (one per directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "db", "query", sql, "--format", "json"],
        env=env, capture_output=True, text=True, timeout=300, check=True, cwd=ROOT,
    )  # fmt: skip
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid``, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(
    worker: WorkerProcess,
    expected: int,
    timeout_s: float,
    cpu: list[tuple[int, float]] | None = None,
) -> None:
    """Wait until ``expected`` messages are stored or dead-lettered; ``cpu`` collects
    (messages done, the worker's CPU seconds) at each poll once some are done."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not worker.alive():
            msg = f"the worker exited; see {worker.log_path}"
            raise RuntimeError(msg)
        stats = worker.stats()
        done = int(stats.get("events_stored", 0) + stats.get("deadlettered", 0))
        if cpu is not None and done and worker.proc is not None:
            cpu.append((done, process_cpu_s(worker.proc.pid)))
        if done >= expected:
            return
        time.sleep(0.5)
    msg = f"the worker did not drain {expected} messages in {timeout_s:.0f}s; see {worker.log_path}"
    raise TimeoutError(msg)


def backlog_rate(bootstrap: str, work: Path, name: str, messages: list[DemoMessage],
                 timeout_s: float) -> Run:  # fmt: skip
    """Publish the backlog, start a worker, wait until it is drained, read the batches."""
    from streams.app import ensure_topics

    settings = config_settings(bootstrap, work, name)
    detectors, drift, _ = CONFIGS[name]
    run = Run(name, detectors, drift)
    asyncio.run(ensure_topics(settings.kafka, (settings.otel.topic,)))
    asyncio.run(_publish(bootstrap, settings.kafka.topic("llm.inference.v1"), messages))
    load0 = os.getloadavg()[0]
    worker = WorkerProcess(settings, settings.data_dir / "worker.log").start(timeout_s=300)
    try:
        cpu: list[tuple[int, float]] = []
        drain(worker, len(messages), timeout_s, cpu)
    finally:
        worker.stop()
    run.load = (load0, os.getloadavg()[0])
    if len(cpu) >= 2 and cpu[-1][0] > cpu[0][0]:  # after the first poll that saw a batch done
        run.cpu_ms = 1000 * (cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0])
    rows = query(settings, "SELECT toUnixTimestamp64Milli(ingested_at) AS t, count() AS n "
                           "FROM events FINAL GROUP BY t ORDER BY t")  # fmt: skip
    run.stored = sum(int(r["n"]) for r in rows)
    run.batches = len(rows)
    if len(rows) >= 2:
        run.seconds = (int(rows[-1]["t"]) - int(rows[0]["t"])) / 1000
        run.rate = sum(int(r["n"]) for r in rows[1:]) / run.seconds
    else:
        run.notes.append("one stored batch only: raise --events")
    return run


async def _publish_paced(
    bootstrap: str, topic: str, messages: list[DemoMessage], rate: float
) -> dict[str, float]:
    """Send ``messages`` at ``rate`` per second; the send time of each event id (the
    producer stamps the record's CreateTime at the same moment)."""
    from streams.publish import Publisher

    sent: dict[str, float] = {}
    async with Publisher(bootstrap, topic) as pub:
        pending = []
        t0 = time.time()
        for i, m in enumerate(messages):
            delay = t0 + i / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if m.valid and m.event_id:
                sent[m.event_id] = time.time()
            pending.append(await pub.send_raw(m.value, m.key))
        await asyncio.gather(*pending)
    return sent


def _percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(values)
    return {f"p{q}": float(np.percentile(arr, q)) for q in (50, 95, 99)} | {
        "max": float(arr.max()),
        "n": float(len(arr)),
    }


def fixed_rate(
    bootstrap: str,
    work: Path,
    max_rate: float,
    fractions: list[float],
    seconds: float,
    within_s: float | None = None,
    name: str = "default",
) -> list[dict[str, float]]:
    """One default worker, fed at each fraction of ``max_rate`` for ``seconds``: publish to
    stored latency (stored ``ingested_at`` minus the send time) per phase."""
    from streams.app import ensure_topics

    settings = config_settings(bootstrap, work, name)
    if within_s is not None:
        ingest = settings.ingest.model_copy(update={"batch_within_s": within_s})
        settings = settings.model_copy(update={"ingest": ingest})
    asyncio.run(ensure_topics(settings.kafka, (settings.otel.topic,)))
    topic = settings.kafka.topic("llm.inference.v1")
    worker = WorkerProcess(settings, settings.data_dir / "worker.log").start(timeout_s=300)
    phases: list[tuple[float, dict[str, float]]] = []
    total = 0
    try:
        # Warm the worker (model load, consumer join) before the clock starts.
        warm = generate(50, seed=1, run_id="warm", bad_every=0)
        asyncio.run(_publish(bootstrap, topic, warm))
        total += len(warm)
        drain(worker, total, 300)
        for k, frac in enumerate(fractions):
            rate = max(1.0, frac * max_rate)
            msgs = generate(int(rate * seconds), seed=100 + k, run_id=f"rate{k}", bad_every=0)
            phases.append((frac, asyncio.run(_publish_paced(bootstrap, topic, msgs, rate))))
            total += len(msgs)
            drain(worker, total, 300)
    finally:
        worker.stop()
    rows = query(settings, "SELECT event_id, toUnixTimestamp64Milli(ingested_at) AS t "
                           "FROM events FINAL")  # fmt: skip
    stored = {r["event_id"]: int(r["t"]) / 1000 for r in rows}
    out = []
    for frac, sent in phases:
        lat = [stored[e] - t for e, t in sent.items() if e in stored]
        out.append({"fraction": frac, "rate": frac * max_rate, **_percentiles(lat)})
    return out


def plot(runs: list[Run], ceil: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    names = [r.name for r in runs]
    ax.barh(names, [r.rate for r in runs], color="tab:blue")
    ax.axvline(ceil, color="tab:red", linestyle="--", label=f"bare Embedder ceiling {ceil:.0f}/s")
    for i, r in enumerate(runs):
        ax.text(r.rate, i, f" {r.rate:.0f}", va="center")
    ax.set_xlabel("events/s (backlog, first stored batch to last)")
    ax.set_xscale("log")
    ax.legend(loc="lower right")
    ax.set_title("infersight worker throughput (lower bounds, shared machine)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(args: argparse.Namespace, facts: dict[str, str], ceil: dict[str, float],
           runs: list[Run], loads: tuple[tuple[float, ...], tuple[float, ...]],
           plot_name: str, latency: list[dict[str, float]],
           per_stage: dict[str, float]) -> str:  # fmt: skip
    from detectors.embedding import CACHE_SIZE

    cmd = "nice python benchmarks/speed/throughput.py " + " ".join(sys.argv[1:])
    lines = [
        "# Worker throughput vs the model's ceiling (issue 13)", "",
        f"Command: `{cmd}`  ", f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{args.events} demo messages (2 % malformed) per configuration.", "",
        "| machine | |", "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in facts.items()],
        f"| load average (1/5/15 min) at start | {' / '.join(f'{x:.2f}' for x in loads[0])} |",
        f"| load average (1/5/15 min) at end | {' / '.join(f'{x:.2f}' for x in loads[1])} |",
        "", "The machine is shared: every figure is a lower bound.", "",
        f"Ceiling: `Embedder('{ceil['precision']}')` (the precision the workers run), no "
        "cache, encoded prompt and response of "
        f"{ceil['events']:.0f} valid events ({ceil['texts']:.0f} texts, "
        f"{ceil['distinct']:.0f} distinct) in batches of {args.batch_size}: "
        f"{ceil['seconds']:.1f} s, **{ceil['rate']:.0f} events/s**. With the default vector "
        f"cache (`cache_size={CACHE_SIZE}`, one pass per distinct text) the same encoding took "
        f"{ceil['cached_seconds']:.2f} s ({ceil['cached_rate']:.0f} events/s): the demo stream "
        "repeats its texts far more than real traffic would, so that figure is an upper bound "
        "on the cache's effect.", "",
        f"The bare model spent {ceil['cpu_ms']:.2f} ms of CPU per event (all threads). "
        "*Worker CPU ms per message*: user + system "
        "seconds of the worker process (all threads: model, chDB, event loop) from the first "
        "poll that saw a batch done to the end, per message done meanwhile; less moved by "
        "the load than the rate, though threads that spin while waiting for a core inflate "
        "it on a crowded machine. The difference is the worker's CPU beside the model.", "",
        "The ceiling is measured again (on the first two batches) right before each "
        "configuration's worker starts (column *ceiling then*), and each ratio divides by "
        "that one, because the shared machine's load moves during the run.", "",
        "| configuration | detectors | drift | stored | batches | events/s | ceiling then "
        "| ratio to ceiling | worker CPU ms per message "
        "| load 1-min start → end |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]  # fmt: skip
    for r in runs:
        lines.append(
            f"| {r.name} | {', '.join(r.detectors)} | {'on' if r.drift else 'off'} | {r.stored} "
            f"| {r.batches} | **{r.rate:.0f}** | {r.ceiling:.0f} | {r.rate / r.ceiling:.2f} "
            f"| {r.cpu_ms:.2f} | {r.load[0]:.2f} → {r.load[1]:.2f} |"
        )
    notes = [n for r in runs for n in r.notes]
    lines += ["", *notes, "", f"![throughput]({plot_name})", ""]
    if latency:
        lines += [
            f"## Fixed rate: publish → stored latency ({args.fixed_config})", "",
            f"One worker, fed at each fraction of the default's backlog rate for "
            f"{args.fixed_seconds:.0f} s (after a 50-event warm-up). Latency = the stored "
            "`ingested_at` minus the time the benchmark handed the event to the producer "
            f"(the record's CreateTime); ingest batches of 256 within "
            f"{args.within_s or Settings().ingest.batch_within_s:g} s, so a batch waits up to "
            "`batch_within_s` before it "
            f"is scored. Rates from {'--max-rate' if args.max_rate else 'the default run'}.",
            "",
            "| load | events/s | events | p50 s | p95 s | p99 s | max s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *[f"| {p['fraction']:.0%} | {p['rate']:.0f} | {p['n']:.0f} | {p['p50']:.2f} "
              f"| {p['p95']:.2f} | {p['p99']:.2f} | {p['max']:.2f} |" for p in latency],
            "",
        ]  # fmt: skip
    if per_stage:
        lines += [
            "## Where a batch's time goes (default configuration, in one process)", "",
            f"Mean milliseconds per batch of {args.batch_size} over the same messages, the "
            "embedding cache on (its first pass pays the misses). The detectors run first on "
            "a fresh batch; the whole `ScoringPipeline.score` is then timed again on the same "
            "events, with the cache warm, so it holds redaction and assembly plus cached "
            "embeddings. Publishing and acking are not in it.", "",
            "| step | ms per batch |", "| --- | ---: |",
            *[f"| {k} | {v:.0f} |" for k, v in per_stage.items()], "",
        ]  # fmt: skip
    return "\n".join(lines)


#: ``throughput.py MODE ...``: the modes kept in modules of their own.
MODES = {"alert-latency": "alert_latency", "scaling": "scaling", "sustained": "sustained"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in MODES:
        import importlib

        return int(importlib.import_module(f"benchmarks.speed.{MODES[argv[0]]}").main(argv[1:]))
    modes = "other modes: " + ", ".join(f"throughput.py {m} --help" for m in MODES)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=modes)
    ap.add_argument("--events", type=int, default=1500, help="demo messages per configuration")
    ap.add_argument("--batch-size", type=int, default=256, help="ceiling batch (ingest default)")
    ap.add_argument("--configs", nargs="*", default=DEFAULT_RUN, choices=list(CONFIGS))
    ap.add_argument("--timeout-s", type=float, default=600.0, help="per configuration")
    ap.add_argument(
        "--fixed-rate",
        type=float,
        nargs="*",
        default=[0.5, 0.7],
        help="fractions of the default's backlog rate to feed at (none: skip)",
    )
    ap.add_argument(
        "--no-stages", dest="stages", action="store_false", help="skip the per-stage breakdown"
    )
    ap.add_argument("--fixed-seconds", type=float, default=20.0, help="seconds per fixed rate")
    ap.add_argument("--max-rate", type=float, help="fixed rates from this, not the default run")
    ap.add_argument("--within-s", type=float, help="the fixed-rate worker's batch_within_s")
    ap.add_argument("--fixed-config", default="default", choices=list(CONFIGS))
    ap.add_argument("--report", type=Path, default=ROOT / "benchmarks/speed/reports/throughput.md")
    args = ap.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    load_start = os.getloadavg()
    facts = machine_facts()
    messages = generate(args.events, seed=7, run_id="throughput")
    precision = worker_precision()
    ceil = ceiling(messages, args.batch_size, precision)
    print(f"ceiling: {ceil['rate']:.0f} events/s ({ceil})", file=sys.stderr)
    (ROOT / "build").mkdir(exist_ok=True)  # ignored by git: absent in a fresh clone
    work = Path(tempfile.mkdtemp(prefix="throughput-", dir=ROOT / "build"))
    runs = []
    latency: list[dict[str, float]] = []
    try:
        per_stage = stages(messages, args.batch_size, work) if args.stages else {}
        print(f"stages: {per_stage}", file=sys.stderr)
        with LocalBroker(log_path=work / "broker.log") as broker:
            for name in args.configs:
                # The load moves under us: the ceiling is measured again right before each
                # worker, and each ratio uses its own.
                events = valid_events(messages)[: 2 * args.batch_size]
                near = len(events) / encode_seconds(events, args.batch_size, 0, precision)[0]
                run = backlog_rate(broker.bootstrap, work, name, messages, args.timeout_s)
                run.ceiling = near
                print(f"{name}: {run.rate:.0f} events/s ({run})", file=sys.stderr)
                runs.append(run)
            default = next((r.rate for r in runs if r.name == "default" and r.rate), None)
            max_rate = args.max_rate or default
            if max_rate and args.fixed_rate:
                latency = fixed_rate(broker.bootstrap, work, max_rate, args.fixed_rate,
                                     args.fixed_seconds, args.within_s,
                                     args.fixed_config)  # fmt: skip
                print(f"latency: {latency}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    png = args.report.with_suffix(".png")
    plot(runs, ceil["rate"], png)
    text = report(
        args, facts, ceil, runs, (load_start, os.getloadavg()), png.name, latency, per_stage
    )
    args.report.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
