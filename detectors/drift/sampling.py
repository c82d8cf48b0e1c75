"""Which events drift embeds when traffic is heavy: a stated, per-stream sample.

Drift needs a window of ``window_size`` embeddings per stream, not every event: above
``max_rate`` events per second on a stream, the stream's events are sampled at
``max_rate / rate``, so drift embeds about ``max_rate`` of them per second and a window
still fills within ``window_size / max_rate`` seconds however heavy the traffic (below
``max_rate`` every event is embedded, as without sampling). The rate is measured per
(service, model) from arrivals (an exponentially weighted mean over ``half_life_s``).

The choice is a hash of the event id against the sampling fraction, so a replayed batch
samples the same events, and no stream's sample follows the order of its arrivals. Every
drift result states its sample: sampled n, seen n and their ratio
(:class:`~detectors.drift.monitor.DriftResult` ``seen`` and ``detail["sampling"]``).

>>> clock = iter([0.0, 1.0, 2.0]).__next__
>>> s = DriftSampler(max_rate=100, clock=clock)
>>> from schemas.events import InferenceEvent
>>> batch = [InferenceEvent(service="s", model="m", event_id=f"e{i}") for i in range(1000)]
>>> sum(s.select(batch)), 50 <= sum(s.select(batch)) <= 150
(1000, True)
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence

from schemas.events import InferenceEvent

__all__ = ["DriftSampler"]


class DriftSampler:
    """Sample events for drift per (service, model) once a stream exceeds ``max_rate``/s.

    Parameters
    ----------
    max_rate
        Events per second per stream above which the stream is sampled (> 0).
    half_life_s
        Half-life of the rate estimate, in seconds (> 0).
    clock
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        max_rate: float,
        half_life_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_rate > 0:
            msg = f"max_rate must be > 0, got {max_rate!r}"
            raise ValueError(msg)
        if not half_life_s > 0:
            msg = f"half_life_s must be > 0, got {half_life_s!r}"
            raise ValueError(msg)
        self.max_rate = max_rate
        self.half_life_s = half_life_s
        self.clock = clock
        self._rate: dict[tuple[str, str], float] = {}
        self._seen_at: dict[tuple[str, str], float] = {}

    def fraction(self, key: tuple[str, str]) -> float:
        """The share of the stream's events drift embeds now."""
        rate = self._rate.get(key, 0.0)
        return 1.0 if rate <= self.max_rate else self.max_rate / rate

    def _observe(self, key: tuple[str, str], n: int, now: float) -> None:
        last = self._seen_at.get(key)
        self._seen_at[key] = now
        if last is None:  # first sight: no rate yet, everything is embedded
            return
        dt = max(now - last, 1e-3)
        weight = 1.0 - math.exp(-math.log(2) * dt / self.half_life_s)
        old = self._rate.get(key, n / dt)
        self._rate[key] = old + weight * (n / dt - old)

    def select(self, events: Sequence[InferenceEvent]) -> list[bool]:
        """Whether each event of a batch is embedded for drift (and the rates updated)."""
        now = self.clock()
        counts: dict[tuple[str, str], int] = {}
        for e in events:
            key = (e.service, e.model)
            counts[key] = counts.get(key, 0) + 1
        for key, n in counts.items():
            self._observe(key, n, now)
        fractions = {key: self.fraction(key) for key in counts}
        return [
            fractions[(e.service, e.model)] >= 1.0
            or _unit(e.event_id) < fractions[(e.service, e.model)]
            for e in events
        ]

    def rates(self) -> dict[tuple[str, str], float]:
        """The measured events/s per (service, model)."""
        return dict(self._rate)

    def __repr__(self) -> str:
        return f"DriftSampler(max_rate={self.max_rate!r}, half_life_s={self.half_life_s!r})"


def _unit(event_id: str) -> float:
    """A uniform number in [0, 1) fixed by the event id."""
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
