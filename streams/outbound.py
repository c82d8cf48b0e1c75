"""Publishing from a service's request path without ever waiting on Kafka.

``Publisher.publish`` waits for the broker's acknowledgement, and ``Publisher.start`` fails
when the broker cannot be reached: right for a batch job, wrong inside the handler of an LLM
call, where a slow or absent monitoring pipeline must not slow or break the product.
``BackgroundPublisher`` is for that place:

- ``submit(event)`` validates at once (a contract violation is the caller's bug and raises
  there) and queues the event; it never blocks and never touches the network.
- A background task connects (retrying with backoff while the broker is away) and sends.
- The queue is bounded (``max_pending``): past it the oldest event is dropped and counted,
  so memory stays bounded through a long outage and the freshest traffic survives.
- ``stop(timeout_s)`` flushes what it can within the timeout, then says what it gave up.

>>> # pub = BackgroundPublisher("kafka:9092"); await pub.start()
>>> # pub.submit({"service": "chat", "request_model": "gpt-4o", "prompt": "...", ...})
>>> # ... at shutdown: await pub.stop(timeout_s=5)   # pub.stats: sent, dropped, pending
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from schemas.events import InferenceEvent
from streams.publish import encode_event
from streams.topics import INFERENCE

__all__ = ["BackgroundPublisher", "PublisherStats"]

log = logging.getLogger(__name__)


@dataclass
class PublisherStats:
    """Counts since start: ``submitted``, ``sent`` (acknowledged by the broker), ``dropped``
    (the queue was full: the oldest went), ``failed_sends`` (attempts retried), and
    ``pending`` (queued or in flight now)."""

    submitted: int = 0
    sent: int = 0
    dropped: int = 0
    failed_sends: int = 0
    pending: int = 0


class BackgroundPublisher:
    """Queue events for ``llm.inference.v1`` and send them from a background task.

    Parameters
    ----------
    bootstrap
        Kafka bootstrap servers.
    max_pending
        Events held at most (queued and in flight); past it the oldest is dropped.
    batch
        Events sent per round (aiokafka batches them into produce requests).
    backoff_s, backoff_max_s
        Wait after a failed connect or send, doubling up to the cap.
    kafka_options
        Passed to ``AIOKafkaProducer`` (security, client id, ...).
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str = INFERENCE,
        *,
        max_pending: int = 10_000,
        batch: int = 500,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        **kafka_options: Any,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_pending = max(1, max_pending)
        self.batch = max(1, batch)
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.kafka_options = kafka_options
        self.stats = PublisherStats()
        self._queue: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._in_flight = 0

    def __repr__(self) -> str:
        return f"BackgroundPublisher({self.bootstrap!r}, pending={self.stats.pending})"

    async def start(self) -> BackgroundPublisher:
        """Start the sender; returns at once, whether or not the broker is reachable."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="infersight-publisher")
        return self

    def submit(self, event: InferenceEvent | dict[str, Any]) -> bool:
        """Validate and queue one event; False when the queue was full (the oldest queued
        event was dropped to make room). Raises ``pydantic.ValidationError`` on a bad event."""
        key, body = encode_event(event)
        self.stats.submitted += 1
        full = len(self._queue) + self._in_flight >= self.max_pending and bool(self._queue)
        if full:
            self._queue.popleft()
            self.stats.dropped += 1
            if self.stats.dropped in (1, 10, 100) or self.stats.dropped % 1000 == 0:
                log.warning("infersight publisher: %d events dropped so far (queue of %d full; "
                            "is Kafka reachable at %s?)", self.stats.dropped, self.max_pending,
                            self.bootstrap)  # fmt: skip
        self._queue.append((key, body))
        self.stats.pending = len(self._queue) + self._in_flight
        self._wake.set()
        return not full

    async def _connect(self) -> Any:
        from aiokafka import AIOKafkaProducer

        delay = self.backoff_s
        while True:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                        linger_ms=5, **self.kafka_options)  # fmt: skip
            try:
                await producer.start()
                return producer
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                if self._stopping:
                    return None
                log.warning("infersight publisher: cannot reach %s (%s); retrying in %.1fs",
                            self.bootstrap, type(exc).__name__, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)

    async def _send(self, producer: Any, items: list[tuple[bytes, bytes]]) -> None:
        futures = [await producer.send(self.topic, body, key=key) for key, body in items]
        await asyncio.gather(*futures)

    def _requeue(self, items: list[tuple[bytes, bytes]]) -> None:
        """Failed items go back in front of newer ones; past the bound the oldest go."""
        room = self.max_pending - len(self._queue)
        keep = items[max(0, len(items) - room) :] if room > 0 else []
        self.stats.dropped += len(items) - len(keep)
        self._queue.extendleft(reversed(keep))

    async def _run(self) -> None:
        producer = await self._connect()
        delay = self.backoff_s
        try:
            while producer is not None:
                if not self._queue:
                    if self._stopping:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                items = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
                self._in_flight = len(items)
                try:
                    await self._send(producer, items)
                except Exception as exc:
                    self.stats.failed_sends += 1
                    self._requeue(items)
                    log.warning("infersight publisher: send of %d failed (%s); retrying in "
                                "%.1fs", len(items), type(exc).__name__, delay)  # fmt: skip
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.backoff_max_s)
                    continue
                finally:
                    self._in_flight = 0
                    self.stats.pending = len(self._queue)
                delay = self.backoff_s
                self.stats.sent += len(items)
        finally:
            if producer is not None:
                await producer.stop()

    async def stop(self, timeout_s: float = 5.0) -> PublisherStats:
        """Send what is queued for at most ``timeout_s``, then stop; returns the counts (an
        event still pending then is given up, and logged)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        self.stats.pending = len(self._queue) + self._in_flight
        if self.stats.pending:
            log.warning("infersight publisher: stopped with %d events unsent",
                        self.stats.pending)  # fmt: skip
        return self.stats

    async def __aenter__(self) -> BackgroundPublisher:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
