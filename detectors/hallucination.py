"""Hallucination signals for RAG calls: is each claim of the answer supported by the context?

No packaged NLI model exists offline, so the signal is built from parts that do. The answer
is split into sentences (claims); each claim is aligned to the context sentence that covers
the largest IDF-weighted share of its content words, and checked for the ways a fluent,
on-topic answer goes wrong in one detail:

- a capitalised name that appears nowhere in the context or prompt;
- a number (digits, number words, times of day) neither in the context nor one arithmetic
  step from its numbers (sum, difference, product, ratio, percentage, a common unit or
  12-hour-clock conversion), a product of three of them (40 licences x USD 12 x 3 months)
  or a date shifted by one of its spans (3 March + 30 days), counting numbers derived
  earlier in the answer, so totals, conversions and due dates are not accused;
- a number conflict: the aligned sentence has a number of the same unit where the claim has
  another (the right figure for the wrong thing counts too);
- a negation conflict: the word right after a "not"/"no"/"never" in the aligned sentence
  stands in the claim without negation, or the reverse; or a reworded one: the claim has one
  of a pair of opposite words ("free", "optional", "after") where the aligned sentence has
  the other ("fee", "required", "before");
- a name conflict: the claim has a name the context has but its aligned sentence lacks,
  while that sentence names someone else (the right names attached to the wrong fact).

A claim that says the documents do not state something is not accused of what it says is
missing. Novel wording, rare novel words, misplaced anchors and unit mismatches are computed
too (per claim, in ``detail``), but are not inputs: grounded RAG answers paraphrase, and on
a hand-written development set those checks fired on most grounded answers. Soft alignment
with embedding vectors was tried and dropped for the same reason.

The combiner is a logistic regression with non-negative weights over the claims' checks
pooled per answer (the worst claim for numbers and negations, the share of claims for names
and name conflicts) and the answer's share of names and numbers absent from the context (the
lexical baseline, as one more input), trained by ``scripts/train_hallucination.py`` on all
three HaluEval tasks, RAG-voice variants of their contexts and one-detail contrasts of their
right answers. No model runs per claim: the cost is string work, plus the prompt/response
embeddings shared with other detectors.
Artefacts (``combiner.json``, ``idf.tsv``) and manifest: ``detectors/models/hallucination/``;
model card beside them. Quality, on HaluEval cross-task folds and on a frozen hand-written
field set of RAG answers: ``benchmarks/quality/reports/hallucination.md`` (``python -m
benchmarks.quality.unseen_hallucination``).

A user with an NLI checkpoint on disk can pass its folder as ``nli_model_dir``: each claim
is then also checked for entailment by its aligned context sentence, and the score blends
both.

Code: ``hallucination_claims.py`` (sentences, numbers and their derivation, the name, number,
unit and anchor checks against the whole source), ``hallucination_align.py`` (alignment, IDF,
number and negation conflicts, hedges), ``hallucination_relations.py`` (name and polarity
conflicts, the lexical share), ``hallucination_features.py`` (the combiner's inputs per
event), this module (the combiner, sampling, the detector).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from detectors.base import BatchFeatures, Detector, verified_bytes
from detectors.cache import ModelCache
from detectors.hallucination_align import DEFAULT_MODEL_DIR, load_idf
from detectors.hallucination_claims import split_sentences
from detectors.hallucination_features import (
    CLAIM_FEATURES,
    FEATURES,
    QUOTE_CHARS,
    EventFeatures,
    aggregate,
    extract_features,
)
from schemas.events import InferenceEvent
from schemas.results import Signal

__all__ = [
    "CLAIM_FEATURES",
    "DEFAULT_MODEL_DIR",
    "FEATURES",
    "Combiner",
    "EventFeatures",
    "HallucinationDetector",
    "extract_features",
    "load_combiner",
    "split_sentences",
]


@dataclass(frozen=True)
class Combiner:
    """Standardised logistic regression over :data:`FEATURES`."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    sha256: str
    threshold: float = 0.5

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.coef
        return 1.0 / (1.0 + np.exp(-(z + self.intercept)))


_combiners: ModelCache[str, Combiner] = ModelCache()
_nli: ModelCache[str, tuple[Any, Any, int]] = ModelCache()


