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
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from detectors.base import BatchFeatures, Detector
from detectors.pii_patterns import GATES, PATTERNS, iban_ok
from schemas.events import ChatMessage, ContextDocument, InferenceEvent
from schemas.results import Signal

__all__ = [
    "Finding",
    "RedactionMode",
    "RegexPIIDetector",
    "event_texts",
    "find_all",
    "find_phones",
    "find_pii",
    "merge_findings",
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


def _iban_spans(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    """The longest prefix of an IBAN-shaped match that passes mod-97 (a spaced IBAN may be
    followed by more capitals, "... 7654 32 BIC ...", that the pattern took as its own)."""
    s = m.group()
    for end in range(len(s), 14, -1):
        if end < len(s) and s[end].isalnum() and s[end - 1].isalnum():
            continue  # only cut between groups
        if iban_ok(s[:end].rstrip()):
            return m.start(), m.start() + len(s[:end].rstrip())
    return None


_Spans = tuple[tuple[int, int, str], ...]
_NON_DIGIT = re.compile(r"\D+")
_RISKY = re.compile(r"[\d@:=<]")


def _clean(text: str) -> bool:
    """True when no pattern can match: shorter than the shortest key (15), ASCII, and no
    digit, ``@``, ``:``, ``=`` or ``<`` (what every other gate needs). Most of an event's
    names (service, role, status, metadata keys) are such strings."""
    return len(text) < 15 and text.isascii() and not _RISKY.search(text)


def _scan(text: str, gated: bool = True) -> _Spans:
    """``(start, end, type)`` of every kept span; ``gated`` skips the patterns whose cheap
    precondition (:data:`detectors.pii_patterns.GATES`) the text fails."""
    if gated and _clean(text):
        return ()
    digits = len(_NON_DIGIT.sub("", text)) if gated else 0
    candidates: list[tuple[int, int, int, str]] = []
    for rank, (kind, pattern, check) in enumerate(PATTERNS):
        if gated and not GATES[rank](text, digits):
            continue
        group = pattern.groups  # a pattern with groups redacts only the last: the value
        for m in pattern.finditer(text):
            if kind == "IBAN_CODE":
                span = _iban_spans(text, m)
                if span:
                    candidates.append((*span, rank, kind))
            elif check is None or check(m.group(group)):
                candidates.append((m.start(group), m.end(group), rank, kind))
    candidates.sort(key=lambda c: (c[2], c[0], -(c[1] - c[0])))
    kept: list[tuple[int, int, str]] = []
    for start, end, _, kind in candidates:
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, kind))
    kept.sort()
    return tuple(kept)


#: Spans per distinct text (keyed by a 128-bit hash, never the text), bounded, oldest out:
#: an event's service, model, roles and metadata keys repeat from event to event.
_CACHE_SIZE = 65_536
_cache: dict[tuple[bytes, tuple[str, ...] | None], _Spans] = {}
_cache_lock = threading.Lock()


def _cached(text: str, regions: tuple[str, ...] | None, compute: Callable[[], _Spans]) -> _Spans:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    key = (digest, regions)
    spans = _cache.get(key)
    if spans is None:
        spans = compute()
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                del _cache[next(iter(_cache))]
            _cache[key] = spans
    return spans


def find_pii(text: str, field: str) -> list[Finding]:
    """All non-overlapping PII and secret spans in ``text``, sorted by start."""
    if not text or _clean(text):
        return []
    return [Finding(field, kind, s, e) for s, e, kind in _cached(text, None, lambda: _scan(text))]


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


#: Regions whose phone numbering plans are checked (presidio's PhoneRecognizer default set).
PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
# A run of digits with phone separators, optionally opened by "+" or "(", standing alone: not
# glued to letters or to more of a hyphenated code (a UUID's "04488396-642f").
_PHONE_CANDIDATE = re.compile(r"(?<![\w+(-])[+(]?\d[\d ().-]{4,20}\d(?![\w])(?!-\w)")


def find_phones(
    text: str, field: str, regions: Sequence[str], taken: Sequence[Finding] = ()
) -> list[Finding]:
    """Phone numbers in national or international formats, validated by libphonenumber.

    The regex path knows NANP and ``+``-prefixed numbers; this finds, for example, UK
    ``07911 123456`` or German ``030 901820``: each run of digits and separators outside
    ``taken`` spans is parsed as a number of each of ``regions`` in turn and kept if valid
    there.

    >>> [f.type for f in find_phones("ring 07911 123456 today", "response", ("GB",))]
    ['PHONE_NUMBER']
    """
    # str.isdigit counts more than \d, but a candidate's digits are \d: fewer than 7 \d in the
    # text leave no candidate with 7 digits
    if not regions or len(_NON_DIGIT.sub("", text)) < 7:
        return []
    import phonenumbers

    out = []
    for m in _PHONE_CANDIDATE.finditer(text):
        if sum(ch.isdigit() for ch in m.group()) < 7:
            continue
        if any(m.start() < f.end and f.start < m.end() for f in taken):
            continue
        for region in regions:
            try:
                number = phonenumbers.parse(m.group(), region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                out.append(Finding(field, "PHONE_NUMBER", m.start(), m.end()))
                break
    return out


def merge_findings(first: list[Finding], later: list[Finding]) -> list[Finding]:
    """``first`` plus the ``later`` findings that overlap none of those already kept."""
    kept = list(first)
    for f in sorted(later, key=lambda f: (f.start, -(f.end - f.start))):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: (f.start, f.end))


