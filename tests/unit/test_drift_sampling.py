"""Drift sampling: heavy streams are embedded in part, every window says so, windows still fill."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.drift.bank import DriftBank
from detectors.drift.monitor import EmbeddingDriftMonitor
from detectors.drift.sampling import DriftSampler
from detectors.pipeline import ScoredEvent, ScoringPipeline
from schemas.events import InferenceEvent


def events(n: int, start: int = 0, service: str = "s") -> list[InferenceEvent]:
    return [
        InferenceEvent(service=service, model="m", event_id=f"{service}-{i}", prompt=f"q {i}")
        for i in range(start, start + n)
    ]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_stream_below_the_rate_is_embedded_whole() -> None:
    """50 events/s against a 100/s bar: every event, batch after batch."""
    clock = Clock()
    s = DriftSampler(100, clock=clock)
    for k in range(20):
        clock.t = k * 1.0
        assert all(s.select(events(50, 50 * k)))
    assert s.fraction(("s", "m")) == 1.0


def test_a_heavy_stream_is_sampled_at_max_rate_over_rate_and_replays_alike() -> None:
    """2000 events/s against 100/s: at most 5 % kept; a replay keeps the same events."""

    def driven() -> DriftSampler:
        clock = Clock()
        s = DriftSampler(100, half_life_s=1.0, clock=clock)
        for k in range(50):
            clock.t = k * 0.1
            s.select(events(200, 200 * k))
        clock.t = 5.0
        return s

    first, replay = driven(), driven()
    assert first.rates()[("s", "m")] == pytest.approx(2000, rel=0.01)
    batch = events(4000, 10**6)
    kept = first.select(batch)
    assert replay.select(batch) == kept
    frac = first.fraction(("s", "m"))  # the rate counts this batch too: below 100/2000
    assert 0.01 < frac < 0.05 and abs(sum(kept) / len(kept) - frac) < 0.01


def test_streams_are_sampled_apart() -> None:
    """A quiet stream next to a heavy one keeps every event."""
    clock = Clock()
    s = DriftSampler(100, half_life_s=1.0, clock=clock)
    for k in range(30):
        clock.t = k * 0.1
        keep = s.select(events(200, 200 * k, "heavy") + events(2, 2 * k, "quiet"))
    assert all(keep[200:]) and sum(keep[:200]) < 40


def test_the_window_fills_in_bounded_time_at_any_rate() -> None:
    """At 5000 events/s and a 100/s bar, reference (200) and a window (100) within ~3 s."""
    clock = Clock()
    sampler = DriftSampler(100, half_life_s=0.5, clock=clock)
    mon = EmbeddingDriftMonitor("s", "m", "prompt", window_size=100, reference_size=200)
    rng = np.random.default_rng(0)
    first_window_at = None
    for k in range(200):
        clock.t = k * 0.05
        batch = events(250, 250 * k)
        keep = sampler.select(batch)
        kept = sum(keep)
        mon.learn(rng.normal(size=(kept, 8)), seen=len(batch))
        result = mon.check()
        if result is not None:
            first_window_at = clock.t
            break
    assert first_window_at is not None and first_window_at <= 3.0 * 1.2
    assert result.seen > 1000 and result.detail["sampling"]["rate"] < 0.1
    assert "Drift embedded a sample: 100 of" in result.reason


def test_each_window_states_its_sample_exactly() -> None:
    """20 items standing for 80 events, then 0 items for 30 events carried into the next 20."""
    rng = np.random.default_rng(1)
    mon = EmbeddingDriftMonitor("s", "m", "prompt", window_size=20, reference_size=20)
    mon.learn(rng.normal(size=(20, 4)))  # the reference, every event
    mon.learn(rng.normal(size=(20, 4)), seen=80)
    r = mon.check()
    assert (r.seen, r.detail["sampling"]) == (80, {"sampled": 20, "seen": 80, "rate": 0.25})
    assert r.reason.endswith("Drift embedded a sample: 20 of 80 events (rate 0.25).")
    mon.learn(np.zeros((0, 4)), seen=30)
    mon.learn(rng.normal(size=(20, 4)), seen=20)
    restored = EmbeddingDriftMonitor.from_bytes(mon.to_bytes())
    r2 = restored.check()
    assert (r2.seen, r2.detail["sampling"]["rate"]) == (50, 0.4)
    assert mon.check().seen == 50  # the saved state held the weights and the carry


def test_an_unsampled_window_says_rate_one_and_adds_nothing_to_the_reason() -> None:
    """Without sampling the statement is there (rate 1.0) and the sentence is unchanged."""
    rng = np.random.default_rng(2)
    mon = EmbeddingDriftMonitor("s", "m", "prompt", window_size=20, reference_size=20)
    mon.learn(rng.normal(size=(40, 4)))
    r = mon.check()
    assert r.detail["sampling"] == {"sampled": 20, "seen": 20, "rate": 1.0}
    assert "sample" not in r.reason


def test_seen_cannot_be_fewer_than_the_items() -> None:
    """The parameter is validated with a message naming it."""
    mon = EmbeddingDriftMonitor("s", "m", "prompt", window_size=20, reference_size=20)
    with pytest.raises(ValueError, match="seen must be >= the 3 items learned, got 2"):
        mon.learn(np.zeros((3, 4)), seen=2)


def test_the_bank_counts_sampled_out_events_as_seen() -> None:
    """Events scored without a prompt embedding still count toward their stream's windows."""
    bank = DriftBank(["prompt"], {"window_size": 20, "reference_size": 20})
    rng = np.random.default_rng(3)
    batch = events(120)
    scored = [
        ScoredEvent(e, [], embeddings={"prompt": rng.normal(size=4)} if i % 3 == 0 else {})
        for i, e in enumerate(batch)
    ]
    results, _ = bank.learn(scored)
    assert len(results) == 1  # 40 embedded: 20 reference, 20 in one window
    assert results[0].detail["sampling"]["sampled"] == 20
    assert 55 <= results[0].seen <= 65  # each embedded event stands for three


def test_the_pipeline_embeds_only_what_the_sampler_keeps() -> None:
    """drift_sample decides which events carry a prompt embedding; all are scored."""
    pipeline = ScoringPipeline([], embed_fields=("prompt",), drift_sample=lambda ev: [
        int(e.event_id.split("-")[1]) % 2 == 0 for e in ev
    ])  # fmt: skip
    scored, failed = pipeline.score(events(6))
    assert not failed and len(scored) == 6
    assert [("prompt" in s.embeddings) for s in scored] == [True, False] * 3
    assert scored[0].embeddings["prompt"].shape == (384,)
    whole = ScoringPipeline([], embed_fields=("prompt",)).score(events(6))[0]
    np.testing.assert_allclose(whole[2].embeddings["prompt"], scored[2].embeddings["prompt"],
                               atol=1e-5)  # fmt: skip


def test_max_rate_must_be_positive() -> None:
    """The parameter is validated with a message naming it."""
    with pytest.raises(ValueError, match="max_rate must be > 0, got 0"):
        DriftSampler(0)
