"""The inbound contract: one ``InferenceEvent`` per LLM call, and ``UserFeedback``.

Field names follow the OpenTelemetry GenAI semantic conventions where one exists, with the
``gen_ai.`` prefix dropped and dots turned into underscores (``gen_ai.request.model`` is
``request_model``, ``gen_ai.usage.input_tokens`` is ``usage.input_tokens``). ``model`` is
accepted as an alias of ``request_model`` because most SDKs call it that.

Inbound models ignore unknown fields (producers evolve faster than we do); the major version
lives in ``schema_version`` and in the topic name (``llm.inference.v1``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "MAX_TEXT_CHARS",
    "MAX_TOKENS",
    "ChatMessage",
    "ContextDocument",
    "InferenceEvent",
    "TokenUsage",
    "UserFeedback",
]

#: Longest text accepted in any one field (prompt, response, a context document).
MAX_TEXT_CHARS = 1_000_000
#: Largest token count accepted in any one usage field; larger is a producer bug.
MAX_TOKENS = 10_000_000
#: Timestamps ClickHouse can store (DateTime64); outside them is a producer bug.
MIN_TIMESTAMP = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP = datetime(2300, 1, 1, tzinfo=UTC)
#: The name of the dashboard rollups' total rows (every service, every model): refused as a
#: service or model so a client cannot overwrite the totals (sinks/report.py reads it).
RESERVED_NAME = "__all"

Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
ShortText = Annotated[str, Field(max_length=256)]
TokenCount = Annotated[int, Field(ge=0, le=MAX_TOKENS, strict=True)]


def _reject_nul(value: Any) -> Any:
    """Refuse a NUL anywhere in a string, a list's items or a dict's keys and values."""
    if isinstance(value, str):
        if "\x00" in value:
            msg = "text contains a NUL character (\\x00)"
            raise ValueError(msg)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_nul(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    return value


class _Inbound(BaseModel):
    """Inbound models: unknown fields ignored; a NUL character in any text field (every
    field, nested lists and maps included, so a field added later is covered too) is
    refused as a schema violation, never stored or stripped silently."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)

    _nul = field_validator("*")(_reject_nul)


class ChatMessage(_Inbound):
    """One message of a chat prompt (``gen_ai.input.messages``)."""

    role: ShortText = Field(description="system, user, assistant, tool, ...")
    content: Text = Field(description="The message text.")


class ContextDocument(_Inbound):
    """A document retrieved for a RAG call (``gen_ai.retrieval.documents``)."""

    text: Text = Field(description="The retrieved passage as given to the model.")
    id: ShortText | None = Field(default=None, description="Document id in the retriever.")
    source: ShortText | None = Field(default=None, description="Index, URL or collection.")
    score: float | None = Field(default=None, description="Retriever relevance score.")


class TokenUsage(_Inbound):
    """Token counts (``gen_ai.usage.*``).

    ``input_tokens`` counts *all* input tokens, cached ones included (the OpenTelemetry and
    genai-prices convention); ``cache_read_tokens`` and ``cache_write_tokens`` say how many of
    them were read from or written to the provider's prompt cache, so they can never exceed
    ``input_tokens`` together. Likewise ``output_tokens`` counts *all* output tokens, and
    ``reasoning_tokens`` (``gen_ai.usage.reasoning.output_tokens``, OpenAI's
    ``completion_tokens_details.reasoning_tokens``) says how many of them were the model's
    hidden reasoning: a subset, never added on top.
    """

    input_tokens: TokenCount = 0
    output_tokens: TokenCount = 0
    cache_read_tokens: TokenCount = 0
    cache_write_tokens: TokenCount = 0
    reasoning_tokens: TokenCount = 0

    @model_validator(mode="after")
    def _cached_within_input(self) -> TokenUsage:
        if self.cache_read_tokens + self.cache_write_tokens > self.input_tokens:
            msg = (
                f"cache_read_tokens ({self.cache_read_tokens}) + cache_write_tokens "
                f"({self.cache_write_tokens}) exceed input_tokens ({self.input_tokens}); "
                "input_tokens must include cached tokens"
            )
            raise ValueError(msg)
        if self.reasoning_tokens > self.output_tokens:
            msg = (
                f"reasoning_tokens ({self.reasoning_tokens}) exceed output_tokens "
                f"({self.output_tokens}); output_tokens must include reasoning tokens"
            )
            raise ValueError(msg)
        return self


