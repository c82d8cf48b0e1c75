"""The sustained rate of a worker against the bare model, on a long backlog (issue 13).

``throughput.py`` drains 1,500 events (6 batches): its rate holds the model load, the first
drift fits and the tail. This drains a long backlog (8,000+ events) per configuration and
states the start-up apart from the sustained rate:

1. The worker (``python -m streams.cli worker``, embedded chDB, a real tansu broker) drains
   the backlog published before it starts. From the stored ``ingested_at`` of each batch:
   *start-up* = worker start to its first stored batch (model load, consumer join, first
   batch); *all* = events after the first batch over first to last batch; *sustained* = the
   same from the ``--skip``-th batch on (the first drift fits behind it).
2. Ceiling, interleaved with the drain (the shared machine's load moves within a minute):
   every ``--every-s`` seconds of the sustained drain the worker is paused (SIGSTOP, all its
   threads), this process encodes the next batch of the same texts with the project's
   ``Embedder`` at the worker's precision, no cache (prompt and response of 256 consecutive
   valid events, each text once: what the worker embeds, in the same batches of the ingest
   batch size), and the worker resumes (SIGCONT; well within its 6 s session timeout). The
   worker's time excludes the pauses. So both sides of the ratio share the same minutes and
   the same load, slice by slice; over the drain the slices walk through the backlog's texts.
3. *Model thread busy*: the share of the sustained drain's (unpaused) wall time the worker's
   model thread spent in scoring and drift (``infersight_stage_seconds`` sums of ``embed``,
   ``detector:*``, ``redact`` and ``drift``, read from ``/metrics``). Near 1, the model thread
   never waits for a batch; what is left is the model running slower beside the rest of the
   worker (the cores shared). The stage clocks run on through a pause, so the pauses are
   taken off both sides (a pause that fell between stages makes the share read low).
   CPU ms per event: the worker's (all threads, from ``/proc``) against the bare model's
   in the slices.

    nice python benchmarks/speed/throughput.py sustained --events 8000 \\
        --report benchmarks/speed/reports/throughput_sustained.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.speed.ceiling import valid_events, worker_precision  # noqa: E402
from benchmarks.speed.machine import machine_facts  # noqa: E402
from benchmarks.speed.throughput import (  # noqa: E402
    ROOT,
    _publish,
    config_settings,
    process_cpu_s,
    query,
)
from streams.broker import LocalBroker  # noqa: E402
from streams.demo import WorkerProcess  # noqa: E402
from streams.demo_data import DemoMessage, generate  # noqa: E402

MODEL_STAGES = re.compile(r'stage="(embed|detector:[^"]*|redact|drift)"')
PAIR = ["default, cache off, pipelined", "default, cache off, one batch at a time"]


class Bare:
    """The bare model, encoding one batch of the backlog's texts at a time (slices)."""

    def __init__(self, events: list[Any], batch: int, precision: tuple[str, str | None]) -> None:
        from detectors.embedding import Embedder

        name, cache_dir = precision
        self.emb = Embedder(name, cache_dir=cache_dir, cache_size=0)  # type: ignore[arg-type]
        self.emb.encode(["warm up"] * 8)
        self.chunks = [events[i : i + batch] for i in range(0, len(events), batch)]
        self.next = 0
        self.events, self.wall, self.cpu = 0, 0.0, 0.0

    def slice(self) -> None:
        from detectors.embedding import batch_embeddings
        from detectors.pipeline import DRIFT_TEXT

        chunk = self.chunks[self.next % len(self.chunks)]
        self.next += 1
        wall, cpu = time.perf_counter(), time.process_time()
        for f in ("prompt", "response"):  # the texts drift embeds (prompt: the user's)
            batch_embeddings(chunk, DRIFT_TEXT.get(f, f), None, self.emb)
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        self.events += len(chunk)

    def take(self) -> tuple[float, float, int]:
        """(events/s, CPU ms per event, events) since the last ``take``; then reset."""
        out = (self.events / self.wall, 1000 * self.cpu / self.events, self.events)
        self.events, self.wall, self.cpu = 0, 0.0, 0.0
        return out


@dataclass
class Drain:
    name: str
    ceiling: float = 0.0  # the bare model's events/s in the slices during this drain
    ceiling_cpu_ms: float = 0.0  # and its CPU per event
    ceiling_events: int = 0
    startup_s: float = 0.0
    rate_all: float = 0.0
    rate_sustained: float = 0.0
    sustained_batches: int = 0
    model_busy: float = 0.0
    cpu_ms: float = 0.0  # the worker's CPU (all threads) per message, sustained window
    paused_s: float = 0.0
    stored: int = 0
    load: tuple[float, float] = (0.0, 0.0)

    @property
    def ratio(self) -> float:
        return self.rate_sustained / self.ceiling


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


def _paused(worker: WorkerProcess, bare: Bare) -> tuple[float, float]:
    """Stop the worker, encode one slice here, resume it; the pause's wall-clock ends."""
    assert worker.proc is not None
    t0 = time.time()
    os.kill(worker.proc.pid, signal.SIGSTOP)
    try:
        bare.slice()
    finally:
        os.kill(worker.proc.pid, signal.SIGCONT)
    return t0, time.time()


