"""Train the injection detector's document gate (:mod:`detectors.injection_gate`).

The gate is a logistic regression over hashed word 1-2 grams, scored per sentence of a
retrieved document; it decides which documents (and which of their sentences) the injection
head embeds. ``scripts/train_injection.py`` calls :func:`train_gate` and records the result
in the injection model's ``manifest.json``; this module never reads the frozen field set.

Data (seeded with ``GATE_SEED``):

- positives: ``N_INSTRUCTIONS`` injected instructions from
  ``scripts/injection_documents.py`` (addressed to an AI or phrased as what the reply must
  do, hidden or plain), and every attack text of the head's training sources (first 500
  characters);
- negatives: the sentences of ``N_DOCS`` generated benign documents (imperatives for people
  included), the hand-written imperatives for people, the sentences of ``N_PASSAGES``
  HaluEval summarization documents, and every benign text of the head's training sources.

Threshold: the lowest value on a grid at which at most ``MAX_PASS`` of held-out natural
documents (HaluEval summarization documents not used above) pass; the held-out generated
benign documents' pass rate and the held-out injected documents' recall are recorded too.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np

GATE_SEED = 20246
N_INSTRUCTIONS = 2000
N_DOCS = 800
N_PASSAGES = 500
N_CAL = 400
MAX_PASS = 0.01
C = 4.0


def _passages() -> list[str]:
    import train_injection

    docs = sorted({r["document"] for r in train_injection._halueval("summarization")})
    random.Random(GATE_SEED).shuffle(docs)
    return docs


def gate_corpus(sources: dict) -> tuple[list[str], np.ndarray]:
    """Sentences and labels (1 = an instruction aimed at the model) for the gate."""
    import injection_documents as docs

    from detectors.injection_gate import sentences

    rng = random.Random(GATE_SEED)
    passages = _passages()
    train_passages = passages[:N_PASSAGES]
    pos = docs.instructions(rng, N_INSTRUCTIONS)
    neg = docs.human_sentences()
    for d in docs.benign_documents(rng, train_passages, N_DOCS):
        neg += sentences(d)
    for d in train_passages:
        neg += sentences(d[:3000])
    for parts in sources.values():
        texts, labels = parts["train"]
        for t, y in zip(texts, labels, strict=True):
            (pos if y == 1 else neg).append(t[:500])
    texts = pos + neg
    return texts, np.array([1] * len(pos) + [0] * len(neg))


def gate_calibration() -> dict[str, list[str]]:
    """Held-out documents: natural (HaluEval summarization, not trained on), generated benign
    with imperatives for people, and generated injected documents."""
    import injection_documents as docs

    rng = random.Random(GATE_SEED + 1)
    held = _passages()[N_PASSAGES : N_PASSAGES + 2 * N_CAL]
    return {
        "natural": [d[:3000] for d in held[:N_CAL]],
        "generated_benign": docs.benign_documents(rng, held[N_CAL:], N_CAL),
        "generated_injected": docs.injected_documents(rng, held[N_CAL:], N_CAL),
    }


def document_probability(model: object, texts: list[str]) -> np.ndarray:
    """Each document's best sentence probability under a fitted sklearn model."""
    from detectors.injection_gate import sentences, vectorizer

    vec = vectorizer()
    out = []
    for t in texts:
        p = model.predict_proba(vec.transform(sentences(t)))[:, 1]  # type: ignore[attr-defined]
        out.append(float(p.max()))
    return np.array(out)


def choose(cal_scores: dict[str, np.ndarray]) -> tuple[float, dict[str, float]]:
    """Lowest grid threshold with at most ``MAX_PASS`` natural documents passing."""
    for t in np.round(np.arange(0.3, 0.991, 0.01), 2):
        if np.mean(cal_scores["natural"] >= t) <= MAX_PASS:
            break
    rates = {k: round(float(np.mean(v >= t)), 4) for k, v in cal_scores.items()}
    return float(t), rates


def train_gate(sources: dict, out: Path) -> dict[str, object]:
    """Fit the gate, choose its threshold, write ``gate.npz``; the manifest's ``gate`` entry."""
    from sklearn.linear_model import LogisticRegression

    from detectors.injection_gate import N_FEATURES, vectorizer

    texts, y = gate_corpus(sources)
    model = LogisticRegression(C=C, max_iter=3000, class_weight="balanced", random_state=GATE_SEED)
    model.fit(vectorizer().transform(texts), y)
    cal = gate_calibration()
    threshold, rates = choose({k: document_probability(model, v) for k, v in cal.items()})
    print(f"gate threshold {threshold} pass rates {rates} (sentences {len(y)}, pos {y.sum()})")
    w = model.coef_.reshape(-1)
    index = np.flatnonzero(w).astype(np.int32)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "gate.npz"
    np.savez_compressed(
        path,
        index=index,
        values=w[index].astype(np.float16),
        bias=np.array([model.intercept_[0]]),
    )
    return {
        "artefact": "gate.npz",
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "threshold": threshold,
        "model": f"logistic regression C={C} on hashed word 1-2 grams ({N_FEATURES} buckets)",
        "seed": GATE_SEED,
        "sentences": {"total": len(y), "instructions": int(y.sum())},
        "calibration": {
            "pass_rates": rates,
            "sizes": {k: len(v) for k, v in cal.items()},
            "rule": f"lowest 0.01-grid threshold with <= {MAX_PASS} of natural documents passing",
        },
    }
