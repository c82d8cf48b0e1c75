"""Rows of the ``feedback`` table (migration 051), from redacted ``UserFeedback``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import UserFeedback

__all__ = ["FEEDBACK_COLUMNS", "feedback_row"]

FEEDBACK_COLUMNS = [
    "event_id", "user_id", "timestamp", "thumbs", "score", "label", "comment", "negative",
    "pii_types", "ingested_at",
]  # fmt: skip


def _naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None)


def feedback_row(
    fb: UserFeedback, negative: bool, pii_types: list[str], now: datetime
) -> list[Any]:
    """One row; ``fb`` is already redacted (detectors/feedback.py)."""
    return [
        fb.event_id, fb.user_id or "", _naive(fb.timestamp), fb.thumbs or "", fb.score,
        fb.label or "", fb.comment or "", int(negative), pii_types, _naive(now),
    ]  # fmt: skip
