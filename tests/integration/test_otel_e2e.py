"""OpenTelemetry GenAI spans end to end: SDK spans around fake LLM calls → encoded as the
Collector's kafkaexporter writes them → the tansu broker → a worker → chDB ``events_v``."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from conftest import wait_until
from genai_prices import Usage, calc_price
from genai_spans import Call, otlp_json, otlp_proto, record
from helpers import consume, create_topics, publish, query, start_worker, worker_settings

CALLS = {
    "semconv": Call("semconv", "gpt-4o", "My email is ann@example.com, where is order 7?",
                    "Order 7 ships tomorrow.", input_tokens=1200, output_tokens=300,
                    cache_read_tokens=1000, reasoning_tokens=0),
    "openllmetry": Call("openllmetry", "gpt-4o-mini", "Translate 'cat' to French",
                        "chat", input_tokens=20, output_tokens=2),
    "openlit": Call("openlit", "claude-sonnet-4-5", "Summarise the refund policy",
                    "Refunds within 30 days.", provider="anthropic", input_tokens=400,
                    output_tokens=60),
    "openinference": Call("openinference", "o3", "Prove 1+1=2", "By Peano axioms.",
                          input_tokens=50, output_tokens=900, reasoning_tokens=850),
}  # fmt: skip


def expected_cost(c: Call) -> Decimal:
    """The price computed straight from genai-prices, independently of our mapping."""
    usage = Usage(input_tokens=c.input_tokens, output_tokens=c.output_tokens,
                  cache_read_tokens=c.cache_read_tokens,
                  output_reasoning_tokens=c.reasoning_tokens)  # fmt: skip
    return Decimal(calc_price(usage, model_ref=c.model, provider_id=c.provider).total_price)


def mixed_batch() -> bytes:
    """One export holding a good GenAI span, one with a token count that is no count, and
    one stamped in the year 2100 (a traced host's clock bug)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    spans = record([
        Call("semconv", "gpt-4.1", "fine", "ok"),
        Call("semconv", "gpt-4.1-mini", "bad", "x", extra={"gen_ai.usage.input_tokens": "many"}),
        Call("semconv", "gpt-4.1-nano", "late", "y"),
    ])  # fmt: skip
    request = ExportTraceServiceRequest.FromString(otlp_proto(spans))
    for span in request.resource_spans[0].scope_spans[0].spans:
        if span.name == "chat gpt-4.1-nano":
            span.start_time_unix_nano = 4_102_444_800 * 10**9  # 2100-01-01
            span.end_time_unix_nano = span.start_time_unix_nano + 10**9
    return request.SerializeToString()


@pytest.fixture(scope="module")
def run(broker: str, tmp_path_factory: pytest.TempPathFactory):
    """Two exported batches (protobuf and JSON, two styles each), one redelivered, one
    message that is no OTLP at all, and a batch with two bad spans among good ones."""
    tmp: Path = tmp_path_factory.mktemp("otel")
    settings = worker_settings(broker, tmp, otel={"evaluations_topic": "otel_evaluations"})
    first = record([CALLS["semconv"], CALLS["openllmetry"]])
    second = record([CALLS["openlit"], CALLS["openinference"]], service="research-agent")
    proto, as_json = otlp_proto(first), otlp_json(second)
    garbage = b"\x0a\xff\xff\xff\xff not a protobuf"
    mixed = mixed_batch()
    create_topics(settings)
    worker = start_worker(settings)
    try:
        topic = settings.kafka.topic(settings.otel.topic)
        publish(broker, topic, [(None, proto), (None, as_json), (None, garbage), (None, proto),
                                  (None, mixed)])  # fmt: skip
        signals = consume(broker, settings.kafka.topic("llm.signals.v1"), 7)
        dead = consume(broker, settings.kafka.topic("llm.deadletter.v1"), 3)
        # Sent with the signals, before the ack: 5 spans + the replayed 2, two detectors each.
        evaluations = wait_until(
            lambda: (got := consume(broker, settings.kafka.topic("otel_evaluations"), 1, 5))
            and sum(map(_records, got)) >= 14 and got,
            60, what="14 evaluation records",
        )  # fmt: skip
        stats = wait_until(
            lambda: (s := worker.stats()).get("otlp_spans_received", 0) >= 18 and s,
            30, what="span counters",
        )  # fmt: skip
    finally:
        assert worker.stop() == 0, "worker did not shut down cleanly on SIGTERM"
    rows = query(
        settings,
        "SELECT event_id, service, environment, provider, request_model, model, prompt, "
        "prompt_messages, response, input_tokens, output_tokens, cache_read_tokens, "
        "reasoning_tokens, toString(cost_usd) AS cost, latency_ms, ttft_ms, status, "
        "session_id, pii_types, metadata FROM events_v ORDER BY request_model",
    )
    return settings, rows, signals, dead, stats, garbage, evaluations, mixed


def _records(message) -> int:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest.FromString(message.value)
    return sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)


def by_model(rows: list[dict]) -> dict[str, dict]:
    return {r["request_model"]: r for r in rows}


def test_each_genai_span_is_one_event_row_with_model_tokens_and_cost(run) -> None:
    """Four GenAI spans in two styles per batch become four rows (the redelivered batch
    collapses), each with its model, its token counts and the genai-prices cost."""
    _, rows, *_ = run
    assert sorted(by_model(rows)) == [
        "claude-sonnet-4-5", "gpt-4.1", "gpt-4o", "gpt-4o-mini", "o3",
    ]  # fmt: skip
    for call in CALLS.values():
        r = by_model(rows)[call.model]
        assert (r["input_tokens"], r["output_tokens"]) == (call.input_tokens, call.output_tokens)
        assert r["cache_read_tokens"] == call.cache_read_tokens
        assert r["reasoning_tokens"] == call.reasoning_tokens
        assert r["provider"] == call.provider
        assert Decimal(r["cost"]) == expected_cost(call), call.style
        assert r["status"] == "ok" and r["latency_ms"] > 0
        assert r["event_id"].startswith("otel-") and r["metadata"]["otel.trace_id"]