def find_all(text: str, field: str, regions: Sequence[str] = PHONE_REGIONS) -> list[Finding]:
    """:func:`find_pii` plus national-format phone numbers (the default scanner's view)."""
    if not text or _clean(text):  # find_phones needs 7 digits too
        return []
    regions = tuple(regions)

    def compute() -> _Spans:
        found = find_pii(text, field)
        merged = merge_findings(found, find_phones(text, field, regions, found))
        return tuple((f.start, f.end, f.type) for f in merged)

    return [Finding(field, kind, s, e) for s, e, kind in _cached(text, regions, compute)]


class RegexPIIDetector(Detector):
    """Find PII and secrets in every text field; fire on a *leak*, judged by a leak policy.

    A leak is PII or a secret in the response of one of three kinds (see
    :mod:`detectors.pii_policy`): ``secret`` (a credential the user did not paste into this
    prompt, always critical), ``third_party_from_context`` (personal data copied from a
    retrieved record that is not the requester's own) and ``not_in_any_input`` (personal data
    from nowhere). The requester's own data (prompt, ``user_id``, identity metadata) and
    published company contacts are not leaks. The score is the number of leaked spans of the
    kinds the policy pages on; the reason names kinds, types and the input each span came
    from, and ``detail`` carries ``kind``, ``severity`` and every leak and finding (type,
    field, span) — never the text itself.

    Parameters
    ----------
    min_leaks
        Number of leaked spans at or above which the signal fires.
    policy
        Path of a leak policy YAML file (``detectors/pii_policy.yaml`` when ``None``),
        validated here, at start-up.
    phone_regions
        Regions (ISO 3166 codes) whose numbering plans validate national-format phone
        numbers; empty turns this off.

    Examples
    --------
    >>> from schemas.events import InferenceEvent
    >>> echo = InferenceEvent(service="s", model="m", event_id="e1",
    ...     prompt="my mail is a@example.com", response="Noted: a@example.com")
    >>> leak = InferenceEvent(service="s", model="m", event_id="e2",
    ...     prompt="who owns card 4111 1111 1111 1111?", response="bob@corpmail.com owns it")
    >>> [s.fired for s in RegexPIIDetector().score_batch([echo, leak])]
    [False, True]
    """

    name: ClassVar[str] = "pii"
    uses_embedding: ClassVar[bool] = False  # regexes; pii_ner adds spaCy, not MiniLM
    source: ClassVar[str] = "regex"

    def __init__(
        self,
        min_leaks: int = 1,
        policy: str | None = None,
        phone_regions: Sequence[str] = PHONE_REGIONS,
    ) -> None:
        from detectors.pii_policy_file import load_policy

        if min_leaks < 1:
            msg = f"min_leaks must be >= 1, got {min_leaks!r}"
            raise ValueError(msg)
        phone_regions = tuple(phone_regions)
        if not all(isinstance(r, str) and len(r) == 2 and r.isupper() for r in phone_regions):
            msg = f"phone_regions must be two-letter region codes, got {phone_regions!r}"
            raise ValueError(msg)
        self.min_leaks = min_leaks
        self.policy = str(policy) if policy is not None else None
        self.phone_regions = phone_regions
        self.policies = load_policy(policy)

    def find(self, events: Sequence[InferenceEvent]) -> list[list[Finding]]:
        """Findings per event, over every text field."""
        return [
            [f for field, text in event_texts(e) for f in find_all(text, field, self.phone_regions)]
            for e in events
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
        leaks = self.policies.for_service(event.service).judge(event, findings)
        paged = [x for x in leaks if x.paged]
        in_prompt = sorted({f.type for f in findings if f.field.startswith("prompt")})
        fired = len(paged) >= self.min_leaks
        top = max(leaks, key=lambda x: (x.paged, _SEVERITY_RANK[x.severity]), default=None)
        if leaks:
            parts = []
            for kind in ("secret", "third_party_from_context", "not_in_any_input"):
                of_kind = [x for x in leaks if x.kind == kind]
                if not of_kind:
                    continue
                types = ", ".join(sorted({x.type for x in of_kind}))
                sources = ", ".join(sorted({x.source for x in of_kind if x.source != "none"}))
                where = f" copied from {sources}" if sources else " in no input"
                note = "" if of_kind[0].paged else " (not paged by policy)"
                parts.append(f"{kind}: {len(of_kind)} span(s) of {types}{where}{note}")
            reason = "response leaks " + "; ".join(parts)
        elif findings:
            reason = f"PII present but not leaked (prompt: {', '.join(in_prompt) or 'none'})"
        else:
            reason = "no PII or secrets found"
        return Signal(
            detector=self.name,
            event_id=event.event_id,
            score=float(len(paged)),
            fired=fired,
            reason=reason,
            detail={
                "kind": top.kind if top else None,
                "severity": top.severity if top else None,
                "leaks": [x.as_dict() for x in leaks],
                "leaked_types": sorted({x.type for x in paged}),
                "prompt_types": in_prompt,
                "findings": [f.as_dict() for f in findings],
            },
        )


_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
