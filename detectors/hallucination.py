"""Hallucination signals for RAG calls: is each claim of the answer supported by the context?

No packaged NLI model exists offline, so the signal is built from parts that do. The answer
is split into sentences (claims) and each claim is checked against the retrieved context
(and the prompt) for the ways a fluent, on-topic answer goes wrong:

- support: the claim's largest cosine similarity, under the shared all-MiniLM-L6-v2
  embedder, to a context chunk (a sentence or two adjacent sentences), reported as evidence
  and used to find the chunk a claim's negation is compared with;
- novel content: the share of its content words (crudely stemmed) and capitalised names
  that appear nowhere in the context or prompt;
- underived numbers: numbers (digits, number words, times of day) that are neither in the
  context nor derivable from its numbers by one step of arithmetic (sum, difference,
  product, ratio, percentage, a common unit conversion), counting numbers already derived
  earlier in the answer, so totals, conversions and date arithmetic are not accused;
- unit and negation mismatches: a number the context has with another unit beside it; a
  claim negated where its best-matching chunk is not (or the reverse);
- misplaced anchors: a number or name the context does have, but among other words (the
  right figure attributed to the wrong thing).

The worst claim's lexical values go to a logistic regression trained by
``scripts/train_hallucination.py`` on all three HaluEval tasks plus grounded answers
perturbed programmatically (a swapped number, name, date or unit; a negation flipped).
Artefact and manifest: ``detectors/models/hallucination/``; model card beside them.
Quality, on HaluEval cross-task folds and on a frozen hand-written field set of RAG answers:
``benchmarks/quality/reports/hallucination.md`` (``python -m
benchmarks.quality.unseen_hallucination``).

A user with an NLI checkpoint on disk can pass its folder as ``nli_model_dir``: each claim
is then also checked for entailment by its best-matching context chunk, and the score
blends both.
"""

from __future__ import annotations

import hashlib
import itertools
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

DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "hallucination"

#: What is measured on every claim (larger means less supported, except ``support``).
CLAIM_FEATURES = (
    "support",
    "novel_word_frac",
    "novel_name_frac",
    "underived_number_frac",
    "unit_mismatch",
    "negation_mismatch",
    "anchor_mismatch",
)

#: The combiner's inputs, in order: the worst claim's value of each lexical check. Support
#: (embedding similarity) is evidence in the reason but not an input: trained on HaluEval its
#: coefficient came out positive (a claim closer to the context more likely hallucinated),
#: an artefact of HaluEval QA's answer form, not a property of grounding.
FEATURES = (
    "novel_word_max",
    "novel_name_max",
    "underived_number_max",
    "unit_mismatch_max",
    "negation_mismatch_max",
    "anchor_mismatch_max",
)

MAX_CLAIMS = 32
#: A claim of fewer words without end punctuation is a fragment, embedded after its question.
FRAGMENT_WORDS = 6
MAX_CHUNKS = 256
#: Documents of at most this many sentences also get chunks of two adjacent sentences.
PAIRED_SENTENCES = 20
_QUOTE_CHARS = 160
#: Context numbers used as arithmetic operands (the first ones, in order of appearance).
MAX_OPERANDS = 40

