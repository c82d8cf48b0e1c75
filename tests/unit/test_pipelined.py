"""The pipelined score hop: the next batch is read and handed to the model while this one is
scored and the last one stored, and batches finish (store, publish, ack) strictly in order,
one at a time; at most two are held; errors are retried in their turn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

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
        while "store 1 begins" not in hop.log or "score 2" not in hop.log:
            await asyncio.sleep(0.005)  # batch 1 is being stored, batch 2 scored
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0.1)  # a cancelled store must not ack later

    asyncio.run(main())
    assert [line for line in hop.log if line.startswith("ack")] == ["ack 0 (scored 0)"]
    assert "score 2" in hop.log


class ModelThreadHop(RecordingHop):
    """``prepare`` as ``ScoreEvents`` does it: the loop hands the batch to one model thread
    (a real executor) and waits for it. The job of batch 0 waits until batch 1 has been
    handed over too, so it sees whether the model thread had the next batch queued."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_once = True  # stores never fail here
        self.model = ThreadPoolExecutor(1, thread_name_prefix="model")
        self.second_queued = threading.Event()
        self.queued_while_scoring_first: bool | None = None

    def _score(self, first: int) -> str:
        if first == 0:  # bounded wait: a hop that does not read ahead fails, never hangs
            self.queued_while_scoring_first = self.second_queued.wait(10)
        self.log.append(f"model {first}")
        return f"scored {first}"

    async def prepare(self, batch: list[int]) -> str:
        self.log.append(f"score {batch[0]}")
        future = asyncio.get_running_loop().run_in_executor(self.model, self._score, batch[0])
        if batch[0] == 1:
            self.second_queued.set()
        return await future


def test_the_model_thread_has_the_next_batch_queued_before_it_ends_this_one():
    """Batch 1 is read, parsed and handed to the model thread while the model still scores
    batch 0, so the thread goes from one batch to the next without waiting for the loop;
    the model thread's order and the acks stay 0, 1, 2, 3."""
    hop = ModelThreadHop()
    try:
        asyncio.run(run_pipelined(hop, _batches(4)))  # type: ignore[arg-type]
    finally:
        hop.model.shutdown()
    assert hop.queued_while_scoring_first is True
    assert [line for line in hop.log if line.startswith("model")] == [
        f"model {i}" for i in range(4)
    ]
    assert [line for line in hop.log if line.startswith("ack")] == [
        f"ack {i} (scored {i})" for i in range(4)
    ]


class FailingNextHop(RecordingHop):
    """Scoring batch 1 fails once, while batch 0 is being stored."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_once = True  # stores never fail here
        self.storing_first = asyncio.Event()
        self.scoring_failed = False

    async def prepare(self, batch: list[int]) -> str:
        self.log.append(f"score {batch[0]}")
        if batch[0] == 1 and not self.scoring_failed:
            await self.storing_first.wait()
            self.scoring_failed = True
            self.log.append("scoring 1 fails")
            raise ConnectionError("the model thread died")
        return f"scored {batch[0]}"

    async def finish(self, batch: list[int], ready: str) -> None:
        self.log.append(f"store {batch[0]} begins")
        if batch[0] == 0:
            self.storing_first.set()
            await asyncio.sleep(0.02)  # batch 1's scoring fails meanwhile (woken first)
        self.log.append(f"ack {batch[0]} ({ready})")


def test_an_error_scoring_the_next_batch_while_this_one_is_stored_is_retried_in_its_turn():
    """Batch 1's scoring fails while batch 0 is stored: batch 0 is still stored and acked,
    batch 1 is scored again (counted as a retry) before it is stored, and nothing after it
    is stored or acked before it; acks stay 0, 1, 2, 3."""
    hop = FailingNextHop()
    asyncio.run(run_pipelined(hop, _batches(4)))  # type: ignore[arg-type]
    log = hop.log
    assert [line for line in log if line.startswith("ack")] == [
        f"ack {i} (scored {i})" for i in range(4)
    ]
    assert log.index("store 0 begins") < log.index("scoring 1 fails") < log.index("retry")
    rescored = log.index("score 1", log.index("retry"))
    assert rescored < log.index("store 1 begins") < log.index("store 2 begins")
    assert hop.progress.in_flight == 0


class BlockedStoreHop(RecordingHop):
    """Storing batch 0 waits until the test lets it (ClickHouse down); counts what is read."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_once = True
        self.release = asyncio.Event()
        self.read = 0

    async def prepare(self, batch: list[int]) -> str:
        self.log.append(f"score {batch[0]}")
        return f"scored {batch[0]}"

    async def finish(self, batch: list[int], ready: str) -> None:
        if batch[0] == 0:
            await self.release.wait()
        await super().finish(batch, ready)

    async def batches(self, n: int) -> AsyncIterator[list[int]]:
        for i in range(n):
            self.read += 1
            yield [i] * 3


def test_while_a_batch_cannot_be_stored_at_most_two_batches_are_held():
    """Batch 0's store hangs: the hop reads batch 1 and then no more (bounded in flight,
    nothing acked); once the store goes through, all six are acked in order."""
    hop = BlockedStoreHop()

    async def main() -> tuple[int, int, list[str]]:
        task = asyncio.ensure_future(run_pipelined(hop, hop.batches(6)))  # type: ignore[arg-type]
        for _ in range(200):  # let the reader run as far as it can
            await asyncio.sleep(0.005)
        held = (hop.read, hop.progress.in_flight, [x for x in hop.log if x.startswith("ack")])
        hop.release.set()
        await task
        return held

    read, in_flight, acked = asyncio.run(main())
    assert (read, in_flight, acked) == (2, 6, [])
    assert [line for line in hop.log if line.startswith("ack")] == [
        f"ack {i} (scored {i})" for i in range(6)
    ]


class StoppingHop(RecordingHop):
    """Shutdown while ClickHouse is down: the retry gives up (``stopping``) on batch 1."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_once = True
        self.stopping = False

    async def _until_done(self, action: Callable[[], Awaitable[Any]], n: int) -> Any:
        while True:
            try:
                return await action()
            except ConnectionError:
                if self.stopping:
                    raise
                self.log.append("retry")

    async def finish(self, batch: list[int], ready: str) -> None:
        if batch[0] == 1:
            self.stopping = True
            self.log.append("store 1 fails")
            raise ConnectionError("ClickHouse is down")
        await super().finish(batch, ready)


def test_a_store_given_up_at_shutdown_ends_the_hop_with_nothing_after_it_acked():
    """The worker stops while batch 1 cannot be stored: the hop ends with the error, batch
    0 (stored) is the only one acked, and batches read after it are dropped unacked (read
    again after a restart)."""
    hop = StoppingHop()
    with pytest.raises(ConnectionError):
        asyncio.run(run_pipelined(hop, _batches(5)))  # type: ignore[arg-type]
    assert [line for line in hop.log if line.startswith("ack")] == ["ack 0 (scored 0)"]
    assert "store 2 begins" not in hop.log