def load_combiner(model_dir: str | Path = DEFAULT_MODEL_DIR) -> Combiner:
    """Load ``combiner.json`` once per process after checking its sha256 against the manifest."""
    model_dir = Path(model_dir)
    key = str(model_dir.resolve())
    return _combiners.get(key, lambda: _read_combiner(model_dir))


def _read_combiner(model_dir: Path) -> Combiner:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    path = model_dir / manifest["artefact"]
    raw = verified_bytes(path, manifest["sha256"], "scripts/train_hallucination.py")
    spec = json.loads(raw)
    if tuple(spec["features"]) != FEATURES:
        msg = f"{path} was trained on features {spec['features']}, expected {FEATURES}"
        raise ValueError(msg)
    return Combiner(
        mean=np.array(spec["mean"], dtype=np.float64),
        scale=np.array(spec["scale"], dtype=np.float64),
        coef=np.array(spec["coef"], dtype=np.float64),
        intercept=float(spec["intercept"]),
        sha256=manifest["sha256"],
        threshold=float(spec.get("threshold", 0.5)),
    )


def _load_nli(model_dir: str) -> tuple[Any, Any, int]:
    """Tokenizer, model and entailment label index of a local sequence-classification NLI model."""
    key = str(Path(model_dir).resolve())
    return _nli.get(key, lambda: _read_nli(key, model_dir))


