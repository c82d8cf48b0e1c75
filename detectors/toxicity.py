"""How toxic a response reads: a small trained head over the shared sentence embedding, or any
local Hugging Face sequence-classification checkpoint.

The default head is a logistic regression over the all-MiniLM-L6-v2 response embedding that
the pipeline computes once per batch anyway (:func:`detectors.embedding.batch_embeddings`), so
toxicity costs one dot product per event. It is trained by ``scripts/train_toxicity.py`` from
data shipped in PyPI packages; the coefficients are plain JSON in ``models/toxicity/`` with a
manifest holding their sha256, checked on load. Data, seeds and limits:
``models/toxicity/MODEL_CARD.md``; quality against peers:
``benchmarks/quality/reports/toxicity.md``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from detectors.base import BatchFeatures, Detector, ModelIntegrityError, verified_bytes
from detectors.cache import ModelCache
from schemas.events import InferenceEvent
from schemas.results import Signal

__all__ = ["HEAD_PATH", "ModelIntegrityError", "ToxicityDetector", "load_head"]

MODEL_DIR = Path(__file__).resolve().parent / "models" / "toxicity"
#: The packaged head; its sha256 is recorded in ``manifest.json`` beside it.
HEAD_PATH = MODEL_DIR / "head.json"
HEAD_FORMAT = "infersight-linear-head/1"

_heads: ModelCache[str, tuple[np.ndarray, float]] = ModelCache()


def _read_head(path: str) -> tuple[np.ndarray, float]:
    raw = Path(path).read_bytes()
    if Path(path) == HEAD_PATH:
        manifest = json.loads((MODEL_DIR / "manifest.json").read_text(encoding="utf-8"))
        raw = verified_bytes(HEAD_PATH, manifest["artefact"]["sha256"], "scripts/train_toxicity.py")
    head = json.loads(raw)
    if head.get("format") != HEAD_FORMAT:
        msg = f"{path} is not a {HEAD_FORMAT} file (format={head.get('format')!r})"
        raise ValueError(msg)
    coef = np.asarray(head["coef"], dtype=np.float64)
    return coef, float(head["intercept"])


def load_head(path: str | Path | None = None) -> tuple[np.ndarray, float]:
    """(coefficients, intercept) of a linear head; the packaged one is hash-checked."""
    key = str(Path(path).resolve() if path is not None else HEAD_PATH)
    return _heads.get(key, lambda: _read_head(key))


class ToxicityDetector(Detector):
    """Score how toxic a response reads: the probability that it is toxic.

    By default a logistic-regression head over the shared MiniLM response embedding (shared
    with the other embedding-based detectors through ``features``). With ``checkpoint``, any
    local Hugging Face sequence-classification model instead, scoring its ``label`` output.
    An empty response scores 0 and never fires.

    Parameters
    ----------
    threshold
        Probability in (0, 1] at or above which the signal fires. The default, 0.8, is the
        lowest threshold whose cross-validated false-positive rate on the training data is at
        most 3% (recall 0.80 there; see the model card).
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
    response reads as toxic: probability ... is at or above the threshold 0.80 (MiniLM ...)
    """

    name: ClassVar[str] = "toxicity"

    def __init__(
        self,
        threshold: float = 0.8,
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
        return "MiniLM embedding + logistic head"

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

        coef, intercept = load_head(self.head)
        vectors = batch_embeddings(events, "response", features)
        logits = vectors.astype(np.float64) @ coef + intercept
        probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
        return probs, {"model": "minilm-logistic-head" if self.head is None else "custom-head"}

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
