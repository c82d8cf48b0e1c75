"""OpenTelemetry GenAI spans → InferenceEvent: real SDK spans, encoded as the Collector's
kafkaexporter writes them, decoded and mapped with no broker."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from genai_spans import STYLES, Call, otlp_json, otlp_proto, record
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from schemas.otel import (
    InvalidOtlp,
    Span,
    decode_traces,
    event_id_of,
    map_span,
    map_traces,
)
from schemas.otlp import encode_otlp_json as otlp_json_of


def one(call: Call, encode=otlp_proto):
    batch = map_traces(encode(record([call])))
    assert batch.skipped == {"not_genai": 1}, "the HTTP request span is skipped and counted"
    assert not batch.invalid
    [event] = batch.events
    return event


def test_semconv_span_maps_every_field() -> None:
    """Current conventions: model, provider, tokens, structured messages from the details
    event, ids, conversation and latency all land on the event."""
    call = Call("semconv", "gpt-4o", "Where is my order 1234?", "It ships tomorrow.",
                input_tokens=500, output_tokens=80, cache_read_tokens=200,
                cache_write_tokens=100, reasoning_tokens=30)  # fmt: skip
    spans = record([call])
    llm = next(s for s in spans if s.name.startswith("chat"))
    [e] = map_traces(otlp_proto(spans)).events
    assert (e.service, e.environment, e.operation) == ("shop-assistant", "prod", "chat")
    assert (e.provider, e.request_model, e.response_model) == ("openai", "gpt-4o", "gpt-4o")
    assert e.usage.model_dump() == {
        "input_tokens": 500, "output_tokens": 80, "cache_read_tokens": 200,
        "cache_write_tokens": 100, "reasoning_tokens": 30,
    }  # fmt: skip
    assert [(m.role, m.content) for m in e.prompt] == [
        ("system", "You are a helpful assistant."),
        ("user", "Where is my order 1234?"),
    ]
    assert e.response == "It ships tomorrow."
    assert e.finish_reasons == ["stop"]
    assert e.session_id == "conv-7"
    assert e.metadata["gen_ai.response.id"] == "chatcmpl-42"
    trace_id = f"{llm.context.trace_id:032x}"
    span_id = f"{llm.context.span_id:016x}"
    assert e.event_id == f"otel-{trace_id}-{span_id}"
    assert e.metadata["otel.trace_id"] == trace_id and e.metadata["otel.span_id"] == span_id
    assert e.metadata["otel.parent_span_id"] == f"{llm.parent.span_id:016x}"
    assert e.latency_ms == pytest.approx((llm.end_time - llm.start_time) / 1e6)
    assert e.timestamp.timestamp() == pytest.approx(llm.start_time / 1e9, abs=1e-6)
    assert (e.status, e.error_type) == ("ok", None)


def test_openllmetry_style_legacy_names_map() -> None:
    """gen_ai.system, prompt/completion_tokens and gen_ai.prompt.{i}.* (OpenLLMetry)."""
    e = one(Call("openllmetry", "gpt-4o-mini", "Hi there", "Hello!", provider="openai",
                 input_tokens=12, output_tokens=3, cache_read_tokens=4))  # fmt: skip
    assert (e.provider, e.request_model, e.operation) == ("openai", "gpt-4o-mini", "chat")
    assert (e.usage.input_tokens, e.usage.output_tokens, e.usage.cache_read_tokens) == (12, 3, 4)
    assert [(m.role, m.content) for m in e.prompt] == [
        ("system", "You are a helpful assistant."), ("user", "Hi there"),
    ]  # fmt: skip
    assert (e.response, e.finish_reasons) == ("Hello!", ["stop"])


def test_openlit_style_content_events_map() -> None:
    """OpenLIT: gen_ai.system, content on gen_ai.content.* events, TTFT in seconds."""
    e = one(Call("openlit", "claude-sonnet-4-5", "Summarise this", "Done.", provider="anthropic",
                 input_tokens=30, output_tokens=5))  # fmt: skip
    assert (e.provider, e.request_model) == ("anthropic", "claude-sonnet-4-5")
    assert (e.prompt, e.response) == ("user: Summarise this", "Done.")
    assert (e.usage.input_tokens, e.usage.output_tokens) == (30, 5)
    assert e.ttft_ms == pytest.approx(250.0)


def test_one_span_event_per_message_maps() -> None:
    """gen_ai.{role}.message and gen_ai.choice span events, the message as JSON in
    gen_ai.event.content (Azure AI Inference): the prompt, answer and finish reason are read,
    not left empty for the detectors."""
    e = one(Call("message_events", "gpt-4o", "Where is order 7?", "It ships today."))
    assert [(m.role, m.content) for m in e.prompt] == [
        ("system", "You are a helpful assistant."), ("user", "Where is order 7?"),
    ]  # fmt: skip
    assert (e.response, e.finish_reasons) == ("It ships today.", ["stop"])


def test_openinference_llm_span_maps() -> None:
    """OpenInference llm.* names: model, provider, token counts, messages."""
    e = one(Call("openinference", "gpt-4o", "2+2?", "4", input_tokens=9, output_tokens=50,
                 reasoning_tokens=48))  # fmt: skip
    assert (e.provider, e.request_model, e.operation) == ("openai", "gpt-4o", "chat")
    assert (e.usage.input_tokens, e.usage.output_tokens, e.usage.reasoning_tokens) == (9, 50, 48)
    assert [m.content for m in e.prompt] == ["You are a helpful assistant.", "2+2?"]
    assert e.response == "4"


@pytest.mark.parametrize("style", STYLES)
def test_json_and_protobuf_encodings_give_the_same_events(style: str) -> None:
    """otlp_json (hex ids, camelCase, int64 as strings) decodes to exactly what otlp_proto
    does."""
    spans = record([Call(style, "gpt-4o", "q", "a", reasoning_tokens=5)])
    assert map_traces(otlp_json(spans)).events == map_traces(otlp_proto(spans)).events
    raw = json.loads(otlp_json(spans))
    first = raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(first["traceId"]) == 32 and int(first["traceId"], 16) > 0
    assert isinstance(first["startTimeUnixNano"], str)


def test_error_span_is_an_error_event_with_its_type() -> None:
    """error.type and the ERROR status make status=error with that type."""
    e = one(Call("semconv", "gpt-4o", "q", "", error="rate_limit_exceeded", output_tokens=0))
    assert (e.status, e.error_type) == ("error", "rate_limit_exceeded")


def test_agent_and_tool_spans_are_skipped_not_double_counted() -> None:
    """invoke_agent totals are not a model call: skipped as agent_or_tool."""
    spans = record([Call("semconv", "gpt-4o", "q", "a",
                         extra={"gen_ai.operation.name": "invoke_agent"})])  # fmt: skip
    batch = map_traces(otlp_proto(spans))
    assert batch.events == [] and batch.skipped == {"not_genai": 1, "agent_or_tool": 1}


def test_cache_counted_the_providers_way_is_added_to_input() -> None:
    """input_tokens that exclude the cache (Anthropic's way) are made inclusive, never dropped."""
    e = one(Call("semconv", "claude-sonnet-4-5", "q", "a", provider="anthropic",
                 input_tokens=10, cache_read_tokens=900, cache_write_tokens=100))  # fmt: skip
    assert (e.usage.input_tokens, e.usage.cache_read_tokens) == (1010, 900)


def test_structured_message_values_are_read_as_well_as_json_strings() -> None:
    """gen_ai.input.messages as an AnyValue array of maps (no SDK writes it yet; the
    Collector and other languages do) maps like the JSON-string form."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    spans = record([Call("semconv", "gpt-4o", "q", "a")])
    request = encode_spans(spans)
    llm = next(s for s in request.resource_spans[0].scope_spans[0].spans if s.name != "POST /ask")
    message = AnyValue()
    kv = message.kvlist_value.values
    kv.append(KeyValue(key="role", value=AnyValue(string_value="user")))
    part = AnyValue()
    part.kvlist_value.values.append(KeyValue(key="type", value=AnyValue(string_value="text")))
    part.kvlist_value.values.append(KeyValue(key="content", value=AnyValue(string_value="hola")))
    parts = AnyValue()
    parts.array_value.values.append(part)
    kv.append(KeyValue(key="parts", value=parts))
    value = AnyValue()
    value.array_value.values.append(message)
    del llm.events[:]
    llm.attributes.append(KeyValue(key="gen_ai.input.messages", value=value))
    [e] = map_traces(request.SerializeToString()).events
    assert [(m.role, m.content) for m in e.prompt] == [("user", "hola")]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "no value"),
        (b"\xff\xff\xff garbage", "not an OTLP protobuf"),
        (b'{"resourceSpans": [}', "not OTLP/JSON"),
        (b'{"resourceSpans": []}', "holds no span"),
        (b"[1, 2]", "must be an object"),
    ],
)
def test_malformed_batch_raises_with_a_reason(raw: bytes, why: str) -> None:
    """A batch that cannot be read is refused whole, saying why (it is dead-lettered)."""
    with pytest.raises(InvalidOtlp, match=why) as caught:
        decode_traces(raw)
    assert "ann@" not in str(caught.value), "the reason never quotes the input"


def test_a_bad_genai_span_is_listed_and_the_good_ones_kept() -> None:
    """A span with reasoning over output that stays inconsistent, or a non-count token
    value, is listed as invalid by its event id; the rest of the batch maps."""
    spans = record([
        Call("semconv", "gpt-4o", "fine", "ok"),
        Call("semconv", "gpt-4o", "bad", "x", extra={"gen_ai.usage.input_tokens": "many"}),
    ])  # fmt: skip
    batch = map_traces(otlp_proto(spans))
    assert [e.prompt[1].content for e in batch.events] == ["fine"]
    [(event_id, why)] = batch.invalid
    assert event_id.startswith("otel-") and "gen_ai.usage.input_tokens must be a whole" in why
    assert "many" not in why, "a dead letter names the attribute, never its value"


def _one_unreadable(raw: bytes) -> None:
    batch = map_traces(raw)
    assert [e.prompt[1].content for e in batch.events] == ["fine"]
    [(event_id, why)] = batch.invalid
    assert event_id.startswith("otel-") and len(event_id) == 54, "the bad span's own ids"
    assert "could not be decoded" in why and "\xff" not in why and "ann@" not in why


def test_a_span_that_does_not_decode_is_listed_and_the_good_ones_kept() -> None:
    """A string that is not UTF-8 in one span (a byte-wise truncation upstream) fails the
    protobuf decoder for the whole export; each span is then decoded on its own, so only
    that span is refused. Likewise a span whose OTLP/JSON does not parse (a lone surrogate,
    an id that is not hex)."""
    spans = record([Call("semconv", "gpt-4o", "fine", "ok"), Call("semconv", "gpt-4o", "bad", "x",
                     extra={"tag": "PLACEHOLDER"})])  # fmt: skip
    raw = otlp_proto(spans)
    _one_unreadable(raw.replace(b"PLACEHOLDER", b"cut \xe2\x82 here"))
    as_json = otlp_json(spans)
    _one_unreadable(as_json.replace(b"PLACEHOLDER", b"ann@x.io \\ud800"))
    bad_id = json.loads(as_json)
    for span in bad_id["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        if any(a["value"].get("stringValue") == "PLACEHOLDER" for a in span["attributes"]):
            span["parentSpanId"] = "ann@x.io"
    _one_unreadable(json.dumps(bad_id).encode())


def test_event_id_is_deterministic_per_span() -> None:
    """The same span redelivered maps to the same event id."""
    raw = otlp_proto(record([Call("semconv", "gpt-4o", "q", "a")]))
    assert map_traces(raw).events[0].event_id == map_traces(raw).events[0].event_id


def _span(attrs: dict) -> Span:
    return Span("ab" * 16, "cd" * 8, "", "chat", 1_700_000_000_000_000_000,
                1_700_000_000_500_000_000, attrs, {"service.name": "svc"})  # fmt: skip


NAMES = {
    "semconv": ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
                "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
                "gen_ai.usage.reasoning.output_tokens"),
    "legacy": ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens",
               "gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_creation_input_tokens",
               "gen_ai.usage.reasoning_tokens"),
    "openinference": ("llm.token_count.prompt", "llm.token_count.completion",
                      "llm.token_count.prompt_details.cache_read",
                      "llm.token_count.prompt_details.cache_write",
                      "llm.token_count.completion_details.reasoning"),
}  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(NAMES)),
    st.tuples(*[st.integers(0, 2_000_000)] * 5),
    st.booleans(),
)
def test_any_token_counts_in_any_naming_map_to_a_valid_usage(style, counts, as_text) -> None:
    """For any counts under any naming, the event's usage keeps the subset rules and loses
    no token: input >= cache parts, output >= reasoning, and every reported count is kept."""
    inp, out, read, write, reasoning = counts
    attrs = {"gen_ai.request.model": "m", "gen_ai.operation.name": "chat"}
    attrs |= {n: str(v) if as_text else v for n, v in zip(NAMES[style], counts, strict=True)}
    usage = map_span(_span(attrs)).usage
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (read, write)
    assert usage.reasoning_tokens == reasoning
    assert usage.input_tokens == (inp if read + write <= inp else inp + read + write)
    assert usage.output_tokens == (out if reasoning <= out else out + reasoning)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=30), st.one_of(
    st.text(max_size=50), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True),
    st.booleans(), st.lists(st.text(max_size=10), max_size=3)), max_size=12))  # fmt: skip
def test_arbitrary_attributes_never_crash_the_mapper(attrs: dict) -> None:
    """Any attribute set maps, is skipped, or raises ValueError: never another exception."""
    attrs = {"gen_ai.request.model": "m", **attrs}
    try:
        map_span(_span(attrs))
    except ValueError:
        pass
    assert event_id_of(_span(attrs)) == f"otel-{'ab' * 16}-{'cd' * 8}"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode)))
def test_any_bytes_map_or_are_refused_as_invalid_otlp(raw: bytes) -> None:
    """Whatever the broker hands us, the mapper returns a batch or raises InvalidOtlp: bad
    input is dead-lettered, never a crash of the hop."""
    try:
        batch = map_traces(raw)
    except InvalidOtlp:
        return
    assert batch.spans >= 1


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(otlp_proto(record([Call("semconv", "gpt-4o", "q", "a")]))) - 1))
def test_a_truncated_export_is_refused_or_maps_what_it_holds(cut: int) -> None:
    """A batch cut short anywhere is refused as InvalidOtlp or yields valid spans only."""
    raw = otlp_proto(record([Call("semconv", "gpt-4o", "q", "a")]))[:cut]
    try:
        batch = map_traces(raw)
    except InvalidOtlp:
        return
    assert all(e.event_id.startswith("otel-") for e in batch.events)


def test_evaluations_encode_as_otlp_log_events_on_the_judged_span() -> None:
    """encode_evaluations writes one gen_ai.evaluation.result record per verdict, with the
    judged span's ids, the score, a pass/fail label and the reason."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from schemas.otlp import encode_evaluations
    from schemas.results import Signal

    sig = Signal(detector="toxicity", event_id="e", score=0.93, fired=True, reason="toxic")
    raw = encode_evaluations([("ab" * 16, "cd" * 8, "resp-1", [sig])], now_ns=5)
    [rec] = ExportLogsServiceRequest.FromString(raw).resource_logs[0].scope_logs[0].log_records
    attrs = {kv.key: kv.value for kv in rec.attributes}
    assert (rec.event_name, rec.trace_id.hex(), rec.span_id.hex(), rec.time_unix_nano) == (
        "gen_ai.evaluation.result", "ab" * 16, "cd" * 8, 5)  # fmt: skip
    assert attrs["gen_ai.evaluation.name"].string_value == "toxicity"
    assert attrs["gen_ai.evaluation.score.value"].double_value == 0.93
    assert attrs["gen_ai.evaluation.score.label"].string_value == "fail"
    assert attrs["gen_ai.evaluation.explanation"].string_value == "toxic"
    assert attrs["gen_ai.response.id"].string_value == "resp-1"


def test_deeply_nested_json_is_refused_or_read_as_text_never_raised() -> None:
    """A user who types a thousand ``[`` into the chat, recorded as ``gen_ai.prompt``, and an
    OTLP/JSON export nested past Python's recursion limit: the first is text, the second a
    refused batch. Neither may raise anything else, or the hop would retry it forever."""
    typed = "[" * 5000
    [e] = map_traces(otlp_proto(record([Call("openlit", "gpt-4o", typed, "ok")]))).events
    assert isinstance(e.prompt, str) and e.prompt.endswith(typed)
    deep = '{"arrayValue":{"values":[' * 5000 + '{"stringValue":"x"}' + "]}}" * 5000
    raw = (
        '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + "ab" * 16 + '","spanId":"'
        + "cd" * 8 + '","name":"chat","startTimeUnixNano":"1","attributes":[{"key":"k","value":'
        + deep + "}]}]}]}]}"
    ).encode()  # fmt: skip
    with pytest.raises(InvalidOtlp, match="nested too deep"):
        decode_traces(raw)


@pytest.mark.parametrize(
    ("trace_id", "span_id"), [("", ""), ("00" * 16, "cd" * 8), ("ab" * 16, "00" * 8)]
)
def test_a_span_without_ids_is_invalid_not_merged_with_every_other(trace_id, span_id) -> None:
    """Empty or all-zero ids (invalid in OTLP) would give every such span one event id, so
    the store would keep one of them; each is refused by its own reason instead."""
    span = replace(_span({"gen_ai.request.model": "gpt-4o"}), trace_id=trace_id, span_id=span_id)
    with pytest.raises(ValueError, match="no valid trace_id and span_id"):
        map_span(span)


def test_an_end_before_the_start_is_an_unknown_latency_not_zero() -> None:
    """A clock step between start and end says nothing of how long the call took: a 0 ms
    latency would drag every percentile down."""
    span = _span({"gen_ai.request.model": "gpt-4o"})
    assert map_span(replace(span, end_ns=span.start_ns - 1)).latency_ms is None
    assert map_span(replace(span, end_ns=0)).latency_ms is None
    assert map_span(span).latency_ms == pytest.approx(500.0)


def test_a_bytes_attribute_is_base64_text_as_otlp_json_writes_it() -> None:
    """A bytes value (AnyValue.bytes_value) reaches text fields as base64, the same from
    protobuf and OTLP/JSON, never as Python's ``b'...'`` repr."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    request = encode_spans(record([Call("semconv", "gpt-4o", "q", "a")]))
    for span in request.resource_spans[0].scope_spans[0].spans:
        span.attributes.append(KeyValue(key="user.id", value=AnyValue(bytes_value=b"\xff\x00u")))
    for raw in (request.SerializeToString(), otlp_json_of(request)):
        [e] = map_traces(raw).events
        assert e.user_id == "/wB1"


def test_tool_call_arguments_nested_near_the_recursion_limit_never_raise() -> None:
    """A model's tool-call arguments nested just under what the JSON parser accepts: the
    parser reads them, re-encoding them for the text then overflows the stack. For every
    depth the span maps or is listed invalid; anything raised would be retried forever."""
    request = encode_spans(record([Call("openllmetry", "gpt-4o", "q", "a")]))
    [llm] = [s for s in request.resource_spans[0].scope_spans[0].spans if s.name == "chat gpt-4o"]
    attribute = llm.attributes.add(key="gen_ai.output.messages")
    outcomes = set()
    for depth in range(850, 1000):
        attribute.value.string_value = (
            '[{"role": "assistant", "parts": [{"type": "tool_call", "name": "f", "arguments": '
            + "[" * depth + "]" * depth + "}]}]"
        )  # fmt: skip
        batch = map_traces(request.SerializeToString())
        outcomes.add("invalid" if batch.invalid else "mapped")
    assert "mapped" in outcomes
