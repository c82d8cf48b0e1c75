"""NERPIIDetector: names by presidio+spaCy, leakage vs echo, presidio redaction."""

from __future__ import annotations

import pytest

from detectors.base import BatchFeatures, create
from detectors.pii import Finding, RegexPIIDetector
from detectors.pii_ner import NERPIIDetector, anonymize_event, anonymize_text, find_phones
from schemas.events import ChatMessage, InferenceEvent


def event(i: int, prompt: str | list[ChatMessage], response: str) -> InferenceEvent:
    return InferenceEvent(
        service="s", model="m", event_id=f"e{i}", prompt=prompt, response=response
    )


EVENTS = [
    event(0, "Say hello.", "Hello! How can I help you today?"),
    event(1, "Who signed the contract?", "It was signed by Barack Obama in Chicago."),
    event(2, "Please greet Angela Merkel.", "Hello, Angela Merkel!"),
    event(3, "my mail is a@example.com", "Noted: a@example.com, and call 07911 123456."),
    event(
        4,
        [ChatMessage(role="user", content="I am Maria Garcia from Madrid.")],
        "Nice to meet you, Maria Garcia.",
    ),
]


@pytest.fixture(scope="session")
def det() -> NERPIIDetector:
    """One detector; the presidio engine it uses is built once per process."""
    d = NERPIIDetector()
    d.find(EVENTS[:1])
    return d


@pytest.fixture(scope="session")
def signals(det: NERPIIDetector):  # type: ignore[no-untyped-def]  # list[Signal]
    return det.score_batch(EVENTS)


def response_findings(det: NERPIIDetector, e: InferenceEvent) -> list[tuple[str, str, str]]:
    return [
        (f.type, e.response[f.start : f.end], f.detector)
        for f in det.find([e])[0]
        if f.field == "response"
    ]


def test_names_in_response_are_flagged_by_ner(det: NERPIIDetector) -> None:
    """A person and a city in the response are NER findings with exact spans."""
    assert response_findings(det, EVENTS[1]) == [
        ("PERSON", "Barack Obama", "ner"),
        ("LOCATION", "Chicago", "ner"),
    ]


def test_exact_fired_and_scores_on_seeded_batch(signals) -> None:  # type: ignore[no-untyped-def]
    """Fired and score per event: only the phone number from nowhere leaks. A public
    figure's name and a city from nowhere are not personal data leaks (leak policy)."""
    assert [(s.event_id, s.fired, s.score) for s in signals] == [
        ("e0", False, 0.0),
        ("e1", False, 0.0),
        ("e2", False, 0.0),
        ("e3", True, 1.0),
        ("e4", False, 0.0),
    ]
    assert signals[3].detail["leaked_types"] == ["PHONE_NUMBER"]
    assert signals[3].detail["kind"] == "not_in_any_input"
    assert signals[3].detail["severity"] == "warning"


def test_a_name_copied_from_another_persons_record_leaks(det: NERPIIDetector) -> None:
    """A name taken from a retrieved record that is not the requester's is a
    third_party_from_context leak; the payer's name on the requester's own statement is not."""
    from schemas.events import ContextDocument

    leak = InferenceEvent(
        service="s", model="m", event_id="n1", user_id="emp-511",
        prompt="Is anyone else on the team on a performance plan?",
        context=[ContextDocument(text="Active PIPs (HR confidential): Steven Clarke (engineering).")],
        response="Yes, Steven Clarke in engineering is on a plan.",
    )  # fmt: skip
    own = InferenceEvent(
        service="s", model="m", event_id="n2", user_id="mgonzalez",
        metadata={"customer_name": "Maria Gonzalez"},
        prompt="Who sent me money last week?",
        context=[ContextDocument(text="Account owner: Maria Gonzalez\n10/14 ZELLE FROM David Park +1,200.00")],
        response="That was a Zelle transfer from David Park.",
    )  # fmt: skip
    fired = det.score_batch([leak, own])
    assert [s.fired for s in fired] == [True, False]
    assert fired[0].detail["kind"] == "third_party_from_context"
    assert "context[0]" in fired[0].reason and "Steven" not in fired[0].reason


def test_echoed_name_is_not_a_leak(signals) -> None:  # type: ignore[no-untyped-def]
    """A name the user wrote in the prompt, repeated in the response, does not fire."""
    assert not signals[2].fired
    assert signals[2].reason == "PII present but not leaked (prompt: PERSON)"


def test_chat_prompt_names_are_found_in_their_message_field(det: NERPIIDetector) -> None:
    """Chat messages are scanned as prompt[i], names and places included."""
    found = [(f.field, f.type) for f in det.find([EVENTS[4]])[0]]
    assert found == [
        ("prompt[0]", "PERSON"),
        ("prompt[0]", "LOCATION"),
        ("response", "PERSON"),
    ]


def test_regex_findings_are_kept_and_labelled_regex(det: NERPIIDetector) -> None:
    """Formatted PII keeps the regex finding; national phones are validated numbers."""
    assert response_findings(det, EVENTS[3]) == [
        ("EMAIL_ADDRESS", "a@example.com", "regex"),
        ("PHONE_NUMBER", "07911 123456", "regex"),
    ]


