"""The start-up precision probe: measured, bounded by agreement with fp32, saved per machine."""

from __future__ import annotations

import json

import pytest

from detectors.embedding import Embedder
from detectors.precision import choose_precision, decide, machine_key, probe

SMALL = {"batches": 1, "batch_size": 8, "repeats": 1}


def make(precision: str, batch_size: int) -> Embedder:
    return Embedder(precision, batch_size)  # type: ignore[arg-type]  # a PRECISIONS value


RATE = {"fp32": 100.0, "bf16": 180.0, "onnx-int8": 230.0}
COS = {"fp32": (1.0, 1.0), "bf16": (0.9999, 0.9998), "onnx-int8": (0.97, 0.93)}


def test_the_fastest_agreeing_precision_is_chosen() -> None:
    """int8 is faster but below the mean-cosine bound: bf16; with a looser bound, int8."""
    assert decide(RATE, COS, {}, min_cosine=0.98) == (
        "bf16",
        {"onnx-int8": "disagrees with fp32: mean cosine 0.97000 < 0.98"},
    )
    assert decide(RATE, COS, {}, min_cosine=0.96) == ("onnx-int8", {})
    broken = {**COS, "onnx-int8": (0.99, 0.5)}  # good on average, one text far off
    assert decide(RATE, broken, {}, min_cosine=0.96)[1] == {
        "onnx-int8": "disagrees with fp32: lowest cosine 0.50000 < 0.9"
    }


def test_a_precision_must_pay_for_itself() -> None:
    """bf16 at 1.8x and int8 excluded: a 2x bar keeps fp32, a 1.5x bar takes bf16."""
    assert decide(RATE, COS, {}, min_gain=2.0)[0] == "fp32"
    assert decide(RATE, COS, {}, min_gain=1.5)[0] == "bf16"


def test_an_unavailable_precision_is_not_chosen() -> None:
    """A candidate that did not load (no ONNX Runtime) stays out, with its reason."""
    choice, skipped = decide(RATE, COS, {"bf16": "unavailable: ImportError"}, min_cosine=0.99)
    assert choice == "fp32" and set(skipped) == {"bf16", "onnx-int8"}


def test_the_probe_measures_each_candidate_against_fp32() -> None:
    """Real models: every candidate timed, bf16's vectors close to fp32's, the reason stated."""
    r = probe(make, ("fp32", "bf16"), min_cosine=1.5, min_gain=1.0, **SMALL)
    assert r.choice == "fp32"
    assert r.skipped["bf16"].startswith("disagrees with fp32: mean cosine")
    assert set(r.texts_per_s) == {"fp32", "bf16"} and all(v > 0 for v in r.texts_per_s.values())
    assert 0.99 < r.cosine_min["bf16"] <= r.cosine_mean["bf16"] <= 1.0
    assert r.cosine_min["fp32"] == r.cosine_mean["fp32"] == 1.0
    assert r.reason.startswith("fp32: fastest of the precisions")


def test_the_decision_is_saved_and_reused_until_its_inputs_change(tmp_path) -> None:
    """A second start on the same machine reuses the saved choice; other rules, another key."""
    first = choose_precision(tmp_path, make, ("fp32",), **SMALL)
    assert (first.source, first.choice) == ("measured", "fp32")
    saved = json.loads((tmp_path / "precision_probe.json").read_text())
    assert saved["choice"] == first.choice and saved["key"] == first.key
    again = choose_precision(tmp_path, make, ("fp32",), **SMALL)
    assert (again.source, again.choice, again.key) == ("saved", "fp32", first.key)
    assert machine_key(("fp32",), 0.98, 2.0) != first.key
    assert machine_key(("fp32", "bf16"), 0.98, 1.1) != first.key


def test_fp32_is_the_reference_and_must_be_a_candidate() -> None:
    """The parameter is validated with a message naming it."""
    with pytest.raises(ValueError, match="candidates must include fp32"):
        probe(make, ("bf16", "onnx-int8"))


def test_auto_uses_the_saved_choice_when_the_default_embedder_is_first_needed(
    tmp_path, monkeypatch
) -> None:
    """configure("auto"): the first get_embedder() takes the machine's saved decision."""
    from detectors import embedding
    from detectors.precision import CANDIDATES, FILE, MIN_COSINE, MIN_GAIN

    key = machine_key(CANDIDATES, MIN_COSINE, MIN_GAIN)
    saved = {"choice": "bf16", "reason": "saved by the test", "key": key}
    (tmp_path / FILE).write_text(json.dumps(saved))
    monkeypatch.setattr(embedding, "_default", dict(embedding._default))
    embedding.configure("auto", str(tmp_path), cache_size=0)
    assert embedding.configured_precision() == "auto"
    assert embedding.get_embedder().precision == "bf16"  # the model loads lazily: not here
    assert embedding.configured_precision() == "bf16"
