"""PII and secret detection, leakage scoring, and redaction before storage.

The fast path is regular expressions with checksums where the format has one (Luhn for
cards, mod-97 for IBANs) so that a number that merely looks like a card is not one. Every
text field of an event is scanned: prompt (each chat message), response, retrieved context,
metadata values and the user and session ids. The findings drive redaction: what reaches
ClickHouse or an alert is the redacted text plus the findings (type, field, span, detector).

>>> text = "mail jane.doe@example.com or call +1 415-555-0132"
>>> [(f.type, text[f.start:f.end]) for f in find_pii(text, "response")]
[('EMAIL_ADDRESS', 'jane.doe@example.com'), ('PHONE_NUMBER', '+1 415-555-0132')]
>>> redact_text(text, find_pii(text, "response"))
'mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>'
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from detectors.base import BatchFeatures, Detector
from schemas.events import ChatMessage, ContextDocument, InferenceEvent
from schemas.results import Signal

__all__ = [
    "Finding",
    "RedactionMode",
    "RegexPIIDetector",
    "event_texts",
    "find_pii",
    "map_finding_texts",
    "redact_event",
    "redact_text",
]

RedactionMode = Literal["replace", "mask", "hash"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One PII or secret span in one field of an event."""

    field: str  # "prompt", "prompt[2]", "response", "context[0]", "metadata.email", "user_id"
    type: str  # presidio entity names where one exists: EMAIL_ADDRESS, CREDIT_CARD, ...
    start: int
    end: int
    detector: str = "regex"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(match: str) -> bool:
    digits = re.sub(r"[ -]", "", match)
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn(digits)


def _iban_ok(match: str) -> bool:
    s = match.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _ip_ok(match: str) -> bool:
    try:
        addr = ipaddress.ip_address(match)
    except ValueError:
        return False
    # Version-like strings such as 1.2.3.4 in prose are still addresses; only the
    # unspecified and loopback addresses identify nobody.
    return not (addr.is_unspecified or addr.is_loopback)


# Order matters: on overlap the earlier pattern wins (secrets before numbers, cards before
# phones), and within one pattern the longer span.
_PATTERNS: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = [
    (
        "PRIVATE_KEY",
        re.compile(
            r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?"
            r"(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|$)"
        ),
        None,
    ),
    (
        "API_KEY",
        re.compile(
            r"(?<![\w-])(?:"
            r"sk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
            r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
            r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key id
            r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
            r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
            r"|AIza[0-9A-Za-z_-]{35}"  # Google
            r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
            r")"
        ),
        None,
    ),
    (
        "SECRET",
        re.compile(
            r"(?i)\b(?:api[_-]?key|secret|token|password|passwd|pwd)[\"']?\s{0,3}[:=]\s{0,3}[\"']?"
            r"([^\s\"',;]{8,})"
        ),
        None,
    ),
    (
        "EMAIL_ADDRESS",
        re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
        None,
    ),
    # A card number stands alone: digits glued to letters are part of another code (the
    # BBAN inside "GB76UVNR70568566246287" is Luhn-valid often enough to matter).
    ("CREDIT_CARD", re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])"), _card_ok),
    ("IBAN_CODE", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), _iban_ok),
    (
        "US_SSN",
        re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"),
        None,
    ),
    (
        "PHONE_NUMBER",
        re.compile(
            r"(?<![\w+])(?:"
            r"(?:\+?1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]\d{3}[ .-]\d{4}"  # NANP
            r"|\+[1-9]\d{0,2}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}"  # international, E.164
            r")(?![\w-])"
        ),
        lambda m: 10 <= len(re.sub(r"\D", "", m)) <= 15,
    ),
    ("IP_ADDRESS", re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"), _ip_ok),
    (
        "IP_ADDRESS",
        re.compile(
            r"(?<![\w:])(?=[0-9A-Fa-f:]*::|(?:[0-9A-Fa-f]{1,4}:){7})[0-9A-Fa-f:]{3,39}(?![\w:])"
        ),
        _ip_ok,
    ),
]

#: Types that are secrets rather than personal data; named in reasons as such.
SECRET_TYPES = frozenset({"API_KEY", "SECRET", "PRIVATE_KEY"})


def find_pii(text: str, field: str) -> list[Finding]:
    """All non-overlapping PII and secret spans in ``text``, sorted by start."""
    if not text:
        return []
    candidates: list[tuple[int, int, int, str]] = []
    for rank, (kind, pattern, check) in enumerate(_PATTERNS):
        group = 1 if pattern.groups else 0  # a pattern with a group redacts only the value
        for m in pattern.finditer(text):
            if check is None or check(m.group(group)):
                candidates.append((m.start(group), m.end(group), rank, kind))
    candidates.sort(key=lambda c: (c[2], c[0], -(c[1] - c[0])))
    kept: list[tuple[int, int, str]] = []
    for start, end, _, kind in candidates:
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, kind))
    kept.sort()
    return [Finding(field, kind, s, e) for s, e, kind in kept]


def event_texts(event: InferenceEvent) -> Iterator[tuple[str, str]]:
    """Every free-text field of an event as ``(field, text)``."""
    if isinstance(event.prompt, str):
        yield "prompt", event.prompt
    else:
        for i, msg in enumerate(event.prompt):
            yield f"prompt[{i}]", msg.content
    yield "response", event.response
    for i, doc in enumerate(event.context):
        yield f"context[{i}]", doc.text
    for key, value in event.metadata.items():
        yield f"metadata.{key}", value
    if event.user_id:
        yield "user_id", event.user_id
    if event.session_id:
        yield "session_id", event.session_id
    if event.error_type:
        yield "error_type", event.error_type


