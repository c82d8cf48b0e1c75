"""A message that makes our own parsing raise something unforeseen (the class of bug
probe3 found twice: a RecursionError on deep JSON) is dead-lettered with a reason and a
counter, and the batch goes on: raised, the hop would retry the same batch for ever and
stall its partition. The OTLP and feedback hops; events have ``scoring_failed`` already."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from detectors.pipeline import ScoringPipeline
from streams.feedback import StoreFeedback
from streams.metrics import Metrics
from streams.otel import ScoreSpans
from streams.settings import Settings


def record(value: bytes, offset: int) -> SimpleNamespace:
    """What the hops read of a Kafka record."""
    msg = SimpleNamespace(value=value, key=None, topic="t", partition=0, offset=offset,
                          timestamp=time.time())  # fmt: skip
    return SimpleNamespace(message=msg)


def explode(raw: bytes, *args: object, **kw: object) -> object:
    if b"boom" in raw:
        raise RecursionError("maximum recursion depth exceeded")
    raise AssertionError("only the poisoned record reaches here in this test")


@pytest.mark.parametrize("hop_kind", ["otlp", "feedback"])
def test_an_unforeseen_parse_error_is_dead_lettered_and_the_batch_goes_on(
    hop_kind: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings, metrics = Settings(kafka={"bootstrap": "127.0.0.1:9"}), Metrics()
    args = (settings, ScoringPipeline([]), None, None, metrics, None, None)
    if hop_kind == "otlp":
        monkeypatch.setattr("streams.otel.map_traces", explode)
        hop, reason = ScoreSpans(*args), "invalid_otlp"
    else:
        monkeypatch.setattr("streams.feedback.parse_feedback", explode)
        hop, reason = StoreFeedback(*args), "scoring_failed"
    result = hop.parse([record(b"boom", 41)])
    dead = result[-1]
    assert [(d.reason.value, d.offset) for d in dead] == [(reason, 41)]
    assert "RecursionError" in dead[0].message and "replay" in dead[0].message
    assert metrics.get("deadlettered", reason=reason) == 1
    assert "could not be" in caplog.text  # with the traceback, for whoever fixes it
