"""The sustained rate of a worker against the bare model, on a long backlog (issue 13).

``throughput.py`` drains 1,500 events (6 batches): its rate holds the model load, the first
drift fits and the tail. This drains a long backlog (8,000+ events) per configuration and
states the start-up apart from the sustained rate:

1. Ceiling, right before and right after each worker (the shared machine's load moves): the
   project's ``Embedder`` at the worker's precision, no cache, on the same texts the worker
   embeds (prompt and response of every valid event of the backlog, each once), in batches of
   the ingest batch size (256), in this process, model loaded and warm.
2. The worker (``python -m streams.cli worker``, embedded chDB, a real tansu broker) drains
   the backlog published before it starts. From the stored ``ingested_at`` of each batch:
   *start-up* = worker start to its first stored batch (model load, consumer join, first
   batch); *all* = events after the first batch over first to last batch; *sustained* = the
   same from the ``--skip``-th batch on (the first drift fits behind it).
3. *Model thread busy*: the share of the sustained drain's wall time the worker's model
   thread spent in scoring and drift (``infersight_stage_seconds`` sums of ``embed``,
   ``detector:*``, ``redact`` and ``drift``, read from ``/metrics`` at the two ends). If it is
   near 1, the model thread never waits for a batch; what is left is the model itself
   running slower beside the rest of the worker (CPU shared on the cores).

Each ratio divides the sustained rate by the mean of the two ceilings around it.

    nice python benchmarks/speed/throughput.py sustained --events 8000 \\
        --report benchmarks/speed/reports/throughput_sustained.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.speed.ceiling import encode_seconds, valid_events, worker_precision  # noqa: E402
from benchmarks.speed.machine import machine_facts  # noqa: E402
from benchmarks.speed.throughput import ROOT, _publish, config_settings, query  # noqa: E402
from streams.broker import LocalBroker  # noqa: E402
from streams.demo import WorkerProcess  # noqa: E402
from streams.demo_data import DemoMessage, generate  # noqa: E402

MODEL_STAGES = re.compile(r'stage="(embed|detector:[^"]*|redact|drift)"')
PAIR = ["default, embedding cache off", "default, cache off, pipelined"]


@dataclass
class Drain:
    name: str
    ceiling_before: float = 0.0
    ceiling_after: float = 0.0
    startup_s: float = 0.0
    rate_all: float = 0.0
    rate_sustained: float = 0.0
    sustained_batches: int = 0
    model_busy: float = 0.0
    stored: int = 0
    load: tuple[float, float] = (0.0, 0.0)

    @property
    def ratio(self) -> float:
        return self.rate_sustained / ((self.ceiling_before + self.ceiling_after) / 2)


def model_seconds(metrics_url: str) -> float:
    """Seconds the score hop's model thread has spent so far (sum of its stages)."""
    try:
        text = httpx.get(metrics_url, timeout=5).text
    except httpx.HTTPError:
        return float("nan")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("infersight_stage_seconds_sum{") and MODEL_STAGES.search(line)
        and 'hop="ScoreEvents"' in line
    )  # fmt: skip


def watch(worker: WorkerProcess, expected: int, skip: int, batch: int, timeout_s: float
          ) -> tuple[float, float]:  # fmt: skip
    """Wait until ``expected`` messages are done; the model thread's busy share between
    the first poll past ``skip`` batches and the last poll (wall clock of this process)."""
    url = worker.stats_url.replace("/stats", "/metrics")
    deadline = time.monotonic() + timeout_s
    first: tuple[float, float] | None = None
    last: tuple[float, float] | None = None
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"the worker exited; see {worker.log_path}")
        stats = worker.stats()
        done = int(stats.get("events_stored", 0) + stats.get("deadlettered", 0))
        if done >= skip * batch and done < expected:
            last = (time.monotonic(), model_seconds(url))
            first = first or last
        if done >= expected:
            if first is None or last is None or last[0] <= first[0]:
                return 0.0, 0.0
            return (last[1] - first[1]) / (last[0] - first[0]), last[0] - first[0]
        time.sleep(0.25)
    raise TimeoutError(f"the worker did not drain {expected} messages; see {worker.log_path}")


