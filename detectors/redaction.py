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
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel

from detectors.pii import find_all, find_pii, redact_text
from schemas.events import InferenceEvent

__all__ = [
    "IDENTIFIER_FIELDS",
    "BatchMemo",
    "IdentifierMode",
    "pseudonym",
    "redact_free_text",
    "scrub_event",
    "scrub_event_reference",
]

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


def _scrubber(
    raw: InferenceEvent, salt: str, identifiers: IdentifierMode, replaced: dict[str, str]
) -> Callable[[Path, str, bool], str]:
    """What each string of an event becomes, by its path; records in ``replaced`` each raw
    value removed and what replaced it."""

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

    return fn


def scrub_event_reference(
    stored: InferenceEvent,
    raw: InferenceEvent,
    salt: str,
    identifiers: IdentifierMode = "hash",
) -> tuple[InferenceEvent, dict[str, str]]:
    """:func:`scrub_event` the plain way: every string of the event through the scrubber,
    the event rebuilt where one changed. The reference the fast path is tested against."""
    replaced: dict[str, str] = {}
    return _walk(stored, (), _scrubber(raw, salt, identifiers, replaced)), replaced


def _strings(value: Any, path: Path, out: list[tuple[Path, str, bool]]) -> None:
    """Every string of ``value`` as ``(path, text, is_key)``, in ``_walk``'s order."""
    if isinstance(value, str):
        out.append((path, value, False))
    elif type(value) in _LEAVES:
        return
    elif isinstance(value, BaseModel):
        for name in _text_fields(type(value)):
            v = getattr(value, name)
            if type(v) is str:  # most fields: no call
                out.append(((*path, name), v, False))
            elif v is not None:
                _strings(v, (*path, name), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _strings(v, (*path, i), out)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                out.append(((*path, k), k, True))
            _strings(v, (*path, k), out)


#: A character or length that makes a string not ``detectors.pii._clean``: a digit, ``@``,
#: ``:``, ``=``, ``<``, a non-ASCII character, or 15 characters of one string (strings are
#: joined by NUL, which no inbound text holds).
_NOT_CLEAN = re.compile(r"[\d@:=<]|[^\x00-\x7f]|[^\x00]{15}")


#: A canonical UUID (8-4-4-4-12 hex digits): no pattern of the scanner can match inside one
#: (hex letters spell no provider prefix or secret word; no ``@``, ``.``, ``:``, ``+`` or
#: space; hyphen-bound groups of 4 and 12 digits fit no card, SSN, phone or IBAN shape).
#: ``tests/unit/test_scrub_fast.py`` checks this against the scanner on generated UUIDs.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass
class BatchMemo:
    """What one batch's events share (one salt), kept for that batch only (it holds raw text):
    ``(is the event id, text)`` found to hold nothing, and each identifier's pseudonym."""

    clean: set[tuple[bool, str]] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)


def _unclean(texts: list[str]) -> list[int] | None:
    """Indices of the ``texts`` a PII pattern could match, found by one regex pass over
    them all; None when a text holds a NUL (then nothing is skipped)."""
    if not texts:
        return []
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:
        return None
    out: list[int] = []
    m = _NOT_CLEAN.search(joined)
    while m is not None:
        out.append(joined.count("\x00", 0, m.start()))  # the text the match is in
        end = joined.find("\x00", m.start())
        m = _NOT_CLEAN.search(joined, end + 1) if end >= 0 else None
    return out


def scrub_event(
    stored: InferenceEvent,
    raw: InferenceEvent,
    salt: str,
    identifiers: IdentifierMode = "hash",
    memo: BatchMemo | None = None,
) -> tuple[InferenceEvent, dict[str, str]]:
    """``stored`` (already redacted by the scanner) with every remaining string field
    redacted and the identifiers pseudonymised from ``raw``'s values.

    Returns the event and a map from each raw value removed to what replaced it, so that
    anything quoting them (a detector's reason) can be scrubbed the same way.

    Most events hold no PII outside the scanned text, so the strings are listed once, one
    regex pass over them all picks the few a pattern could match, and only those are
    scanned. When one of them would change, or a string holds a NUL, the event goes the
    reference way (:func:`scrub_event_reference`); else only the identifiers change. Both
    ways give the same result (``tests/unit/test_scrub_fast.py``). ``memo`` (one per batch)
    keeps the names found clean and the pseudonyms: a batch repeats its model, template
    and experiment names and its users. An event id in the canonical UUID form holds
    nothing by the patterns' construction and is never scanned.
    """
    memo = memo or BatchMemo()
    leaves: list[tuple[Path, str, bool]] = []
    _strings(stored, (), leaves)
    replaced: dict[str, str] = {}
    update: dict[str, str] = {}
    rest: list[tuple[Path, str, bool]] = []
    for leaf in leaves:
        path, text, is_key = leaf
        if not text:
            continue
        if len(path) == 1 and path[0] in IDENTIFIER_FIELDS and identifiers == "hash":
            original = getattr(raw, str(path[0])) or ""  # as _scrubber does
            alias = memo.aliases.get(original) or pseudonym(original, salt)
            memo.aliases[original] = alias
            if len(original) >= 6:
                replaced[original] = alias
            update[str(path[0])] = alias
        elif not _scanned(path, is_key):
            rest.append(leaf)
    dirty = _unclean([text for _, text, _ in rest])
    if dirty is None:
        return scrub_event_reference(stored, raw, salt, identifiers)
    fn = _scrubber(raw, salt, identifiers, {})
    for i in dirty:
        path, text, is_key = rest[i]
        key = (path == ("event_id",), text)
        if key in memo.clean or (key[0] and _UUID.fullmatch(text)):
            continue
        if fn(path, text, is_key) is not text:
            return scrub_event_reference(stored, raw, salt, identifiers)
        memo.clean.add(key)
    return (stored.model_copy(update=update) if update else stored), replaced
