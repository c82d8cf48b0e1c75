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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "EVALUATION_EVENT",
    "InvalidOtlp",
    "OtlpEncoding",
    "Span",
    "decode_export",
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
    if kind == "bytes_value":  # as OTLP/JSON writes bytes, not Python's b'...' repr as text
        return base64.b64encode(value.bytes_value).decode()
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


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise InvalidOtlp("not an OTLP protobuf ExportTraceServiceRequest: cut short")
        byte = buf[i]
        value, shift, i = value | (byte & 0x7F) << shift, shift + 7, i + 1
        if not byte & 0x80:
            return value, i


def _fields(buf: bytes) -> Iterator[tuple[int, bytes]]:
    """The length-delimited fields of one protobuf message, by number (others skipped):
    enough to find each span of an export whose whole does not parse."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        wire = key & 7
        if wire == 2:
            size, i = _varint(buf, i)
            if i + size > len(buf):
                raise InvalidOtlp("not an OTLP protobuf ExportTraceServiceRequest: cut short")
            yield key >> 3, buf[i : i + size]
            i += size
        elif wire in (0, 1, 5):
            i = _varint(buf, i)[1] if wire == 0 else i + (8 if wire == 1 else 4)
        else:
            msg = f"not an OTLP protobuf ExportTraceServiceRequest: wire type {wire}"
            raise InvalidOtlp(msg)
    if i > len(buf):
        raise InvalidOtlp("not an OTLP protobuf ExportTraceServiceRequest: cut short")


@dataclass(frozen=True)
class _Unreadable:
    """A span whose own bytes (or whose resource's or scope's) do not decode."""

    trace_id: str
    span_id: str
    why: str


def _bad_span(trace_id: str, span_id: str, part: str, exc: BaseException) -> _Unreadable:
    why = f"{part} could not be decoded: {str(exc).splitlines()[0][:300] if str(exc) else exc!r}"
    return _Unreadable(trace_id[:32], span_id[:16], why)


def _salvage_proto(raw: bytes) -> Iterator[tuple[Any, Any, Any]]:
    """(resource, scope, span) of an export that does not parse whole (a string that is
    not UTF-8, nesting past the decoder's depth limit): each span parsed on its own, so one
    bad span does not take the good ones with it."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanPb

    for number, rs in _fields(raw):
        parts = [(n, v) for n, v in _fields(rs)] if number == 1 else []
        resource: Any = Resource()
        for n, v in parts:
            if n == 1:
                try:
                    resource = Resource.FromString(v)
                except DecodeError as exc:
                    resource = ("its resource", exc)
        for ss in (v for n, v in parts if n == 2):
            scope: Any = InstrumentationScope()
            spans = []
            for n, v in _fields(ss):
                if n == 1:
                    try:
                        scope = InstrumentationScope.FromString(v)
                    except DecodeError as exc:
                        scope = ("its instrumentation scope", exc)
                elif n == 2:
                    spans.append(v)
            for sp in spans:
                broken = next((x for x in (resource, scope) if isinstance(x, tuple)), None)
                if broken is None:
                    try:
                        yield resource, scope, SpanPb.FromString(sp)
                        continue
                    except DecodeError as exc:
                        broken = ("the span", exc)
                yield None, None, _bad_span(*_proto_ids(sp), *broken)


def _proto_ids(span: bytes) -> tuple[str, str]:
    try:
        ids = {n: v.hex() for n, v in _fields(span) if n in (1, 2)}
    except InvalidOtlp:
        ids = {}
    return ids.get(1, ""), ids.get(2, "")


def _json_ids(span: Any) -> tuple[str, str]:
    if not isinstance(span, dict):
        return "", ""
    ids = [span.get(k, span.get(k2)) for k, k2 in (("traceId", "trace_id"), ("spanId", "span_id"))]
    return tuple(  # type: ignore[return-value]
        i.lower() if isinstance(i, str) and all(c in "0123456789abcdefABCDEF" for c in i) else ""
        for i in ids
    )


def _salvage_json(data: dict[str, Any]) -> Iterator[tuple[Any, Any, Any]]:
    """(resource, scope, span) of an OTLP/JSON export that does not parse whole, each span
    parsed on its own."""
    from google.protobuf import json_format
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanPb

    def parsed(node: Any, message: Any) -> Any:
        node = _hex_ids_to_base64(node) if isinstance(node, dict) else node
        return json_format.ParseDict(node, message, ignore_unknown_fields=True)

    def items(node: Any, *keys: str) -> list[Any]:
        found = next((node[k] for k in keys if isinstance(node, dict) and k in node), [])
        if not isinstance(found, list):
            raise InvalidOtlp(f"not an OTLP/JSON ExportTraceServiceRequest: {keys[0]}")
        return found

    for rs in items(data, "resourceSpans", "resource_spans"):
        for ss in items(rs, "scopeSpans", "scope_spans"):
            for sp in items(ss, "spans"):
                part = "its resource"
                try:
                    resource = parsed(rs.get("resource", {}), Resource())
                    part = "its instrumentation scope"
                    scope = parsed(ss.get("scope", {}), InstrumentationScope())
                    part = "the span"
                    yield resource, scope, parsed(sp, SpanPb())
                except (json_format.ParseError, InvalidOtlp, AttributeError, TypeError) as exc:
                    yield None, None, _bad_span(*_json_ids(sp), part, exc)


def _units(raw: bytes, encoding: OtlpEncoding) -> Iterator[tuple[Any, Any, Any]]:
    """(resource, scope, span or _Unreadable) for every span of the export."""
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
        except DecodeError:
            yield from _salvage_proto(raw)
            return
    else:
        data = _json_object(raw)
        try:
            json_format.ParseDict(_hex_ids_to_base64(data), request, ignore_unknown_fields=True)
        except (json_format.ParseError, InvalidOtlp):
            yield from _salvage_json(data)
            return
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                yield rs.resource, ss.scope, s


def _json_object(raw: bytes) -> dict[str, Any]:
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
    return data


def decode_export(
    raw: bytes | None, encoding: OtlpEncoding = "auto"
) -> tuple[list[Span], list[tuple[str, str, str]]]:
    """Split one exported batch into spans, and the spans that could not be decoded as
    ``(trace_id, span_id, why)`` (ids in hex, empty where unreadable).

    Raises
    ------
    InvalidOtlp
        When ``raw`` is not an ``ExportTraceServiceRequest`` in the given encoding, or holds
        no span at all (a tombstone, an empty export, a metrics or logs payload).
    """
    if not raw:
        raise InvalidOtlp("message has no value")
    spans: list[Span] = []
    bad: list[tuple[str, str, str]] = []
    last: Any = None  # the resource whose attributes are decoded, held: ids stay its own
    for resource, scope, s in _units(raw, encoding):
        if isinstance(s, _Unreadable):
            bad.append((s.trace_id, s.span_id, s.why))
            continue
        if resource is not last:
            last, attributes = resource, _attributes(resource.attributes)
        spans.append(
            Span(
                trace_id=s.trace_id.hex(),
                span_id=s.span_id.hex(),
                parent_span_id=s.parent_span_id.hex(),
                name=s.name,
                start_ns=s.start_time_unix_nano,
                end_ns=s.end_time_unix_nano,
                attributes=_attributes(s.attributes),
                resource=attributes,
                scope=scope.name,
                events=[(e.name, _attributes(e.attributes)) for e in s.events],
                status_code=int(s.status.code),
                status_message=s.status.message,
            )
        )
    if not spans and not bad:
        raise InvalidOtlp("the export holds no span (not a traces payload?)")
    return spans, bad


def decode_traces(raw: bytes | None, encoding: OtlpEncoding = "auto") -> list[Span]:
    """The spans of one exported batch that decode (``decode_export`` also lists the ones
    that do not). Raises ``InvalidOtlp`` as ``decode_export`` does."""
    return decode_export(raw, encoding)[0]


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
