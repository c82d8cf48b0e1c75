"""The bare model's ceiling for ``throughput.py``: the project's ``Embedder`` alone, at the
precision the worker runs, on the texts the default pipeline embeds (issue 13).

The worker's ``embedding_precision`` is ``auto`` by default: it runs what the start-up probe
saved for this machine (``detectors/precision.py``). The ceiling is measured at that same
precision, so each ratio compares the worker with its own model.
"""

from __future__ import annotations

import time
from typing import Any

from streams.demo_data import DemoMessage
from streams.settings import Settings

__all__ = ["ceiling", "encode_seconds", "valid_events", "worker_precision"]


def valid_events(messages: list[DemoMessage]) -> list[Any]:
    from schemas.parsing import InvalidEvent, parse_event

    out = []
    for m in messages:
        try:
            out.append(parse_event(m.value))
        except InvalidEvent:
            pass
    return out


def worker_precision(settings: Settings | None = None) -> tuple[str, str | None]:
    """The precision a worker with ``settings`` (default: the defaults) embeds at here, and
    the model cache directory (``auto`` resolved from the probe saved on this machine, or a
    new probe)."""
    from detectors.embedding import configure, resolve_auto

    det = (settings or Settings()).detectors
    cache_dir = str(det.model_cache) if det.model_cache else None
    if det.embedding_precision != "auto":
        return det.embedding_precision, cache_dir
    configure("auto", cache_dir, 0)
    return resolve_auto(cache_dir), cache_dir


def encode_seconds(
    events: list[Any], batch_size: int, cache_size: int, precision: tuple[str, str | None]
) -> tuple[float, float]:
    """Seconds, wall and CPU (this process, the model's threads included), for
    ``Embedder(precision, cache_size=...)`` to embed prompt and response of ``events``,
    batch by batch as the pipeline does (model load and warm-up excluded)."""
    from detectors.embedding import Embedder, batch_embeddings
    from detectors.pipeline import DRIFT_TEXT

    name, cache_dir = precision
    emb = Embedder(name, cache_dir=cache_dir, cache_size=cache_size)  # type: ignore[arg-type]
    Embedder(name, cache_dir=cache_dir).encode(["warm up"] * 8)  # type: ignore[arg-type]
    emb.encode(["load the model"])
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(events), batch_size):
        chunk = events[i : i + batch_size]
        for f in ("prompt", "response"):  # the texts drift embeds (prompt: the user's)
            batch_embeddings(chunk, DRIFT_TEXT.get(f, f), None, emb)
    return time.perf_counter() - started, time.process_time() - cpu


def ceiling(
    messages: list[DemoMessage], batch_size: int, precision: tuple[str, str | None]
) -> dict[str, Any]:
    """Bare ``Embedder`` (no cache) on prompt + response; and with the default cache."""
    from detectors.embedding import CACHE_SIZE

    events = valid_events(messages)
    seconds, cpu = encode_seconds(events, batch_size, 0, precision)
    cached, _ = encode_seconds(events, batch_size, CACHE_SIZE, precision)
    texts = [t for e in events for t in (e.user_text, e.response)]
    return {"events": len(events), "seconds": seconds, "rate": len(events) / seconds,
            "cached_seconds": cached, "cached_rate": len(events) / cached,
            "texts": len(texts), "distinct": len(set(texts)),
            "precision": precision[0], "cpu_ms": 1000 * cpu / len(events)}  # fmt: skip
