"""The scrubber's fast path stores exactly what the reference walk stores.

``scrub_event`` lists an event's strings once, skips those no pattern can match (one regex
pass over them all) and those a batch already found clean, and never scans an event id in
UUID form. ``scrub_event_reference`` passes every string through the scanner. Both must give
the same event and the same map of replaced values, in the same order, on every PII kind in
every field, on hostile text and on generated events.
"""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.pii import RegexPIIDetector, find_pii, redact_event
from detectors.redaction import BatchMemo, scrub_event, scrub_event_reference
from schemas.events import InferenceEvent
from tests.unit.test_pii_fast import PIECES, SAMPLES, corpus

SALT = "s" * 16
#: One value of every kind the scanner knows, and look-alikes that are none.
KINDS = [
    "ann@example.com",
    "4111 1111 1111 1111",
    "123-45-6789",
    "GB82 WEST 1234 5698 7654 32",
    "+1 415-555-0132",
    "07911 123456",
    "10.0.0.12",
    "2001:db8::1",
    "sk-proj-abcdefghijklmnopqrstuvwx",
    "AKIAABCDEFGHIJKLMNOP",
    "password=hunter2hunter2",
    "Bearer abcd1234efgh5678ijkl",
    "postgres://admin:s3cr3tPassw0rd@db.internal:5432/app",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx5m2exampleexample\n-----END RSA",
    "gpt-4o-mini-2024-07-18",
    "prompt-v4-rollout",
    "²³ digits that are not \\d",
    "x" * 14,
    "y" * 15,
    "é",
    "",
]


def _event(value: str, i: int = 0, event_id: str | None = None) -> InferenceEvent:
    """``value`` in every text field the scanner does not own, and in the scanned ones."""
    return InferenceEvent(
        service=f"svc {value}"[:128] or "s",
        model=value[:256] or "m",
        event_id=event_id or value[:128] or f"e{i}",
        environment=value[:256],
        operation=value[:256] or "chat",
        provider=value[:256] or None,
        response_model=value[:256] or None,
        prompt=[
            {"role": value[:256] or "user", "content": f"hi {value}"},
            {"role": "system", "content": "be kind"},
        ],  # fmt: skip
        response=f"answer {value}",
        context=[{"text": f"doc {value}", "id": value[:256] or None, "source": value[:256]}],
        error_type=value[:256] or None,
        finish_reasons=[value[:256], "stop"],
        user_id=value[:256] or None,
        session_id=f"s-{value}"[:256],
        prompt_template_id=value[:256] or None,
        experiment=value[:256] or None,
        variant="treatment",
        segments=["vip", value[:256]],
        metadata={value[:256] or "k": value, "region": "eu", f"{value}x"[:256]: "v"},
    )


def _same(events: list[InferenceEvent], identifiers: str = "hash") -> None:
    found = RegexPIIDetector().find(events)
    memo = BatchMemo()
    for event, findings in zip(events, found, strict=True):
        stored = redact_event(event, findings)
        want = scrub_event_reference(stored, event, SALT, identifiers)
        for shared in (None, memo):  # alone, and with the batch's shared memo
            got = scrub_event(stored, event, SALT, identifiers, shared)
            assert got[0] == want[0]
            assert list(got[1].items()) == list(want[1].items())


def test_every_kind_in_every_field_both_identifier_modes() -> None:
    events = [_event(v, i) for i, v in enumerate(KINDS + SAMPLES)]
    _same(events)
    _same(events, "redact")


def test_clean_events_and_uuid_ids_take_the_fast_way_and_agree() -> None:
    ids = [str(uuid.UUID(int=n)) for n in (0, 1, 10**37, 2**128 - 1)]
    ids += [str(uuid.uuid4()).upper() for _ in range(20)] + [str(uuid.uuid4()) for _ in range(20)]
    events = [_event(v, i, event_id=e) for i, e in enumerate(ids) for v in ("", "plain")]
    _same(events)


def test_the_field_set_texts_in_every_field() -> None:
    _same([_event(t[:4000], i) for i, t in enumerate(corpus())])


def test_a_nul_inside_a_string_goes_the_reference_way() -> None:
    """Inbound text never holds a NUL (the schema refuses it); a copy made in code may."""
    event = _event("plain")
    odd = event.model_copy(update={"environment": "a\x00ann@example.com", "variant": "4\x00"})
    stored = redact_event(odd, [])
    assert scrub_event(stored, odd, SALT) == scrub_event_reference(stored, odd, SALT)
    assert "<EMAIL_ADDRESS>" in scrub_event(stored, odd, SALT)[0].environment


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES + KINDS), min_size=1, max_size=8).map("".join))
def test_generated_values_in_every_field(value: str) -> None:
    _same([_event(value), _event(value, event_id="x" + value[:100])])


HEX = "0123456789abcdefABCDEF"


@settings(max_examples=2000, deadline=None)
@given(
    st.sampled_from(["0123456789", HEX, "0123456789abcdef", "1234567890ABCDEF"]).flatmap(
        lambda alphabet: st.tuples(
            *[st.text(alphabet, min_size=n, max_size=n) for n in (8, 4, 4, 4, 12)]
        )
    )
)
def test_the_scanner_finds_nothing_in_any_uuid_form(groups: tuple[str, ...]) -> None:
    """The fast path does not scan an event id in UUID form: the scanner must find nothing
    there, digits only included (the likeliest to look like a card or a phone)."""
    assert find_pii("-".join(groups), "event_id") == []
