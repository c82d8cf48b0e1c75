"""HallucinationDetector: per-claim checks on realistic answers, the committed combiner and its
calibrated threshold, sampling, the optional NLI path (the shared checks are in
test_detector_checks.py)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from detectors.base import BatchFeatures
from detectors.hallucination import (
    CLAIM_FEATURES,
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
    test_ids = th.split_ids(len(rows))[2]
    ids = np.sort(np.random.default_rng(SEED).choice(test_ids, size=4, replace=False))
    return th.events_for("qa", rows, ids)


def test_combiner_file_matches_its_manifest_hash():
    """The committed combiner.json hashes to its manifest's sha256 and loads with our features."""
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    raw = (DEFAULT_MODEL_DIR / manifest["artefact"]).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == manifest["sha256"]
    assert tuple(json.loads(raw)["features"]) == FEATURES
    assert load_combiner().coef.shape == (len(FEATURES),)
    assert set(manifest["data"]["counts"]) == {"qa", "dialogue", "summarization"}


def test_default_threshold_is_the_calibrated_one_and_the_field_set_is_the_frozen_one():
    """The class default is the threshold set on the calibration split, and the manifest
    records the field set's hash as committed."""
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    assert HallucinationDetector().threshold == manifest["threshold"]["value"]
    assert load_combiner().threshold == manifest["threshold"]["value"]
    fieldsets = Path(__file__).resolve().parents[2] / "benchmarks/quality/fieldsets"
    recorded = (fieldsets / "hallucination.sha256").read_text().split()[0]
    assert manifest["field_set_sha256"] == recorded
    assert hashlib.sha256((fieldsets / "hallucination.jsonl").read_bytes()).hexdigest() == recorded


def test_train_calibration_and_test_splits_are_disjoint_and_seeded():
    """The id split is disjoint, covers every row, and is the same on every call."""
    train, cal, test = th.split_ids(10_000)
    assert (
        len(set(train) & set(test)) == len(set(train) & set(cal)) == len(set(cal) & set(test)) == 0
    )
    assert (len(train), len(cal), len(test)) == (7000, 1000, 2000)
    assert np.array_equal(th.split_ids(10_000)[2], test)


def test_perturbation_changes_one_detail_and_is_seeded():
    """A grounded sentence perturbed with a fixed seed changes in one place, the same way twice."""
    text = "The bridge opened in May 1932 and is 1,149 metres long."
    first = th.perturb(text, ["Sydney"], np.random.default_rng(0))
    assert first == th.perturb(text, ["Sydney"], np.random.default_rng(0))
    assert first is not None and first[0] != text
    changed = [a for a, b in zip(first[0].split(), text.split(), strict=False) if a != b]
    assert len(changed) >= 1 and first[1] in {"number", "name", "negation", "month", "unit"}


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


GYM = [
    ContextDocument(
        text="Membership terms. The monthly plan costs EUR 39 and can be cancelled with one "
        "month's notice. The annual plan costs EUR 390, paid upfront, and is not refundable."
    ),
    ContextDocument(
        text="Guest passes: members on the annual plan receive 6 free guest passes per year. "
        "Additional guest passes cost EUR 12 each. The sauna is open from 07:00 to 21:30."
    ),
]
GYM_Q = "Which plan is cheaper over a year, and do I get guest passes?"


def _gym(i: int, response: str) -> InferenceEvent:
    return InferenceEvent(
        service="svc", model="m", event_id=f"g{i}", prompt=GYM_Q, response=response, context=GYM
    )


GYM_ANSWERS = [
    # grounded: arithmetic from the context's numbers
    "Twelve months on the monthly plan cost EUR 468, so the annual plan at EUR 390 saves you "
    "EUR 78. Annual members also get 6 free guest passes a year.",
    # grounded: paraphrase
    "The annual plan is cheaper over a year, but you pay it all at once and can't get a refund. "
    "It includes six guest passes; extra ones are EUR 12 each.",
    # unsupported: a swapped number
    "The annual plan costs EUR 390 and includes 10 free guest passes per year.",
    # unsupported: a negation flip
    "The annual plan costs EUR 390 upfront and is fully refundable if you cancel.",
    # unsupported: an invented clause
    "The annual plan is cheaper at EUR 390. Guest passes are free for the first visit, and "
    "students get a 20% discount on both plans.",
]


