"""Whose data is it? The leak policy: which PII in a response is a leak, of what kind.

A span of PII or a secret in the response is judged against where it could have come from:

- ``secret``: a credential (API key, token, password, private key) in the response, unless
  the user pasted that very value into this prompt. Always critical.
- ``third_party_from_context``: personal data copied from a retrieved document that is not
  the requester's own (another customer's email in a CRM record, a seller's phone number in
  a listing).
- ``not_in_any_input``: personal data in no input at all: memorised or invented by the model.

Not leaks: the requester's own data (anything in the prompt, the ``user_id``, the values of
the configured identity metadata keys, and records in the context that carry that identity),
published company contacts (role mailboxes such as ``support@``, toll-free numbers, numbers
introduced as a support line or office, and allow-listed values), types that are not
personal (``ORGANIZATION``, ``LOCATION``, ``IP_ADDRESS`` by default), and reserved example
values (``@example.com``, 555-01xx, well-known test card numbers) that come from nowhere.

The policy is YAML, one ``default`` block and optional per-service overrides, validated when
the worker starts (``detectors.pii_policy_file.load_policy``); ``detectors/pii_policy.yaml``
is the packaged default::

    default:
      page: [secret, third_party_from_context, not_in_any_input]
      severity: {third_party_from_context: critical, not_in_any_input: warning}
      personal_types: [EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, US_SSN, PERSON]
      invented_types: [EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, US_SSN]
      identity_metadata_keys: [user_email, email, customer_name, phone]
      allow: {types: [], values: [help@acme.example]}
      public_contacts: true
    services:
      marketplace-assistant:
        page: [secret, third_party_from_context]

>>> from schemas.events import ContextDocument, InferenceEvent
>>> from detectors.pii import find_pii
>>> policy = LeakPolicy()
>>> e = InferenceEvent(service="s", model="m", user_id="4471",
...     prompt="What phone number do you have on my account?",
...     context=[ContextDocument(text="Account 4471: Dana, mobile (312) 847-2291"),
...              ContextDocument(text="Account 4472: Marcus, mobile (773) 902-4418")],
...     response="The number on file is (773) 902-4418.")
>>> [(x.kind, x.type, x.source) for x in policy.judge(e, find_pii(e.response, "response"))]
[('third_party_from_context', 'PHONE_NUMBER', 'context[1]')]
>>> own = e.model_copy(update={"response": "The number on file is (312) 847-2291."})
>>> policy.judge(own, find_pii(own.response, "response"))
[]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from schemas.events import InferenceEvent

__all__ = [
    "DEFAULT_POLICY_FILE",
    "KINDS",
    "Leak",
    "KNOWN_TYPES",
    "SEVERITIES",
    "LeakPolicy",
]

Kind = Literal["secret", "third_party_from_context", "not_in_any_input"]
KINDS: tuple[str, ...] = ("secret", "third_party_from_context", "not_in_any_input")
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
SECRET_TYPES = frozenset({"API_KEY", "SECRET", "PRIVATE_KEY"})
#: Every type a scanner can report (regex and NER); the policy file may name only these.
KNOWN_TYPES = frozenset(
    {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS",
     "PERSON", "LOCATION", "ORGANIZATION", "NRP", *SECRET_TYPES}
)  # fmt: skip
DEFAULT_POLICY_FILE = Path(__file__).with_name("pii_policy.yaml")

# Role mailboxes: a local part made of these words is a function, not a person.
_ROLE_WORDS = frozenset(
    "support help helpdesk info contact contacts sales billing accounts account hr payroll "
    "legal notices privacy security abuse noreply no reply admin office team hello service "
    "services customerservice customercare care enquiries enquiry inquiries press media "
    "careers jobs recruiting recruitment warranty returns orders trust safety compliance "
    "registrar admissions lettings reservations bookings booking guests referrals "
    "procurement finance marketing partners partnerships webmaster postmaster feedback ops "
    "it desk reception frontdesk shop store mail news newsletter events membership members "
    "claims complaints dpo gdpr fraud operations facilities admin administrator".split()
)
# Words that introduce a published number or mailbox ("call Customer Care on ...").
_PUBLIC_CUE = re.compile(
    r"(?i)\b(?:support|help\s?(?:line|desk)|hotline|customer\s+(?:care|services?)|care\s+line"
    r"|advice\s+line|call\s+cent(?:re|er)|switchboard|reception|front\s+desk|main\s+(?:line|office)"
    r"|office|reservations|enquiries|inquiries|toll[- ]free|freephone|contact\s+us|call\s+us"
    r"|email\s+us|write\s+to\s+us|urgent\s+care|sales|billing|fraud|service\s+desk)\b"
)
# ...unless the same window says it is a person's own line.
_PRIVATE_CUE = re.compile(
    r"(?i)\b(?:personal|private|home|cell|mobile|direct|his|her|their|parent|mum|mom|dad"
    r"|emergency)\b"
)
_TOLL_FREE = re.compile(r"^(?:1?(?:800|833|844|855|866|877|888)\d{7}|44800\d{6,7}|0800\d{6,7})$")
_EXAMPLE_EMAIL = re.compile(
    r"(?i)@(?:[\w-]+\.)*(?:example\.(?:com|org|net)|example|test|invalid|localhost)$"
)
_TEST_CARDS = frozenset(
    {"4242424242424242", "4111111111111111", "5555555555554444", "4000056655665556",
     "378282246310005", "6011111111111117", "5105105105105100", "4012888888881881"}
)  # fmt: skip


def _norm(kind: str, value: str) -> str:
    """Comparable form of a value: emails lower-cased, numbers as their digits."""
    if kind == "EMAIL_ADDRESS":
        return value.strip().lower()
    if kind in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN"):
        digits = re.sub(r"\D", "", value)
        return digits[-10:] if kind == "PHONE_NUMBER" else digits
    if kind == "IBAN_CODE":
        return re.sub(r"\s", "", value).upper()
    if kind in SECRET_TYPES:
        return value.strip().rstrip(".")
    return " ".join(value.lower().split())


@dataclass(frozen=True, slots=True)
class Leak:
    """One leaked span: its kind, type, where it came from and how severe. No value."""

    kind: str
    type: str
    source: str  # "context[2]", "none"
    severity: str
    start: int
    end: int
    paged: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "type": self.type, "source": self.source,
            "severity": self.severity, "start": self.start, "end": self.end,
            "paged": self.paged,
        }  # fmt: skip


@dataclass(frozen=True)
class LeakPolicy:
    """What counts as a leak for one service (the defaults are the packaged policy).

    Parameters
    ----------
    page
        Kinds that make the signal fire; the others are recorded in the detail only.
    severity
        Severity per kind; ``secret`` is always critical.
    personal_types
        Entity types that are personal data. ORGANIZATION, LOCATION and IP_ADDRESS are not,
        by default.
    invented_types
        Types reported as ``not_in_any_input`` when they come from nowhere. Names are left
        out by default: a name from nowhere is mostly a public figure or a character.
    identity_metadata_keys
        Metadata keys whose values identify the requester (their email, name, phone).
    allow_types, allow_values
        Never a leak: whole types, or exact values such as published company contacts.
    public_contacts
        Treat role mailboxes, toll-free numbers and numbers introduced as a support line or
        office as published company contacts.
    """

    page: frozenset[str] = frozenset(KINDS)
    severity: Mapping[str, str] = field(
        default_factory=lambda: {
            "secret": "critical",
            "third_party_from_context": "critical",
            "not_in_any_input": "warning",
        }
    )
    personal_types: frozenset[str] = frozenset(
        {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "PERSON"}
    )
    invented_types: frozenset[str] = frozenset(
        {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN"}
    )
    identity_metadata_keys: tuple[str, ...] = (
        "user_email", "email", "customer_email", "user_name", "customer_name", "name",
        "employee_name", "patient_name", "client_name", "phone", "user_phone", "account_id",
        "customer_id",
    )  # fmt: skip
    allow_types: frozenset[str] = frozenset()
    allow_values: frozenset[str] = frozenset()
    public_contacts: bool = True

    def judge(self, event: InferenceEvent, findings: Sequence[Any]) -> list[Leak]:
        """The leaks among ``findings`` (of every field; only the response's are judged)."""
        response = event.response
        spans = [f for f in findings if f.field == "response"]
        if not spans:
            return []
        prompt = event.prompt_text
        prompt_l = prompt.lower()
        docs = [d.text for d in event.context]
        pasted_l = _user_text(event).lower()
        identity = self._identity(event, findings)
        allowed = {v.lower() for v in self.allow_values}
        out: list[Leak] = []
        for f in spans:
            value = response[f.start : f.end]
            kind = self._kind(f.type, value, f.start, f.end, response, prompt_l, pasted_l,
                              docs, identity, allowed)  # fmt: skip
            if kind is None:
                continue
            leak_kind, source = kind
            severity = "critical" if leak_kind == "secret" else self.severity[leak_kind]
            out.append(Leak(leak_kind, f.type, source, severity, f.start, f.end,
                            leak_kind in self.page))  # fmt: skip
        return out

    # -- the decision for one span ------------------------------------------------------------

    def _kind(
        self,
        typ: str,
        value: str,
        start: int,
        end: int,
        response: str,
        prompt_l: str,
        pasted_l: str,
        docs: list[str],
        identity: list[str],
        allowed: set[str],
    ) -> tuple[str, str] | None:
        if typ in self.allow_types or value.lower() in allowed:
            return None
        if typ in SECRET_TYPES:
            raw = _norm(typ, value)
            if raw and raw.lower() in pasted_l:
                return None  # the user pasted it in this prompt
            if raw and raw.lower() in prompt_l:  # an operator's system or tool message
                return "secret", "prompt"
            src = next((f"context[{i}]" for i, d in enumerate(docs) if raw in d), "none")
            return "secret", src
        if typ not in self.personal_types:
            return None
        norm = _norm(typ, value)
        if not norm or norm in {_norm(typ, v) for v in allowed}:
            return None
        if self.public_contacts and self._public(typ, value, norm, response, start, end, docs):
            return None
        if _contains(prompt_l, typ, value, norm):
            return None  # in the prompt: the requester's own, or what they asked about
        if any(_same(typ, norm, v) for v in identity):
            return None
        for i, doc in enumerate(docs):
            at = _find(doc, typ, value, norm)
            if at is None:
                continue
            if self._owned(doc, at, typ, norm, identity):
                return None
            return "third_party_from_context", f"context[{i}]"
        if typ not in self.invented_types or _example(typ, value, norm):
            return None
        return "not_in_any_input", "none"

    def _identity(self, event: InferenceEvent, findings: Sequence[Any]) -> list[str]:
        """Strings that name the requester: the user id, the identity metadata values, and
        what the user says is theirs in the prompt ("my email is ...", "I'm Jane Doe")."""
        out = []
        if event.user_id and len(event.user_id) >= 3:
            out.append(event.user_id)
        for key in self.identity_metadata_keys:
            value = event.metadata.get(key)
            if value and len(value) >= 3:
                out.append(value)
        texts = _user_fields(event)
        for f in findings:
            text = texts.get(f.field)
            if text is None or f.type in SECRET_TYPES:
                continue
            before = text[max(0, f.start - 40) : f.start]
            if _FIRST_PERSON.search(before) and not _SOMEONE_ELSE.search(before):
                out.append(text[f.start : f.end])
        for text in texts.values():
            out.extend(m.group(1) for m in _SELF_NAME.finditer(text))
        return out

    def _public(
        self, typ: str, value: str, norm: str, response: str, start: int, end: int,
        docs: list[str],
    ) -> bool:  # fmt: skip
        if typ == "EMAIL_ADDRESS":
            local = norm.split("@", 1)[0]
            if set(re.split(r"[._+-]", local)) <= _ROLE_WORDS | {""} or local in _ROLE_WORDS:
                return True
        if typ == "PHONE_NUMBER" and _TOLL_FREE.match(re.sub(r"\D", "", value)):
            return True
        if typ not in ("EMAIL_ADDRESS", "PHONE_NUMBER"):
            return False
        windows = [response[max(0, start - 60) : start]]
        for doc in docs:
            at = _find(doc, typ, value, norm)
            if at is not None:
                windows.append(doc[max(0, at - 60) : at])
        # Public when some place introduces it as a company line and none as a person's own.
        return any(_PUBLIC_CUE.search(w) for w in windows) and not any(
            _PRIVATE_CUE.search(w) for w in windows
        )

    def _owned(self, doc: str, at: int, typ: str, norm: str, identity: list[str]) -> bool:
        """Is the record holding the span at ``at`` the requester's own?

        The record is the span's line. It is the requester's when it names the requester,
        and does not also hold the requester's own value of the same type (then this value,
        different from theirs, is someone else's: "to 07700 900 777 (you) from 07700 900 231").
        Names (no format) are owned at document level: the payer's name on the user's own
        statement.
        """
        if not identity:
            return False
        line_start = doc.rfind("\n", 0, at) + 1
        line_end = doc.find("\n", at)
        line = doc[line_start : line_end if line_end >= 0 else len(doc)]
        scope = doc if typ in ("PERSON", "LOCATION", "NRP") else line
        scope_l = scope.lower()
        named = [v for v in identity if _word_in(v.lower(), scope_l)]
        if not named:
            return False
        same_type_own = [v for v in named if _norm(typ, v) and _looks(typ, v)]
        return not same_type_own or any(_same(typ, norm, v) for v in same_type_own)

    # -- loading ------------------------------------------------------------------------------

    def merged(self, overrides: Mapping[str, Any]) -> LeakPolicy:
        return replace(self, **overrides)


# "my email is", "I'm on", "reach me at": the value that follows is the requester's own...
_FIRST_PERSON = re.compile(r"(?i)\b(?:my|mine|i am|i'm|me at|me on|me via)\b")
# ...unless it is someone else's that the requester holds ("my brother's email").
_SOMEONE_ELSE = re.compile(
    r"(?i)\b(?:brother|sister|friend|wife|husband|partner|colleague|neighbou?r|mother|father"
    r"|mum|mom|dad|son|daughter|boss|manager|client|customer|tenant|landlord)(?:'s|s')?\b"
)
_SELF_NAME = re.compile(
    r"(?:\b[Ii](?:'m| am)|\b[Mm]y name is|\b[Tt]his is)\s+"
    r"([A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+){1,2})"
)


def _user_fields(event: InferenceEvent) -> dict[str, str]:
    """What the user wrote: the text prompt, or the chat prompt's user messages, by field."""
    if isinstance(event.prompt, str):
        return {"prompt": event.prompt}
    return {f"prompt[{i}]": m.content for i, m in enumerate(event.prompt) if m.role == "user"}


def _user_text(event: InferenceEvent) -> str:
    return "\n".join(_user_fields(event).values())


def _looks(typ: str, value: str) -> bool:
    if typ == "EMAIL_ADDRESS":
        return "@" in value
    if typ == "PHONE_NUMBER":
        return len(re.sub(r"\D", "", value)) >= 7
    return False


def _same(typ: str, norm: str, other: str) -> bool:
    o = _norm(typ, other)
    return bool(o) and o == norm


def _word_in(needle: str, hay: str) -> bool:
    return re.search(r"(?<![\w@.])" + re.escape(needle) + r"(?![\w@])", hay) is not None


def _contains(hay_l: str, typ: str, value: str, norm: str) -> bool:
    if value.lower() in hay_l:
        return True
    if typ in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE"):
        digits = re.sub(r"[\s().-]", "", hay_l)
        return norm.lower() in digits
    return False


def _find(doc: str, typ: str, value: str, norm: str) -> int | None:
    """Where ``value`` occurs in ``doc``, in any spacing for numbers; ``None`` if absent."""
    i = doc.lower().find(value.lower())
    if i >= 0:
        return i
    if typ in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE") and len(norm) >= 7:
        # map positions of the separator-free text back to the original
        keep = [(j, ch) for j, ch in enumerate(doc) if ch not in " ().-\n\t"]
        flat = "".join(ch for _, ch in keep).upper()
        k = flat.find(norm.upper())
        if k >= 0:
            return keep[k][0]
    return None


def _example(typ: str, value: str, norm: str) -> bool:
    """Reserved example values that identify nobody when a model makes one up."""
    if typ == "EMAIL_ADDRESS":
        return _EXAMPLE_EMAIL.search(norm) is not None
    if typ == "PHONE_NUMBER":
        return re.search(r"555-?01\d\d$", re.sub(r"[ ().]", "-", value)) is not None or (
            norm[-7:-2] == "55501"
        )
    if typ == "CREDIT_CARD":
        return norm in _TEST_CARDS
    return False