# A sentence ends at . ! ? followed by space and a capital, digit or quote, or glued to a
# capital after a lower-case letter or digit (HaluEval's knowledge strings concatenate
# sentences: "century.First for Women").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|(?<=[a-z0-9)\"'][.!?])(?=[A-Z])|\n+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d[\d,.]*\d|\d")
_NAME = re.compile(r"\b[A-Z][A-Za-z'\-]+")
# A number: a time of day (07:31), or digits with thousands separators and decimals.
_TOKEN = re.compile(r"\d{1,2}:\d{2}|\d(?:[\d,]*\d)?(?:\.\d+)?|[A-Za-z][A-Za-z'\-]*|%|[£$€]")
_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just let me more most my myself no nor not now of off on once only
    or other our ours out over own same she should so some such than that the their theirs
    them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yes sure well
    think know like really one did didn't don't it's i'm i've that's there's what's may might
    must shall per via yet still though although however therefore thus""".split()
)
_NEGATIONS = frozenset(
    """not no never cannot can't don't doesn't didn't isn't aren't wasn't weren't won't
    wouldn't shouldn't couldn't mustn't hasn't haven't hadn't without none nothing neither
    nor nobody unable""".split()
)
_NUMBER_WORDS = {
    w: float(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {
    "thirty": 30.0, "forty": 40.0, "fifty": 50.0, "sixty": 60.0, "seventy": 70.0,
    "eighty": 80.0, "ninety": 90.0, "hundred": 100.0, "dozen": 12.0, "half": 0.5,
    "twice": 2.0, "double": 2.0, "single": 1.0, "once": 1.0,
}  # fmt: skip
_MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_CURRENCIES = frozenset("usd eur gbp chf dkk sek nok jpy cad aud inr $ £ €".split())
# Factors of common unit conversions (length, mass, temperature scale, time, data, percent).
_FACTORS = (
    2.54, 0.3048, 1.609344, 0.453592, 2.20462, 1.8, 1000.0, 1024.0, 100.0, 60.0, 24.0,
    7.0, 5.0, 12.0, 52.0, 365.0, 3600.0,
)  # fmt: skip


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
        if len(sentences) <= PAIRED_SENTENCES:
            out.extend(f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False))
    return list(dict.fromkeys(out))[:MAX_CHUNKS]


def _stem(word: str) -> str:
    """A crude English stem: enough that "weeks"/"week" and "charged"/"charge" meet."""
    w = word.lower().strip("'-")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", "")):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)] + repl
    return w


def _number_value(token: str) -> float | None:
    if ":" in token:
        hours, minutes = token.split(":")
        return float(int(hours) * 60 + int(minutes))
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return _NUMBER_WORDS.get(token.lower())


@dataclass(frozen=True)
class _Quantity:
    value: float
    text: str
    unit: str
    decimals: int
    window: frozenset[str]


def _quantities(text: str, window: int) -> list[_Quantity]:
    """Every number in ``text`` with its unit (the next word, or a currency before it) and the
    stems of the content words within ``window`` tokens of it."""
    tokens = _TOKEN.findall(text)
    out = []
    for i, tok in enumerate(tokens):
        value = _number_value(tok)
        if value is None:
            continue
        if tok.lower() in _NUMBER_WORDS and not tok[0].isdigit():
            # "one" and "once" also mean other things: a number word counts only before a noun.
            if i + 1 >= len(tokens) or tokens[i + 1].lower() in _STOP:
                continue
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        prev = tokens[i - 1].lower() if i > 0 else ""
        if ":" in tok:
            unit = "time"
        elif prev in _CURRENCIES:
            unit = prev
        elif nxt == "%" or nxt in ("percent", "per"):
            unit = "%"
        elif nxt and not _number_value(nxt) and nxt not in _STOP:
            unit = _stem(nxt)
        else:
            unit = ""
        near = tokens[max(0, i - window) : i] + tokens[i + 1 : i + 1 + window]
        stems = frozenset(
            _stem(t) for t in near if t[0].isalpha() and t.lower() not in _STOP and len(t) > 1
        )
        decimals = len(tok.split(".")[1]) if "." in tok and tok[0].isdigit() else 0
        out.append(_Quantity(value, tok, unit, decimals, stems))
    return out


def _close(candidate: float, target: _Quantity, rounded: bool = True) -> bool:
    """Whether ``candidate`` is ``target`` as written (rounded to its decimals); with
    ``rounded`` False a small integer must be met exactly: a conversion or a product that
    rounds to it ("6 miles is 9.7 km", so "10") is chance, not derivation."""
    small = target.value.is_integer() and abs(target.value) < 100
    if not rounded and small:
        return abs(candidate - target.value) <= 1e-6
    tolerance = max(0.5 * 10.0**-target.decimals, 0.005 * abs(target.value))
    return abs(candidate - target.value) <= tolerance + 1e-9


def _units_agree(unit: str, *operands: _Quantity) -> bool:
    """Adding or subtracting needs operands of the answer's unit (times of day and minutes,
    days of a month and day counts, are one unit); an answer number without unit takes any."""
    if not unit:
        return True
    family = {unit}
    if unit in ("time", "minute"):
        family = {"time", "minute"}
    elif unit in _MONTHS or unit == "day":
        family = {"day", *_MONTHS}
    return all(not o.unit or o.unit in family for o in operands)


def _products_apply(target: _Quantity, a: _Quantity, b: _Quantity) -> bool:
    """Products and ratios of two numbers hit almost any small integer by chance (12 / 2 is
    the "6 weeks" a swapped answer invented), so they count only for a percentage, or for a
    target that is not a small integer and shares its unit with an operand."""
    if target.unit == "%":
        return True
    small = target.value.is_integer() and abs(target.value) < 100
    return not small and (not target.unit or target.unit in (a.unit, b.unit))


def _derivable(target: _Quantity, pool: Sequence[_Quantity]) -> bool:
    """Whether ``target`` is one arithmetic step from the numbers in ``pool``."""
    for a in pool:
        if _close(a.value, target):
            return True
        for k in _FACTORS:
            if _close(a.value * k, target, False) or _close(a.value / k, target, False):
                return True
        if _close(a.value * 1.8 + 32, target, False) or _close((a.value - 32) / 1.8, target, False):
            return True
    for a, b in itertools.permutations(pool, 2):
        x, y = a.value, b.value
        if _units_agree(target.unit, a, b) and (_close(x + y, target) or _close(x - y, target)):
            return True
        if not _products_apply(target, a, b):
            continue
        if _close(x * y, target, False) or _close(x * y / 100, target, False):
            return True
        if y and (_close(x / y, target, False) or _close(100 * x / y, target, False)):
            return True
        if y and _close(100 * (x - y) / y, target, False):
            return True
    return False


def _underived(answer: list[_Quantity], source: list[_Quantity]) -> set[int]:
    """Indices of the answer's numbers neither in the source nor derivable from it, where
    numbers the answer already derived count as operands too (a total of two products)."""
    pool = list({q.value: q for q in source}.values())[:MAX_OPERANDS]
    missing = set(range(len(answer)))
    changed = True
    while changed and missing:
        changed = False
        for i in sorted(missing):
            if _derivable(answer[i], pool):
                missing.discard(i)
                pool.append(answer[i])
                changed = True
    return missing


def _negated(text: str) -> bool:
    return any(w.lower() in _NEGATIONS or w.lower().endswith("n't") for w in _WORD.findall(text))


@dataclass(frozen=True)
class _Source:
    """What an answer is checked against: the context and the prompt, indexed once."""

    stems: frozenset[str]
    names: frozenset[str]
    quantities: list[_Quantity]
    anchors: dict[str, set[str]]

    @classmethod
    def of(cls, text: str) -> _Source:
        words = _WORD.findall(text)
        quantities = _quantities(text, window=6)
        anchors: dict[str, set[str]] = {}
        for q in quantities:
            anchors.setdefault(f"#{q.value:g}", set()).update(q.window)
        tokens = _TOKEN.findall(text)
        for i, tok in enumerate(tokens):
            if tok[0].isupper() and tok.lower() not in _STOP:
                near = tokens[max(0, i - 6) : i] + tokens[i + 1 : i + 7]
                anchors.setdefault(tok.lower(), set()).update(
                    _stem(t) for t in near if t[0].isalpha() and t.lower() not in _STOP
                )
        return cls(
            stems=frozenset(_stem(w) for w in words if w[0].isalpha()),
            names=frozenset(w.lower() for w in words if w[0].isalpha()),
            quantities=quantities,
            anchors=anchors,
        )


def _lexical(claim: str, source: _Source, underived: set[str]) -> dict[str, Any]:
    """The lexical checks of one claim (all but support and negation)."""
    words = [w for w in _WORD.findall(claim) if w[0].isalpha() and w.lower() not in _STOP]
    content = [_stem(w) for w in words if len(w) > 1 and w.lower() not in _NUMBER_WORDS]
    novel_words = [w for w in content if w not in source.stems]
    # A capitalised first word is a name only in a fragment ("Delhi"), not in a sentence.
    body = claim if len(claim.split()) < FRAGMENT_WORDS else claim.split(maxsplit=1)[-1]
    names = [n for n in _NAME.findall(body) if n.lower() not in _STOP]
    novel_names = [n for n in names if n.lower() not in source.names]
    quantities = _quantities(claim, window=3)
    flagged = [q for q in quantities if q.text in underived]
    unit_mismatch = 0.0
    for q in quantities:
        same = [s for s in source.quantities if s.value == q.value and s.unit]
        if q.unit and same and q.unit not in {s.unit for s in same}:
            unit_mismatch = 1.0
    anchor = 0.0
    tokens = _TOKEN.findall(claim)
    keys = [(f"#{q.value:g}", q.window) for q in quantities]
    for i, tok in enumerate(tokens):
        if tok[0].isupper() and i > 0 and tok.lower() not in _STOP:
            near = tokens[max(0, i - 3) : i] + tokens[i + 1 : i + 4]
            keys.append(
                (
                    tok.lower(),
                    frozenset(_stem(t) for t in near if t[0].isalpha() and t.lower() not in _STOP),
                )
            )
    for key, window in keys:
        if key in source.anchors and window:
            anchor = max(anchor, len(window - source.anchors[key]) / len(window))

    def frac(part: list[Any], whole: list[Any]) -> float:
        return len(part) / len(whole) if whole else 0.0

    return {
        "novel_word_frac": frac(novel_words, content),
        "novel_name_frac": frac(novel_names, names),
        "underived_number_frac": frac(flagged, quantities),
        "unit_mismatch": unit_mismatch,
        "anchor_mismatch": anchor,
        "novel_names": novel_names,
        "underived_numbers": [q.text for q in flagged],
    }


@dataclass(frozen=True)
class EventFeatures:
    """The combiner's inputs for one event, and the evidence behind them."""

    values: tuple[float, ...]
    relevance: float = 0.0
    claims: tuple[str, ...] = ()
    support: tuple[float, ...] = ()
    claim_values: tuple[tuple[float, ...], ...] = ()
    novel_names: tuple[str, ...] = ()
    novel_numbers: tuple[str, ...] = ()
    has_context: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.values, strict=True))


