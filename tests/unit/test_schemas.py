"""The inbound contract and the parser: every bad input maps to one stable reason code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import InferenceEvent, InvalidEvent, ReasonCode, parse_event
from schemas.events import ChatMessage, ContextDocument, UserFeedback
from schemas.jsonschema import SCHEMAS, render
from schemas.results import DeadLetter

GOOD = {"service": "chat", "model": "gpt-4o", "prompt": "hi", "response": "hello"}


def test_committed_json_schemas_match_the_models() -> None:
    """The JSON Schema files producers validate against are regenerated from the models."""
    from schemas.jsonschema import HERE

    for name, model in SCHEMAS.items():
        assert (HERE / name).read_text() == render(model), (
            f"run python -m schemas.jsonschema ({name})"
        )


def test_model_alias_and_otel_names_are_accepted() -> None:
    """`model` is an alias of `request_model`; the response model wins for attribution."""
    e = parse_event(orjson.dumps({**GOOD, "response_model": "gpt-4o-2024-08-06"}))
    assert (e.request_model, e.model) == ("gpt-4o", "gpt-4o-2024-08-06")


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    """A producer that adds fields is not rejected."""
    assert parse_event(orjson.dumps({**GOOD, "new_field": {"x": 1}})).service == "chat"


def test_naive_timestamp_is_taken_as_utc() -> None:
    """A timestamp without offset is UTC; one with an offset is converted."""
    e = parse_event(orjson.dumps({**GOOD, "timestamp": "2026-01-02T03:04:05+02:00"}))
    assert e.timestamp.isoformat() == "2026-01-02T01:04:05+00:00"
    e = parse_event(orjson.dumps({**GOOD, "timestamp": "2026-01-02T03:04:05"}))
    assert e.timestamp.isoformat() == "2026-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("raw", "reason", "fragment"),
    [
        (b"x" * 2_000_000, ReasonCode.OVERSIZED, "over the 1,048,576-byte limit"),
        (b'{"service": "\xff"}', ReasonCode.INVALID_ENCODING, "not UTF-8"),
        (b'{"service": ', ReasonCode.INVALID_JSON, "not JSON"),
        (b"[1, 2]", ReasonCode.NOT_AN_OBJECT, "got list"),
        (b"null", ReasonCode.NOT_AN_OBJECT, "got NoneType"),
        (orjson.dumps({**GOOD, "schema_version": 2}), ReasonCode.UNSUPPORTED_SCHEMA_VERSION, "2"),
        (orjson.dumps({"model": "m"}), ReasonCode.SCHEMA_VIOLATION, "service: Field required"),
        (orjson.dumps({**GOOD, "latency_ms": -1}), ReasonCode.SCHEMA_VIOLATION, "latency_ms"),
        (orjson.dumps({**GOOD, "usage": {"input_tokens": 10**9}}), ReasonCode.SCHEMA_VIOLATION,
         "usage.input_tokens"),
        (orjson.dumps({**GOOD, "usage": {"input_tokens": "12"}}), ReasonCode.SCHEMA_VIOLATION,
         "usage.input_tokens"),
        (orjson.dumps({**GOOD, "usage": {"input_tokens": 5, "cache_read_tokens": 9}}),
         ReasonCode.SCHEMA_VIOLATION, "must include cached tokens"),
        (orjson.dumps({**GOOD, "response": "a\x00b"}), ReasonCode.SCHEMA_VIOLATION, "NUL"),
        (b"[" * 5000 + b"]" * 5000, ReasonCode.INVALID_JSON, "not JSON"),
        (orjson.dumps({**GOOD, "service": "__all"}), ReasonCode.SCHEMA_VIOLATION,
         "service: Value error, '__all' is reserved for dashboard totals"),
        (orjson.dumps({**GOOD, "model": "__all"}), ReasonCode.SCHEMA_VIOLATION,
         "model: Value error, '__all' is reserved"),
        (orjson.dumps({**GOOD, "response_model": "__all"}), ReasonCode.SCHEMA_VIOLATION,
         "response_model: Value error, '__all' is reserved"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_precise_reason(raw: bytes, reason: ReasonCode, fragment: str) -> None:
    """Each kind of bad message is refused with its reason code and a readable message."""
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert info.value.reason is reason
    assert fragment in info.value.message


def test_validation_errors_never_copy_the_input() -> None:
    """Dead-letter errors name the field, never the (possibly PII) value."""
    with pytest.raises(InvalidEvent) as info:
        parse_event(orjson.dumps({**GOOD, "latency_ms": "jane@example.com"}))
    assert "jane@example.com" not in json.dumps(info.value.errors) + info.value.message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_either_parse_or_raise_invalid_event(raw: bytes) -> None:
    """The parser never raises anything but InvalidEvent, whatever the bytes."""
    try:
        parse_event(raw)
    except InvalidEvent as exc:
        assert isinstance(exc.reason, ReasonCode)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(InferenceEvent.model_fields) + ["model"]), json_values))
def test_arbitrary_json_objects_either_parse_or_raise_invalid_event(data: dict) -> None:
    """Wrong types anywhere in an object give InvalidEvent, never another exception."""
    try:
        event = parse_event(orjson.dumps(data))
    except InvalidEvent as exc:
        assert exc.reason in {ReasonCode.SCHEMA_VIOLATION, ReasonCode.UNSUPPORTED_SCHEMA_VERSION}
    else:
        assert parse_event(orjson.dumps(event.model_dump(mode="json"))) == event


def test_dead_letter_keeps_the_original_bytes_and_truncates_only_huge_ones() -> None:
    """Small originals round-trip exactly; oversized ones are embedded truncated and flagged."""
    small = DeadLetter.wrap(b"\xff\x00raw", reason=ReasonCode.INVALID_ENCODING, message="m",
                            topic="t", partition=0, offset=1)  # fmt: skip
    assert small.original == b"\xff\x00raw" and not small.original_truncated
    big = DeadLetter.wrap(b"x" * 800_000, reason=ReasonCode.OVERSIZED, message="m", topic="t",
                          partition=0, offset=2)  # fmt: skip
    assert big.original_truncated and big.original_size == 800_000
    assert len(orjson.dumps(big.model_dump(mode="json"))) < 1_000_000


def _nul_cases(model: type) -> dict[str, object]:
    """For every field of ``model`` that takes text (a string, a list of strings, a map of
    strings), a value for it with a NUL inside; found from the model's own fields, so a
    field added later is checked too."""
    base = {"service": "s", "model": "m", "event_id": "e", "text": "t", "role": "user",
            "content": "c", "score": 1.0}  # fmt: skip
    cases: dict[str, object] = {}
    for name in model.model_fields:
        for ok, bad in (("x", "x\x00"), (["x"], ["x\x00"]), ({"k": "x"}, {"k": "x\x00"})):
            try:
                parsed = model.model_validate({**base, name: ok})
            except ValidationError:
                continue
            if getattr(parsed, name) == ok:  # kept as text (not a nested model)
                cases[name] = bad
                break
    return cases


@pytest.mark.parametrize("model", [InferenceEvent, ChatMessage, ContextDocument, UserFeedback])
def test_nul_is_refused_in_every_text_field(model: type) -> None:
    """NUL is refused (schema_violation) in every text field, the ones once accepted
    (event_id, operation, provider, experiment, segments, finish_reasons,
    prompt_template_id) included."""
    cases = _nul_cases(model)
    if model is InferenceEvent:
        once_accepted = {"event_id", "operation", "provider", "experiment", "segments",
                         "finish_reasons", "prompt_template_id", "metadata", "service"}  # fmt: skip
        assert once_accepted <= set(cases)
    accepted = []
    for name, bad in cases.items():
        data = {"service": "s", "model": "m", "event_id": "e", "text": "t", "role": "user",
                "content": "c", "score": 1.0, name: bad}  # fmt: skip
        try:
            model.model_validate(data)
        except ValidationError:
            continue
        accepted.append(name)
    assert accepted == []
    with pytest.raises(InvalidEvent) as err:
        parse_event(b'{"service": "s", "model": "m", "segments": ["a\\u0000"]}')
    assert err.value.reason.value == "schema_violation"


def test_an_event_from_a_clock_far_ahead_is_refused_with_its_reason() -> None:
    """A producer sending local time as UTC, 14 hours east: dead-lettered with a reason that
    says by how much and what to do; a few minutes of skew, a missing timestamp (the Kafka
    record's time) and any time in the past are accepted."""
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def parse(**fields: object) -> object:
        body = {"event_id": "clock-1", "service": "s", "request_model": "m", **fields}
        return parse_event(orjson.dumps(body), max_future_s=3600, now=now, record_timestamp=now)

    with pytest.raises(InvalidEvent) as caught:
        parse(timestamp=(now + timedelta(hours=14)).isoformat())
    assert caught.value.reason is ReasonCode.TIMESTAMP_IN_FUTURE
    assert caught.value.event_id == "clock-1"
    assert (
        "50,400 s ahead" in caught.value.message and "ingest.max_future_s" in caught.value.message
    )
    for ok in (now + timedelta(minutes=5), now - timedelta(days=900), now + timedelta(hours=1)):
        assert parse(timestamp=ok.isoformat()).timestamp == ok
    assert parse().timestamp == now