def test_derived_numbers_are_supported_and_swapped_ones_are_not():
    """A total and a difference computed from the context's numbers are not flagged; a number
    the context cannot give is."""
    rows = extract_features([_gym(i, a) for i, a in enumerate(GYM_ANSWERS)])
    assert [r.novel_numbers for r in rows] == [(), (), ("10",), (), ("20",)]
    assert [r.as_dict()["underived_number_max"] for r in rows] == [0.0, 0.0, 1.0, 0.0, 1.0]
    assert [r.as_dict()["number_conflict_max"] for r in rows] == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_unit_and_negation_mismatches_are_seen():
    """The context's number with another unit beside it, and a flipped negation of the
    aligned sentence, are flagged."""
    ctx = [ContextDocument(text="Individual events are limited to 32 KB. The service is not free.")]
    q = "What is the per-event limit?"
    rows = extract_features(
        [
            _event(0, "Each event can be up to 32 KB.", ctx, q),
            _event(1, "Each event can be up to 32 MB.", ctx, q),
            _event(2, "The service is free.", ctx, q),
        ]
    )
    unit = CLAIM_FEATURES.index("unit_mismatch")  # evidence in detail, not a combiner input
    assert [max(c[unit] for c in r.claim_values) for r in rows] == [0.0, 1.0, 0.0]
    assert [r.as_dict()["negation_conflict_max"] > 0.5 for r in rows] == [False, False, True]


def test_unit_swaps_and_numbers_moved_between_clauses_are_inputs():
    """The right number with another unit of the vocabulary, and a figure moved to the other
    clause of the sentence, are combiner inputs; the grounded twins and an unknown unit word
    ("a day" for "per day") are not flagged."""
    ctx = [
        ContextDocument(
            text="Batteries are covered for 12 months; drivers pay USD 18 per "
            "day. Below 99.9%, the credit is 10%; below 99%, the credit is 25%."
        )
    ]
    answers = ["Batteries are covered for 12 weeks.", "Batteries are covered for 12 months.",
               "Drivers pay USD 18 a day.", "Below 99%, the credit is 10%.",
               "Below 99%, the credit is 25%."]  # fmt: skip
    rows = extract_features([_event(i, a, ctx, "Terms?") for i, a in enumerate(answers)])
    assert [r.as_dict()["unit_swap_max"] for r in rows] == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert [r.as_dict()["clause_number_conflict_max"] for r in rows] == [0, 0, 0, 1.0, 0]


def test_realistic_answers_score_as_recorded(detector):
    """Five answers about one gym's terms score as recorded, a miss included: the swapped
    number and the negation flip fire at the default threshold (0.73), the grounded arithmetic
    and paraphrase do not; the invented clause (a 20% discount the context lacks) ranks above
    both grounded answers but stays under the threshold: one underived number alone does not
    fire."""
    signals = detector.score_batch([_gym(i, a) for i, a in enumerate(GYM_ANSWERS)])
    assert [s.fired for s in signals] == [False, False, True, True, False]
    assert [s.score for s in signals] == pytest.approx(
        [0.298, 0.291, 0.803, 0.767, 0.424], abs=0.01
    )


def test_reason_quotes_the_weakest_claim_and_what_the_context_lacks(detector):
    """The reason quotes the claim that scores highest on its own and the number not in
    context."""
    signal = detector.score_batch([_gym(4, GYM_ANSWERS[4])])[0]
    probs = signal.detail["claim_probability"]
    claims = split_sentences(GYM_ANSWERS[4])
    assert len(probs) == len(claims) == 2
    assert f"{claims[probs.index(max(probs))]!r}" in signal.reason
    assert signal.reason.endswith("not in context: 20")


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


def test_name_absent_from_context_is_reported(detector):
    """A city the context does not name is listed as not in context. One of two claims has a
    novel name: the score stays under the threshold 0.73. A one-claim answer whose only name
    is not in the context (all of its names and numbers novel) fires, just."""
    signal = detector.score_batch(
        [_event(0, "The Oberoi Group is a hotel company. Its head office is in Mumbai.")]
    )[0]
    assert signal.reason.endswith("not in context: Mumbai")
    assert signal.detail["novel_names"] == ["Mumbai"]
    assert len(signal.detail["claim_support"]) == 2
    assert signal.score == pytest.approx(0.510, abs=0.002)
    assert not signal.fired
    alone = detector.score_batch([_event(1, "Its head office is in Mumbai.")])[0]
    assert alone.score == pytest.approx(0.732, abs=0.002)
    assert alone.fired


