"""The text of one GenAI span: prompt messages, response and finish reasons, from whichever
convention carries them (attributes or span events; see the table in ``schemas/otel.py``).
Pure: attributes in, plain values out.

>>> content({"gen_ai.prompt": "Hi", "gen_ai.completion": "Hello"}, [])["response"]
'Hello'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["CHOICE_EVENT", "DETAILS_EVENT", "MESSAGE_EVENTS", "content", "first"]

#: The event that carries the inputs and outputs of one inference when content is captured
#: as an event rather than as span attributes.
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
#: Span events that carry one prompt message each, by role (GenAI conventions before the
#: details event; Azure AI Inference writes the message as JSON in ``gen_ai.event.content``).
MESSAGE_EVENTS = {
    f"gen_ai.{role}.message": role for role in ("system", "user", "assistant", "tool")
}
#: The span event that carries one answer (``message`` and ``finish_reason``).
CHOICE_EVENT = "gen_ai.choice"


def first(attrs: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = attrs.get(name)
        if value is not None and value != "":
            return value
    return None


def _json_value(value: Any) -> Any:
    """A structured attribute, or the same as a JSON string (both are allowed)."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("[", "{"):
            try:
                return json.loads(stripped)
            except (json.JSONDecodeError, RecursionError):  # "[[[[…" typed by a user is text
                return value
    return value


def _part_text(part: Any) -> str:
    """The text of one message part (``{"type": "text", "content": ...}`` and kin)."""
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        return ""
    kind = part.get("type", "text")
    if kind == "text":
        return str(part.get("content", part.get("text", "")))
    if kind == "tool_call":
        args = part.get("arguments")
        args = args if isinstance(args, str) else json.dumps(args, sort_keys=True)
        return f"[tool_call {part.get('name', '')}({args})]"
    if kind == "tool_call_response":
        response = part.get("response", part.get("result", ""))
        return response if isinstance(response, str) else json.dumps(response, sort_keys=True)
    return ""  # reasoning, blobs, files and uris: not text we score


def _message_text(message: Any) -> str:
    if isinstance(message, str):
        return message
    if not isinstance(message, Mapping):
        return ""
    if "parts" in message:
        parts = message["parts"] if isinstance(message["parts"], list) else [message["parts"]]
        return "\n".join(t for t in map(_part_text, parts) if t)
    content = message.get("content")
    if isinstance(content, list):  # OpenAI-style content blocks
        return "\n".join(t for t in map(_part_text, content) if t)
    return "" if content is None else str(content)


def _messages(value: Any) -> list[dict[str, str]]:
    value = _json_value(value)
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        return [] if value is None else [{"role": "user", "content": str(value)}]
    out = []
    for m in value:
        role = str(m.get("role", "user")) if isinstance(m, Mapping) else "user"
        out.append({"role": role, "content": _message_text(m)})
    return out


def _system(value: Any) -> list[dict[str, str]]:
    value = _json_value(value)
    parts = value if isinstance(value, list) else [value]
    text = "\n".join(t for t in map(_part_text, parts) if t)
    return [{"role": "system", "content": text}] if text else []


def _indexed(attrs: Mapping[str, Any], prefix: str, suffix: str = "") -> list[dict[str, Any]]:
    """``{prefix}.{i}{suffix}.{key}`` attributes as a list of dicts, in index order."""
    found: dict[int, dict[str, Any]] = {}
    head = f"{prefix}."
    for name, value in attrs.items():
        if not name.startswith(head):
            continue
        index, _, rest = name[len(head) :].partition(".")
        if not index.isdigit() or not rest:
            continue
        if suffix:
            if not rest.startswith(f"{suffix}."):
                continue
            rest = rest[len(suffix) + 1 :]
        found.setdefault(int(index), {})[rest] = value
    return [found[i] for i in sorted(found)]


def _finish_reasons(value: Any) -> list[str]:
    value = _json_value(value)
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _event_body(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """One message event's fields: its attributes, with ``gen_ai.event.content`` (a JSON
    object or plain text) read into them."""
    body = _json_value(attrs.get("gen_ai.event.content"))
    if isinstance(body, Mapping):
        return {**attrs, **body}
    return dict(attrs) if body is None else {**attrs, "content": body}


def _message_events(
    events: list[tuple[str, dict[str, Any]]],
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """The prompt messages and the choices carried one per span event."""
    prompt, choices = [], []
    for name, attrs in events:
        if name in MESSAGE_EVENTS:
            body = _event_body(attrs)
            role = str(body.get("role") or MESSAGE_EVENTS[name])
            prompt.append({"role": role, "content": _message_text(body)})
        elif name == CHOICE_EVENT:
            choices.append(_event_body(attrs))
    return prompt, choices


def content(attrs: Mapping[str, Any], events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Prompt messages, response text and finish reasons, from whichever convention is there."""
    merged = dict(attrs)
    for name, event_attrs in events:  # content captured on events rather than the span
        if name == DETAILS_EVENT:
            merged.update(event_attrs)
        elif name in ("gen_ai.content.prompt", "gen_ai.content.completion"):  # OpenLIT
            merged.update({k: v for k, v in event_attrs.items() if k not in merged})
    prompt: list[dict[str, str]] | str = ""
    response = ""
    reasons: list[str] = []
    per_message, choices = _message_events(events)
    if "gen_ai.input.messages" in merged or "gen_ai.system_instructions" in merged:
        prompt = _system(merged.get("gen_ai.system_instructions")) + _messages(
            merged.get("gen_ai.input.messages")
        )
    elif legacy := _indexed(merged, "gen_ai.prompt"):  # OpenLLMetry
        prompt = [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
                  for m in legacy]  # fmt: skip
    elif oi := _indexed(merged, "llm.input_messages", "message"):  # OpenInference
        prompt = [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
                  for m in oi]  # fmt: skip
    elif per_message:
        prompt = per_message
    elif (text := first(merged, "gen_ai.prompt", "input.value")) is not None:
        prompt = _messages(text) if _is_message_list(text) else str(text)
    if "gen_ai.output.messages" in merged:
        outputs = _json_value(merged["gen_ai.output.messages"])
        outputs = outputs if isinstance(outputs, list) else [outputs]
        response = "\n".join(t for t in map(_message_text, outputs) if t)
        reasons = [str(m["finish_reason"]) for m in outputs
                   if isinstance(m, Mapping) and m.get("finish_reason")]  # fmt: skip
    elif legacy := _indexed(merged, "gen_ai.completion"):
        response = "\n".join(str(m.get("content", "")) for m in legacy if m.get("content"))
        reasons = [str(m["finish_reason"]) for m in legacy if m.get("finish_reason")]
    elif oi := _indexed(merged, "llm.output_messages", "message"):
        response = "\n".join(str(m.get("content", "")) for m in oi if m.get("content"))
    elif choices:
        response = "\n".join(t for c in choices if (t := _message_text(c.get("message", c))))
        reasons = [str(c["finish_reason"]) for c in choices if c.get("finish_reason")]
    elif (text := first(merged, "gen_ai.completion", "output.value")) is not None:
        response = str(text)
    explicit = _finish_reasons(merged.get("gen_ai.response.finish_reasons"))
    return {"prompt": prompt, "response": response, "finish_reasons": explicit or reasons}


def _is_message_list(text: Any) -> bool:
    value = _json_value(text)
    return isinstance(value, list) and all(isinstance(m, Mapping) and "role" in m for m in value)
