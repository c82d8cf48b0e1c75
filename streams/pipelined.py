"""The score hop, pipelined: the model never waits for a batch boundary.

Two tasks share the hop. The reader (the agent's own task) takes batch k+1 from the stream,
parses it and hands its scoring to the model thread while batch k is still being scored,
so the model thread goes from one batch to the next without waiting for the event loop.
The finisher takes the batches in the order they were read and, for each, waits for its
scoring, then stores, publishes and acks it (``ScoreEvents.finish``), one at a time.

Acks stay in batch order, each after its own batch is stored: batch k+1's ``finish`` starts
only once batch k's has returned, and a batch that is scored but not yet stored is not acked,
so a crash replays it. (faust commits up to the first run of consecutive acked offsets: an ack
out of order could commit past a batch that was never stored.) At most two batches are
held (``HELD``): the one finishing and the next; the reader takes batch k+2 from the stream
only once batch k is acked, so while batch k cannot be stored nothing more is read. Two are
enough: the next batch is queued on the model thread as soon as the last is acked, well
before the model ends the current one unless storing is slower than scoring (and then the
store, not the model, sets the rate). A batch whose scoring failed is scored again in place, in
its turn, before anything after it is stored (the next batch's drift may then be learnt
before its own: drift is advisory, its windows are not ordered by offset).
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


#: Batches held at once, taken from the stream and not yet acked: the one being stored,
#: published and acked, and the next one (being scored, or queued on the model thread).
HELD = 2


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


async def _finish_in_order(hop: _Hop, queue: asyncio.Queue[Any], held: asyncio.Semaphore
                           ) -> None:  # fmt: skip
    """Take (batch, its preparation) in read order; store, publish, ack each in turn, then
    make room for the next read. A ``None`` in the queue ends it."""
    while (item := await queue.get()) is not None:
        batch, started = item
        prepared = await _prepared(hop, batch, started)
        await hop._until_done(lambda b=batch, p=prepared: hop.finish(b, p), len(batch))
        hop.progress.stored(len(batch))
        held.release()


async def run_pipelined(hop: _Hop, batches: AsyncIterable[Sequence[faust.EventT]]) -> None:
    """Feed ``batches`` through ``hop``: read, parse and start scoring the next batch while
    the model scores this one and the one before is stored, published and acked."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    held = asyncio.Semaphore(HELD)
    finisher = asyncio.ensure_future(_finish_in_order(hop, queue, held))
    started: list[asyncio.Future[Prepared]] = []
    stream = aiter(batches)
    try:
        while True:
            await _room(held, finisher)
            try:
                batch = await anext(stream)
            except StopAsyncIteration:
                break
            hop.progress.add(len(batch))
            started = [f for f in started if not f.done()]
            started.append(asyncio.ensure_future(hop.prepare(batch)))
            queue.put_nowait((batch, started[-1]))
        queue.put_nowait(None)
        await finisher
    finally:
        for task in (finisher, *started):
            if not task.done():
                task.cancel()  # not acked: read again after a restart
        await asyncio.gather(finisher, *started, return_exceptions=True)


async def _room(held: asyncio.Semaphore, finisher: asyncio.Future[None]) -> None:
    """Wait until fewer than ``HELD`` batches are held; if the finisher has ended (it only
    ends by an error before the stream does), raise that error rather than wait for room
    that never comes."""
    acquire = asyncio.ensure_future(held.acquire())
    try:
        await asyncio.wait((acquire, finisher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not acquire.done():
            acquire.cancel()
    if finisher.done():
        finisher.result()  # raises the finisher's error
        raise RuntimeError("the finisher ended before the stream")
