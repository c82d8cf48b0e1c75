"""Rows for the ClickHouse tables the stream writes, built from the result objects: events,
signals, embeddings, dead letters, drift results and drift state. Column lists match
schemas/clickhouse/*.sql; times are written as naive UTC.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from schemas.results import DeadLetter
from sinks.sql import naive

if TYPE_CHECKING:
    from detectors.drift.monitor import DriftResult
    from detectors.pipeline import ScoredEvent

__all__ = [
    "DEADLETTER_COLUMNS",
    "DRIFT_COLUMNS",
    "DRIFT_STATE_COLUMNS",
    "EMBEDDING_COLUMNS",
    "EVENT_COLUMNS",
    "SIGNAL_COLUMNS",
    "deadletter_row",
    "drift_row",
    "drift_state_row",
    "embedding_rows",
    "event_row",
    "signal_rows",
]

EVENT_COLUMNS = [
    "event_id", "timestamp", "service", "environment", "operation", "provider",
    "request_model", "model", "prompt", "prompt_messages", "response", "context",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd",
    "reasoning_tokens", "latency_ms", "ttft_ms", "status", "error_type", "finish_reasons",
    "user_id", "session_id",
    "prompt_template_id", "prompt_template_version", "experiment", "variant", "segments",
    "metadata", "pii_types", "ingested_at",
]  # fmt: skip
SIGNAL_COLUMNS = [
    "event_id", "timestamp", "service", "environment", "model", "detector", "score", "fired",
    "reason", "detail", "ingested_at",
]  # fmt: skip
DEADLETTER_COLUMNS = [
    "topic", "partition", "offset", "reason", "message", "event_id", "original_size",
    "original_sha256", "received_at", "item_id",
]  # fmt: skip
DRIFT_COLUMNS = [
    "service", "model", "field", "test", "window_index", "window_start", "window_end", "n_ref",
    "n_cur", "statistic", "p_value", "alpha", "significant", "drift", "streak", "reason",
    "detail", "sample_event_ids",
]  # fmt: skip
DRIFT_STATE_COLUMNS = [
    "service", "model", "field", "state_b64", "updated_at",
]  # fmt: skip


def event_row(s: ScoredEvent, now: datetime) -> list[Any]:
    e = s.event
    messages = (
        ""
        if isinstance(e.prompt, str)
        else orjson.dumps([m.model_dump() for m in e.prompt]).decode()
    )
    return [
        e.event_id, naive(e.timestamp), e.service, e.environment, e.operation,
        e.provider or "", e.request_model, e.model, e.prompt_text, messages, e.response,
        [d.text for d in e.context], e.usage.input_tokens, e.usage.output_tokens,
        e.usage.cache_read_tokens, e.usage.cache_write_tokens, s.cost_usd,
        e.usage.reasoning_tokens, e.latency_ms,
        e.ttft_ms, e.status, e.error_type or "", list(e.finish_reasons), e.user_id or "",
        e.session_id or "", e.prompt_template_id or "", e.prompt_template_version or "",
        e.experiment or "", e.variant or "", list(e.segments), dict(e.metadata), s.pii_types,
        now,
    ]  # fmt: skip


def signal_rows(s: ScoredEvent, now: datetime) -> list[list[Any]]:
    e = s.event
    return [
        [
            e.event_id,
            naive(e.timestamp),
            e.service,
            e.environment,
            e.model,
            sig.detector,
            sig.score,
            int(sig.fired),
            sig.reason,
            orjson.dumps(sig.detail).decode(),
            now,
        ]  # fmt: skip
        for sig in s.signals
    ]


EMBEDDING_COLUMNS = [
    "event_id", "timestamp", "service", "environment", "model", "field", "embedding_model",
    "vector", "ingested_at",
]  # fmt: skip


def embedding_rows(s: ScoredEvent, embedding_model: str, now: datetime) -> list[list[Any]]:
    e = s.event
    return [
        [e.event_id, naive(e.timestamp), e.service, e.environment, e.model, field,
         embedding_model, vector.astype("float32").tolist(), now]
        for field, vector in s.embeddings.items()
    ]  # fmt: skip


def deadletter_row(d: DeadLetter) -> list[Any]:
    return [
        d.topic, d.partition, d.offset, d.reason.value, d.message, d.event_id or "",
        d.original_size, d.original_sha256, naive(d.received_at), d.event_id or "",
    ]  # fmt: skip


def drift_row(r: DriftResult) -> list[Any]:
    """A row of ``drift_results`` (schemas/clickhouse/010_drift.sql).

    Needs the window's time range: pass ``timestamps`` to ``EmbeddingDriftMonitor.learn``.
    """
    if r.window_start is None or r.window_end is None:
        msg = (
            f"drift result {r.service}/{r.model}/{r.field} window "
            f"{r.window_index} has no time range: pass timestamps to learn()"
        )
        raise ValueError(msg)
    res = r.result
    detail = json.dumps({"test": dict(res.details), **r.detail}, default=str)
    return [
        r.service, r.model, r.field, res.test, r.window_index, naive(r.window_start),
        naive(r.window_end), res.n_ref, res.n_cur, res.statistic, res.p_value, r.alpha,
        int(r.significant), int(r.drift), r.streak, r.reason, detail, list(r.sample_event_ids),
    ]  # fmt: skip


def drift_state_row(key: tuple[str, str, str], blob: bytes, now: datetime) -> list[Any]:
    """A row of ``drift_state``: one monitor's saved state, base64."""
    service, model, field = key
    return [service, model, field, base64.b64encode(blob).decode(), now]
