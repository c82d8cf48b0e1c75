"""The drift stage when every event names its own model (a request id or a per-user
fine-tune in the model name): seconds per batch of the drift bank on the embedded ClickHouse,
with its states looked up one stream at a time (as before the bound) and in one query per
batch (``DriftBank`` now), and the monitors held afterwards.

    python -m benchmarks.speed.drift_streams [--batches 10] [--batch 100]

Prints one markdown table; the drift stage is the worker's, without the model (random
384-dimensional vectors stand in for the embeddings).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from detectors.drift.bank import DriftBank
from detectors.pipeline import ScoredEvent
from schemas.events import InferenceEvent
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink


def _batch(rng: np.random.Generator, b: int, size: int) -> list[ScoredEvent]:
    return [
        ScoredEvent(
            InferenceEvent(service="shop", model=f"ft:gpt-4o:req-{b}-{i}", prompt="q",
                           response="a", event_id=f"e-{b}-{i}"),
            [],
            embeddings={f: rng.normal(size=384).astype(np.float32) for f in ("prompt", "response")},
        )
        for i in range(size)
    ]  # fmt: skip


def _run(sink: ClickHouseSink, one_by_one: bool, batches: int, size: int) -> tuple[float, int]:
    def per_stream(keys):  # the lookup before: one query per new stream
        out = {}
        for k in keys:
            out.update(sink.load_drift_states([k]))
        return out

    load = per_stream if one_by_one else sink.load_drift_states
    bank = DriftBank(["prompt", "response"], {"window_size": 500, "reference_size": 1000},
                     load=load, max_streams=2000)  # fmt: skip
    rng = np.random.default_rng(7)
    took = 0.0
    for b in range(batches):
        batch = _batch(rng, b + (0 if one_by_one else 10_000), size)
        t0 = time.perf_counter()
        _, states = bank.learn(batch)
        sink.write_drift([], states)
        took += time.perf_counter() - t0
    return took / batches, len(bank.monitors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sink = ClickHouseSink(ClickHouseSettings(data_dir=Path(tmp), database="bench"))
        sink.migrate()
        rows = [(name, *_run(sink, one_by_one, args.batches, args.batch))
                for name, one_by_one in (("one lookup per stream", True),
                                         ("one lookup per batch", False))]  # fmt: skip
        sink.close()
    print(f"{args.batches} batches of {args.batch} events, each event its own model, "
          f"two fields; load {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print("| state lookup | drift stage s/batch | events/s through it | monitors held |")
    print("| --- | --- | --- | --- |")
    for name, per_batch, held in rows:
        print(f"| {name} | {per_batch:.3f} | {args.batch / per_batch:,.0f} | {held} |")


if __name__ == "__main__":
    main()
