"""What a worker pod needs to start, for the Kubernetes probes and memory (deploy/k8s/):
the default settings' scoring part on an empty model cache, as in a fresh pod's emptyDir
(model load, ONNX export, the ``auto`` precision probe, the default detectors and drift),
then one batch of 256 demo events.

    python -m benchmarks.speed.worker_start [--cache-parent DIR]

Prints seconds from the first import to a built pipeline, seconds for the batch, the
precision chosen, the model cache's size on disk and the process's peak RSS (VmHWM). Kafka
and the ClickHouse client are not started: the worker's RSS is higher by what they hold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

_T0 = time.monotonic()

import orjson  # noqa: E402  (timed from the first import on)

from schemas.events import InferenceEvent  # noqa: E402
from streams.app import build_pipeline  # noqa: E402
from streams.demo_data import generate  # noqa: E402
from streams.settings import Settings  # noqa: E402


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-parent", default=None, help="where the empty cache is made")
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="model-cache-", dir=args.cache_parent))
    try:
        settings = Settings(detectors={"model_cache": str(cache)})
        pipeline = build_pipeline(settings)
        built = time.monotonic()
        messages = [m for m in generate(300) if m.valid][:256]
        events = [InferenceEvent.model_validate(orjson.loads(m.value)) for m in messages]
        scored, failed = pipeline.score(events)
        done = time.monotonic()
        size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 1e6
        print(
            f"start to built pipeline {built - _T0:.1f} s; precision "
            f"{settings.detectors.embedding_precision}; first batch of {len(events)} "
            f"({len(scored)} scored, {len(failed)} failed) {done - built:.1f} s; model cache "
            f"{size:.0f} MB; peak RSS {_peak_rss_mib():,.0f} MiB; load "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