def watch(worker: WorkerProcess, expected: int, start_at: int, bare: Bare, every_s: float,
          timeout_s: float) -> tuple[float, float, list[tuple[float, float]]]:  # fmt: skip
    """Wait until ``expected`` messages are done, pausing the worker for a slice of the
    bare model every ``every_s`` once ``start_at`` are done. Between the first poll past
    ``start_at`` and the last before the end: the model thread's busy share of the unpaused
    wall clock, the worker's CPU ms per message; and the pauses (wall-clock ends)."""
    assert worker.proc is not None
    url = worker.stats_url.replace("/stats", "/metrics")
    deadline, pauses = time.monotonic() + timeout_s, []
    first: tuple[float, float, float, int] | None = None
    last, next_slice = first, 0.0
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"the worker exited; see {worker.log_path}")
        stats = worker.stats()
        done = int(stats.get("events_stored", 0) + stats.get("deadlettered", 0))
        if done >= expected:
            if first is None or last is None or last[3] <= first[3]:
                return 0.0, 0.0, pauses
            inside = sum(b - a for a, b in pauses if a >= first[0] and b <= last[0])
            # perf_counter runs on through SIGSTOP: a pause inside a stage is in its sum.
            busy = (last[1] - first[1] - inside) / (last[0] - first[0] - inside)
            return busy, 1000 * (last[2] - first[2]) / (last[3] - first[3]), pauses
        if done >= start_at:
            now = (time.time(), model_seconds(url), process_cpu_s(worker.proc.pid), done)
            last, first = now, first or now
            if time.monotonic() >= next_slice:
                pauses.append(_paused(worker, bare))
                next_slice = time.monotonic() + every_s
        time.sleep(0.25)
    raise TimeoutError(f"the worker did not drain {expected} messages; see {worker.log_path}")


def _active(t0: float, t1: float, pauses: list[tuple[float, float]]) -> float:
    """Seconds of [t0, t1] outside the pauses."""
    return t1 - t0 - sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in pauses)


def drain(bootstrap: str, work: Path, name: str, messages: list[DemoMessage], bare: Bare,
          args: argparse.Namespace) -> Drain:  # fmt: skip
    from streams.app import ensure_topics

    settings = config_settings(bootstrap, work, name)
    out = Drain(name)
    asyncio.run(ensure_topics(settings.kafka, (settings.otel.topic,)))
    asyncio.run(_publish(bootstrap, settings.kafka.topic("llm.inference.v1"), messages))
    load0 = os.getloadavg()[0]
    started = time.time()
    worker = WorkerProcess(settings, settings.data_dir / "worker.log").start(timeout_s=300)
    try:
        out.model_busy, out.cpu_ms, pauses = watch(
            worker, len(messages), args.skip * args.batch_size, bare, args.every_s,
            args.timeout_s,
        )  # fmt: skip
    finally:
        worker.stop()
    out.load = (load0, os.getloadavg()[0])
    out.ceiling, out.ceiling_cpu_ms, out.ceiling_events = bare.take()
    out.paused_s = sum(b - a for a, b in pauses)
    rows = query(settings, "SELECT toUnixTimestamp64Milli(ingested_at) AS t, count() AS n "
                           "FROM events FINAL GROUP BY t ORDER BY t")  # fmt: skip
    t = [int(r["t"]) / 1000 for r in rows]
    n = [int(r["n"]) for r in rows]
    out.stored = sum(n)
    out.startup_s = t[0] - started
    out.rate_all = sum(n[1:]) / _active(t[0], t[-1], pauses)
    out.rate_sustained = sum(n[args.skip + 1 :]) / _active(t[args.skip], t[-1], pauses)
    out.sustained_batches = len(n) - args.skip - 1
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
        "", f"Ceiling: `Embedder('{precision}')`, no cache, prompt and response of batches of "
        f"{args.batch_size} of the same {events} valid events (the texts the worker embeds, "
        f"each once), in slices interleaved with the drain: every {args.every_s:g} s the "
        "worker is paused (SIGSTOP) while this process encodes the next batch, then resumed; "
        "the worker's times exclude the pauses. Sustained: from stored batch "
        f"{args.skip + 1} to the last (the model load and the first drift fits before it). "
        "The machine is shared (2 cores, other engineers' jobs): both sides of each ratio "
        "ran in the same minutes, slice by slice.", "",
        "| drain | start-up s | events/s, all batches | events/s, sustained (batches) "
        "| ceiling in the slices (events) | ratio, sustained | model thread busy "
        "| CPU ms per event, worker / bare model | load 1-min |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]  # fmt: skip
    for r in runs:
        lines.append(
            f"| {r.name} | {r.startup_s:.1f} | {r.rate_all:.0f} | **{r.rate_sustained:.0f}** "
            f"({r.sustained_batches}) | {r.ceiling:.0f} ({r.ceiling_events}) "
            f"| **{r.ratio:.2f}** | {r.model_busy:.2f} | {r.cpu_ms:.2f} / {r.ceiling_cpu_ms:.2f} "
            f"| {r.load[0]:.2f} → {r.load[1]:.2f} |"
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
    ap.add_argument("--every-s", type=float, default=4.0, help="seconds between slices")
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

    bare = Bare(events, args.batch_size, precision)
    try:
        with LocalBroker(log_path=work / "broker.log") as broker:
            for _ in range(args.rounds):
                for name in args.configs:
                    run = drain(broker.bootstrap, work, name, messages, bare, args)
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
