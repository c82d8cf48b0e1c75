"""HallucinationDetector: claim support on real HaluEval rows, the committed combiner, the
optional NLI path (the shared checks are in test_detector_checks.py)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from detectors.base import BatchFeatures
from detectors.hallucination import (
    DEFAULT_MODEL_DIR,
    FEATURES,
    HallucinationDetector,
    extract_features,
    load_combiner,
    split_sentences,
)
from schemas.events import ContextDocument, InferenceEvent

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import train_hallucination as th  # noqa: E402  (the data loader the combiner was trained with)

SEED = 3


@pytest.fixture(scope="session")
def detector() -> HallucinationDetector:
    """One detector (and one embedder load) for the whole module."""
    return HallucinationDetector()


@pytest.fixture(scope="session")
def qa_rows() -> list[dict[str, str]]:
    """The HaluEval QA rows, read once."""
    return th.load_rows("qa")


@pytest.fixture(scope="session")
def qa(qa_rows) -> tuple[list[InferenceEvent], np.ndarray]:
    """Four seeded rows of the held-out HaluEval QA test split: eight events, pairs adjacent."""
    rows = qa_rows
    test_ids = th.split_ids(len(rows))[1]
    ids = np.sort(np.random.default_rng(SEED).choice(test_ids, size=4, replace=False))
    return th.events_for("qa", rows, ids)


def test_combiner_file_matches_its_manifest_hash():
    """The committed combiner.json hashes to its manifest's sha256 and loads with our features."""
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    raw = (DEFAULT_MODEL_DIR / manifest["artefact"]).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == manifest["sha256"]
    assert tuple(json.loads(raw)["features"]) == FEATURES
    assert load_combiner().coef.shape == (len(FEATURES),)
    assert manifest["data"]["counts"]["test_rows"] == 2000


def test_train_and_test_splits_are_disjoint_and_seeded():
    """The id split is disjoint, covers every row, and is the same on every call."""
    train, test = th.split_ids(10_000)
    assert len(set(train) & set(test)) == 0
    assert len(train) + len(test) == 10_000
    assert np.array_equal(th.split_ids(10_000)[1], test)


def test_tampered_combiner_is_refused(tmp_path):
    """A combiner whose bytes differ from the manifest's hash raises instead of scoring."""
    (tmp_path / "manifest.json").write_bytes((DEFAULT_MODEL_DIR / "manifest.json").read_bytes())
    (tmp_path / "combiner.json").write_text(
        (DEFAULT_MODEL_DIR / "combiner.json").read_text().replace('"intercept": ', '"intercept": 1')
    )
    with pytest.raises(ValueError, match="sha256"):
        load_combiner(tmp_path)


def test_sentences_split_on_glued_knowledge_strings():
    """HaluEval's glued sentences ("century.First") split; initials and decimals do not."""
    text = "It was published in the 19th century.First for Women is 3.5 years old. U.S. made."
    assert split_sentences(text) == [
        "It was published in the 19th century.",
        "First for Women is 3.5 years old.",
        "U.S. made.",
    ]


def test_four_seeded_held_out_pairs_score_as_recorded(detector, qa):
    """Four held-out QA pairs score as recorded: one subtle hallucination is caught, three not."""
    events, labels = qa
    signals = detector.score_batch(events)
    assert labels.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert [s.fired for s in signals] == [False, False, False, True, False, False, False, False]
    assert [s.score for s in signals] == pytest.approx(
        [0.221, 0.217, 0.192, 0.989, 0.168, 0.139, 0.230, 0.224], abs=0.01
    )
    assert signals[3].reason.startswith("answer may be hallucinated (probability 0.99")


def test_sixteen_seeded_held_out_pairs_reach_the_recorded_auc(detector, qa_rows):
    """On 16 seeded held-out QA pairs: AUC 0.906, 28 of 32 right at 0.5, 15 pairs ranked."""
    from sklearn.metrics import roc_auc_score

    ids = np.sort(np.random.default_rng(4).choice(th.split_ids(len(qa_rows))[1], 16, replace=False))
    events, labels = th.events_for("qa", qa_rows, ids)
    scores = np.array([s.score for s in detector.score_batch(events)])
    assert round(roc_auc_score(labels, scores), 3) == 0.906
    assert int(((scores >= 0.5) == labels).sum()) == 28
    assert int((scores[1::2] > scores[0::2]).sum()) == 15


CTX = [ContextDocument(text="The Oberoi Group is a hotel company with its head office in Delhi.")]
QUESTION = "The Oberoi family is part of a hotel company that has a head office in what city?"


