"""The pipelined score hop: the next batch is scored while the last is stored, and batches
finish (store, publish, ack) strictly in order, one at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from streams.lifecycle import Progress
from streams.pipelined import run_pipelined


class RecordingHop:
    """The four things run_pipelined uses from ScoreEvents, recording what happens when.
    ``finish`` of batch 0 fails once (a ClickHouse outage) and is retried in place."""

    def __init__(self) -> None:
        self.progress = Progress()
        self.log: list[str] = []
        self.failed_once = False
        self.storing = 0
        self.max_storing = 0

    async def _until_done(self, action: Callable[[], Awaitable[Any]], n: int) -> Any:
        while True:
            try:
                return await action()
            except ConnectionError:
                self.log.append("retry")

    async def prepare(self, batch: list[int]) -> str:
        self.log.append(f"score {batch[0]}")
        await asyncio.sleep(0.01)
        return f"scored {batch[0]}"

    async def finish(self, batch: list[int], ready: str) -> None:
        self.storing += 1
        self.max_storing = max(self.max_storing, self.storing)
        try:
            self.log.append(f"store {batch[0]} begins")
            await asyncio.sleep(0.05)
            if batch[0] == 0 and not self.failed_once:
                self.failed_once = True
                raise ConnectionError("ClickHouse is down")
            self.log.append(f"ack {batch[0]} ({ready})")
        finally:
            self.storing -= 1


async def _batches(n: int) -> AsyncIterator[list[int]]:
    for i in range(n):
        yield [i] * 3


def test_next_batch_is_scored_while_the_last_is_stored_and_acks_stay_in_order():
    """Batch k+1 is scored during batch k's store; acks come 0, 1, 2, 3, never two stores at
    once, and a failed store is retried before anything after it is acked."""
    hop = RecordingHop()
    asyncio.run(run_pipelined(hop, _batches(4)))  # type: ignore[arg-type]  # duck-typed hop
    acks = [line for line in hop.log if line.startswith("ack")]
    assert acks == [f"ack {i} (scored {i})" for i in range(4)]
    assert hop.max_storing == 1
    assert hop.log.index("score 1") < hop.log.index("ack 0 (scored 0)")
    assert hop.log.index("retry") < hop.log.index("ack 0 (scored 0)")
    assert hop.log.index("ack 0 (scored 0)") < hop.log.index("store 1 begins")
    assert hop.progress.in_flight == 0
    assert hop.progress.last_stored is not None


def test_a_batch_scored_but_not_stored_is_not_acked_when_the_hop_is_cancelled():
    """Cancelled (shutdown, kill) while a batch is held: it is never acked, so it is read
    again after a restart."""
    hop = RecordingHop()
    hop.failed_once = True  # no failure: plain stores

    async def main() -> None:
        task = asyncio.ensure_future(run_pipelined(hop, _batches(3)))  # type: ignore[arg-type]
        while "store 1 begins" not in hop.log:
            await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0.1)  # a cancelled store must not ack later

    asyncio.run(main())
    assert [line for line in hop.log if line.startswith("ack")] == ["ack 0 (scored 0)"]
    assert "score 2" in hop.log
