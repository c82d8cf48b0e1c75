"""Where a batch's time goes: each stage of the score hop timed per batch, for the
``infersight_stage_seconds`` histogram.

Stages nest: a detector that triggers the shared embedding contains ``embed``, and
``redact`` (the whole of ``ScoringPipeline.score``) contains every detector. Each stage is
counted exclusive of the stages inside it, so a batch's stages add up to its time and the
embedding is reported once, under ``embed``, whichever detector asked for it first.

Timing lives here, in the stream layer: detectors stay free of side effects. The pipeline's
detectors are wrapped (``TimedDetector``) and the shared embedder's ``encode`` is timed in
place (``time_embedder``); only calls made inside ``StageClock.run`` are recorded.

>>> clock = StageClock()
>>> def work():
...     with clock.stage("outer"):
...         with clock.stage("inner"):
...             pass
...     return 42
>>> result, seconds = clock.run(work)
>>> result, sorted(seconds), all(v >= 0 for v in seconds.values())
(42, ['inner', 'outer'], True)
>>> with clock.stage("ignored"):  # outside run(): nothing recorded, nothing fails
...     pass
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import faust

from detectors.base import BatchFeatures, Detector
from schemas.events import InferenceEvent
from schemas.results import Signal

__all__ = ["CommitSensor", "StageClock", "TimedDetector", "instrument", "time_embedder"]

T = TypeVar("T")


class StageClock:
    """Exclusive seconds per named stage, accumulated per thread inside ``run``."""

    def __init__(self) -> None:
        self._local = threading.local()
        #: Called once, in the thread of the first ``run`` (set up what is timed lazily).
        self.first: Callable[[], None] | None = None

    def run(self, fn: Callable[..., T], *args: Any) -> tuple[T, dict[str, float]]:
        """Call ``fn(*args)``; return its result and the seconds of each stage inside it."""
        first, self.first = self.first, None
        if first is not None:
            first()
        self._local.acc, self._local.stack = {}, []
        try:
            return fn(*args), self._local.acc
        finally:
            self._local.acc = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        acc: dict[str, float] | None = getattr(self._local, "acc", None)
        if acc is None:
            yield
            return
        stack: list[float] = self._local.stack
        stack.append(0.0)  # seconds spent in stages nested inside this one
        started = time.perf_counter()
        try:
            yield
        finally:
            total = time.perf_counter() - started
            inner = stack.pop()
            acc[name] = acc.get(name, 0.0) + total - inner
            if stack:
                stack[-1] += total


class TimedDetector(Detector):
    """A detector whose ``score_batch`` is timed as stage ``detector:NAME``; everything
    else is the wrapped detector's."""

    name = "timed"  # the instance's ``name`` is the wrapped detector's

    def __init__(self, inner: Detector, clock: StageClock) -> None:
        self.inner = inner
        self.clock = clock
        self.name = inner.name  # type: ignore[misc]  # per instance: the wrapped registry key

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        with self.clock.stage(f"detector:{self.inner.name}"):
            return self.inner.score_batch(events, features)

    @property  # type: ignore[override]  # the wrapped detector's, not the base default
    def uses_embedding(self) -> bool:  # type: ignore[override]
        return self.inner.uses_embedding

    def __getattr__(self, attr: str) -> Any:
        if attr == "inner":  # not set yet (unpickling): no recursion
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def __repr__(self) -> str:
        return repr(self.inner)


def time_embedder(embedder: Any, clock: StageClock) -> None:
    """Time ``embedder.encode`` as stage ``embed`` (once per embedder: a second call is a
    no-op). ``embedder`` is the process's shared one, so every detector and drift use it."""
    encode = embedder.encode
    if getattr(encode, "_infersight_timed", False):
        return

    @functools.wraps(encode)
    def timed(texts: Sequence[str]) -> Any:
        with clock.stage("embed"):
            return encode(texts)

    timed._infersight_timed = True  # type: ignore[attr-defined]  # marks the wrapper
    embedder.encode = timed


class CommitSensor(faust.Sensor):
    """Times each offset commit of the app's consumer (stage ``commit``, hop ``consumer``):
    faust commits on its own timer, after the hops ack, so no hop sees it. A commit round
    that moved no offset (nothing acked since the last) is not observed."""

    def __init__(self, observe: Callable[[float], None], **kw: Any) -> None:
        super().__init__(**kw)
        self._observe = observe

    def on_commit_initiated(self, consumer: Any) -> Any:
        return time.perf_counter(), _committed(consumer)

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        started, before = state
        if _committed(consumer) != before:
            self._observe(time.perf_counter() - started)


def _committed(consumer: Any) -> dict[Any, Any]:
    """The offsets this consumer committed last, by partition (faust has no public accessor)."""
    return dict(getattr(consumer, "_committed_offset", {}))


def instrument(app: faust.App, pipeline: Any, metrics: Any, drift: bool) -> StageClock:
    """Time ``pipeline``'s detectors, the shared embedder (when something embeds: ``drift``
    or a detector whose ``uses_embedding`` is true) and the app's offset commits; returns the
    clock the score hops read their executor stages from. The embedder is looked up at the first
    scored batch, where the detectors first ask for it (with ``embedding_precision=auto``
    that is when its probe runs), not at start-up."""
    from detectors.embedding import get_embedder

    clock = StageClock()
    embeds = drift or any(d.uses_embedding for d in pipeline.detectors)
    pipeline.detectors = [TimedDetector(d, clock) for d in pipeline.detectors]
    if embeds:
        clock.first = lambda: time_embedder(get_embedder(), clock)
    observe = functools.partial(metrics.observe, "stage_seconds", hop="consumer", stage="commit")
    app.sensors.add(CommitSensor(observe))
    return clock