def test_sampling_is_deterministic_by_event_id(detector):
    """With sample_rate 0.25, the same events are assessed on every call, about a quarter."""
    events = [_event(i, "Delhi.") for i in range(40)]
    det = HallucinationDetector(sample_rate=0.25)
    first = [s.detail["assessed"] for s in det.score_batch(events)]
    assert first == [s.detail["assessed"] for s in det.score_batch(events)]
    assert sum(first) == 10
    skipped = det.score_batch(events)[first.index(False)]
    assert (skipped.score, skipped.fired) == (0.0, False)
    assert skipped.reason == "groundedness not assessed (outside the 25% sample)"


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
        ({"sample_rate": 0}, r"sample_rate must be in \(0, 1\], got 0"),
        ({"model_dir": "/nonexistent"}, "model_dir must hold manifest.json"),
        ({"nli_model_dir": "/nonexistent"}, "nli_model_dir must be a local checkpoint folder"),
    ],
)
def test_invalid_parameters_are_rejected_with_their_name_and_value(params, message):
    """Each bad parameter raises a ValueError naming it and its value."""
    with pytest.raises(ValueError, match=message):
        HallucinationDetector(**params)


def test_quoted_claim_reaches_storage_with_its_pii_redacted():
    """Through the scoring pipeline the weakest claim is quoted, but an e-mail address in it
    (not in the context, so a leak) is replaced before anything is stored."""
    from detectors.pii import RegexPIIDetector
    from detectors.pipeline import ScoringPipeline

    event = _event(0, "Its head office is in Mumbai; write to ravi.k@oberoi-mail.example now.")
    [scored], failed = ScoringPipeline([RegexPIIDetector(), HallucinationDetector()]).score([event])
    assert failed == []
    signal = next(s for s in scored.signals if s.detector == "hallucination")
    assert "Its head office is in Mumbai; write to" in signal.reason
    assert "ravi.k@oberoi-mail.example" not in signal.reason
    assert "ravi.k@oberoi-mail.example" not in json.dumps(signal.detail)


# Claim alignment and conflicts (hallucination_align) ------------------------------------

LEAVE = [
    ContextDocument(
        text="Primary caregivers are entitled to 18 weeks of paid leave. Secondary caregivers "
        "are entitled to 4 weeks of paid leave. Leave is not transferable between parents."
    )
]


def _leave(i: int, response: str, prompt: str = "How much leave do I get?") -> InferenceEvent:
    return InferenceEvent(
        service="svc", model="m", event_id=f"l{i}", prompt=prompt, response=response, context=LEAVE
    )


def test_number_from_another_sentence_conflicts_with_the_aligned_one():
    """The right figure for the wrong people conflicts with the sentence the claim matches;
    a conversion computed from the context and the user's own number from the prompt do not."""
    rows = extract_features(
        [
            _leave(0, "Secondary caregivers are entitled to 18 weeks of paid leave."),
            _leave(1, "Secondary caregivers get 4 weeks, which is 28 days of paid leave."),
            _leave(2, "At 30 weeks in, secondary caregivers get 4 weeks.", "I'm 30 weeks in."),
        ],
        relevance=False,
    )
    assert [r.as_dict()["number_conflict_max"] for r in rows] == [1.0, 0.0, 0.0]
    assert [r.as_dict()["underived_number_max"] for r in rows] == [0.0, 0.0, 0.0]


def test_negation_conflict_needs_the_negated_word_itself():
    """Negating the word the context states plainly conflicts; a negation elsewhere in the
    sentence, or one that agrees with the context, does not."""
    rows = extract_features(
        [
            _leave(0, "Leave is transferable between parents."),
            _leave(1, "Leave cannot be transferred, and secondary caregivers get 4 weeks."),
            _leave(2, "Secondary caregivers are not entitled to paid leave."),
        ],
        relevance=False,
    )
    assert [r.as_dict()["negation_conflict_max"] > 0.5 for r in rows] == [True, False, True]


