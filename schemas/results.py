"""What infersight produces: per-event ``Signal``s, ``Alert``s, ``RetrainingEvent``s and the
``DeadLetter`` envelope for input it could not accept.

Our own results forbid unknown fields: a consumer can rely on exactly these keys.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Alert",
    "AlertStatus",
    "DeadLetter",
    "EventSignals",
    "ReasonCode",
    "RetrainingEvent",
    "Severity",
    "Signal",
]


def _now() -> datetime:
    return datetime.now(UTC)


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signal(_Result):
    """One detector's verdict on one event.

    ``reason`` is a sentence an on-call engineer can read at 3 a.m.; ``detail`` holds the
    machine-readable evidence (JSON-serialisable, never raw PII).
    """

    detector: str
    event_id: str
    score: float = Field(description="Detector-specific score; see the detector's docstring.")
    fired: bool = Field(description="True when the score crossed the detector's threshold.")
    reason: str
    detail: dict[str, Any] = Field(default_factory=dict)


class EventSignals(_Result):
    """All signals for one event, as published to ``llm.signals.v1``."""

    schema_version: Literal[1] = 1
    event_id: str
    timestamp: datetime
    service: str
    environment: str
    model: str
    signals: list[Signal]


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(_Result):
    """A rule's judgement on one series (rule × service × model), published to ``llm.alerts.v1``.

    ``fingerprint`` identifies the series; one episode (firing → resolved) shares
    ``episode_id`` so that every notifier can deduplicate pages.
    """

    schema_version: Literal[1] = 1
    alert_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    fingerprint: str
    episode_id: str
    rule: str
    status: AlertStatus
    severity: Severity
    service: str
    model: str
    summary: str
    value: float
    threshold: float
    window_start: datetime
    window_end: datetime
    labels: dict[str, str] = Field(default_factory=dict)
    sample_event_ids: list[str] = Field(default_factory=list)
    evidence_sql: str = ""
    runbook_url: str | None = None
    created_at: datetime = Field(default_factory=_now)

    @staticmethod
    def fingerprint_of(rule: str, labels: dict[str, str]) -> str:
        """Stable id of one alert series: the rule and its sorted labels."""
        parts = [rule, *(f"{k}={labels[k]}" for k in sorted(labels))]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class RetrainingEvent(_Result):
    """A request to retrain or re-evaluate one model, published to ``llm.retraining.v1``."""

    schema_version: Literal[1] = 1
    retraining_id: str = Field(description="Deterministic per episode: replays do not duplicate.")
    service: str
    model: str
    reason: str
    triggered_by: str = Field(description="Rule name and alert episode that led here.")
    since: datetime = Field(description="Start of the trouble: first window that fired.")
    window_start: datetime
    window_end: datetime
    statistics: dict[str, float] = Field(default_factory=dict)
    selection_sql: str = Field(description="ClickHouse SQL selecting the affected examples.")
    dataset_command: str = Field(
        default="",
        description="The command that writes this event's training set (the selected events "
        "with their signals and feedback as labels); filled in from retraining_id.",
    )
    created_at: datetime = Field(default_factory=_now)

    @model_validator(mode="before")
    @classmethod
    def _dataset_command(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("dataset_command") and data.get("retraining_id"):
            rid = data["retraining_id"]
            data = {
                **data,
                "dataset_command": f"infersight dataset export --retraining-id {rid} "
                f"--out dataset-{rid} --format jsonl,openai,parquet",
            }
        return data


class ReasonCode(StrEnum):
    """Why a message was dead-lettered. Stable strings: analysts and alerts key on them."""

    OVERSIZED = "oversized"
    INVALID_ENCODING = "invalid_encoding"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    SCHEMA_VIOLATION = "schema_violation"
    SCORING_FAILED = "scoring_failed"
    INVALID_OTLP = "invalid_otlp"
    #: The event's timestamp is further ahead of the worker's clock than ingest.max_future_s:
    #: a producer's clock or time-zone bug (stored, it would escape every alert window and
    #: outlive the retention TTL).
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    #: ClickHouse refused the event's rows for what they hold (the message carries its
    #: error code and reason); the rest of the batch was stored.
    STORAGE_REJECTED = "storage_rejected"


class DeadLetter(_Result):
    """A message that could not be accepted, published to ``llm.deadletter.v1``.

    Carries the original bytes (base64) so that nothing is lost: fix the producer or the
    contract, then replay ``original`` to ``llm.inference.v1``. A value too large to embed
    (an oversized message) is embedded truncated and flagged; its sha256, size and
    topic/partition/offset identify the full value in the source topic.
    """

    schema_version: Literal[1] = 1
    reason: ReasonCode
    message: str = Field(description="What was wrong, in words, with the offending field.")
    errors: list[dict[str, Any]] = Field(
        default_factory=list, description="Validation errors: loc, type, msg (no input values)."
    )
    topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    original_b64: str = Field(description="The message value, base64; see original_truncated.")
    original_truncated: bool = Field(
        default=False,
        description="True when the value was too large to embed whole: original_b64 holds its "
        "first max_original_bytes; the full value stays at topic/partition/offset.",
    )
    original_size: int
    original_sha256: str
    event_id: str | None = Field(default=None, description="When one could be read.")
    received_at: datetime = Field(default_factory=_now)

    @classmethod
    def wrap(
        cls,
        raw: bytes,
        *,
        reason: ReasonCode,
        message: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None = None,
        errors: list[dict[str, Any]] | None = None,
        event_id: str | None = None,
        max_original_bytes: int = 700_000,
    ) -> DeadLetter:
        # Base64 grows 4/3: 700 kB keeps the envelope under Kafka's default 1 MB message limit.
        truncated = len(raw) > max_original_bytes
        return cls(
            reason=reason,
            message=message,
            errors=errors or [],
            topic=topic,
            partition=partition,
            offset=offset,
            key_b64=base64.b64encode(key).decode() if key is not None else None,
            original_b64=base64.b64encode(raw[:max_original_bytes]).decode(),
            original_truncated=truncated,
            original_size=len(raw),
            original_sha256=hashlib.sha256(raw).hexdigest(),
            event_id=event_id,
        )

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)
