"""Where the worker's gap to the model lies: the scoring pipeline against the bare model, in
one process, no Kafka, no ClickHouse, no drift (issue 13).

The worker's ratio to the model's ceiling (``throughput.py``, embedding cache off) is
0.6-0.76. This measures the part of a batch's journey that is pure computation: the
configured ``ScoringPipeline`` (default detectors: embeddings of prompt and response,
toxicity head, PII, redaction, cost) over the demo events, warm, against the same
``Embedder`` encoding the same texts. If the two are level, the gap is outside scoring:
between batches (ClickHouse write, publish, ack, fetch), drift, and threads competing for
the cores. It also counts the texts sent to the model per event (2.0: prompt and response,
each once).

    nice python benchmarks/speed/pipeline_vs_model.py --events 1500
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _timed(fn: Any, n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per event of ``fn()``."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return 1000 * (time.process_time() - c0) / n, 1000 * (time.perf_counter() - w0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    os.environ["INFERSIGHT_DETECTORS_EMBEDDING_CACHE_SIZE"] = "0"
    import detectors.embedding as emb_mod
    from benchmarks.speed.ceiling import valid_events
    from streams.app import build_pipeline
    from streams.demo_data import generate
    from streams.settings import Settings

    events = valid_events(generate(args.events))
    settings = Settings()
    pipeline = build_pipeline(settings)
    sent: list[int] = []
    encode = emb_mod.Embedder._encode

    def counting(self: Any, texts: Any) -> Any:
        sent.append(len(texts))
        return encode(self, texts)

    emb_mod.Embedder._encode = counting  # type: ignore[method-assign]
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    n = len(events)

    def score() -> None:
        for b in batches:
            pipeline.score(b)

    cold = _timed(score, n)
    texts_per_event = sum(sent) / n
    warm = _timed(score, n)
    embedder = emb_mod.get_embedder()

    def bare() -> None:
        for b in batches:
            embedder._encode([e.user_text for e in b])  # drift's prompt text (DRIFT_TEXT)
            embedder._encode([e.response for e in b])

    model = _timed(bare, n)
    print(f"{n} events, precision {settings.detectors.embedding_precision}, "
          f"texts sent to the model per event: {texts_per_event:.2f}")  # fmt: skip
    rows = (("pipeline, first pass (loads the model)", cold), ("pipeline, warm", warm),
            ("bare model, same texts", model))  # fmt: skip
    for name, (cpu, wall) in rows:
        print(f"{name:40s} {cpu:6.2f} ms CPU/event {wall:6.2f} ms wall/event "
              f"({1000 / wall:5.0f} events/s)")  # fmt: skip
    print(f"pipeline warm / bare model, events/s: {model[1] / warm[1]:.2f}")
    print(f"load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
