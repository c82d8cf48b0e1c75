"""What every hop shares: metrics, a stopping flag, publishing that waits for the broker,
and (``BatchHop``) a batch retried in place until it succeeds."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import orjson

from sinks.backoff import retry_async
from streams.metrics import Metrics

__all__ = ["BatchHop", "Hop", "record_time", "to_json"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def record_time(message: Any) -> datetime | None:
    """The Kafka record's timestamp (CreateTime or LogAppendTime), None if it has none."""
    ts = getattr(message, "timestamp", None)
    return datetime.fromtimestamp(ts, UTC) if ts and ts > 0 else None


def to_json(model: Any) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))


class Hop:
    """What every hop has: the metrics, a stopping flag, and publishing that waits for the
    broker's acknowledgement."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.stopping = False

    async def _publish(self, sends: Sequence[tuple[faust.TopicT, bytes | None, bytes]]) -> None:
        """Send and wait until the broker has every message (before we ack the input)."""
        futures = [await topic.send(key=key, value=value) for topic, key, value in sends]
        if futures:
            await asyncio.gather(*futures)


class BatchHop(Hop, ABC):
    """A hop fed by an agent: its work on a batch (``process``), retried in place until it
    succeeds (``run``)."""

    @abstractmethod
    async def process(self, batch: Sequence[faust.EventT]) -> None:
        """Do the hop's work on ``batch`` and ack it; safe to repeat after a failure."""

    async def run(self, batch: Sequence[faust.EventT], max_delay_s: float = 30.0) -> None:
        """``process`` until it succeeds. A crashed agent would leave the batch unacked
        behind later acked ones (blocking commits) and lose its place; retrying the same
        batch keeps order, and every step of ``process`` is safe to repeat."""
        await self._until_done(lambda: self.process(batch), len(batch), max_delay_s)

    async def _until_done(
        self, action: Callable[[], Awaitable[T]], n: int, max_delay_s: float = 30.0
    ) -> T:
        name = type(self).__name__

        def failed(exc: Exception, attempt: int, delay: float) -> None:
            self.metrics.inc("batch_retries", hop=name)
            if not self.stopping:
                log.exception("%s failed on a batch of %d (attempt %d); retrying in %.1fs",
                              name, n, attempt, delay)  # fmt: skip

        stop = lambda: self.stopping  # noqa: E731 - read at each failure
        return await retry_async(action, max_s=max_delay_s, should_stop=stop, on_failure=failed)
