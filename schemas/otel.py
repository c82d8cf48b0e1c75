"""OpenTelemetry GenAI spans in: the bytes the Collector's ``kafkaexporter`` writes for
traces, decoded and mapped onto ``InferenceEvent``. Pure: bytes in, events out; only the
stream layer knows Kafka.

The exporter writes one ``ExportTraceServiceRequest`` per Kafka message, as protobuf
(``encoding: otlp_proto``, its default) or as OTLP/JSON (``otlp_json``: lowerCamelCase keys,
trace and span ids in hex, 64-bit integers as strings). :func:`decode_traces` reads either
(``auto`` tells them apart by the first byte: JSON starts with ``{`` or ``[``, neither a
valid protobuf tag for this message) and splits the batch into :class:`Span`\\ s;
:func:`map_span` turns one GenAI span into an event, or ``None`` for a span that is not an
LLM call.

What is read, newest convention first (the first name present wins):

============================  =================================================================
event field                   span attributes (and where they come from)
============================  =================================================================
event_id                      ``otel-{trace_id}-{span_id}``: a redelivered span is stored once
timestamp, latency_ms         span start time; end - start
service, environment          resource ``service.name``; ``deployment.environment.name`` /
                              ``deployment.environment``
operation                     ``gen_ai.operation.name``; OpenLLMetry ``llm.request.type``;
                              OpenInference kind LLM/EMBEDDING
provider                      ``gen_ai.provider.name``; legacy ``gen_ai.system``; OpenInference
                              ``llm.provider`` / ``llm.system``
request_model                 ``gen_ai.request.model``; OpenInference ``llm.model_name``;
                              else the response model
response_model                ``gen_ai.response.model``
usage.input_tokens            ``gen_ai.usage.input_tokens``; legacy ``gen_ai.usage.prompt_tokens``;
                              ``llm.token_count.prompt``
usage.output_tokens           ``gen_ai.usage.output_tokens``; ``gen_ai.usage.completion_tokens``;
                              ``llm.token_count.completion``
usage.cache_read_tokens       ``gen_ai.usage.cache_read.input_tokens``; OpenLLMetry
                              ``gen_ai.usage.cache_read_input_tokens``;
                              ``llm.token_count.prompt_details.cache_read``
usage.cache_write_tokens      ``gen_ai.usage.cache_creation.input_tokens``,
                              ``gen_ai.usage.cache_write.input_tokens``;
                              ``gen_ai.usage.cache_creation_input_tokens``;
                              ``llm.token_count.prompt_details.cache_write``
usage.reasoning_tokens        ``gen_ai.usage.reasoning.output_tokens``;
                              ``gen_ai.usage.reasoning_tokens``;
                              ``llm.token_count.completion_details.reasoning``
prompt                        ``gen_ai.system_instructions`` + ``gen_ai.input.messages``
                              (structured or a JSON string, on the span or on its
                              ``gen_ai.client.inference.operation.details`` event);
                              ``gen_ai.prompt.{i}.role/content`` (OpenLLMetry);
                              ``llm.input_messages.{i}.message.role/content``
                              (OpenInference); ``gen_ai.prompt`` (OpenLIT, span or
                              ``gen_ai.content.prompt`` event); ``gen_ai.{role}.message``
                              events (``content``, or JSON ``gen_ai.event.content``, as
                              Azure AI Inference writes); ``input.value``
response                      ``gen_ai.output.messages``; ``gen_ai.completion.{i}.content``;
                              ``llm.output_messages.{i}.message.content``;
                              ``gen_ai.completion`` (OpenLIT); ``gen_ai.choice`` events;
                              ``output.value``
finish_reasons                ``gen_ai.response.finish_reasons``; ``finish_reason`` of output
                              messages; ``gen_ai.completion.{i}.finish_reason``
status, error_type            span status ERROR or ``error.type``; ``error.type``, else the
                              ``exception`` event's ``exception.type``
session_id, user_id           ``gen_ai.conversation.id`` / ``session.id``; ``user.id`` /
                              ``enduser.id``
experiment, variant,          ``infersight.experiment``, ``infersight.variant``,
prompt_template_id/version    ``infersight.prompt_template_id`` / ``_version`` (span or
                              resource); OpenInference ``llm.prompt_template.version``
ttft_ms                       ``gen_ai.server.time_to_first_token`` (seconds; OpenLIT)
metadata                      ``otel.trace_id``, ``otel.span_id``, ``otel.parent_span_id``,
                              ``otel.span_name``, ``otel.scope``, ``gen_ai.response.id``
============================  =================================================================

Token counts follow our contract (``input_tokens`` includes cached ones, ``output_tokens``
includes reasoning, as the OpenTelemetry conventions say). An instrumentation that reports
them the provider's way instead (Anthropic's ``input_tokens`` excludes the cache) shows it
by a part larger than its whole; then the parts are added to the whole, never dropped.

A span is a GenAI span when it carries ``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.system``, ``gen_ai.request.model`` or ``gen_ai.response.model``, or is an
OpenInference LLM / EMBEDDING span. Agent and tool spans (``invoke_agent``, ``create_agent``,
``execute_tool``) are skipped: their model calls are child spans of their own, and counting
an agent's totals as well would count every token twice.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from schemas.events import InferenceEvent
from schemas.otel_content import DETAILS_EVENT
from schemas.otel_content import content as _content
from schemas.otel_content import first as _first
from schemas.otlp import (
    InvalidOtlp,
    OtlpEncoding,
    Span,
    decode_export,
    decode_traces,
    encode_otlp_json,
)
from schemas.parsing import _errors

__all__ = [
    "AGENT_OPERATIONS",
    "DETAILS_EVENT",
    "InvalidOtlp",
    "OtlpEncoding",
    "Span",
    "SpanBatch",
    "decode_traces",
    "encode_otlp_json",
    "event_id_of",
    "is_genai",
    "map_span",
    "map_traces",
]


#: gen_ai.operation.name values that are not one model call (their children are).
AGENT_OPERATIONS = frozenset({"invoke_agent", "create_agent", "execute_tool"})
_OPENINFERENCE_MODEL_KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}
_GENAI_MARKERS = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
)
_STATUS_ERROR = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR


@dataclass
class SpanBatch:
    """What one exported batch held: the events mapped from its GenAI spans, the spans that
    are not LLM calls (counted by reason), and GenAI spans that could not be mapped (with
    the span's event id and why)."""

    events: list[InferenceEvent] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    invalid: list[tuple[str, str]] = field(default_factory=list)

    @property
    def spans(self) -> int:
        return len(self.events) + sum(self.skipped.values()) + len(self.invalid)


# -- mapping ----------------------------------------------------------------------------------
def event_id_of(span: Span) -> str:
    """The event id of a span: stable, so that a redelivered batch is stored once."""
    return f"otel-{span.trace_id}-{span.span_id}"


def _kind(attrs: Mapping[str, Any]) -> str:
    return str(attrs.get("openinference.span.kind", "")).upper()


def is_genai(span: Span) -> bool:
    """Whether ``span`` describes a GenAI operation in any convention we read."""
    attrs = span.attributes
    return any(name in attrs for name in _GENAI_MARKERS) or _kind(attrs) in (
        _OPENINFERENCE_MODEL_KINDS
    )


def _tokens(attrs: Mapping[str, Any], *names: str) -> int:
    value = _first(attrs, *names)
    if value is None:
        return 0
    # Messages name the attribute, never its value (dead letters carry no input).
    msg = f"{names[0]} must be a whole count (got a {type(value).__name__})"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(msg)
    try:
        number = int(value)
    except ValueError:
        raise ValueError(msg) from None
    if number != float(value):
        raise ValueError(msg)
    return number


def _usage(attrs: Mapping[str, Any]) -> dict[str, int]:
    usage = {
        "input_tokens": _tokens(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                                "llm.token_count.prompt"),
        "output_tokens": _tokens(attrs, "gen_ai.usage.output_tokens",
                                 "gen_ai.usage.completion_tokens", "llm.token_count.completion"),
        "cache_read_tokens": _tokens(attrs, "gen_ai.usage.cache_read.input_tokens",
                                     "gen_ai.usage.cache_read_input_tokens",
                                     "llm.token_count.prompt_details.cache_read"),
        "cache_write_tokens": _tokens(attrs, "gen_ai.usage.cache_creation.input_tokens",
                                      "gen_ai.usage.cache_write.input_tokens",
                                      "gen_ai.usage.cache_creation_input_tokens",
                                      "llm.token_count.prompt_details.cache_write"),
        "reasoning_tokens": _tokens(attrs, "gen_ai.usage.reasoning.output_tokens",
                                    "gen_ai.usage.reasoning_tokens",
                                    "llm.token_count.completion_details.reasoning"),
    }  # fmt: skip
    cached = usage["cache_read_tokens"] + usage["cache_write_tokens"]
    if cached > usage["input_tokens"]:  # reported the provider's way: input excludes cache
        usage["input_tokens"] += cached
    if usage["reasoning_tokens"] > usage["output_tokens"]:  # output excludes reasoning
        usage["output_tokens"] += usage["reasoning_tokens"]
    return usage


def _operation(span: Span) -> str:
    attrs = span.attributes
    op = _first(attrs, "gen_ai.operation.name", "llm.request.type")
    if op is not None:
        op = str(op)
        return {"completion": "text_completion", "embedding": "embeddings"}.get(op, op)
    if _kind(attrs) in _OPENINFERENCE_MODEL_KINDS:
        return _OPENINFERENCE_MODEL_KINDS[_kind(attrs)]
    return "chat"


def _skip_reason(span: Span) -> str | None:
    if not is_genai(span):
        return "not_genai"
    if _operation(span) in AGENT_OPERATIONS:
        return "agent_or_tool"
    return None


def _error_type(span: Span) -> str | None:
    value = _first(span.attributes, "error.type")
    if value is not None:
        return str(value)
    for name, attrs in span.events:
        if name == "exception" and attrs.get("exception.type"):
            return str(attrs["exception.type"])
    if span.status_code == _STATUS_ERROR:
        return span.status_message[:256] or "error"
    return None


def _ours(span: Span, name: str) -> str | None:
    value = _first(span.attributes, f"infersight.{name}")
    value = value if value is not None else _first(span.resource, f"infersight.{name}")
    return None if value is None else str(value)


def _metadata(span: Span) -> dict[str, str]:
    """Where the event came from: trace, span, parent, span name, instrumentation scope,
    and the provider's response id."""
    out = {
        "otel.trace_id": span.trace_id,
        "otel.span_id": span.span_id,
        "otel.parent_span_id": span.parent_span_id,
        "otel.span_name": span.name[:4096],
        "otel.scope": span.scope[:4096],
    }
    # The conversation id is session_id, pseudonymised with the other ids: never copied here.
    if span.attributes.get("gen_ai.response.id") is not None:
        out["gen_ai.response.id"] = str(span.attributes["gen_ai.response.id"])[:4096]
    return out


def _versions(span: Span) -> dict[str, Any]:
    """Experiment, variant, prompt template and segments (``infersight.*`` on the span or
    its resource; OpenInference's template version)."""
    segments = _ours(span, "segments")
    return {
        "experiment": _ours(span, "experiment"),
        "variant": _ours(span, "variant"),
        "prompt_template_id": _ours(span, "prompt_template_id"),
        "prompt_template_version": _ours(span, "prompt_template_version")
        or _first(span.attributes, "llm.prompt_template.version"),
        "segments": [s for s in segments.split(",") if s] if segments else [],
    }


def map_span(span: Span) -> InferenceEvent | None:
    """The ``InferenceEvent`` of one GenAI span, or ``None`` for a span that is not one LLM
    call (not GenAI at all, or an agent or tool span).

    Raises
    ------
    ValueError
        (``pydantic.ValidationError`` included) when a GenAI span cannot make a valid event:
        no start time, a token count that is not a count, text over the limits.
    """
    if _skip_reason(span) is not None:
        return None
    attrs = span.attributes
    if span.start_ns <= 0:
        raise ValueError("span has no start time")
    if any(len(h) != n or not int(h, 16) for h, n in ((span.trace_id, 32), (span.span_id, 16))):
        # Spans without ids would all share one event id, and all but one be lost.
        raise ValueError("span has no valid trace_id and span_id (16 and 8 non-zero bytes)")
    request_model = _first(attrs, "gen_ai.request.model", "llm.model_name", "gen_ai.response.model")
    provider = _first(attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
    content = _content(attrs, span.events)
    error_type = _error_type(span)
    ttft_s = _first(attrs, "gen_ai.server.time_to_first_token")
    data: dict[str, Any] = {
        "event_id": event_id_of(span),
        "timestamp": datetime.fromtimestamp(span.start_ns / 1e9, tz=UTC),
        "service": str(span.resource.get("service.name") or "unknown_service"),
        "environment": str(
            _first(span.resource, "deployment.environment.name", "deployment.environment")
            or "production"
        ),
        "operation": _operation(span),
        "provider": None if provider is None else str(provider).lower(),
        "request_model": "unknown" if request_model is None else str(request_model),
        "response_model": _first(attrs, "gen_ai.response.model"),
        "prompt": content["prompt"],
        "response": content["response"],
        "usage": _usage(attrs),
        # An end before the start is a clock step, not a 0 ms call: unknown, not a fake 0.
        "latency_ms": (span.end_ns - span.start_ns) / 1e6 if span.end_ns >= span.start_ns else None,
        "ttft_ms": float(ttft_s) * 1000 if isinstance(ttft_s, int | float) else None,
        "status": "error" if error_type is not None else "ok",
        "error_type": error_type,
        "finish_reasons": content["finish_reasons"],
        "session_id": _first(attrs, "gen_ai.conversation.id", "session.id"),
        "user_id": _first(attrs, "user.id", "enduser.id"),
        "metadata": _metadata(span),
        **_versions(span),
    }
    for key in ("response_model", "session_id", "user_id", "prompt_template_version"):
        if data[key] is not None:
            data[key] = str(data[key])
    return InferenceEvent.model_validate(data)


def map_traces(raw: bytes | None, encoding: OtlpEncoding = "auto") -> SpanBatch:
    """Decode one exported batch and map every span: events, skips and failures.

    Raises ``InvalidOtlp`` when the batch itself cannot be read (then nothing of it is
    usable); a GenAI span that cannot make a valid event is listed in ``invalid``.
    """
    batch = SpanBatch()
    spans, unreadable = decode_export(raw, encoding)
    batch.invalid.extend((f"otel-{t}-{s}", why) for t, s, why in unreadable)
    for span in spans:
        reason = _skip_reason(span)
        if reason is not None:
            batch.skipped[reason] = batch.skipped.get(reason, 0) + 1
            continue
        try:
            event = map_span(span)
        except ValidationError as exc:
            first = _errors(exc)[0]  # field and why, never the value
            batch.invalid.append((event_id_of(span), f"{first['loc'] or 'event'}: {first['msg']}"))
            continue
        except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
            batch.invalid.append((event_id_of(span), str(exc)))
            continue
        except RecursionError:  # JSON nested just under the parser's limit, re-encoded
            batch.invalid.append((event_id_of(span), "an attribute is nested too deep"))
            continue
        assert event is not None  # not skipped
        batch.events.append(event)
    return batch
