"""Bytes in, a valid ``UserFeedback`` out (or an ``InvalidEvent`` with its reason), and the
one rule that says whether a judgement is negative.

>>> fb = parse_feedback(b'{"event_id": "e1", "thumbs": "down"}')
>>> fb.thumbs, is_negative(fb)
('down', True)
>>> is_negative(parse_feedback(b'{"event_id": "e1", "score": 4.5}'))
False
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import UserFeedback
from schemas.parsing import DEFAULT_MAX_BYTES, InvalidEvent
from schemas.results import ReasonCode

__all__ = ["NEGATIVE_LABELS", "is_negative", "parse_feedback"]

#: Labels that mean the answer was bad, whatever the score says.
NEGATIVE_LABELS = frozenset(
    {"thumbs_down", "negative", "bad", "wrong", "incorrect", "unhelpful", "unsafe", "harmful",
     "offensive", "hallucination", "irrelevant"}
)  # fmt: skip


def is_negative(fb: UserFeedback) -> bool:
    """A judgement is negative when it is a thumbs down, or a label of ``NEGATIVE_LABELS``,
    or (with neither thumbs nor label) a score below zero: a -1..1 scale's down-vote. A 1..5
    star score alone never counts as negative (its midpoint is the producer's to say: send
    thumbs or a label)."""
    if fb.thumbs is not None:
        return fb.thumbs == "down"
    if fb.label is not None and fb.label.strip().lower() in NEGATIVE_LABELS:
        return True
    return fb.label is None and fb.score is not None and fb.score < 0


_FIELDS = frozenset(UserFeedback.model_fields) | {"str", "float", "int"}


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Which field and why, never the input (no values, no keys from it)."""
    return [
        {"loc": ".".join(str(p) if isinstance(p, int) or p in _FIELDS else "<key>"
                         for p in err["loc"]),
         "type": err["type"], "msg": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]  # fmt: skip


def parse_feedback(raw: bytes | None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> UserFeedback:
    """Decode and validate one ``llm.feedback.v1`` message value.

    Raises
    ------
    InvalidEvent
        With ``reason`` one of oversized, invalid_json, not_an_object,
        unsupported_schema_version, schema_violation.
    """
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
    if version != 1:  # the value is input: only a small version number is quoted
        small = isinstance(version, int) and not isinstance(version, bool) and -100 < version < 100
        shown = f"{version}" if small else f"(a {type(version).__name__})"
        msg = f"schema_version {shown} is not supported by llm.feedback.v1 (expected 1)"
        raise InvalidEvent(ReasonCode.UNSUPPORTED_SCHEMA_VERSION, msg, event_id=event_id)
    try:
        return UserFeedback.model_validate(data)
    except ValidationError as exc:
        errors = _errors(exc)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        msg = f"{first['loc'] or 'feedback'}: {first['msg']}{more}"
        raise InvalidEvent(
            ReasonCode.SCHEMA_VIOLATION, msg, errors=errors, event_id=event_id
        ) from None
