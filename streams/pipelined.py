"""The score hop, pipelined: batch k+1 is scored while batch k is stored, published and acked.

Acks stay in batch order, each after its own batch is stored: batch k+1's ``finish`` starts
only once batch k's has returned, and a batch that is scored but not yet stored is not acked,
so a crash replays it. (faust commits up to the first run of consecutive acked offsets: an ack
out of order could commit past a batch that was never stored.) At most two batches are held;
while batch k cannot be stored, batch k+1 waits and nothing more is read.
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


async def _finish(hop: _Hop, batch: Sequence[faust.EventT], prepared: Prepared) -> None:
    await hop._until_done(lambda: hop.finish(batch, prepared), len(batch))
    hop.progress.stored(len(batch))


async def run_pipelined(hop: _Hop, batches: AsyncIterable[Sequence[faust.EventT]]) -> None:
    """Feed ``batches`` through ``hop``: prepare (parse, score, drift) the next batch while
    the previous one finishes (store, publish, ack); each step retried in place."""
    pending: asyncio.Future[None] | None = None
    try:
        async for batch in batches:
            hop.progress.add(len(batch))
            prepared = await hop._until_done(lambda b=batch: hop.prepare(b), len(batch))
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(_finish(hop, batch, prepared))
        if pending is not None:
            await pending
    finally:
        if pending is not None and not pending.done():
            pending.cancel()  # not acked: read again after a restart