class InferenceEvent(_Inbound):
    """One LLM call, as published by the calling service to ``llm.inference.v1``."""

    schema_version: Literal[1] = Field(
        default=1, description="Major version of this contract; only 1 is accepted."
    )
    event_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        default_factory=lambda: str(uuid.uuid4()),
        description="Idempotency key: a redelivered event with the same id is stored once.",
    )
    timestamp: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="When the call started (RFC 3339). A naive time is taken as UTC. "
        "Missing: the Kafka record's timestamp, never the time it was parsed, so a "
        "redelivered record (a replay, a producer retry) is stored once. Two separate "
        "publishes of one event without a timestamp are two records with two times: set "
        "timestamp to make them one.",
    )
    service: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="The calling service (OTel service.name)."
    )
    environment: ShortText = Field(
        default="production", description="Deployment environment (deployment.environment)."
    )
    operation: ShortText = Field(
        default="chat", description="gen_ai.operation.name: chat, text_completion, embeddings..."
    )
    provider: ShortText | None = Field(
        default=None, description="gen_ai.provider.name: openai, anthropic, aws.bedrock..."
    )
    request_model: Annotated[str, Field(min_length=1, max_length=256)] = Field(
        validation_alias=AliasChoices("request_model", "model"),
        description="gen_ai.request.model: the model asked for.",
    )
    response_model: ShortText | None = Field(
        default=None, description="gen_ai.response.model: the model that answered."
    )
    prompt: Text | list[ChatMessage] = Field(
        default="", description="The prompt as text, or as chat messages."
    )
    response: Text = Field(default="", description="The model's answer text.")
    context: list[ContextDocument] = Field(
        default_factory=list, max_length=1000, description="Retrieved documents (RAG)."
    )
    usage: TokenUsage = Field(default_factory=TokenUsage)
    latency_ms: Annotated[float, Field(ge=0, le=86_400_000)] | None = Field(
        default=None, description="Wall time of the call in milliseconds."
    )
    ttft_ms: Annotated[float, Field(ge=0, le=86_400_000)] | None = Field(
        default=None, description="Time to first token in milliseconds (streaming)."
    )
    status: Literal["ok", "error"] = Field(default="ok")
    error_type: ShortText | None = Field(default=None, description="OTel error.type.")
    finish_reasons: list[ShortText] = Field(
        default_factory=list, max_length=64, description="gen_ai.response.finish_reasons."
    )
    user_id: ShortText | None = Field(default=None, description="End user (enduser.id).")
    session_id: ShortText | None = Field(default=None, description="Conversation (session.id).")
    prompt_template_id: ShortText | None = None
    prompt_template_version: ShortText | None = None
    experiment: ShortText | None = Field(default=None, description="A/B experiment name.")
    variant: ShortText | None = Field(default=None, description="A/B arm within experiment.")
    segments: list[ShortText] = Field(
        default_factory=list, max_length=64, description="User-segment labels."
    )
    metadata: dict[ShortText, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=256, description="Free string metadata."
    )

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # ClickHouse DateTime64 holds 1900..2299; outside it the insert fails, and a write
        # that can never succeed would hold the stream forever (found by tests/faults).
        if not MIN_TIMESTAMP <= value < MAX_TIMESTAMP:
            msg = "timestamp is outside 1900-01-01..2299-12-31 (UTC)"
            raise ValueError(msg)
        return value

    @field_validator("service", "request_model", "response_model")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        # The dashboard rollups (060) name their every-service / every-model total rows
        # RESERVED_NAME: a real service or model of that name would overwrite the totals.
        if value == RESERVED_NAME:
            msg = f"{RESERVED_NAME!r} is reserved for dashboard totals; use another name"
            raise ValueError(msg)
        return value

    @property
    def model(self) -> str:
        """The model to attribute this call to: the one that answered, else the one asked."""
        return self.response_model or self.request_model

    @property
    def user_text(self) -> str:
        """What the end user wrote: the last user message of a chat prompt, else the prompt.

        Injection is judged on this, not on ``prompt_text``: an operator's system prompt
        ("You are a helpful assistant...") reads like a role-play jailbreak to a classifier.
        """
        if isinstance(self.prompt, str):
            return self.prompt
        users = [m.content for m in self.prompt if m.role == "user"]
        return users[-1] if users else self.prompt_text

    @property
    def prompt_text(self) -> str:
        """The prompt as one string (chat messages joined as ``role: content`` lines)."""
        if isinstance(self.prompt, str):
            return self.prompt
        return "\n".join(f"{m.role}: {m.content}" for m in self.prompt)


class UserFeedback(_Inbound):
    """A user's judgement of one call, published to ``llm.feedback.v1``."""

    schema_version: Literal[1] = 1
    event_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="The InferenceEvent this feedback is about."
    )
    thumbs: Literal["up", "down"] | None = Field(default=None, description="Thumbs up or down.")
    # Strict, as the published JSON Schema says (a number): a producer's {"score": false}
    # for a thumbs down would otherwise be stored as 0.0, a neutral score, not refused.
    score: float | None = Field(
        default=None,
        strict=True,
        allow_inf_nan=False,
        description="Numeric rating, e.g. -1..1 or 1..5.",
    )
    label: ShortText | None = Field(default=None, description="e.g. thumbs_up, wrong, unsafe.")
    comment: Annotated[str, Field(max_length=10_000)] | None = Field(
        default=None, description="Free text; redacted like every text before storage."
    )
    user_id: ShortText | None = Field(
        default=None,
        description="Who judged. One judgement per (event_id, user_id) is kept: "
        "the latest by timestamp.",
    )
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))

    _nul = field_validator("event_id", "label", "comment", "user_id")(_reject_nul)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return InferenceEvent._utc(value)

    @model_validator(mode="after")
    def _has_judgement(self) -> UserFeedback:
        if self.thumbs is None and self.score is None and self.label is None and not self.comment:
            msg = "feedback needs at least one of thumbs, score, label or comment"
            raise ValueError(msg)
        return self
