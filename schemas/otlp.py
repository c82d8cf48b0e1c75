"""OTLP trace exports as the OpenTelemetry Collector's ``kafkaexporter`` writes them: one
``ExportTraceServiceRequest`` per message, as protobuf (``otlp_proto``, its default) or as
OTLP/JSON (``otlp_json``: lowerCamelCase keys, trace and span ids in hex, 64-bit integers as
strings). :func:`decode_traces` reads either and splits the batch into :class:`Span`\\ s of
plain Python values (``auto`` tells the encodings apart by the first byte: JSON starts with
``{`` or ``[``, neither a valid protobuf tag for this message). Mapping spans onto events is
``schemas/otel.py``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "EVALUATION_EVENT",
    "InvalidOtlp",
    "OtlpEncoding",
    "Span",
    "decode_traces",
    "encode_evaluations",
    "encode_otlp_json",
]

#: The OpenTelemetry GenAI event that carries one evaluator's verdict on one operation.
EVALUATION_EVENT = "gen_ai.evaluation.result"

OtlpEncoding = Literal["auto", "otlp_proto", "otlp_json"]
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class InvalidOtlp(ValueError):
    """A message that is not an OTLP trace export; the whole message is dead-lettered."""


@dataclass(frozen=True)
class Span:
    """One span, decoded to plain Python: ids in hex, attribute values as Python values
    (strings, numbers, booleans, lists, dicts), events as (name, attributes)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status_code: int = 0
    status_message: str = ""


def _any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` message as a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in kvs}


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes ids in hex; protobuf's JSON parser expects base64 for bytes."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    value = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    msg = f"{key} is not hex, as OTLP/JSON writes ids"
                    raise InvalidOtlp(msg) from None
            else:
                value = _hex_ids_to_base64(value)
            out[key] = value
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def _request(raw: bytes, encoding: OtlpEncoding) -> Any:
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    if encoding == "auto":
        encoding = "otlp_json" if raw.lstrip()[:1] in (b"{", b"[") else "otlp_proto"
    request = ExportTraceServiceRequest()
    if encoding == "otlp_proto":
        try:
            request.ParseFromString(raw)
        except DecodeError as exc:
            msg = f"not an OTLP protobuf ExportTraceServiceRequest: {exc}"
            raise InvalidOtlp(msg) from None
        return request
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"not OTLP/JSON: {exc}"
        raise InvalidOtlp(msg) from None
    except RecursionError:  # "[[[[…": refused here, or it would fail the hop on every retry
        raise InvalidOtlp("not OTLP/JSON: nested too deep") from None
    if not isinstance(data, dict):
        msg = f"OTLP/JSON must be an object, got {type(data).__name__}"
        raise InvalidOtlp(msg)
    try:
        json_format.ParseDict(_hex_ids_to_base64(data), request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        msg = f"not an OTLP/JSON ExportTraceServiceRequest: {exc}"
        raise InvalidOtlp(msg) from None
    return request


def decode_traces(raw: bytes | None, encoding: OtlpEncoding = "auto") -> list[Span]:
    """Split one exported batch into spans.

    Raises
    ------
    InvalidOtlp
        When ``raw`` is not an ``ExportTraceServiceRequest`` in the given encoding, or holds
        no span at all (a tombstone, an empty export, a metrics or logs payload).
    """
    if not raw:
        raise InvalidOtlp("message has no value")
    request = _request(raw, encoding)
    spans: list[Span] = []
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append(
                    Span(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex(),
                        name=s.name,
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        attributes=_attributes(s.attributes),
                        resource=resource,
                        scope=ss.scope.name,
                        events=[(e.name, _attributes(e.attributes)) for e in s.events],
                        status_code=int(s.status.code),
                        status_message=s.status.message,
                    )
                )
    if not spans:
        raise InvalidOtlp("the export holds no span (not a traces payload?)")
    return spans


def encode_otlp_json(request: Any) -> bytes:
    """An ``ExportTraceServiceRequest`` as OTLP/JSON, the way the Collector writes it: hex
    ids, lowerCamelCase keys, enums as integers (the inverse of the JSON decoding here)."""
    from google.protobuf import json_format

    def hexed(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: base64.b64decode(v).hex() if k in _ID_FIELDS and isinstance(v, str) else hexed(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [hexed(v) for v in node]
        return node

    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    return json.dumps(hexed(data), separators=(",", ":")).encode()


def encode_evaluations(
    verdicts: Iterable[tuple[str, str, str | None, Iterable[Any]]], now_ns: int
) -> bytes:
    """Our detectors' verdicts as OpenTelemetry ``gen_ai.evaluation.result`` events: an
    ``ExportLogsServiceRequest`` (protobuf, what kafkaexporter's ``otlp_proto`` writes for
    logs), one log record per (span, detector), parented to the GenAI span it judges.

    ``verdicts`` holds ``(trace_id_hex, span_id_hex, response_id, signals)``; each signal
    has ``detector``, ``score``, ``fired`` and ``reason`` (already scrubbed of PII).
    """
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key: str, value: Any) -> Any:
        if isinstance(value, float):
            return KeyValue(key=key, value=AnyValue(double_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", "infersight"))
    scope = rl.scope_logs.add()
    scope.scope.name = "infersight"
    for trace_id, span_id, response_id, signals in verdicts:
        for sig in signals:
            rec = scope.log_records.add()
            rec.event_name = EVALUATION_EVENT
            rec.time_unix_nano = rec.observed_time_unix_nano = now_ns
            rec.trace_id, rec.span_id = bytes.fromhex(trace_id), bytes.fromhex(span_id)
            rec.attributes.extend([
                kv("gen_ai.evaluation.name", sig.detector),
                kv("gen_ai.evaluation.score.value", float(sig.score)),
                kv("gen_ai.evaluation.score.label", "fail" if sig.fired else "pass"),
                kv("gen_ai.evaluation.explanation", sig.reason[:4096]),
            ])  # fmt: skip
            if response_id:
                rec.attributes.append(kv("gen_ai.response.id", response_id))
    return request.SerializeToString()
