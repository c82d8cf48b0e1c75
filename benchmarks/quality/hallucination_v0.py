"""The hallucination detector as it was before issue 10 ("v0"), frozen for side-by-side
comparison in ``benchmarks/quality/unseen_hallucination.py``. Not used at run time.

Its artefact (``hallucination_v0_model/``) is the combiner trained on HaluEval QA only by the
earlier ``scripts/train_hallucination.py`` (manifest inside). Original docstring follows.

Hallucination signals for RAG calls: is each claim of the answer supported by the context?

No packaged NLI model exists offline, so the default signal is built from parts that do:

- claim support: the answer is split into sentences (claims); each claim's support is its
  largest cosine similarity, under the shared all-MiniLM-L6-v2 embedder, to a context chunk
  (a sentence or two adjacent sentences of a retrieved document);
- consistency: the share of the answer's content words, capitalised names and numbers (dates
  included) that appear neither in the context nor in the prompt;
combined by a logistic regression trained by ``scripts/train_hallucination.py`` on HaluEval
QA (artefact and manifest in ``detectors/models/hallucination/``). Answer-question relevance
(cosine of the prompt and response embeddings) is reported as evidence but kept out of the
combiner: on HaluEval QA it mostly measures how much an answer restates its question (the
hallucinated answers are full sentences, the right ones short spans), which would score
well there and mean nothing elsewhere; the training script prints that ablation. Quality, cross-task
results and throughput: ``benchmarks/quality/reports/hallucination.md``.

A user with an NLI checkpoint on disk can pass its folder as ``nli_model_dir``: each claim
is then also checked for entailment by its best-matching context chunk, and the score
blends both.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from detectors.base import BatchFeatures, Detector, verified_bytes
from schemas.events import InferenceEvent
from schemas.results import Signal

__all__ = [
    "DEFAULT_MODEL_DIR",
    "FEATURES",
    "Combiner",
    "EventFeatures",
    "HallucinationDetector",
    "extract_features",
    "load_combiner",
    "split_sentences",
]

DEFAULT_MODEL_DIR = Path(__file__).parent / "hallucination_v0_model"

#: The combiner's inputs, in order.
FEATURES = (
    "support_min",
    "support_mean",
    "novel_word_frac",
    "novel_name_frac",
    "novel_number_frac",
)

MAX_CLAIMS = 32
#: A claim of fewer words without end punctuation is a fragment, embedded after its question.
FRAGMENT_WORDS = 6
MAX_CHUNKS = 256
_QUOTE_CHARS = 160

# A sentence ends at . ! ? followed by space and a capital, digit or quote, or glued to a
# capital after a lower-case letter or digit (HaluEval's knowledge strings concatenate
# sentences: "century.First for Women").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|(?<=[a-z0-9)\"'][.!?])(?=[A-Z])|\n+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d[\d,.]*\d|\d")
_NAME = re.compile(r"\b[A-Z][A-Za-z'\-]+")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just let me more most my myself no nor not now of off on once only
    or other our ours out over own same she should so some such than that the their theirs
    them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yes sure well
    think know like really one did didn't don't it's i'm i've that's there's what's""".split()
)


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences (claims), dropping empty pieces.

    >>> split_sentences("Arthur's Magazine came first.First for Women came in 1989. Yes!")
    ["Arthur's Magazine came first.", 'First for Women came in 1989.', 'Yes!']
    """
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _chunks(documents: Sequence[str]) -> list[str]:
    out: list[str] = []
    for doc in documents:
        sentences = split_sentences(doc)
        out.extend(sentences)
        out.extend(f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False))
    return list(dict.fromkeys(out))[:MAX_CHUNKS]


def _norm_number(token: str) -> str:
    return token.replace(",", "").rstrip(".")


def _vocabulary(text: str) -> tuple[set[str], set[str]]:
    words = {w.lower() for w in _WORD.findall(text)}
    numbers = {_norm_number(n) for n in _NUMBER.findall(text)}
    return words, numbers


@dataclass(frozen=True)
class EventFeatures:
    """The combiner's inputs for one event, and the evidence behind them."""

    values: tuple[float, ...]
    relevance: float = 0.0
    claims: tuple[str, ...] = ()
    support: tuple[float, ...] = ()
    novel_names: tuple[str, ...] = ()
    novel_numbers: tuple[str, ...] = ()
    has_context: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.values, strict=True))