def drain(bootstrap: str, work: Path, name: str, messages: list[DemoMessage], skip: int,
          batch: int, timeout_s: float) -> Drain:  # fmt: skip
    from streams.app import ensure_topics

    settings = config_settings(bootstrap, work, name)
    out = Drain(name)
    asyncio.run(ensure_topics(settings.kafka, (settings.otel.topic,)))
    asyncio.run(_publish(bootstrap, settings.kafka.topic("llm.inference.v1"), messages))
    load0 = os.getloadavg()[0]
    started = time.time()
    worker = WorkerProcess(settings, settings.data_dir / "worker.log").start(timeout_s=300)
    try:
        out.model_busy, _ = watch(worker, len(messages), skip, batch, timeout_s)
    finally:
        worker.stop()
    out.load = (load0, os.getloadavg()[0])
    rows = query(settings, "SELECT toUnixTimestamp64Milli(ingested_at) AS t, count() AS n "
                           "FROM events FINAL GROUP BY t ORDER BY t")  # fmt: skip
    t = [int(r["t"]) / 1000 for r in rows]
    n = [int(r["n"]) for r in rows]
    out.stored = sum(n)
    out.startup_s = t[0] - started
    out.rate_all = sum(n[1:]) / (t[-1] - t[0])
    out.rate_sustained = sum(n[skip + 1 :]) / (t[-1] - t[skip])
    out.sustained_batches = len(n) - skip - 1
    return out


def report(args: argparse.Namespace, runs: list[Drain], events: int, precision: str,
           loads: tuple[tuple[float, ...], tuple[float, ...]]) -> str:  # fmt: skip
    cmd = "nice python benchmarks/speed/throughput.py sustained " + " ".join(sys.argv[2:])
    lines = [
        "# Sustained worker rate vs the bare model, long backlog (issue 13)", "",
        f"Command: `{cmd}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.events} demo messages "
        f"(2 % malformed, {events} valid) per drain.", "",
        "| machine | |", "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in machine_facts().items()],
        f"| load average (1/5/15 min) at start | {' / '.join(f'{x:.2f}' for x in loads[0])} |",
        f"| load average (1/5/15 min) at end | {' / '.join(f'{x:.2f}' for x in loads[1])} |",
        "", f"Ceiling: `Embedder('{precision}')`, no cache, prompt and response of the same "
        f"{events} valid events in batches of {args.batch_size} (the texts the worker embeds, "
        "each once), measured right before and right after each drain in this process; the "
        "ratio divides the sustained rate by their mean. Sustained: from stored batch "
        f"{args.skip + 1} to the last (the model load and the first drift fits before it). "
        "The machine is shared (2 cores, other engineers' jobs): both sides of each ratio "
        "ran within the same minutes.", "",
        "| drain | start-up s | events/s, all batches | events/s, sustained (batches) "
        "| ceiling before / after | ratio, sustained | model thread busy | load 1-min |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]  # fmt: skip
    for r in runs:
        lines.append(
            f"| {r.name} | {r.startup_s:.1f} | {r.rate_all:.0f} | **{r.rate_sustained:.0f}** "
            f"({r.sustained_batches}) | {r.ceiling_before:.0f} / {r.ceiling_after:.0f} "
            f"| **{r.ratio:.2f}** | {r.model_busy:.2f} | {r.load[0]:.2f} → {r.load[1]:.2f} |"
        )
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=8000)
    ap.add_argument("--configs", nargs="*", default=PAIR)
    ap.add_argument("--rounds", type=int, default=1, help="each configuration this many times, "
                    "alternating")  # fmt: skip
    ap.add_argument("--skip", type=int, default=3, help="batches before the sustained clock")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--timeout-s", type=float, default=900.0)
    ap.add_argument("--report", type=Path, default=ROOT / "build/throughput_sustained.md")
    args = ap.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    load_start = os.getloadavg()
    messages = generate(args.events, seed=7, run_id="sustained")
    events = valid_events(messages)
    precision = worker_precision()
    (ROOT / "build").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sustained-", dir=ROOT / "build"))
    runs: list[Drain] = []

    def ceiling() -> float:
        return len(events) / encode_seconds(events, args.batch_size, 0, precision)[0]

    try:
        with LocalBroker(log_path=work / "broker.log") as broker:
            after = ceiling()
            for _ in range(args.rounds):
                for name in args.configs:
                    before = after
                    run = drain(broker.bootstrap, work, name, messages, args.skip,
                                args.batch_size, args.timeout_s)  # fmt: skip
                    after = ceiling()
                    run.ceiling_before, run.ceiling_after = before, after
                    print(f"{name}: {run}, ratio {run.ratio:.2f}", file=sys.stderr)
                    runs.append(run)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(args, runs, len(events), precision[0], (load_start, os.getloadavg()))
    args.report.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
