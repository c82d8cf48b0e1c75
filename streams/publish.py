"""Publishing inference events: the helper services use, and the bulk file publisher.

>>> # async with Publisher("127.0.0.1:9092") as pub:
>>> #     await pub.publish(InferenceEvent(service="chat", model="gpt-4o", ...))
>>> #     await pub.feedback(event_id, thumbs="down", comment="wrong order number")

The helper validates before sending, so a service learns about a contract violation at the
call site, not from the dead-letter topic. Events are keyed by ``service|model`` so that one
series stays in one partition (in order). Feedback goes to ``llm.feedback.v1`` keyed by the
``event_id`` it judges.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from schemas.events import InferenceEvent, UserFeedback
from schemas.feedback import parse_feedback
from schemas.parsing import InvalidEvent, parse_event
from streams.topics import FEEDBACK, INFERENCE

__all__ = ["Publisher", "encode_event", "event_key", "publish_lines"]


def event_key(event: InferenceEvent) -> bytes:
    return f"{event.service}|{event.model}".encode()


def encode_event(event: InferenceEvent | dict[str, Any]) -> tuple[bytes, bytes]:
    """Validate (``pydantic.ValidationError`` on a bad event) and encode: (key, value)."""
    if not isinstance(event, InferenceEvent):
        event = InferenceEvent.model_validate(event)
    return event_key(event), orjson.dumps(event.model_dump(mode="json", exclude_none=True))


class Publisher:
    """A validating producer for ``llm.inference.v1`` over aiokafka (acks=all, idempotent)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str = INFERENCE,
        feedback_topic: str = FEEDBACK,
        **kafka_options: Any,
    ) -> None:
        from aiokafka import AIOKafkaProducer

        self.topic = topic
        self.feedback_topic = feedback_topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=5,
            max_request_size=16 * 1024 * 1024,
            **kafka_options,
        )

    async def start(self) -> Publisher:
        await self._producer.start()
        return self

    async def publish(self, event: InferenceEvent | dict[str, Any]) -> None:
        """Validate and send one event; waits for the broker's acknowledgement."""
        key, body = encode_event(event)
        await self._producer.send_and_wait(self.topic, body, key=key)

    async def feedback(
        self,
        event_id: str,
        *,
        thumbs: str | None = None,
        score: float | None = None,
        label: str | None = None,
        comment: str | None = None,
        user_id: str | None = None,
        **fields: Any,
    ) -> UserFeedback:
        """Validate and send a user's judgement of the call ``event_id`` (thumbs up/down, a
        score, a label, a comment); waits for the broker's acknowledgement."""
        fb = UserFeedback.model_validate(
            {"event_id": event_id, "thumbs": thumbs, "score": score, "label": label,
             "comment": comment, "user_id": user_id, **fields}
        )  # fmt: skip
        body = orjson.dumps(fb.model_dump(mode="json", exclude_none=True))
        await self._producer.send_and_wait(self.feedback_topic, body, key=event_id.encode())
        return fb

    async def send_raw(
        self, value: bytes, key: bytes | None = None, topic: str | None = None
    ) -> asyncio.Future[Any]:
        """Send bytes as they are (no validation) to ``topic`` (default: the inference
        topic); returns the delivery future."""
        return await self._producer.send(topic or self.topic, value, key=key)

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> Publisher:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def publish_lines(
    publisher: Publisher,
    lines: Iterable[bytes],
    *,
    validate: bool = True,
    total: int | None = None,
    progress: bool = True,
    max_bytes: int = 1_048_576,
    feedback: bool = False,
) -> tuple[int, list[tuple[int, str]]]:
    """Publish JSON lines; returns (sent, [(line number, why refused)]).

    With ``validate`` a line that is not a valid event is refused here with its reason; without
    it every line is sent as is (the worker dead-letters what is bad). With ``feedback`` the
    lines are ``UserFeedback`` and go to the feedback topic, keyed by event id.
    """
    from tqdm import tqdm

    refused: list[tuple[int, str]] = []
    pending: list[asyncio.Future[Any]] = []
    sent = 0
    bar = tqdm(total=total, unit="ev", desc="publish", disable=not progress, file=sys.stderr)
    for number, line in enumerate(lines, 1):
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        key = None
        if validate:
            try:
                if feedback:
                    key = parse_feedback(line, max_bytes=max_bytes).event_id.encode()
                else:
                    key = event_key(parse_event(line, max_bytes=max_bytes))
            except InvalidEvent as exc:
                refused.append((number, str(exc)))
                continue
        topic = publisher.feedback_topic if feedback else publisher.topic
        pending.append(await publisher.send_raw(line, key=key, topic=topic))
        sent += 1
        bar.update(1)
        if len(pending) >= 1000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    bar.close()
    return sent, refused


def read_lines(path: Path) -> list[bytes]:
    with path.open("rb") as fh:
        return fh.readlines()
