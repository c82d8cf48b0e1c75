"""Bytes in, a valid ``InferenceEvent`` out, or an ``InvalidEvent`` that says exactly why.

The ingest hop calls :func:`parse_event` on every message; an ``InvalidEvent`` carries the
``ReasonCode`` that the dead-letter envelope stores.

>>> parse_event(b'{"service": "chat", "model": "gpt-4o"}').request_model
'gpt-4o'
>>> try:
...     parse_event(b'{"service": "chat"')
... except InvalidEvent as exc:
...     print(exc.reason.value)
invalid_json
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from schemas.errors import InfersightError
from schemas.events import InferenceEvent
from schemas.results import ReasonCode

__all__ = [
    "DEFAULT_MAX_BYTES",
    "InvalidEvent",
    "load_object",
    "parse_event",
    "refuse_future",
    "validated",
]

M = TypeVar("M", bound=BaseModel)

DEFAULT_MAX_BYTES = 1_048_576


class InvalidEvent(InfersightError, ValueError):
    """A message that is not a valid ``InferenceEvent``; routed to the dead-letter topic."""

    def __init__(
        self,
        reason: ReasonCode,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message
        self.errors = errors or []
        self.event_id = event_id


def _field_names() -> frozenset[str]:
    from schemas.events import ChatMessage, ContextDocument, TokenUsage

    models = (InferenceEvent, ChatMessage, ContextDocument, TokenUsage)
    names = {n for m in models for n in m.model_fields}
    aliases = {"model", "[key]", "str", "list[ChatMessage]", "float", "int"}
    return frozenset(names | aliases)


_FIELDS = _field_names()


def _loc(loc: tuple[int | str, ...], fields: frozenset[str] = _FIELDS) -> str:
    """Where an error is, naming schema fields and list positions only: a metadata key is
    input (it may be an email address), so it is written ``<key>``."""
    return ".".join(str(p) if isinstance(p, int) or p in fields else "<key>" for p in loc)


def _errors(exc: ValidationError, fields: frozenset[str] = _FIELDS) -> list[dict[str, Any]]:
    # Never copy the offending input into the envelope: it may be PII or megabytes. Nor a
    # dict key from it (pydantic's loc holds metadata keys): say which field and why.
    return [
        {"loc": _loc(err["loc"], fields), "type": err["type"], "msg": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def load_object(raw: bytes | None, max_bytes: int, topic: str) -> tuple[dict[str, Any], str | None]:
    """The message as a JSON object of schema version 1, and its ``event_id`` when that is a
    string: the framing every inbound contract shares (tombstone, size, JSON, object,
    version). Encoding is the caller's to check first, where its reasons name it."""
    if raw is None:
        raise InvalidEvent(ReasonCode.NOT_AN_OBJECT, "message has no value (tombstone)")
    if len(raw) > max_bytes:
        msg = f"message is {len(raw):,} bytes, over the {max_bytes:,}-byte limit"
        raise InvalidEvent(ReasonCode.OVERSIZED, msg)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(ReasonCode.INVALID_JSON, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        msg = f"expected a JSON object, got {type(data).__name__}"
        raise InvalidEvent(ReasonCode.NOT_AN_OBJECT, msg)
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    version = data.get("schema_version", 1)
    if version != 1:
        # The value itself is input (a producer's bug can put anything there): only a small
        # version number is quoted.
        small = isinstance(version, int) and not isinstance(version, bool) and -100 < version < 100
        shown = f"{version}" if small else f"(a {type(version).__name__})"
        msg = f"schema_version {shown} is not supported by {topic} (expected 1)"
        raise InvalidEvent(ReasonCode.UNSUPPORTED_SCHEMA_VERSION, msg, event_id=event_id)
    return data, event_id


def validated(
    model: type[M],
    data: dict[str, Any],
    event_id: str | None,
    noun: str,
    fields: frozenset[str] = _FIELDS,
) -> M:
    """``model`` from ``data``, or a schema_violation naming the first bad field and why."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = _errors(exc, fields)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        msg = f"{first['loc'] or noun}: {first['msg']}{more}"
        raise InvalidEvent(
            ReasonCode.SCHEMA_VIOLATION, msg, errors=errors, event_id=event_id
        ) from None


def parse_event(
    raw: bytes | None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    record_timestamp: datetime | None = None,
    max_future_s: float | None = None,
    now: datetime | None = None,
) -> InferenceEvent:
    """Decode and validate one message value.

    An event without ``timestamp`` takes ``record_timestamp`` (the Kafka record's), so a
    redelivered record parses to the same event, and is stored once. With ``max_future_s``,
    an event timestamped further ahead of ``now`` (default: this machine's clock) is refused:
    a producer's clock or time-zone bug would otherwise be stored where no alert window
    looks, with its texts kept past the retention period. Time only moves forward, so an
    event accepted once is accepted on every redelivery.

    Raises
    ------
    InvalidEvent
        With ``reason`` one of oversized, invalid_encoding, invalid_json, not_an_object,
        unsupported_schema_version, schema_violation, timestamp_in_future.
    """
    if raw is not None and len(raw) <= max_bytes:
        try:
            raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            msg = f"not UTF-8: {exc.reason} at byte {exc.start}"
            raise InvalidEvent(ReasonCode.INVALID_ENCODING, msg) from None
    data, event_id = load_object(raw, max_bytes, "llm.inference.v1")
    if "timestamp" not in data and record_timestamp is not None:
        data["timestamp"] = record_timestamp
    event = validated(InferenceEvent, data, event_id, "event")
    refuse_future(event.timestamp, event.event_id, max_future_s, now)
    return event


def refuse_future(
    timestamp: datetime, event_id: str, max_future_s: float | None, now: datetime | None = None
) -> None:
    """Raise ``timestamp_in_future`` when ``timestamp`` is more than ``max_future_s`` ahead
    of ``now`` (default: this machine's clock); ``None`` checks nothing."""
    if max_future_s is None:
        return
    ahead = (timestamp - (now or datetime.now(UTC))).total_seconds()
    if ahead > max_future_s:
        msg = (
            f"timestamp: {timestamp.isoformat()} is {ahead:,.0f} s ahead of the "
            f"worker's clock (at most {max_future_s:g} s, ingest.max_future_s): a producer "
            "clock or time-zone bug; replay this message once the producer is fixed"
        )
        raise InvalidEvent(ReasonCode.TIMESTAMP_IN_FUTURE, msg, event_id=event_id)