def _consistency(answer: str, source: str) -> tuple[float, float, float, list[str], list[str]]:
    words, numbers = _vocabulary(source)
    content = [w.lower() for w in _WORD.findall(answer) if w.lower() not in _STOP]
    content = [w for w in content if not w[0].isdigit()]
    novel_words = [w for w in content if w not in words]
    names = [n for n in _NAME.findall(answer) if n.lower() not in _STOP]
    novel_names = [n for n in names if n.lower() not in words]
    nums = [_norm_number(n) for n in _NUMBER.findall(answer)]
    novel_numbers = [n for n in nums if n not in numbers]

    def frac(part: list[str], whole: list[str]) -> float:
        return len(part) / len(whole) if whole else 0.0

    return (
        frac(novel_words, content),
        frac(novel_names, names),
        frac(novel_numbers, nums),
        list(dict.fromkeys(novel_names)),
        list(dict.fromkeys(novel_numbers)),
    )


def _probe(claim: str, question: str) -> str:
    """The text embedded for a claim: a bare fragment ("Delhi") is read with its question."""
    if question and len(claim.split()) < FRAGMENT_WORDS and claim[-1:] not in ".!?":
        return f"{question} {claim}"
    return claim


def extract_features(
    events: Sequence[InferenceEvent],
    features: BatchFeatures | None = None,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> list[EventFeatures]:
    """Combiner inputs for every event, with all claims and chunks embedded in one call.

    ``encode`` replaces the shared embedder (the training script passes a caching one); by
    default prompt and response vectors come from the batch's shared embeddings.
    """
    from detectors.embedding import batch_embeddings, get_embedder

    if encode is None:
        embedder = get_embedder()
        encode = embedder.encode
        prompts = batch_embeddings(events, "prompt", features, embedder)
        responses = batch_embeddings(events, "response", features, embedder)
    else:
        prompts = encode([e.prompt_text for e in events])
        responses = encode([e.response for e in events])
    relevance = np.einsum("ij,ij->i", prompts, responses).astype(float)

    plans: list[tuple[list[str], list[str], list[str]] | None] = []
    texts: dict[str, int] = {}
    for event in events:
        if not event.context or not event.response.strip():
            plans.append(None)
            continue
        claims = split_sentences(event.response)[:MAX_CLAIMS] or [event.response.strip()]
        chunks = _chunks([d.text for d in event.context]) or ["(empty context)"]
        asked = split_sentences(event.prompt_text)
        question = asked[-1][-_QUOTE_CHARS * 2 :] if asked else ""
        probes = [_probe(c, question) for c in claims]
        for text in (*probes, *chunks):
            texts.setdefault(text, len(texts))
        plans.append((claims, probes, chunks))
    vectors = encode(list(texts)) if texts else np.zeros((0, 0), dtype=np.float32)

    out: list[EventFeatures] = []
    for event, plan, rel in zip(events, plans, relevance, strict=True):
        if plan is None:
            values = (0.0,) * len(FEATURES)
            out.append(EventFeatures(values=values, relevance=float(rel), has_context=False))
            continue
        claims, probes, chunks = plan
        c_vec = vectors[[texts[t] for t in probes]]
        k_vec = vectors[[texts[t] for t in chunks]]
        sims = c_vec @ k_vec.T
        support = sims.max(axis=1).astype(float)
        best = sims.argmax(axis=1)
        source = event.prompt_text + "\n" + "\n".join(d.text for d in event.context)
        words, names, numbers, novel_names, novel_numbers = _consistency(event.response, source)
        values = (
            float(support.min()),
            float(support.mean()),
            words,
            names,
            numbers,
        )
        out.append(
            EventFeatures(
                values=values,
                relevance=float(rel),
                claims=tuple(claims),
                support=tuple(support),
                novel_names=tuple(novel_names),
                novel_numbers=tuple(novel_numbers),
                extra={"best_chunks": [chunks[i] for i in best]},
            )
        )
    return out


@dataclass(frozen=True)
class Combiner:
    """Standardised logistic regression over :data:`FEATURES`."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    sha256: str

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.coef
        return 1.0 / (1.0 + np.exp(-(z + self.intercept)))


_combiners: dict[str, Combiner] = {}
_nli: dict[str, Any] = {}
_lock = threading.Lock()


def load_combiner(model_dir: str | Path = DEFAULT_MODEL_DIR) -> Combiner:
    """Load ``combiner.json`` once per process after checking its sha256 against the manifest."""
    model_dir = Path(model_dir)
    key = str(model_dir.resolve())
    with _lock:
        if key not in _combiners:
            manifest = json.loads((model_dir / "manifest.json").read_text())
            path = model_dir / manifest["artefact"]
            raw = verified_bytes(path, manifest["sha256"], "scripts/train_hallucination.py")
            spec = json.loads(raw)
            if tuple(spec["features"]) != FEATURES:
                msg = f"{path} was trained on features {spec['features']}, expected {FEATURES}"
                raise ValueError(msg)
            _combiners[key] = Combiner(
                mean=np.array(spec["mean"], dtype=np.float64),
                scale=np.array(spec["scale"], dtype=np.float64),
                coef=np.array(spec["coef"], dtype=np.float64),
                intercept=float(spec["intercept"]),
                sha256=manifest["sha256"],
            )
        return _combiners[key]


def _load_nli(model_dir: str) -> tuple[Any, Any, int]:
    """Tokenizer, model and entailment label index of a local sequence-classification NLI model."""
    key = str(Path(model_dir).resolve())
    with _lock:
        if key not in _nli:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(key, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(
                key, local_files_only=True
            ).eval()
            labels = {int(i): str(n).lower() for i, n in model.config.id2label.items()}
            entail = [i for i, n in labels.items() if n.startswith("entail")]
            if not entail:
                msg = (
                    f"nli_model_dir {model_dir!r} has labels {labels}; "
                    "none starts with 'entail', so entailment cannot be read from it"
                )
                raise ValueError(msg)
            _nli[key] = (tokenizer, model, entail[0])
        return _nli[key]  # type: ignore[no-any-return]  # stored above


def _entailment(model_dir: str, premises: list[str], hypotheses: list[str]) -> np.ndarray:
    import torch

    tokenizer, model, index = _load_nli(model_dir)
    batch = tokenizer(premises, hypotheses, truncation=True, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    return torch.softmax(logits.float(), dim=-1)[:, index].numpy().astype(float)


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _QUOTE_CHARS else flat[: _QUOTE_CHARS - 1] + "…"


class HallucinationDetector(Detector):
    """Score how likely a RAG answer states things its retrieved context does not support.

    For an event with context, the score is the combiner's probability of hallucination and
    the reason quotes the least-supported claim. For an event without context groundedness
    cannot be assessed: the score is 0, the signal never fires, and ``detail`` reports the
    answer-question relevance (cosine of their embeddings) with ``assessed`` False.

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

    Examples
    --------
    >>> from schemas.events import InferenceEvent, ContextDocument
    >>> ctx = [ContextDocument(text="The Oberoi Group is a hotel company with its head office "
    ...                             "in Delhi.")]
    >>> q = "The Oberoi family is part of a hotel company that has a head office in what city?"
    >>> det = HallucinationDetector(threshold=0.5)
    >>> events = [
    ...     InferenceEvent(service="s", model="m", event_id="a", prompt=q, context=ctx,
    ...                    response="Delhi"),
    ...     InferenceEvent(service="s", model="m", event_id="b", prompt=q, context=ctx,
    ...                    response="The Oberoi family's hotel company is based in Mumbai."),
    ...     InferenceEvent(service="s", model="m", event_id="c", prompt=q, response="Delhi"),
    ... ]
    >>> [(s.fired, s.detail["assessed"]) for s in det.score_batch(events)]
    [(False, True), (True, True), (False, False)]
    """

    name: ClassVar[str] = "hallucination"

    def __init__(
        self,
        threshold: float = 0.5,
        model_dir: str | None = None,
        nli_model_dir: str | None = None,
        nli_weight: float = 0.5,
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
        self.threshold = threshold
        self.model_dir = model_dir
        self.nli_model_dir = nli_model_dir
        self.nli_weight = nli_weight

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        if not events:
            return []
        combiner = load_combiner(self.model_dir or DEFAULT_MODEL_DIR)
        rows = extract_features(events, features)
        probs = combiner.probability(np.array([r.values for r in rows]))
        entail = self._entailment(rows)
        return [
            self._signal(event, row, float(p), entail.get(i), combiner.sha256)
            for i, (event, row, p) in enumerate(zip(events, rows, probs, strict=True))
        ]

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
        weakest = int(np.argmin(row.support))
        fired = score >= self.threshold
        verdict = "may be hallucinated" if fired else "looks grounded"
        reason = (
            f"answer {verdict} (probability {score:.2f}, threshold {self.threshold:.2f}); "
            f"least-supported claim (similarity {row.support[weakest]:.2f} to the context): "
            f"{_quote(row.claims[weakest])!r}"
        )
        novel = [*row.novel_names, *row.novel_numbers]
        if novel:
            reason += "; not in context: " + ", ".join(novel[:8])
        detail.update(
            {
                "combiner_probability": round(prob, 4),
                "features": {k: round(v, 4) for k, v in row.as_dict().items()},
                "claim_support": [round(s, 4) for s in row.support],
                "novel_names": list(row.novel_names),
                "novel_numbers": list(row.novel_numbers),
                "model_sha256": sha256[:16],
            }
        )
        return Signal(
            detector=self.name,
            event_id=event.event_id,
            score=float(score),
            fired=bool(fired),
            reason=reason,
            detail=detail,
        )
