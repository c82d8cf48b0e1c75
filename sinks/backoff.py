"""One backoff: capped exponential delays between tries of something that must eventually
happen (a ClickHouse write, a hop's batch, publishing stored alerts).

``Backoff`` counts failures and hands out delays; ``retry_async`` retries a coroutine
function until it succeeds or the caller is stopping. ``sinks.clickhouse.retrying`` is the
synchronous twin for the sink's thread.

>>> b = Backoff(0.5, 2.0)
>>> [b.failure() for _ in range(4)], b.attempt
([0.5, 1.0, 2.0, 2.0], 4)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["Backoff", "retry_async"]

T = TypeVar("T")


class Backoff:
    """Delays of ``initial_s``, doubling after each failure, capped at ``max_s``."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.attempt = 0
        self._delay = initial_s

    def failure(self) -> float:
        """Count one failure; return how long to wait before the next try."""
        self.attempt += 1
        delay = self._delay
        self._delay = min(self._delay * 2, self.max_s)
        return delay


async def retry_async(
    action: Callable[[], Awaitable[T]],
    *,
    initial_s: float = 0.5,
    max_s: float = 30.0,
    should_stop: Callable[[], bool] = lambda: False,
    on_failure: Callable[[Exception, int, float], None] | None = None,
) -> T:
    """Await ``action()`` until it succeeds. After each failure ``on_failure(exc, attempt,
    delay)`` is called (count it, log it); when ``should_stop()`` the error is re-raised."""
    backoff = Backoff(initial_s, max_s)
    while True:
        try:
            return await action()
        except Exception as exc:
            delay = backoff.failure()
            if on_failure is not None:
                on_failure(exc, backoff.attempt, delay)
            if should_stop():
                raise
            await asyncio.sleep(delay)
