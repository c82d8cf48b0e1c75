"""GenAI spans made by the real OpenTelemetry Python SDK around a fake LLM call, encoded as
the Collector's kafkaexporter writes them (an ``ExportTraceServiceRequest``, as protobuf or
as OTLP/JSON). Shared by the unit and the integration tests.

Four attribute sets, as instrumentations in the field write them:

- ``semconv``: the current OpenTelemetry GenAI conventions (structured messages, the
  ``gen_ai.client.inference.operation.details`` event, cache and reasoning usage);
- ``openllmetry``: Traceloop's OpenLLMetry (``gen_ai.system``, ``prompt_tokens``,
  ``gen_ai.prompt.{i}.content``);
- ``openlit``: OpenLIT (``gen_ai.system``, content on ``gen_ai.content.*`` events);
- ``openinference``: Arize OpenInference (``llm.*``, ``input.value``);
- ``message_events``: one span event per message (``gen_ai.user.message``,
  ``gen_ai.choice``, ...) with the message as JSON in ``gen_ai.event.content``, as the
  Azure AI Inference SDKs write them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from schemas.otel import encode_otlp_json

STYLES = ("semconv", "openllmetry", "openlit", "openinference", "message_events")


@dataclass
class Call:
    """One fake LLM call: what the application asked and what the 'model' answered."""

    style: str
    model: str
    prompt: str
    answer: str
    provider: str = "openai"
    system: str = "You are a helpful assistant."
    input_tokens: int = 120
    output_tokens: int = 40
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _semconv(span: Any, c: Call) -> None:
    span.set_attributes({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": c.provider,
        "gen_ai.request.model": c.model,
        "gen_ai.response.model": c.model,
        "gen_ai.response.id": "chatcmpl-42",
        "gen_ai.conversation.id": "conv-7",
        "gen_ai.usage.input_tokens": c.input_tokens,
        "gen_ai.usage.output_tokens": c.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": c.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": c.cache_write_tokens,
        "gen_ai.usage.reasoning.output_tokens": c.reasoning_tokens,
        "gen_ai.response.finish_reasons": ["stop"],
    })  # fmt: skip
    # Content as the opt-in event, messages as JSON strings (the SDK has no map values).
    span.add_event(
        "gen_ai.client.inference.operation.details",
        {
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": c.system}]),
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": c.prompt}]}]
            ),
            "gen_ai.output.messages": json.dumps([{
                "role": "assistant", "finish_reason": "stop",
                "parts": [{"type": "text", "content": c.answer}],
            }]),
        },
    )  # fmt: skip


def _openllmetry(span: Any, c: Call) -> None:
    span.set_attributes({
        "llm.request.type": "chat",
        "gen_ai.system": c.provider,
        "gen_ai.request.model": c.model,
        "gen_ai.response.model": c.model,
        "gen_ai.usage.prompt_tokens": c.input_tokens,
        "gen_ai.usage.completion_tokens": c.output_tokens,
        "llm.usage.total_tokens": c.input_tokens + c.output_tokens,
        "gen_ai.usage.cache_read_input_tokens": c.cache_read_tokens,
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": c.system,
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": c.prompt,
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": c.answer,
        "gen_ai.completion.0.finish_reason": "stop",
    })  # fmt: skip


def _openlit(span: Any, c: Call) -> None:
    span.set_attributes({
        "telemetry.sdk.name": "openlit",
        "gen_ai.operation.name": "chat",
        "gen_ai.system": c.provider,
        "gen_ai.request.model": c.model,
        "gen_ai.response.model": c.model,
        "gen_ai.usage.input_tokens": c.input_tokens,
        "gen_ai.usage.output_tokens": c.output_tokens,
        "gen_ai.usage.total_tokens": c.input_tokens + c.output_tokens,
        "gen_ai.usage.cost": 0.000123,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.server.time_to_first_token": 0.25,
        "gen_ai.environment": "production",
        "gen_ai.application_name": "shop",
    })  # fmt: skip
    span.add_event("gen_ai.content.prompt", {"gen_ai.prompt": f"user: {c.prompt}"})
    span.add_event("gen_ai.content.completion", {"gen_ai.completion": c.answer})


def _openinference(span: Any, c: Call) -> None:
    span.set_attributes({
        "openinference.span.kind": "LLM",
        "llm.model_name": c.model,
        "llm.provider": c.provider,
        "llm.token_count.prompt": c.input_tokens,
        "llm.token_count.completion": c.output_tokens,
        "llm.token_count.total": c.input_tokens + c.output_tokens,
        "llm.token_count.completion_details.reasoning": c.reasoning_tokens,
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": c.system,
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": c.prompt,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": c.answer,
        "input.value": json.dumps({"messages": [{"role": "user", "content": c.prompt}]}),
        "output.value": c.answer,
    })  # fmt: skip


def _message_events(span: Any, c: Call) -> None:
    span.set_attributes({
        "gen_ai.operation.name": "chat",
        "gen_ai.system": c.provider,
        "gen_ai.request.model": c.model,
        "gen_ai.response.model": c.model,
        "gen_ai.usage.input_tokens": c.input_tokens,
        "gen_ai.usage.output_tokens": c.output_tokens,
    })  # fmt: skip
    for role, text in (("system", c.system), ("user", c.prompt)):
        span.add_event(f"gen_ai.{role}.message", {
            "gen_ai.system": c.provider,
            "gen_ai.event.content": json.dumps({"role": role, "content": text}),
        })  # fmt: skip
    span.add_event("gen_ai.choice", {
        "gen_ai.system": c.provider,
        "gen_ai.event.content": json.dumps(
            {"finish_reason": "stop", "index": 0, "message": {"content": c.answer}}
        ),
    })  # fmt: skip


WRITERS = {
    "semconv": _semconv,
    "openllmetry": _openllmetry,
    "openlit": _openlit,
    "openinference": _openinference,
    "message_events": _message_events,
}


def record(calls: Sequence[Call], service: str = "shop-assistant") -> list[ReadableSpan]:
    """Run each fake call inside an HTTP request span, as an instrumented app would, and
    return every finished span (the request spans are not GenAI spans)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment.name": "prod"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fake-llm-instrumentation", "0.1")
    for c in calls:
        with tracer.start_as_current_span("POST /ask", attributes={"http.request.method": "POST"}):
            name = f"chat {c.model}" if c.style != "openinference" else "ChatCompletion"
            with tracer.start_as_current_span(name, kind=SpanKind.CLIENT) as span:
                WRITERS[c.style](span, c)
                span.set_attributes(c.extra)
                if c.error:
                    span.set_attribute("error.type", c.error)
                    span.set_status(Status(StatusCode.ERROR, c.error))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def otlp_proto(spans: Sequence[ReadableSpan]) -> bytes:
    """The bytes of kafkaexporter's default encoding (otlp_proto)."""
    return encode_spans(spans).SerializeToString()


def otlp_json(spans: Sequence[ReadableSpan]) -> bytes:
    """The bytes of kafkaexporter's otlp_json encoding."""
    return encode_otlp_json(encode_spans(spans))
