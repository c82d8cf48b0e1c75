"""Every text field of an event, redacted or pseudonymised before it is stored or published.

The PII scanner's findings redact the free-text fields it reads (prompt, response, context
passages, metadata values, error type). This module covers the rest, driven by the schema
rather than by a list, so a field added to ``InferenceEvent`` tomorrow is covered too:

- identifiers (``user_id``, ``session_id``) become a keyed hash, ``h:`` and 24 hex digits of
  HMAC-SHA256 under ``INFERSIGHT_DETECTORS_HASH_SALT``: the same user always gets the same
  pseudonym (group-by, per-user cost and abuse queries keep working), different users stay
  different, and without the salt nobody can test a guess;
- ``event_id`` is pseudonymised the same way when it carries PII (it is the idempotency key,
  so a redelivery maps to the same pseudonym and is still stored once);
- every other string (``environment``, ``service``, metadata *keys*, ``segments``,
  ``experiment``, ``variant``, ``prompt_template_id``, ``finish_reasons``, a chat message's
  ``role``, a context document's ``id`` and ``source``, ...) is scanned with the regex
  scanner and its spans replaced by ``<TYPE>``.

>>> from schemas.events import InferenceEvent
>>> e = InferenceEvent(service="s", model="m", event_id="e1", user_id="ann@example.com",
...     environment="prod ann@example.com", segments=["vip", "4111 1111 1111 1111"],
...     metadata={"bob@example.com": "x"})
>>> out, raw = scrub_event(e, e, salt="k" * 16)
>>> out.environment, out.segments, list(out.metadata), out.user_id[:2], len(out.user_id)
('prod <EMAIL_ADDRESS>', ['vip', '<CREDIT_CARD>'], ['<EMAIL_ADDRESS>'], 'h:', 26)
>>> out.user_id == scrub_event(e, e, salt="k" * 16)[0].user_id
True
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel

from detectors.pii import find_all, find_pii, redact_text
from schemas.events import InferenceEvent

__all__ = ["IDENTIFIER_FIELDS", "IdentifierMode", "pseudonym", "redact_free_text", "scrub_event"]

IdentifierMode = Literal["hash", "redact"]
#: Fields that identify a user or a conversation: pseudonymised, never redacted to a type.
IDENTIFIER_FIELDS = ("user_id", "session_id")
Path = tuple[str | int, ...]


def pseudonym(value: str, salt: str) -> str:
    """A keyed, stable pseudonym: ``h:`` and 24 hex digits of HMAC-SHA256(salt, value).

    >>> pseudonym("ann", "s" * 16) == pseudonym("ann", "s" * 16) != pseudonym("bob", "s" * 16)
    True
    """
    digest = hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"h:{digest[:24]}"


def redact_free_text(text: str, field: str = "text") -> str:
    """``text`` with every regex PII and secret span replaced by ``<TYPE>`` (error messages,
    exception text: anything that may quote an input)."""
    return redact_text(text, find_all(text, field))


def _scanned(path: Path, is_key: bool) -> bool:
    """Paths whose text the PII scanner already redacted (its own findings, NER included)."""
    if is_key:
        return False
    head = path[0]
    if head in ("response", "error_type") and len(path) == 1:
        return True
    if head == "prompt":
        return len(path) == 1 or path[-1] == "content"
    if head == "context":
        return path[-1] == "text"
    return head == "metadata" and len(path) == 2


_LEAVES = frozenset({int, float, bool, type(None), datetime, date, Decimal})


def _may_hold_text(tp: Any, seen: frozenset[type] = frozenset()) -> bool:
    """Whether a value of annotation ``tp`` can contain a string (unknown: yes)."""
    if tp in _LEAVES:
        return False
    origin = get_origin(tp)
    if origin is Literal:
        return any(isinstance(a, str) for a in get_args(tp))
    if origin is Annotated:
        return _may_hold_text(get_args(tp)[0], seen)
    if origin is not None:  # Union, Optional, list, dict, tuple: any of their parts
        return any(_may_hold_text(a, seen) for a in get_args(tp) if a is not Ellipsis)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp not in seen and any(
            _may_hold_text(f.annotation, seen | {tp}) for f in tp.model_fields.values()
        )
    return True


@functools.cache
def _text_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model that can hold a string: the others are never walked."""
    return tuple(n for n, f in cls.model_fields.items() if _may_hold_text(f.annotation))


def _walk(
    value: Any, path: Path, fn: Callable[[Path, str, bool], str]
) -> Any:  # the same shape, every string passed through fn
    if isinstance(value, str):
        return fn(path, value, False)
    if type(value) in _LEAVES:
        return value
    if isinstance(value, BaseModel):
        update = {}
        for name in _text_fields(type(value)):
            old = getattr(value, name)
            new = _walk(old, (*path, name), fn)
            if new is not old:
                update[name] = new
        return value.model_copy(update=update) if update else value
    if isinstance(value, list):
        items = [_walk(v, (*path, i), fn) for i, v in enumerate(value)]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed = False
        for k, v in value.items():
            nk = fn((*path, k), k, True) if isinstance(k, str) else k
            base, n = nk, 2
            while nk in out:  # two keys redacted to the same placeholder stay two entries
                nk = f"{base}#{n}"
                n += 1
            nv = _walk(v, (*path, k), fn)
            changed = changed or nk != k or nv is not v
            out[nk] = nv
        return out if changed else value
    return value


def scrub_event(
    stored: InferenceEvent,
    raw: InferenceEvent,
    salt: str,
    identifiers: IdentifierMode = "hash",
) -> tuple[InferenceEvent, dict[str, str]]:
    """``stored`` (already redacted by the scanner) with every remaining string field
    redacted and the identifiers pseudonymised from ``raw``'s values.

    Returns the event and a map from each raw value removed to what replaced it, so that
    anything quoting them (a detector's reason) can be scrubbed the same way.
    """
    replaced: dict[str, str] = {}

    def fn(path: Path, text: str, is_key: bool) -> str:
        if not text:
            return text
        top = path[0] if len(path) == 1 else None
        if top in IDENTIFIER_FIELDS and identifiers == "hash":
            original = getattr(raw, str(top)) or ""
            alias = pseudonym(original, salt)
            if len(original) >= 6:
                replaced[original] = alias
            return alias
        if _scanned(path, is_key):
            return text
        if top == "event_id":  # machine-made: only unmistakable PII (no national phone forms)
            if not find_pii(text, "event_id"):
                return text
            alias = pseudonym(text, salt)
            replaced[text] = alias
            return alias
        found = find_all(text, ".".join(map(str, path)))
        if not found:
            return text
        for f in found:
            replaced[text[f.start : f.end]] = f"<{f.type}>"
        return redact_text(text, found)

    return _walk(stored, (), fn), replaced