def _read_nli(key: str, model_dir: str) -> tuple[Any, Any, int]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(key, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(key, local_files_only=True).eval()
    labels = {int(i): str(n).lower() for i, n in model.config.id2label.items()}
    entail = [i for i, n in labels.items() if n.startswith("entail")]
    if not entail:
        msg = (
            f"nli_model_dir {model_dir!r} has labels {labels}; "
            "none starts with 'entail', so entailment cannot be read from it"
        )
        raise ValueError(msg)
    return tokenizer, model, entail[0]


def _entailment(model_dir: str, premises: list[str], hypotheses: list[str]) -> np.ndarray:
    import torch

    tokenizer, model, index = _load_nli(model_dir)
    batch = tokenizer(premises, hypotheses, truncation=True, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    return torch.softmax(logits.float(), dim=-1)[:, index].numpy().astype(float)


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_CHARS else flat[: QUOTE_CHARS - 1] + "…"


def _evidence(
    row: EventFeatures, prob: float, claim_probs: np.ndarray, sha256: str
) -> dict[str, Any]:
    """What ``detail`` carries besides the verdict: the combiner's inputs, and every check
    of every claim (the ones the combiner does not read included)."""
    return {
        "combiner_probability": round(prob, 4),
        "features": {k: round(v, 4) for k, v in row.as_dict().items()},
        "claim_support": [round(s, 4) for s in row.support],
        "claim_probability": [round(float(p), 4) for p in claim_probs],
        "claim_checks": {
            name: [round(float(v[k]), 4) for v in row.claim_values]
            for k, name in enumerate(CLAIM_FEATURES)
            if name != "support"
        },
        "novel_names": list(row.novel_names),
        "novel_numbers": list(row.novel_numbers),
        "model_sha256": sha256[:16],
    }


def sampled(event_id: str, rate: float) -> bool:
    """Whether an event is in the deterministic ``rate`` sample: the same event id is always
    in or out, so a replayed event scores as it did the first time."""
    if rate >= 1:
        return True
    digest = hashlib.sha256(event_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


class HallucinationDetector(Detector):
    """Score how likely a RAG answer states things its retrieved context does not support.

    For an event with context, the score is the combiner's probability that the answer is
    not supported, and the reason quotes the weakest claim (the claim that scores highest on
    its own) with the names and numbers the context does not back. The reason and detail
    quote answer text: the scoring pipeline scrubs the PII it found from both before they
    are stored or alerted on. For an event without context groundedness cannot be assessed:
    the score is 0, the signal never fires, and ``detail`` reports the answer-question
    relevance (cosine of their embeddings) with ``assessed`` False.

    The default threshold, 0.73, was set on a calibration split (5,295 HaluEval-derived
    events used neither for training nor for evaluation, see the model card) as the lowest
    that fires on at most 10% of grounded answers: there it fires on 8.1% of them and catches
    27.5% of the unsupported ones. The score takes few values (the checks are mostly yes/no):
    a negation that contradicts the aligned context sentence fires on its own (0.85); a
    changed number fires when it conflicts with both the aligned sentence and the aligned
    clause and cannot be derived from the context (0.80); a swapped unit (0.37) or the right
    name on the wrong fact (at most 0.72) raises the score without firing alone; a one-claim answer
    whose only name is not in the context just fires (0.732); a novel name in one claim of
    several does not. False-positive rates on
    grounded answers at 0.73: 0% of 36 on the hand-written development set (recall 33.3%),
    6.2% of 32 on a second one aimed at reworded negations, units and arithmetic (recall
    18.8%, AUC 0.500), 12.6% of 239 on the frozen hand-written field set of RAG answers
    (recall 25.1% of 187; never trained or tuned on;
    ``benchmarks/quality/reports/hallucination.md``). The field-set AUC is 0.593, above a
    names-and-numbers baseline (0.532) but far from 0.80: treat a firing as "look at this
    claim", not as a page.

    Cost: string work per claim (no model per claim) plus the prompt and response embeddings
    the embedding detector shares through ``BatchFeatures``; measured end to end without
    that cache at 12-95 ms per event (QA to news-length summaries; 20-54 ms per field-set
    event) on two CPU cores shared with five other jobs, most of it the two embeddings.
    Sampling policy: score every RAG event while volume allows; above that set
    ``sample_rate`` (for example 0.1): a deterministic share of the events with context, by
    event id, is assessed and the rest say so.

    Parameters
    ----------
    threshold
        Probability in (0, 1] at or above which the signal fires.
    model_dir
        Folder holding ``combiner.json`` and ``manifest.json``; None means the committed one.
    nli_model_dir
        Optional local folder of a Hugging Face sequence-classification NLI checkpoint (a
        label starting with "entail"). When set, each claim is checked against its best
        context chunk and the score becomes a blend of the two.
    nli_weight
        Weight in [0, 1] of ``1 - min claim entailment`` in that blend.
    sample_rate
        Share in (0, 1] of events with context that are assessed, chosen by a hash of the
        event id (replays agree); the others get score 0, never fire, and say so.

    Examples
    --------
    >>> from schemas.events import InferenceEvent, ContextDocument
    >>> ctx = [ContextDocument(text="Annual plans may be refunded in full within 30 days of "
    ...                             "purchase. After 30 days, annual plans are not refundable.")]
    >>> q = "Can I get a refund on my annual plan after 40 days?"
    >>> det = HallucinationDetector(threshold=0.6)
    >>> events = [
    ...     InferenceEvent(service="s", model="m", event_id="a", prompt=q, context=ctx,
    ...                    response="No. Refunds are only possible within 30 days of purchase."),
    ...     InferenceEvent(service="s", model="m", event_id="b", prompt=q, context=ctx,
    ...                    response="Yes, annual plans can be refunded within 60 days."),
    ...     InferenceEvent(service="s", model="m", event_id="c", prompt=q, response="No."),
    ... ]
    >>> [(s.fired, s.detail["assessed"]) for s in det.score_batch(events)]
    [(False, True), (True, True), (False, False)]
    """

    name: ClassVar[str] = "hallucination"

    def __init__(
        self,
        threshold: float = 0.73,
        model_dir: str | None = None,
        nli_model_dir: str | None = None,
        nli_weight: float = 0.5,
        sample_rate: float = 1.0,
    ) -> None:
        if not 0 < threshold <= 1:
            msg = f"threshold must be in (0, 1], got {threshold!r}"
            raise ValueError(msg)
        if model_dir is not None and not (Path(model_dir) / "manifest.json").is_file():
            msg = f"model_dir must hold manifest.json and combiner.json, got {model_dir!r}"
            raise ValueError(msg)
        if nli_model_dir is not None and not (Path(nli_model_dir) / "config.json").is_file():
            msg = (
                "nli_model_dir must be a local checkpoint folder with config.json, "
                f"got {nli_model_dir!r}"
            )
            raise ValueError(msg)
        if not 0 <= nli_weight <= 1:
            msg = f"nli_weight must be in [0, 1], got {nli_weight!r}"
            raise ValueError(msg)
        if not 0 < sample_rate <= 1:
            msg = f"sample_rate must be in (0, 1], got {sample_rate!r}"
            raise ValueError(msg)
        self.threshold = threshold
        self.model_dir = model_dir
        self.nli_model_dir = nli_model_dir
        self.nli_weight = nli_weight
        self.sample_rate = sample_rate

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        if not events:
            return []
        chosen = [i for i, e in enumerate(events) if sampled(e.event_id, self.sample_rate)]
        out: dict[int, Signal] = {
            i: self._skipped(e) for i, e in enumerate(events) if i not in set(chosen)
        }
        if chosen:
            model_dir = self.model_dir or DEFAULT_MODEL_DIR
            combiner = load_combiner(model_dir)
            batch = [events[i] for i in chosen]
            feats = features if len(chosen) == len(events) else None
            rows = extract_features(batch, feats, idf=load_idf(model_dir))
            probs = combiner.probability(np.array([r.values for r in rows]))
            entail = self._entailment(rows)
            for j, (i, row, p) in enumerate(zip(chosen, rows, probs, strict=True)):
                claim_probs = (
                    combiner.probability(
                        np.array([aggregate(np.array(v)) for v in row.claim_values])
                    )
                    if row.claim_values
                    else np.zeros(0)
                )
                out[i] = self._signal(
                    events[i], row, float(p), claim_probs, entail.get(j), combiner.sha256
                )
        return [out[i] for i in range(len(events))]

    def _skipped(self, event: InferenceEvent) -> Signal:
        return Signal(
            detector=self.name,
            event_id=event.event_id,
            score=0.0,
            fired=False,
            reason=f"groundedness not assessed (outside the {self.sample_rate:.0%} sample)",
            detail={"assessed": False, "sampled": False},
        )

    def _entailment(self, rows: list[EventFeatures]) -> dict[int, np.ndarray]:
        if self.nli_model_dir is None:
            return {}
        owners, premises, hypotheses = [], [], []
        for i, row in enumerate(rows):
            if row.has_context and row.claims:
                owners.extend([i] * len(row.claims))
                premises.extend(row.extra["best_chunks"])
                hypotheses.extend(row.claims)
        if not hypotheses:
            return {}
        probs = _entailment(self.nli_model_dir, premises, hypotheses)
        out: dict[int, list[float]] = {}
        for i, p in zip(owners, probs, strict=True):
            out.setdefault(i, []).append(float(p))
        return {i: np.array(v) for i, v in out.items()}

    def _signal(
        self,
        event: InferenceEvent,
        row: EventFeatures,
        prob: float,
        claim_probs: np.ndarray,
        entail: np.ndarray | None,
        sha256: str,
    ) -> Signal:
        relevance = row.relevance
        detail: dict[str, Any] = {"assessed": row.has_context, "relevance": round(relevance, 4)}
        if not row.has_context:
            why = "no retrieved context" if not event.context else "empty response"
            reason = f"groundedness not assessed ({why}); answer-question relevance {relevance:.2f}"
            return Signal(
                detector=self.name,
                event_id=event.event_id,
                score=0.0,
                fired=False,
                reason=reason,
                detail=detail,
            )
        score = prob
        if entail is not None:
            score = (1 - self.nli_weight) * prob + self.nli_weight * (1 - float(entail.min()))
            detail["entailment"] = [round(float(x), 4) for x in entail]
        weakest = int(np.argmax(claim_probs)) if len(claim_probs) else 0
        fired = score >= self.threshold
        verdict = "may be hallucinated" if fired else "looks grounded"
        reason = (
            f"answer {verdict} (probability {score:.2f}, threshold {self.threshold:.2f}); "
            f"weakest claim (probability {claim_probs[weakest]:.2f} on its own, "
            f"{row.support[weakest]:.0%} of its content in its best context sentence): "
            f"{_quote(row.claims[weakest])!r}"
        )
        novel = [*row.novel_names, *row.novel_numbers]
        if novel:
            reason += "; not in context: " + ", ".join(novel[:8])
        detail.update(_evidence(row, prob, claim_probs, sha256))
        return Signal(
            detector=self.name,
            event_id=event.event_id,
            score=float(score),
            fired=bool(fired),
            reason=reason,
            detail=detail,
        )
