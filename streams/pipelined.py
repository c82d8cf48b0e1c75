"""The score hop, pipelined: the model never waits for a batch boundary.

Two tasks share the hop. The reader (the agent's own task) takes batch k+1 from the stream,
parses it and hands its scoring to the model thread while batch k is still being scored,
so the model thread goes from one batch to the next without waiting for the event loop.
The finisher takes the batches in the order they were read and, for each, waits for its
scoring, then stores, publishes and acks it (``ScoreEvents.finish``), one at a time.

Acks stay in batch order, each after its own batch is stored: batch k+1's ``finish`` starts
only once batch k's has returned, and a batch that is scored but not yet stored is not acked,
so a crash replays it. (faust commits up to the first run of consecutive acked offsets: an ack
out of order could commit past a batch that was never stored.) At most three batches are
held: one finishing, one queued for it, one read and waiting for room; while batch k cannot
be stored, nothing more is read. A batch whose scoring failed is scored again in place, in
its turn, before anything after it is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import faust

from detectors.drift.bank import StreamKey
from detectors.drift.monitor import DriftResult
from detectors.pipeline import ScoredEvent
from schemas.results import DeadLetter
from streams.lifecycle import Progress

__all__ = ["Prepared", "run_pipelined"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch scored by ``ScoreEvents.prepare``, not yet stored."""

    scored: list[ScoredEvent]
    dead: list[DeadLetter]
    drift: tuple[list[DriftResult], dict[StreamKey, bytes]]
    #: The message each scored event came from, by ``id`` of the ``ScoredEvent``.
    origin: dict[int, faust.EventT]
    #: Seconds spent so far in each stage (parse, embed, detector:NAME, redact, drift).
    seconds: dict[str, float] = field(default_factory=dict)


class _Hop(Protocol):
    """What of ``ScoreEvents`` the pipeline uses."""

    progress: Progress

    async def _until_done(self, action: Callable[[], Awaitable[Any]], n: int) -> Any: ...
    async def prepare(self, batch: Sequence[faust.EventT]) -> Prepared: ...
    async def finish(self, batch: Sequence[faust.EventT], ready: Prepared) -> None: ...


#: Batches read and handed to the model that wait for the finisher (besides the one it
#: holds and the one the reader holds while this queue is full).
QUEUED = 1


async def _prepared(hop: _Hop, batch: Sequence[faust.EventT], first: asyncio.Future[Prepared]
                    ) -> Prepared:  # fmt: skip
    """``first``'s result, or, if it failed, ``prepare`` again until it succeeds (counted and
    logged as every retry of the hop)."""
    attempts: list[asyncio.Future[Prepared]] = [first]

    async def attempt() -> Prepared:
        if attempts:
            return await attempts.pop()
        return await hop.prepare(batch)

    return await hop._until_done(attempt, len(batch))


async def _finish_in_order(hop: _Hop, queue: asyncio.Queue[Any]) -> None:
    """Take (batch, its preparation) in read order; store, publish, ack each in turn. A
    ``None`` in the queue ends it."""
    while (item := await queue.get()) is not None:
        batch, started = item
        prepared = await _prepared(hop, batch, started)
        await hop._until_done(lambda b=batch, p=prepared: hop.finish(b, p), len(batch))
        hop.progress.stored(len(batch))


async def run_pipelined(hop: _Hop, batches: AsyncIterable[Sequence[faust.EventT]]) -> None:
    """Feed ``batches`` through ``hop``: read, parse and start scoring the next batch while
    the model scores this one and the one before is stored, published and acked."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUED)
    finisher = asyncio.ensure_future(_finish_in_order(hop, queue))
    started: list[asyncio.Future[Prepared]] = []
    try:
        async for batch in batches:
            hop.progress.add(len(batch))
            started = [f for f in started if not f.done()]
            started.append(asyncio.ensure_future(hop.prepare(batch)))
            await _put(queue, (batch, started[-1]), finisher)
        await _put(queue, None, finisher)
        await finisher
    finally:
        for task in (finisher, *started):
            if not task.done():
                task.cancel()  # not acked: read again after a restart
        await asyncio.gather(finisher, *started, return_exceptions=True)


async def _put(queue: asyncio.Queue[Any], item: Any, finisher: asyncio.Future[None]) -> None:
    """Queue ``item`` for the finisher; if the finisher has ended (it only ends by an
    error), raise that error rather than wait for room that never comes."""
    put = asyncio.ensure_future(queue.put(item))
    try:
        await asyncio.wait((put, finisher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not put.done():
            put.cancel()
    if finisher.done() and item is not None:
        finisher.result()  # raises the finisher's error