def _replacement(text: str, kind: str, mode: RedactionMode, salt: str) -> str:
    if mode == "mask":
        return "*" * len(text)
    if mode == "hash":
        digest = hashlib.sha256((salt + text).encode()).hexdigest()[:12]
        return f"<{kind}:{digest}>"
    return f"<{kind}>"


def redact_text(
    text: str, findings: Sequence[Finding], mode: RedactionMode = "replace", salt: str = ""
) -> str:
    """Replace each finding's span (findings must be for this text and not overlap)."""
    out: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        out.append(text[pos : f.start])
        out.append(_replacement(text[f.start : f.end], f.type, mode, salt))
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def map_finding_texts(
    event: InferenceEvent,
    findings: Sequence[Finding],
    rewrite: Callable[[str, list[Finding]], str],
) -> InferenceEvent:
    """A copy of ``event`` with ``rewrite(text, spans)`` applied to every field that has
    findings (the one walk over an event's text fields that every redaction uses)."""
    if not findings:
        return event
    by_field: dict[str, list[Finding]] = {}
    for f in findings:
        by_field.setdefault(f.field, []).append(f)

    def red(field: str, text: str) -> str:
        spans = by_field.get(field)
        return rewrite(text, spans) if spans else text

    if isinstance(event.prompt, str):
        prompt: str | list[ChatMessage] = red("prompt", event.prompt)
    else:
        prompt = [
            ChatMessage(role=m.role, content=red(f"prompt[{i}]", m.content))
            for i, m in enumerate(event.prompt)
        ]
    update: dict[str, Any] = {
        "prompt": prompt,
        "response": red("response", event.response),
        "context": [
            ContextDocument(
                text=red(f"context[{i}]", d.text), id=d.id, source=d.source, score=d.score
            )
            for i, d in enumerate(event.context)
        ],
        "metadata": {k: red(f"metadata.{k}", v) for k, v in event.metadata.items()},
    }
    for field in ("user_id", "session_id", "error_type"):
        value = getattr(event, field)
        if value:
            update[field] = red(field, value)
    return event.model_copy(update=update)


def redact_event(
    event: InferenceEvent,
    findings: Sequence[Finding],
    mode: RedactionMode = "replace",
    salt: str = "",
) -> InferenceEvent:
    """A copy of ``event`` with every finding's span redacted in its field."""
    return map_finding_texts(
        event, findings, lambda text, spans: redact_text(text, spans, mode, salt)
    )


class RegexPIIDetector(Detector):
    """Find PII and secrets in every text field; fire on *leakage*.

    Leakage is PII or a secret in the response whose text did not appear in the prompt or the
    retrieved context (echoing the user's own email back is not a leak). The score is the
    number of leaked spans; ``detail`` lists every finding (type, field, span) — never the
    text itself.

    Parameters
    ----------
    min_leaks
        Number of leaked spans at or above which the signal fires.

    Examples
    --------
    >>> from schemas.events import InferenceEvent
    >>> echo = InferenceEvent(service="s", model="m", event_id="e1",
    ...     prompt="my mail is a@example.com", response="Noted: a@example.com")
    >>> leak = InferenceEvent(service="s", model="m", event_id="e2",
    ...     prompt="who owns card 4111 1111 1111 1111?", response="bob@corp.example owns it")
    >>> [s.fired for s in RegexPIIDetector().score_batch([echo, leak])]
    [False, True]
    """

    name: ClassVar[str] = "pii"
    source: ClassVar[str] = "regex"

    def __init__(self, min_leaks: int = 1) -> None:
        if min_leaks < 1:
            msg = f"min_leaks must be >= 1, got {min_leaks!r}"
            raise ValueError(msg)
        self.min_leaks = min_leaks

    def find(self, events: Sequence[InferenceEvent]) -> list[list[Finding]]:
        """Findings per event, over every text field."""
        return [
            [f for field, text in event_texts(e) for f in find_pii(text, field)] for e in events
        ]

    def findings(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[list[Finding]]:
        """Like :meth:`find`, shared through ``features`` so a batch is scanned once."""
        if features is None:
            return self.find(events)
        return features.get(f"pii:{self.source}", lambda: self.find(events))

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        return [
            self._score(e, found)
            for e, found in zip(events, self.findings(events, features), strict=True)
        ]

    def _score(self, event: InferenceEvent, findings: list[Finding]) -> Signal:
        known = event.prompt_text + "\n" + "\n".join(d.text for d in event.context)
        leaked = [
            f
            for f in findings
            if f.field == "response" and event.response[f.start : f.end] not in known
        ]
        in_prompt = sorted({f.type for f in findings if f.field.startswith("prompt")})
        fired = len(leaked) >= self.min_leaks
        if leaked:
            kinds = sorted({f.type for f in leaked})
            what = "secret" if set(kinds) <= SECRET_TYPES else "PII"
            reason = (
                f"response leaks {len(leaked)} {what} span(s) not present in the prompt "
                f"or context: {', '.join(kinds)}"
            )
        elif findings:
            reason = f"PII present but not leaked (prompt: {', '.join(in_prompt) or 'none'})"
        else:
            reason = "no PII or secrets found"
        return Signal(
            detector=self.name,
            event_id=event.event_id,
            score=float(len(leaked)),
            fired=fired,
            reason=reason,
            detail={
                "leaked_types": sorted({f.type for f in leaked}),
                "prompt_types": in_prompt,
                "findings": [f.as_dict() for f in findings],
            },
        )
