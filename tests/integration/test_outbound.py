"""A service's request path never waits on Kafka: BackgroundPublisher starts and accepts
events with no broker, keeps at most ``max_pending`` of them (the oldest dropped and counted)
through an outage, and delivers what it holds once a broker appears. Real tansu brokers."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import orjson
import pytest
from helpers import consume

from streams.broker import LocalBroker, free_port
from streams.outbound import BackgroundPublisher


def event(i: int) -> dict:
    return {"event_id": f"bg-{i}", "service": "checkout", "request_model": "gpt-4o-mini",
            "prompt": f"question {i}", "response": "answer"}  # fmt: skip


def test_no_broker_start_and_submit_return_and_memory_stays_bounded() -> None:
    """Nothing listens on the port: start() and submit() return at once, 20 of 50 events are
    held (the newest), 30 dropped and counted, and stop() says 20 went unsent."""

    async def run() -> tuple[list[bool], object]:
        pub = BackgroundPublisher(f"127.0.0.1:{free_port()}", max_pending=20, backoff_s=0.2)
        await asyncio.wait_for(pub.start(), 5)
        accepted = [pub.submit(event(i)) for i in range(50)]
        await asyncio.sleep(0.5)  # the sender keeps trying meanwhile
        return accepted, await pub.stop(timeout_s=1)

    accepted, stats = asyncio.run(run())
    assert accepted == [True] * 20 + [False] * 30
    assert (stats.submitted, stats.sent, stats.dropped, stats.pending) == (50, 0, 30, 20)


def test_a_bad_event_raises_at_the_call_site_and_is_not_queued() -> None:
    async def run() -> object:
        pub = BackgroundPublisher(f"127.0.0.1:{free_port()}")
        with pytest.raises(ValueError, match="request_model"):
            pub.submit({"service": "checkout", "prompt": "no model"})
        return await pub.stop(timeout_s=0.1)

    stats = asyncio.run(run())
    assert (stats.submitted, stats.pending) == (0, 0)


def test_events_held_through_an_outage_arrive_when_the_broker_starts(tmp_path: Path) -> None:
    """The service starts before Kafka: 30 events are submitted, then a broker starts on the
    address; all 30 arrive, keyed service|model, in order, and the publisher says so."""
    port = free_port()
    topic = f"bg-{uuid.uuid4().hex[:8]}.llm.inference.v1"

    async def run(broker_started: asyncio.Event) -> object:
        pub = BackgroundPublisher(f"127.0.0.1:{port}", topic=topic, backoff_s=0.2,
                                  backoff_max_s=1.0)  # fmt: skip
        await pub.start()
        for i in range(30):
            pub.submit(event(i))
        broker_started.set()
        for _ in range(600):
            if pub.stats.sent == 30:
                break
            await asyncio.sleep(0.1)
        return await pub.stop(timeout_s=5)

    async def main() -> object:
        started = asyncio.Event()
        task = asyncio.create_task(run(started))
        await started.wait()
        with LocalBroker(port=port, log_path=tmp_path / "tansu.log") as broker:
            stats = await task
            records = await asyncio.to_thread(consume, broker.bootstrap, topic, 30, 60)
        return stats, records

    stats, records = asyncio.run(main())
    assert (stats.sent, stats.dropped, stats.pending) == (30, 0, 0)
    assert [orjson.loads(r.value)["event_id"] for r in records] == [f"bg-{i}" for i in range(30)]
    assert {r.key for r in records} == {b"checkout|gpt-4o-mini"}