def _event(i: int, response: str, context=CTX, prompt: str = QUESTION) -> InferenceEvent:
    return InferenceEvent(
        service="svc",
        model="m",
        event_id=f"e{i}",
        prompt=prompt,
        response=response,
        context=context,
    )


def test_reason_quotes_the_least_supported_claim_and_the_unsupported_name(detector):
    """The reason quotes the weakest claim and lists the name the context does not contain."""
    signal = detector.score_batch(
        [_event(0, "The Oberoi Group is a hotel company. Its head office is in Mumbai.")]
    )[0]
    assert signal.fired
    assert "'Its head office is in Mumbai.'" in signal.reason
    assert signal.reason.endswith("not in context: Mumbai")
    assert signal.detail["novel_names"] == ["Mumbai"]
    assert len(signal.detail["claim_support"]) == 2


def test_number_absent_from_context_is_reported():
    """A year in the answer that the context lacks counts as an unsupported number."""
    ctx = [ContextDocument(text="The bridge opened in 1932 and cost 4.2 million pounds.")]
    rows = extract_features(
        [_event(0, "The bridge opened in 1932.", ctx), _event(1, "It opened in 1936.", ctx)]
    )
    assert [r.novel_numbers for r in rows] == [(), ("1936",)]
    assert [r.as_dict()["novel_number_frac"] for r in rows] == [0.0, 1.0]


def test_without_context_groundedness_is_not_assessed_and_never_fires(detector):
    """No context: score 0, not fired, relevance reported, reason says it was not assessed."""
    on_topic, off_topic = detector.score_batch(
        [_event(0, "Delhi is the city.", context=[]), _event(1, "Bananas are yellow.", context=[])]
    )
    for s in (on_topic, off_topic):
        assert (s.score, s.fired, s.detail["assessed"]) == (0.0, False, False)
        assert s.reason.startswith("groundedness not assessed (no retrieved context)")
    assert on_topic.detail["relevance"] > off_topic.detail["relevance"]


def test_empty_response_is_not_assessed(detector):
    """An empty answer with context is not assessed either."""
    signal = detector.score_batch([_event(0, "")])[0]
    assert signal.reason.startswith("groundedness not assessed (empty response)")


def test_nli_checkpoint_from_a_local_folder_blends_into_the_score(tmp_path, qa):
    """A local NLI checkpoint is loaded by path; its entailment per claim enters the score."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = sorted(
        {w.lower() for e in qa[0] for w in (e.response + " " + e.context[0].text).split()}
    )
    (tmp_path / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])
    )
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=3,
        id2label={0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"},
        label2id={"ENTAILMENT": 0, "NEUTRAL": 1, "CONTRADICTION": 2},
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(tmp_path)

    det = HallucinationDetector(nli_model_dir=str(tmp_path), nli_weight=0.5)
    signals = det.score_batch(qa[0][:2])
    for s in signals:
        entail = s.detail["entailment"]
        assert len(entail) == len(s.detail["claim_support"])
        blended = 0.5 * s.detail["combiner_probability"] + 0.5 * (1 - min(entail))
        assert s.score == pytest.approx(blended, abs=1e-3)


def test_nli_checkpoint_without_an_entailment_label_is_refused(tmp_path, qa):
    """A classifier whose labels name no entailment cannot be used as NLI."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n")
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    config = BertConfig(vocab_size=6, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                        intermediate_size=8, num_labels=2)  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="none starts with 'entail'"):
        HallucinationDetector(nli_model_dir=str(tmp_path)).score_batch(qa[0][:1])


# Batch features (the checks every detector passes are in test_detector_checks.py) -----


def test_shared_embeddings_are_reused_through_batch_features(detector, qa):
    """With BatchFeatures the prompt and response embeddings are cached for other detectors."""
    events = qa[0][:4]
    features = BatchFeatures(events)
    first = detector.score_batch(events, features)
    assert "embedding:prompt" in features and "embedding:response" in features
    assert detector.score_batch(events, features) == first


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"threshold": 0}, r"threshold must be in \(0, 1\], got 0"),
        ({"threshold": 1.2}, r"threshold must be in \(0, 1\], got 1.2"),
        ({"nli_weight": -0.1}, r"nli_weight must be in \[0, 1\], got -0.1"),
        ({"model_dir": "/nonexistent"}, "model_dir must hold manifest.json"),
        ({"nli_model_dir": "/nonexistent"}, "nli_model_dir must be a local checkpoint folder"),
    ],
)
def test_invalid_parameters_are_rejected_with_their_name_and_value(params, message):
    """Each bad parameter raises a ValueError naming it and its value."""
    with pytest.raises(ValueError, match=message):
        HallucinationDetector(**params)