def test_regex_wins_over_ner_on_overlap(det: NERPIIDetector) -> None:
    """An email whose user part looks like a name is one EMAIL_ADDRESS, not a PERSON too."""
    e = event(9, "hi", "Write to John.Smith@example.com today.")
    assert response_findings(det, e) == [("EMAIL_ADDRESS", "John.Smith@example.com", "regex")]


def test_gate_skips_ner_on_text_without_proper_nouns(det: NERPIIDetector) -> None:
    """With the gate, NER is never asked about text with only common capitalised words."""
    calls: list[list[str]] = []
    gated = NERPIIDetector()
    original = gated._analyze
    gated._analyze = lambda windows: calls.append(windows) or original(windows)  # type: ignore[method-assign]  # spy
    gated.find_texts(["The answer is yes. However, I can help."], ["response"])
    assert calls == [[]]


def test_gate_off_reads_every_text(det: NERPIIDetector) -> None:
    """gate=False sends the whole text to NER."""
    calls: list[list[str]] = []
    ungated = NERPIIDetector(gate=False)
    original = ungated._analyze
    ungated._analyze = lambda windows: calls.append(windows) or original(windows)  # type: ignore[method-assign]  # spy
    ungated.find_texts(["The answer is yes."], ["response"])
    assert calls == [["The answer is yes."]]


def test_findings_are_shared_through_batch_features(det: NERPIIDetector) -> None:
    """A second scan of the same batch comes from the features cache."""
    features = BatchFeatures(EVENTS)
    first = det.findings(EVENTS, features)
    assert "pii:ner" in features
    assert det.findings(EVENTS, features) is first


def test_national_phone_found_only_when_valid() -> None:
    """libphonenumber validation: a UK mobile is a phone, seven random digits are not."""
    regions = ("GB", "US")
    assert [f.type for f in find_phones("call 07911 123456", "r", regions)] == ["PHONE_NUMBER"]
    assert find_phones("order 1234567 shipped", "r", regions) == []


def test_presidio_operators_redact_every_span() -> None:
    """replace, mask and salted hash remove the raw span; a salted hash repeats."""
    text = "Ask Jane Doe at jane@example.com"
    found = [
        Finding("response", "PERSON", 4, 12, "ner"),
        Finding("response", "EMAIL_ADDRESS", 16, 32),
    ]
    assert anonymize_text(text, found) == "Ask <PERSON> at <EMAIL_ADDRESS>"
    assert anonymize_text(text, found, "mask") == "Ask ******** at ****************"
    salt = "0123456789abcdef"
    hashed = anonymize_text(text, found, "hash", salt)
    assert "Jane Doe" not in hashed and "jane@example.com" not in hashed
    assert hashed == anonymize_text(text, found, "hash", salt)


def test_redact_event_uses_configured_operator(det: NERPIIDetector) -> None:
    """The detector's redact() applies its operator to every field with findings."""
    e = EVENTS[4]
    red = NERPIIDetector(redaction="replace").redact(e, det.find([e])[0])
    assert red.prompt[0].content == "I am <PERSON> from <LOCATION>."  # type: ignore[union-attr]
    assert red.response == "Nice to meet you, <PERSON>."
    assert anonymize_event(e, []) is e


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"entities": ("PERSON", "EMAIL")}, "entities"),
        ({"ner_fields": ("reply",)}, "ner_fields"),
        ({"context_words": 0}, "context_words"),
        ({"phone_regions": ("uk",)}, "phone_regions"),
        ({"batch_size": 0}, "batch_size"),
        ({"redaction": "erase"}, "redaction"),
        ({"hash_salt": "short"}, "hash_salt"),
        ({"min_leaks": 0}, "min_leaks"),
    ],
)
def test_bad_parameters_are_rejected_by_name(params: dict, needle: str) -> None:
    """Each invalid parameter raises ValueError naming it."""
    with pytest.raises(ValueError, match=needle):
        NERPIIDetector(**params)


# --- more of the detector (the shared checks: test_detector_checks.py) ----------------


def test_registry_builds_a_drop_in_scanner() -> None:
    """'pii_ner' resolves to NERPIIDetector, a RegexPIIDetector for the pipeline."""
    d = create("pii_ner", min_leaks=2)
    assert isinstance(d, NERPIIDetector) and isinstance(d, RegexPIIDetector)
    assert (d.name, d.source) == ("pii_ner", "ner")


def test_repr_shows_parameters_but_not_the_salt() -> None:
    """repr lists every parameter; the hash salt is masked."""
    d = NERPIIDetector(context_words=4, redaction="hash", hash_salt="0123456789abcdef")
    text = repr(d)
    assert text.startswith("NERPIIDetector(min_leaks=1, entities=(")
    assert "context_words=4" in text and "redaction='hash'" in text
    assert "hash_salt='***'" in text and "0123456789abcdef" not in text
