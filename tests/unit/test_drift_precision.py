"""A drift reference belongs to the embedding precision that made it: a worker that embeds
with another precision (``auto`` chose differently, or the operator changed it) learns a new
reference instead of testing its vectors against the old ones."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from detectors.drift.bank import DriftBank
from detectors.drift.monitor import EmbeddingDriftMonitor
from streams.settings import load_settings

KEY = ("svc", "model-a", "response")
PARAMS = {"window_size": 20, "reference_size": 20}


def _saved(embedding: str | None) -> bytes:
    """A monitor with a fitted reference, saved; ``None``: as saved before the label existed."""
    mon = EmbeddingDriftMonitor(*KEY, **PARAMS)
    if embedding is not None:
        mon.embedding = embedding
    rng = np.random.default_rng(3)
    mon.learn(rng.normal(size=(20, 8)).astype(np.float32), [f"t{i}" for i in range(20)])
    assert mon.has_reference
    return mon.to_bytes()


def test_the_label_survives_saving() -> None:
    state = _saved("all-MiniLM-L6-v2/onnx-int8")
    assert EmbeddingDriftMonitor.from_bytes(state).embedding == "all-MiniLM-L6-v2/onnx-int8"


def test_a_state_of_the_same_precision_is_resumed() -> None:
    state = _saved("all-MiniLM-L6-v2/onnx-int8")
    bank = DriftBank(["response"], PARAMS, load=lambda keys: dict.fromkeys(keys, state),
                     embedding="all-MiniLM-L6-v2/onnx-int8")  # fmt: skip
    mon = bank.monitor(KEY)
    assert mon.has_reference and mon.embedding == "all-MiniLM-L6-v2/onnx-int8"


def test_a_state_of_another_precision_is_dropped_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = _saved("all-MiniLM-L6-v2/fp32")
    bank = DriftBank(["response"], PARAMS, load=lambda keys: dict.fromkeys(keys, state),
                     embedding="all-MiniLM-L6-v2/onnx-int8")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="detectors.drift.bank"):
        mon = bank.monitor(KEY)
    assert not mon.has_reference and mon.windows_checked == 0
    assert mon.embedding == "all-MiniLM-L6-v2/onnx-int8"
    assert "embedded as all-MiniLM-L6-v2/fp32" in caplog.text
    assert EmbeddingDriftMonitor.from_bytes(mon.to_bytes()).embedding.endswith("/onnx-int8")


def test_a_state_saved_before_labels_counts_as_fp32() -> None:
    state = _saved(None)
    fp32 = DriftBank(
        ["prompt"],
        PARAMS,
        load=lambda keys: dict.fromkeys(keys, state),
        embedding="all-MiniLM-L6-v2/fp32",
    )
    assert fp32.monitor(KEY).has_reference
    int8 = DriftBank(["response"], PARAMS, load=lambda keys: dict.fromkeys(keys, state),
                     embedding="all-MiniLM-L6-v2/onnx-int8")  # fmt: skip
    assert not int8.monitor(KEY).has_reference


def test_the_worker_labels_drift_with_the_precision_it_runs() -> None:
    settings = load_settings(detectors={"embedding_precision": "onnx-int8"})
    assert settings.detectors.embedding_label == "all-MiniLM-L6-v2/onnx-int8"


def test_prompt_drift_watches_what_the_user_wrote_not_the_system_prompt() -> None:
    """MiniLM reads 256 tokens: behind a 350-word system prompt every call's whole chat
    embeds the same (cosine 1.0). Drift embeds the user's message instead, which tells a
    password question from a poem, and says so in its label; a prompt reference saved as the
    whole chat is dropped and learned again."""
    from detectors.pipeline import ScoringPipeline
    from schemas.events import InferenceEvent

    system = "You are Acme's support assistant. " + " ".join(
        f"Rule {i}: be polite, cite the help centre, never promise refunds above the policy, "
        "and escalate billing disputes to a human agent."
        for i in range(15)
    )
    asks = ["How do I reset my password?", "Write me a poem about the sea and ships at night"]
    events = [
        InferenceEvent(service="s", request_model="m", event_id=f"u{i}", response="ok",
                       prompt=[{"role": "system", "content": system},
                               {"role": "user", "content": ask}])
        for i, ask in enumerate(asks)
    ]  # fmt: skip
    scored, failed = ScoringPipeline([], embed_fields=("prompt",)).score(events)
    assert not failed
    a, b = (s.embeddings["prompt"] for s in scored)
    assert float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)) < 0.5

    whole_chat = _saved("all-MiniLM-L6-v2/fp32")
    bank = DriftBank(["prompt"], PARAMS, load=lambda keys: dict.fromkeys(keys, whole_chat),
                     embedding="all-MiniLM-L6-v2/fp32")  # fmt: skip
    mon = bank.monitor(("svc", "model-a", "prompt"))
    assert not mon.has_reference and mon.embedding == "all-MiniLM-L6-v2/fp32; prompt=user"