def test_text_is_mapped_and_redacted_like_native_events(run) -> None:
    """Prompts and responses from every style reach the store; the email is redacted."""
    _, rows, *_ = run
    m = by_model(rows)
    assert "ann@example.com" not in orjson.dumps(rows).decode()
    assert "<EMAIL_ADDRESS>" in m["gpt-4o"]["prompt"] and m["gpt-4o"]["pii_types"]
    assert m["gpt-4o"]["prompt"].startswith("system: You are a helpful assistant.\nuser: ")
    assert m["gpt-4o"]["response"] == "Order 7 ships tomorrow."
    # gen_ai.conversation.id is the session id, stored as a keyed pseudonym like every id.
    assert m["gpt-4o"]["session_id"] and m["gpt-4o"]["session_id"] != "conv-7"
    assert "conv-7" not in orjson.dumps(rows).decode()
    assert m["gpt-4o-mini"]["prompt"].endswith("user: Translate 'cat' to French")
    assert m["gpt-4o-mini"]["response"] == "chat"
    assert m["claude-sonnet-4-5"]["prompt"] == "user: Summarise the refund policy"
    assert m["claude-sonnet-4-5"]["response"] == "Refunds within 30 days."
    assert m["claude-sonnet-4-5"]["ttft_ms"] == pytest.approx(250.0)
    assert m["o3"]["response"] == "By Peano axioms."
    assert {r["service"] for r in rows} == {"shop-assistant", "research-agent"}
    assert {r["environment"] for r in rows} == {"prod"}


def test_spans_are_scored_and_published_like_native_events(run) -> None:
    """Each mapped span gets cost and pii signals on llm.signals.v1 (replayed batch again)."""
    _, rows, signals, *_ = run
    published = [orjson.loads(s.value) for s in signals]
    assert {p["event_id"] for p in published} == {r["event_id"] for r in rows}
    assert all({s["detector"] for s in p["signals"]} == {"cost", "pii"} for p in published)


def test_non_genai_spans_are_counted_and_a_bad_batch_is_dead_lettered(run) -> None:
    """The seven HTTP request spans (and the replay's two) are skipped and counted; the
    garbage message reaches llm.deadletter.v1 byte for byte with reason invalid_otlp."""
    settings, _, _, dead, stats, garbage, *_ = run
    assert stats["otlp_spans_skipped_by"] == {"not_genai": 9}
    assert stats["otlp_events"] == 7
    [envelope] = [e for d in dead if (e := orjson.loads(d.value))["reason"] == "invalid_otlp"]
    assert base64.b64decode(envelope["original_b64"]) == garbage
    assert envelope["topic"] == settings.kafka.topic("otlp_spans")
    stored = query(
        settings,
        "SELECT reason, count() AS n FROM deadletters FINAL GROUP BY reason ORDER BY reason",
    )
    assert stored == [{"reason": r, "n": 1} for r in
                      ("invalid_otlp", "schema_violation", "timestamp_in_future")]  # fmt: skip


def test_bad_spans_among_good_ones_are_dead_lettered_each_and_the_good_one_stored(run) -> None:
    """In one export, the good span is stored; the span with a token count that is no count
    and the span stamped in 2100 are dead-lettered one by one, by event id and reason,
    each carrying the whole batch for replay (the good span collapses on replay)."""
    settings, rows, _, dead, *_, mixed = run
    assert by_model(rows)["gpt-4.1"]["latency_ms"] > 0
    assert not {"gpt-4.1-mini", "gpt-4.1-nano"} & set(by_model(rows))
    envelopes = {
        e["reason"]: e for d in dead if (e := orjson.loads(d.value))["reason"] != "invalid_otlp"
    }
    assert set(envelopes) == {"schema_violation", "timestamp_in_future"}
    assert "gen_ai.usage.input_tokens" in envelopes["schema_violation"]["message"]
    assert "ingest.max_future_s" in envelopes["timestamp_in_future"]["message"]
    for e in envelopes.values():
        assert e["event_id"].startswith("otel-")
        assert base64.b64decode(e["original_b64"]) == mixed


def test_verdicts_go_back_as_gen_ai_evaluation_result_events(run) -> None:
    """With an evaluations topic, each stored span's cost and pii verdicts are published as
    OTLP log records named gen_ai.evaluation.result, parented to the span they judge."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    _, rows, *_, evaluations, _ = run
    seen = set()
    for message in evaluations:
        request = ExportLogsServiceRequest.FromString(message.value)
        for rec in request.resource_logs[0].scope_logs[0].log_records:
            attrs = {kv.key: kv.value for kv in rec.attributes}
            assert rec.event_name == "gen_ai.evaluation.result"
            assert attrs["gen_ai.evaluation.score.label"].string_value in ("pass", "fail")
            seen.add((rec.trace_id.hex(), rec.span_id.hex(),
                      attrs["gen_ai.evaluation.name"].string_value))  # fmt: skip
    expected = {(r["metadata"]["otel.trace_id"], r["metadata"]["otel.span_id"], d)
                for r in rows for d in ("cost", "pii")}  # fmt: skip
    assert seen == expected and len(expected) == 10
