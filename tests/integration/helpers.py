"""Helpers for tests that run real workers: start one, read what it stored, read topics."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from streams.broker import free_port
from streams.demo import WorkerProcess, settings_env
from streams.settings import Settings


def worker_settings(bootstrap: str, tmp: Path, **overrides: Any) -> Settings:
    """Settings for one test: its own topics (prefix), consumer group, data dir and port."""
    tag = uuid.uuid4().hex[:8]
    kafka = {"bootstrap": bootstrap, "topic_prefix": f"t{tag}.", "session_timeout_s": 6.0,
             "heartbeat_interval_s": 2.0, **overrides.pop("kafka", {})}  # fmt: skip
    return Settings(
        app_id=f"test-{tag}",
        data_dir=tmp / "data",
        web_port=free_port(),
        log_level=overrides.pop("log_level", "info"),
        kafka=kafka,
        ingest={"batch_size": 100, "batch_within_s": 0.5, **overrides.pop("ingest", {})},
        # Drift and the model detectors embed every event: on only where a test is about
        # them, so most workers start without loading a model.
        # Sampling off: tests fill tiny windows from fast backlogs (unit-tested on its own).
        drift={"enabled": False, "sample_above_rate": 0, **overrides.pop("drift", {})},
        # fp32 pinned: a test's expectations must not depend on this CPU's precision probe
        # (tests/unit/test_precision_probe.py covers "auto")
        detectors={
            "enabled": ["cost", "pii"],
            "embedding_precision": "fp32",
            **overrides.pop("detectors", {}),
        },
        **overrides,
    )


def create_topics(settings: Settings) -> None:
    """Create the test's topics with its partition count (a producer would auto-create them
    with the broker's default instead)."""
    from streams.app import ensure_topics

    asyncio.run(ensure_topics(settings.kafka, (settings.otel.topic,)))


def start_worker(settings: Settings, name: str = "worker") -> WorkerProcess:
    return WorkerProcess(settings, settings.data_dir / f"{name}.log").start(timeout_s=120)


def query(settings: Settings, sql: str) -> list[dict[str, Any]]:
    """Run SQL on the test's chDB in a child process (chDB allows one directory per process,
    and the worker must have stopped: one process per directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "db", "query", sql, "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise AssertionError(f"query failed ({out.returncode}): {out.stderr[-2000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


async def _publish(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=16 * 1024 * 1024
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def publish(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    asyncio.run(_publish(bootstrap, topic, messages))


async def _consume(bootstrap: str, topic: str, expected: int, timeout_s: float) -> list[Any]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
        enable_auto_commit=False, fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    out: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(out) < expected and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


def consume(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Any]:
    """Read ``topic`` from the start until ``expected`` records arrived or time ran out."""
    return asyncio.run(_consume(bootstrap, topic, expected, timeout_s))


async def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int | None]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        return [await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)]
    finally:
        await consumer.stop()


def committed(bootstrap: str, group: str, topic: str, partitions: int = 1) -> list[int | None]:
    """The consumer group's committed offsets (admin group calls do not work on tansu)."""
    return asyncio.run(_committed(bootstrap, group, topic, partitions))
