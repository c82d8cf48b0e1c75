"""The drift bank stays bounded when model names are unbounded: a producer that puts a
request id or a per-user fine-tune into the model name makes a new stream with nearly every
event. New streams of a batch are looked up in one call; past ``max_streams`` the least
recently seen monitors are saved and dropped, and resume from that state when they return.
The state lookup runs on the real embedded ClickHouse."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from detectors.drift.bank import DriftBank, StreamKey
from detectors.pipeline import ScoredEvent
from schemas.events import InferenceEvent
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink

PARAMS = {"window_size": 20, "reference_size": 20}
RNG = np.random.default_rng(11)


def scored(models: Sequence[str], start: int = 0) -> list[ScoredEvent]:
    return [
        ScoredEvent(
            InferenceEvent(service="shop", model=m, event_id=f"e-{start + i}", prompt="q"),
            [],
            embeddings={"prompt": RNG.normal(size=8).astype(np.float32)},
        )
        for i, m in enumerate(models)
    ]


class Saved:
    """A drift_state table in a dict: what ``learn`` asked to save, and every lookup."""

    def __init__(self) -> None:
        self.states: dict[StreamKey, bytes] = {}
        self.lookups: list[list[StreamKey]] = []

    def load(self, keys: Sequence[StreamKey]) -> dict[StreamKey, bytes]:
        self.lookups.append(list(keys))
        return {k: self.states[k] for k in keys if k in self.states}


def test_a_model_name_per_request_keeps_the_bank_bounded() -> None:
    """1,000 events, each with its own model name, in batches of 100: never more than 50
    monitors held, one lookup per batch, and every dropped monitor's state handed back."""
    saved = Saved()
    bank = DriftBank(["prompt"], PARAMS, load=saved.load, max_streams=50)
    handed_back = 0
    for b in range(10):
        models = [f"ft:gpt-4o:req-{b * 100 + i}" for i in range(100)]
        _, states = bank.learn(scored(models, start=b * 100))
        saved.states.update(states)
        handed_back += len(states)
        assert len(bank.monitors) <= 50
    assert len(saved.lookups) == 10 and all(len(k) == 100 for k in saved.lookups)
    assert bank.evicted == 1000 - 50
    assert handed_back >= bank.evicted


def test_a_dropped_stream_resumes_from_its_saved_state() -> None:
    """A steady model learns its reference; a flood of one-off names pushes it out; when it
    comes back it has its reference, not a new one learned from scratch."""
    saved = Saved()
    bank = DriftBank(["prompt"], PARAMS, load=saved.load, max_streams=10)
    _, states = bank.learn(scored(["gpt-4o"] * 25))
    saved.states.update(states)
    key = ("shop", "gpt-4o", "prompt")
    assert bank.monitors[key].has_reference
    _, states = bank.learn(scored([f"one-off-{i}" for i in range(30)], start=100))
    saved.states.update(states)
    assert key not in bank.monitors and key in saved.states
    bank.learn(scored(["gpt-4o"] * 5, start=200))
    back = bank.monitors[key]
    assert back.has_reference
    assert back.pending == 10  # the 5 it held when dropped, and the 5 new ones


def test_streams_seen_recently_are_kept() -> None:
    """The bound drops the least recently seen: a model in every batch is never dropped."""
    bank = DriftBank(["prompt"], PARAMS, max_streams=5)
    for b in range(6):
        bank.learn(scored(["steady", f"noise-{b}-a", f"noise-{b}-b"], start=b * 10))
        assert ("shop", "steady", "prompt") in bank.monitors


@pytest.fixture(scope="module")
def sink(chdb_dir):
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="drift_bank_unit"))
    s.migrate()
    yield s
    s.close()


def test_states_are_looked_up_many_at_once_in_clickhouse(sink) -> None:
    """One query for many streams: the latest state of each stream that has one, nothing for
    the others, names with quotes and backslashes read as names."""
    odd = ("it's", 'm"o\\del', "prompt")
    keys = [("shop", "a", "prompt"), odd, ("shop", "b", "response")]
    sink.write_drift([], {keys[0]: b"old", odd: b"\x00odd"})
    sink.write_drift([], {keys[0]: b"new"})
    found = sink.load_drift_states([*keys, ("shop", "missing", "prompt")])
    assert found == {keys[0]: b"new", odd: b"\x00odd"}
    assert sink.load_drift_states([]) == {}
