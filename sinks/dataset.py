"""Datasets out: the events a selection picks, as stored (redacted), with their detector
signals and user feedback as labels, written for an ML engineer to train or evaluate on.

Formats:

- ``jsonl``: one record per event: the call (prompt, messages, response, context, usage,
  cost, versions), ``signals`` (detector -> score, fired), ``feedback`` (each judgement) and
  ``labels`` (``feedback``: negative / positive / none; one boolean per detector that fired).
- ``openai``: OpenAI chat fine-tuning JSONL (``{"messages": [...]}``); the answer of a call
  whose label is negative (negative feedback, or a fired toxicity, pii, hallucination or
  injection signal) carries ``"weight": 0``: kept as context, never learned from.
- ``parquet``: the ``jsonl`` records as one Parquet table (nested lists of structs).

Beside them ``manifest.json`` says what the files are: the selection query, counts, the
label distribution, the redaction mode, the schema versions and the command that writes the
same dataset again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sinks.clickhouse import ClickHouseSink

__all__ = [
    "FORMATS",
    "DatasetError",
    "QUALITY_DETECTORS",
    "export_dataset",
    "retraining_selection",
]

FORMATS = ("jsonl", "openai", "parquet")
#: Detectors whose firing marks an answer as not to be learned from.
QUALITY_DETECTORS = ("toxicity", "pii", "hallucination", "injection")
MANIFEST_VERSION = 1
FILES = {"jsonl": "events.jsonl", "openai": "openai_chat.jsonl", "parquet": "events.parquet"}

_EVENT_COLUMNS = (
    "event_id, timestamp, service, environment, operation, provider, request_model, model, "
    "prompt, prompt_messages, response, context, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, latency_ms, status, "
    "error_type, finish_reasons, prompt_template_id, prompt_template_version, experiment, "
    "variant, segments, pii_types"
)


class DatasetError(ValueError):
    """The selection cannot be exported: unknown retraining id, a query that is not one
    SELECT, or one without an event_id column."""


@dataclass(frozen=True)
class Selection:
    """Which events: the SQL (a SELECT with an ``event_id`` column) and where it came from."""

    sql: str
    source: dict[str, str]


def retraining_selection(sink: ClickHouseSink, retraining_id: str) -> Selection:
    """The selection a stored retraining event names."""
    _, rows = sink.query(
        "SELECT selection_sql, model, reason FROM retraining_events FINAL "
        "WHERE retraining_id = {rid:String} LIMIT 1",
        {"rid": retraining_id},
    )
    if not rows:
        msg = f"no retraining event {retraining_id!r} in retraining_events"
        raise DatasetError(msg)
    sql, model, reason = rows[0]
    return Selection(sql, {"retraining_id": retraining_id, "model": model, "reason": reason})


def sql_selection(sql: str) -> Selection:
    """A hand-written selection: one read-only SELECT (or WITH) that returns ``event_id``."""
    text = sql.strip().rstrip(";").strip()
    if not re.match(r"(?is)^(select|with)\b", text) or ";" in text:
        msg = "--sql must be one SELECT (or WITH ... SELECT) statement returning event_id"
        raise DatasetError(msg)
    return Selection(text, {"sql": text})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat() if value.tzinfo is None else value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


def _records(sink: ClickHouseSink, selection: Selection) -> list[dict[str, Any]]:
    ids = f"SELECT DISTINCT event_id FROM ({selection.sql})"
    try:
        columns, rows = sink.query(
            f"SELECT {_EVENT_COLUMNS} FROM events_v WHERE event_id IN ({ids}) "
            "ORDER BY timestamp, event_id"
        )
    except Exception as exc:
        msg = f"the selection failed in ClickHouse: {str(exc).splitlines()[0][:300]}"
        raise DatasetError(msg) from None
    events = [dict(zip(columns, map(_plain, r), strict=True)) for r in rows]
    _, sigs = sink.query(
        f"SELECT event_id, detector, score, fired FROM signals_v WHERE event_id IN ({ids}) "
        "ORDER BY event_id, detector"
    )
    signals: dict[str, dict[str, dict[str, Any]]] = {}
    for event_id, detector, score, fired in sigs:
        signals.setdefault(event_id, {})[detector] = {"score": score, "fired": bool(fired)}
    _, fbs = sink.query(
        "SELECT event_id, user_id, timestamp, thumbs, score, label, comment, negative "
        f"FROM feedback_v WHERE event_id IN ({ids}) ORDER BY event_id, timestamp, user_id"
    )
    feedback: dict[str, list[dict[str, Any]]] = {}
    for event_id, user_id, ts, thumbs, score, label, comment, negative in fbs:
        feedback.setdefault(event_id, []).append({
            "user_id": user_id, "timestamp": _plain(ts), "thumbs": thumbs or None,
            "score": score, "label": label or None, "comment": comment or None,
            "negative": bool(negative),
        })  # fmt: skip
    out = []
    for e in events:
        messages = json.loads(e.pop("prompt_messages")) if e["prompt_messages"] else None
        sig = signals.get(e["event_id"], {})
        fb = feedback.get(e["event_id"], [])
        verdict = "none" if not fb else "negative" if any(f["negative"] for f in fb) else "positive"
        labels: dict[str, Any] = {"feedback": verdict}
        labels |= {d: s["fired"] for d, s in sig.items() if d in QUALITY_DETECTORS}
        usage = {k: e.pop(k) for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                                       "cache_write_tokens", "reasoning_tokens")}  # fmt: skip
        out.append({**e, "messages": messages, "usage": usage, "signals": sig,
                    "feedback": fb, "labels": labels})  # fmt: skip
    return out


def _negative(record: dict[str, Any]) -> bool:
    labels = record["labels"]
    return labels["feedback"] == "negative" or any(labels.get(d) for d in QUALITY_DETECTORS)


def _openai(record: dict[str, Any]) -> dict[str, Any]:
    messages = record["messages"] or (
        [{"role": "user", "content": record["prompt"]}] if record["prompt"] else []
    )
    answer = {
        "role": "assistant",
        "content": record["response"],
        "weight": 0 if _negative(record) else 1,
    }
    return {"messages": [*({"role": m["role"], "content": m["content"]} for m in messages), answer]}


def _write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")


def _write_parquet(path: Path, records: Sequence[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {**r, "messages": r["messages"] or [],
         "signals": [{"detector": d, **s} for d, s in sorted(r["signals"].items())],
         "labels": json.dumps(r["labels"], sort_keys=True)}
        for r in records
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_dataset(
    sink: ClickHouseSink,
    selection: Selection,
    out_dir: Path,
    formats: Sequence[str] = ("jsonl",),
    *,
    redaction: str = "replace",
    store_raw_pii: bool = False,
    command: str = "",
) -> dict[str, Any]:
    """Write the selected events in ``formats`` under ``out_dir`` and return the manifest
    (also written as ``manifest.json``)."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        msg = f"unknown format(s) {unknown or formats!r}; known: {', '.join(FORMATS)}"
        raise DatasetError(msg)
    records = _records(sink, selection)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    for fmt in formats:
        path = out_dir / FILES[fmt]
        if fmt == "jsonl":
            _write_jsonl(path, records)
        elif fmt == "openai":
            _write_jsonl(path, [_openai(r) for r in records if r["response"]])
        else:
            _write_parquet(path, records)
        rows = len(records) if fmt != "openai" else sum(1 for r in records if r["response"])
        files[fmt] = {"path": path.name, "rows": rows, "sha256": _sha256(path)}
    detectors: dict[str, Counter[str]] = {}
    for r in records:
        for d, s in r["signals"].items():
            detectors.setdefault(d, Counter())["fired" if s["fired"] else "not_fired"] += 1
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "event_schema_version": 1,
        "created_at": datetime.now(UTC).isoformat(),
        "source": selection.source,
        "query": selection.sql,
        "command": command,
        "counts": {
            "events": len(records),
            "with_feedback": sum(1 for r in records if r["feedback"]),
            "feedback_judgements": sum(len(r["feedback"]) for r in records),
            "negative": sum(1 for r in records if _negative(r)),
            "models": dict(Counter(r["model"] for r in records)),
        },
        "label_distribution": {
            "feedback": dict(Counter(r["labels"]["feedback"] for r in records)),
            "detectors": {d: dict(c) for d, c in sorted(detectors.items())},
        },
        "redaction": {
            "mode": "none (store_raw_pii)" if store_raw_pii else redaction,
            "note": "texts are exported as stored; PII was redacted before storage",
            "events_with_pii_found": sum(1 for r in records if r["pii_types"]),
        },
        "files": files,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