def aggregate(claim_values: np.ndarray) -> tuple[float, ...]:
    """The combiner's inputs from per-claim rows of :data:`CLAIM_FEATURES` (the worst claim's
    value of each check after support); one claim alone gives that claim's own inputs."""
    rows = np.asarray(claim_values, dtype=np.float64).reshape(-1, len(CLAIM_FEATURES))
    return tuple(float(v) for v in rows[:, 1:].max(axis=0))


def _checkable(claim: str) -> bool:
    """Whether a sentence states anything: "Yes." and "Sure!" do not."""
    return any(w.lower() not in _STOP or w[0].isdigit() for w in _WORD.findall(claim))


def _probe(claim: str, question: str) -> str:
    """The text embedded for a claim: a short one ("Delhi") is read after its question."""
    if question and len(claim.split()) < FRAGMENT_WORDS:
        return f"{question} {claim}"
    return claim


def extract_features(
    events: Sequence[InferenceEvent],
    features: BatchFeatures | None = None,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
    relevance: bool = True,
) -> list[EventFeatures]:
    """Combiner inputs for every event, with all claims and chunks embedded in one call.

    ``encode`` replaces the shared embedder (the training script passes a caching one); by
    default prompt and response vectors come from the batch's shared embeddings.
    ``relevance`` False skips the answer-question relevance (evidence only, not an input).
    """
    from detectors.embedding import batch_embeddings, get_embedder

    shared = encode is None
    if encode is None:
        embedder = get_embedder()
        encode = embedder.encode
    if not relevance:
        relevances = np.zeros(len(events))
    elif shared:
        prompts = batch_embeddings(events, "prompt", features, embedder)
        responses = batch_embeddings(events, "response", features, embedder)
        relevances = np.einsum("ij,ij->i", prompts, responses).astype(float)
    else:
        prompts = encode([e.prompt_text for e in events])
        responses = encode([e.response for e in events])
        relevances = np.einsum("ij,ij->i", prompts, responses).astype(float)

    plans: list[tuple[list[str], list[str], list[str]] | None] = []
    texts: dict[str, int] = {}
    for event in events:
        if not event.context or not event.response.strip():
            plans.append(None)
            continue
        claims = [c for c in split_sentences(event.response) if _checkable(c)][:MAX_CLAIMS]
        claims = claims or [event.response.strip()]
        chunks = _chunks([d.text for d in event.context]) or ["(empty context)"]
        asked = split_sentences(event.prompt_text)
        question = asked[-1][-_QUOTE_CHARS * 2 :] if asked else ""
        probes = [_probe(c, question) for c in claims]
        for text in (*probes, *chunks):
            texts.setdefault(text, len(texts))
        plans.append((claims, probes, chunks))
    vectors = encode(list(texts)) if texts else np.zeros((0, 0), dtype=np.float32)

    out: list[EventFeatures] = []
    for event, plan, rel in zip(events, plans, relevances, strict=True):
        if plan is None:
            values = (0.0,) * len(FEATURES)
            out.append(EventFeatures(values=values, relevance=float(rel), has_context=False))
            continue
        claims, probes, chunks = plan
        sims = vectors[[texts[t] for t in probes]] @ vectors[[texts[t] for t in chunks]].T
        support = sims.max(axis=1).astype(float)
        best = sims.argmax(axis=1)
        source = _Source.of("\n".join(d.text for d in event.context) + "\n" + event.prompt_text)
        answer_quantities = _quantities(event.response, window=3)
        missing = _underived(answer_quantities, source.quantities)
        underived = {answer_quantities[i].text for i in missing}
        rows, names, numbers = [], [], []
        for claim, s, b in zip(claims, support, best, strict=True):
            lex = _lexical(claim, source, underived)
            negation = float(_negated(claim) != _negated(chunks[b]))
            rows.append(
                (
                    float(s),
                    lex["novel_word_frac"],
                    lex["novel_name_frac"],
                    lex["underived_number_frac"],
                    lex["unit_mismatch"],
                    negation,
                    lex["anchor_mismatch"],
                )
            )
            names.extend(lex["novel_names"])
            numbers.extend(lex["underived_numbers"])
        out.append(
            EventFeatures(
                values=aggregate(np.array(rows)),
                relevance=float(rel),
                claims=tuple(claims),
                support=tuple(float(s) for s in support),
                claim_values=tuple(rows),
                novel_names=tuple(dict.fromkeys(names)),
                novel_numbers=tuple(dict.fromkeys(numbers)),
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
    threshold: float = 0.5

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
                threshold=float(spec.get("threshold", 0.5)),
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

    The default threshold, 0.73, was set on a calibration split (480 HaluEval events used
    neither for training nor for evaluation, see the model card) as the lowest that fires on
    at most 10% of grounded answers: there it fires on 10.0% of them and catches 17.1% of
    the hallucinated ones. On the hand-written field set of RAG answers (never trained or
    tuned on; ``benchmarks/quality/reports/hallucination.md``) it fires on 19.2% of the
    grounded answers and catches 13.4% of the unsupported ones: the field-set AUC is 0.416,
    below chance and below a names-and-numbers baseline (0.532). Do not page on this score.

    Cost: one embedding pass over the claims and context chunks of a batch; measured end to
    end at 160-440 ms per short-context event and 0.7-1.8 s per news-length document on two
    CPU cores shared with five other jobs (load 7-15). Sampling policy: score every RAG event
    while volume allows; above that set ``sample_rate`` (for example 0.1): a deterministic
    share of the events with context, by event id, is assessed and the rest say so.

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
            combiner = load_combiner(self.model_dir or DEFAULT_MODEL_DIR)
            batch = [events[i] for i in chosen]
            feats = features if len(chosen) == len(events) else None
            rows = extract_features(batch, feats)
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
            f"weakest claim (probability {claim_probs[weakest]:.2f} on its own, similarity "
            f"{row.support[weakest]:.2f} to the context): {_quote(row.claims[weakest])!r}"
        )
        novel = [*row.novel_names, *row.novel_numbers]
        if novel:
            reason += "; not in context: " + ", ".join(novel[:8])
        detail.update(
            {
                "combiner_probability": round(prob, 4),
                "features": {k: round(v, 4) for k, v in row.as_dict().items()},
                "claim_support": [round(s, 4) for s in row.support],
                "claim_probability": [round(float(p), 4) for p in claim_probs],
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
