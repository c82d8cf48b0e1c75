"""Bytes in, a valid ``UserFeedback`` out (or an ``InvalidEvent`` with its reason), and the
one rule that says whether a judgement is negative.

>>> fb = parse_feedback(b'{"event_id": "e1", "thumbs": "down"}')
>>> fb.thumbs, is_negative(fb)
('down', True)
>>> is_negative(parse_feedback(b'{"event_id": "e1", "score": 4.5}'))
False
"""

from __future__ import annotations

from datetime import datetime

from schemas.events import UserFeedback
from schemas.parsing import DEFAULT_MAX_BYTES, load_object, refuse_future, validated

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


def parse_feedback(
    raw: bytes | None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    record_timestamp: datetime | None = None,
    max_future_s: float | None = None,
    now: datetime | None = None,
) -> UserFeedback:
    """Decode and validate one ``llm.feedback.v1`` message value.

    Feedback without ``timestamp`` takes ``record_timestamp`` (the Kafka record's), as events
    do: the latest judgement per user wins by timestamp, so a replayed old record stamped
    with the time it was read would replace the user's newer judgement, and a backlog read
    at once would land in the current alert window. With ``max_future_s``, feedback stamped
    further ahead of ``now`` is refused: it would win "latest" over every later judgement.

    Raises
    ------
    InvalidEvent
        With ``reason`` one of oversized, invalid_json, not_an_object,
        unsupported_schema_version, schema_violation, timestamp_in_future.
    """
    data, event_id = load_object(raw, max_bytes, "llm.feedback.v1")
    if "timestamp" not in data and record_timestamp is not None:
        data["timestamp"] = record_timestamp
    fb = validated(UserFeedback, data, event_id, "feedback", _FIELDS)
    refuse_future(fb.timestamp, fb.event_id, max_future_s, now)
    return fb
