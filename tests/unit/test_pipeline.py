"""The scoring pipeline: detectors in order, redaction by default, failures isolated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

from detectors.base import BatchFeatures, Detector, NullDetector, UnknownDetector, create
from detectors.cost import CostDetector
from detectors.pii import RegexPIIDetector
from detectors.pipeline import ScoringPipeline
from schemas.events import InferenceEvent
from schemas.results import Signal


def ev(i: int, **kw: object) -> InferenceEvent:
    base = {"service": "s", "model": "gpt-4o", "provider": "openai", "event_id": f"e{i}"}
    return InferenceEvent(**{**base, **kw})


class Quoting(Detector):
    """Quotes the response in its reason, as a hallucination detector would."""

    name: ClassVar[str] = "quoting"

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        return [Signal(detector=self.name, event_id=e.event_id, score=1.0, fired=True,
                       reason=f"unsupported claim: {e.response!r}", detail={"claim": e.response})
                for e in events]  # fmt: skip


class Explodes(Detector):
    name: ClassVar[str] = "explodes"

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        if any("boom" in e.response for e in events):
            raise RuntimeError("detector bug")
        return NullDetector().score_batch(events)


def test_pii_is_redacted_in_every_text_field_before_storage() -> None:
    """Prompt messages, response, context, metadata and ids are all redacted."""
    e = ev(1, prompt=[{"role": "user", "content": "I am ann@example.com"}],
           response="ring 212-555-0199", context=[{"text": "card 4111 1111 1111 1111"}],
           metadata={"note": "ssn 123-45-6789"}, user_id="bob@example.com")  # fmt: skip
    [s], _ = ScoringPipeline([RegexPIIDetector()]).score([e])
    stored = s.event
    assert stored.prompt[0].content == "I am <EMAIL_ADDRESS>"
    assert stored.response == "ring <PHONE_NUMBER>"
    assert stored.context[0].text == "card <CREDIT_CARD>"
    assert stored.metadata == {"note": "ssn <US_SSN>"}
    assert stored.user_id is not None and stored.user_id.startswith("h:")
    assert "bob" not in stored.user_id
    assert s.pii_types == ["CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN"]


def test_identifiers_are_keyed_pseudonyms_that_keep_users_apart() -> None:
    """The same user maps to the same pseudonym, different users to different ones, and the
    pseudonym depends on the salt (nobody without it can test a guess)."""
    events = [ev(i, user_id=u, session_id=f"s-{u}") for i, u in
              enumerate(["ann@example.com", "bob@example.com", "ann@example.com"])]  # fmt: skip
    scored, _ = ScoringPipeline([RegexPIIDetector()], hash_salt="a" * 16).score(events)
    ids = [s.event.user_id for s in scored]
    assert ids[0] == ids[2] != ids[1]
    assert scored[0].event.session_id != scored[1].event.session_id
    other, _ = ScoringPipeline([RegexPIIDetector()], hash_salt="b" * 16).score(events[:1])
    assert other[0].event.user_id != ids[0]
    old, _ = ScoringPipeline([RegexPIIDetector()], identifiers="redact").score(events[:1])
    assert old[0].event.user_id == "<EMAIL_ADDRESS>"


def test_every_other_text_field_is_redacted_and_signals_carry_the_stored_id() -> None:
    """Fields the scanner does not read (environment, metadata keys, segments, role, ...) are
    redacted too, and an event_id that carries PII is pseudonymised everywhere."""
    e = InferenceEvent(
        service="s", model="m", event_id="evt-ann@example.com", environment="ann@example.com",
        prompt=[{"role": "4111 1111 1111 1111", "content": "hi"}], segments=["123-45-6789"],
        experiment="exp 212-555-0199", metadata={"carl@example.com": "v"},
        finish_reasons=["DB_PASSWORD=Wq8!zLr2#vNp4sTe"],
    )  # fmt: skip
    [s], _ = ScoringPipeline([RegexPIIDetector()]).score([e])
    dumped = s.event.model_dump_json()
    for raw in ("ann@", "4111", "123-45", "555-0199", "carl@", "Wq8!"):
        assert raw not in dumped
        assert all(raw not in sig.model_dump_json() for sig in s.signals)
    assert s.event.event_id.startswith("h:")
    assert {sig.event_id for sig in s.signals} == {s.event.event_id}


def test_store_raw_pii_is_an_explicit_opt_in() -> None:
    """With store_raw_pii the text is kept; findings are still recorded."""
    [s], _ = ScoringPipeline([], store_raw_pii=True).score([ev(1, response="a@b.example.com")])
    assert s.event.response == "a@b.example.com" and s.pii_types == ["EMAIL_ADDRESS"]


def test_detector_reasons_never_quote_raw_pii() -> None:
    """A detector quoting the response has the PII in its reason and detail replaced."""
    [s], _ = ScoringPipeline([Quoting()]).score([ev(1, response="mail me at zed@corp.example")])
    [sig] = s.signals
    assert "zed@corp.example" not in sig.reason + str(sig.detail)
    assert "<EMAIL_ADDRESS>" in sig.reason


def test_a_detector_crash_isolates_the_event_and_scores_the_rest() -> None:
    """One hostile event fails scoring alone; the others in its batch are scored."""
    events = [ev(1, response="fine"), ev(2, response="boom"), ev(3, response="ok")]
    scored, failed = ScoringPipeline([CostDetector(), Explodes()]).score(events)
    assert [s.event.event_id for s in scored] == ["e1", "e3"]
    assert [(f.event.event_id, f.error) for f in failed] == [("e2", "RuntimeError: detector bug")]


def test_the_scanner_runs_once_per_batch_when_also_a_detector() -> None:
    """PII findings are computed once and shared by the detector and the redaction."""
    calls = []

    class Counting(RegexPIIDetector):
        def find(self, events):  # type: ignore[no-untyped-def]
            calls.append(len(events))
            return super().find(events)

    det = Counting()
    ScoringPipeline([det], scanner=det).score([ev(1), ev(2)])
    assert calls == [2]


def test_registry_resolves_names_and_rejects_unknown_ones() -> None:
    """Detectors are built by name; an unknown name lists the registered ones."""
    assert repr(create("cost", max_cost_usd=0.5)) == "CostDetector(max_cost_usd=0.5)"
    with pytest.raises(UnknownDetector, match="registered detectors: .*cost"):
        create("nope")


def test_each_detector_may_be_configured_once() -> None:
    """Two detectors with one name would store ambiguous signals."""
    with pytest.raises(ValueError, match="configured once"):
        ScoringPipeline([CostDetector(), CostDetector()])


class NumpyDetail(Detector):
    """Puts numpy scalars in its detail, as the hallucination detector once did."""

    name: ClassVar[str] = "numpy_detail"

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        import numpy as np

        return [Signal(detector=self.name, event_id=e.event_id, score=0.5, fired=False, reason="r",
                       detail={"support": np.float64(0.25), "claims": np.array([1, 2])})
                for e in events]  # fmt: skip


def test_numpy_values_in_details_become_plain_json() -> None:
    """Details are converted to plain JSON types before they reach the sink."""
    import orjson

    [s], failed = ScoringPipeline([NumpyDetail()]).score([ev(1)])
    assert failed == [] and s.signals[0].detail == {"support": 0.25, "claims": [1, 2]}
    orjson.dumps(s.signals[0].detail)  # what the sink does; must not raise