def test_a_claim_that_the_documents_are_silent_is_not_accused_of_what_it_names():
    """A hedge ("the policy doesn't say whether Acme pays a bonus") brings a name the context
    lacks, but says so: no novel-name, negation or lexical check fires for it."""
    rows = extract_features(
        [
            _leave(0, "The policy doesn't say whether Acme pays a bonus on return."),
            _leave(1, "On return, Acme pays a bonus."),
        ],
        relevance=False,
    )
    assert [r.as_dict()["novel_name_mean"] for r in rows] == [0.0, 1.0]
    assert rows[0].values == (0.0,) * len(FEATURES)


def test_titles_do_not_end_sentences_and_rag_variants_are_seeded():
    """A title ("Dr. Haddad") does not end a sentence; training variants repeat per seed."""
    assert split_sentences("Dr. Haddad leads it. Mr. Berg does not.") == [
        "Dr. Haddad leads it.",
        "Mr. Berg does not.",
    ]
    rows = th.load_rows("qa")[:40]
    first = th.rag_events("qa", rows, np.arange(40), seed=1)
    again = th.rag_events("qa", rows, np.arange(40), seed=1)
    assert [e.response for e in first[0]] == [e.response for e in again[0]]
    assert set(first[1]) == {0, 1} and len(first[0]) >= 60


def test_a_megabyte_event_is_checked_on_bounded_text(detector):
    """Names and numbers are looked up in the first MAX_SOURCE_CHARS of the context and the
    answer's numbers in its first MAX_ANSWER_CHARS: one valid 1 MB event cost a second of
    scoring before (it held its batch). Text past the bound cannot back a claim."""
    from detectors.hallucination_features import MAX_ANSWER_CHARS, MAX_SOURCE_CHARS

    head = "The cancellation fee is 30 euros. Refunds take five working days. "
    filler = "Opening hours are listed on the store page. " * (MAX_SOURCE_CHARS // 40)
    answer = "The cancellation fee is 45 euros."
    near = InferenceEvent(service="s", model="m", prompt="What is the fee?", response=answer,
                          context=[ContextDocument(text=head)])  # fmt: skip
    far = near.model_copy(
        update={"context": [ContextDocument(text=head + filler + " The fee is 45 euros.")]}
    )
    long_answer = near.model_copy(update={"response": answer + " ok" * MAX_ANSWER_CHARS})
    scores = [s.score for s in detector.score_batch([near, far, long_answer])]
    assert scores[0] == pytest.approx(scores[1])  # the 45 beyond the bound backs nothing
    assert scores[0] >= 0.5  # a conflicting number is flagged
    assert scores[2] is not None


def test_wrong_attribution_reworded_negation_and_two_step_arithmetic():
    """A name the context attaches to another fact conflicts; "free" against "cost a fee" is a
    negation conflict; a product of three of the context's numbers and a due date shifted by
    its span are derived, while a wrong total and a wrong due date are not. (A month name the
    context lacks, "April", still counts as a novel name: a known false positive.)"""
    ctx = [
        ContextDocument(
            text="The quarterly budget review was approved by Mei Tan on Monday. The security "
            "audit was signed off by Ravi Shah. The invoice covers 40 licences at USD 12 per "
            "licence per month, billed every 3 months. It was issued on 3 March and is payable "
            "within 30 days. Late payments cost a fee of 2%."
        )
    ]
    answers = [
        "The quarterly budget review was approved by Ravi Shah.",
        "Mei Tan approved the quarterly budget review.",
        "The invoice comes to USD 1,440 in total.",
        "The invoice comes to USD 1,640 in total.",
        "Payment is due 30 days after 3 March, on 2 April.",
        "Payment is due 30 days after 3 March, on 9 April.",
        "Late payments are free.",
        "Late payments cost a 2% fee.",
    ]
    rows = extract_features([_event(i, a, ctx, "Tell me.") for i, a in enumerate(answers)])
    values = [r.as_dict() for r in rows]
    assert [v["name_conflict_mean"] for v in values[:2]] == [1.0, 0.0]
    assert [r.novel_numbers for r in rows[2:6]] == [(), ("1,640",), (), ("9",)]
    assert [v["negation_conflict_max"] for v in values[6:]] == [1.0, 0.0]
    assert values[4]["novel_name_mean"] == 1.0
