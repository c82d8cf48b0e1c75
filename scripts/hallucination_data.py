"""Training data in the voice of RAG answers for the hallucination combiner, built from
HaluEval contexts (never from the field set): each sentence of a context can be answered
back faithfully or with one detail wrong.

- Unsupported (label 1), :func:`perturb` and :func:`unsupported_variant`: a context sentence
  with one number, name, month or year, or unit changed, a negation flipped, a number taken
  from another sentence of the same context (the right figure for the wrong thing), or a
  clause from another document appended (an invented detail).
- Grounded (label 0), :func:`grounded_variant`: a context sentence quoted, trimmed to a
  clause, joined with the next one, reworded with common synonyms, followed by a number
  computed from its own (a difference, a total, a unit conversion), or followed by a
  statement that the documents do not say something.

Either may be introduced by a phrase about the sources (:func:`lead_in`) and may follow
another, faithfully quoted, sentence of the same context (an error buried in the second
claim). Everything is seeded by the caller's ``numpy`` generator.

>>> rng = np.random.default_rng(0)
>>> sentences = ["The bridge opened in May 1932 and is 1,149 metres long.", "It cost 20 million."]
>>> text, kind = unsupported_variant(sentences, 0, ["Sydney"], ["a ferry runs hourly"], rng)
>>> text != sentences[0]
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = [
    "development_events",
    "development_sets",
    "grounded_variant",
    "lead_in",
    "perturb",
    "unsupported_variant",
]

_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_UNIT_SWAPS = {
    "minutes": "hours", "hours": "minutes", "days": "weeks", "weeks": "months",
    "months": "years", "years": "months", "km": "miles", "miles": "km", "kg": "lb",
    "lb": "kg", "million": "billion", "billion": "million", "percent": "points",
    "metres": "feet", "feet": "metres", "mm": "cm", "cm": "mm", "MB": "GB", "GB": "MB",
}  # fmt: skip
_NEGATABLE = re.compile(r"\b(is|are|was|were|can|will|has|have|does|did|should|could)\b")
_NOT = re.compile(r"\b(is|are|was|were|can|will|has|have|does|did|should|could)( not|n't)\b")
_NUM = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")
_CAP = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+(?: [A-Z][a-z]+)*")


def _swap_number(text: str, rng: np.random.Generator) -> str | None:
    found = list(_NUM.finditer(text))
    if not found:
        return None
    m = found[rng.integers(len(found))]
    raw = m.group().replace(",", "")
    value = float(raw)
    if 1900 <= value <= 2100 and "." not in raw:
        new = str(int(value) + int(rng.choice([-3, -2, -1, 1, 2, 3])))
    elif "." in raw:
        digits = len(raw.split(".")[1])
        new = f"{value * float(rng.choice([0.7, 0.8, 1.25, 1.5])):.{digits}f}"
    else:
        new = str(max(0, int(value) + int(rng.choice([-2, -1, 1, 2, 3, 5, 10]))))
        if int(value) > 20:
            new = str(int(round(value * float(rng.choice([0.5, 0.75, 1.5, 2.0])))))
    if new == raw:
        return None
    return text[: m.start()] + new + text[m.end() :]


def _swap_month(text: str, rng: np.random.Generator) -> str | None:
    found = [m for m in _MONTHS if re.search(rf"\b{m}\b", text)]
    if not found:
        return None
    old = found[rng.integers(len(found))]
    new = str(rng.choice([m for m in _MONTHS if m != old]))
    return re.sub(rf"\b{old}\b", new, text, count=1)


def _swap_unit(text: str, rng: np.random.Generator) -> str | None:
    found = [u for u in _UNIT_SWAPS if re.search(rf"\d[\d,.]* ?{u}\b", text)]
    if not found:
        return None
    old = found[rng.integers(len(found))]
    return re.sub(rf"(\d[\d,.]* ?){old}\b", rf"\g<1>{_UNIT_SWAPS[old]}", text, count=1)


def _flip_negation(text: str, rng: np.random.Generator) -> str | None:
    if _NOT.search(text):
        return _NOT.sub(lambda m: m.group(1), text, count=1)
    found = list(_NEGATABLE.finditer(text))
    if not found:
        return None
    m = found[rng.integers(len(found))]
    word = m.group()
    new = "cannot" if word == "can" else f"{word} not"
    return text[: m.start()] + new + text[m.end() :]


def _swap_name(text: str, names: Sequence[str], rng: np.random.Generator) -> str | None:
    found = list(_CAP.finditer(text))
    if not found:
        return None
    m = found[rng.integers(len(found))]
    options = [n for n in names if n != m.group() and n not in text]
    if not options:
        return None
    return text[: m.start()] + str(rng.choice(options)) + text[m.end() :]


def perturb(text: str, names: Sequence[str], rng: np.random.Generator) -> tuple[str, str] | None:
    """``text`` with one detail changed, and the kind of change; None when nothing applies.

    ``names`` are the capitalised names to swap in: from the same context (a wrong
    attribution) or from another row's (an invented entity)."""
    kinds = ["number", "name", "negation", "month", "unit"]
    for kind in rng.permutation(kinds):
        if kind == "number":
            out = _swap_number(text, rng)
        elif kind == "name":
            out = _swap_name(text, names, rng)
        elif kind == "negation":
            out = _flip_negation(text, rng)
        elif kind == "month":
            out = _swap_month(text, rng)
        else:
            out = _swap_unit(text, rng)
        if out and out != text:
            return out, str(kind)
    return None


# RAG-voice variants --------------------------------------------------------------------------

LEAD_INS = (
    "",
    "",
    "According to the documents, ",
    "Based on the provided context, ",
    "The source says that ",
    "From the information given, ",
)
#: Common rewordings (either direction is faithful); the words an answer uses for the
#: context's own.
_SYNONYMS = {
    "get": "receive", "receive": "get", "must": "has to", "can": "may", "allowed": "permitted",
    "start": "begin", "begins": "starts", "started": "began", "buy": "purchase",
    "purchase": "buy", "help": "assist", "show": "indicate", "shows": "indicates",
    "big": "large", "large": "big", "small": "little", "about": "around", "before": "prior to",
    "after": "following", "many": "numerous", "use": "employ", "used": "employed",
    "often": "frequently", "important": "key", "main": "primary", "known": "recognised",
    "famous": "well known", "located": "situated", "created": "made", "built": "constructed",
    "founded": "established", "established": "founded", "died": "passed away",
    "began": "started", "ended": "finished", "needs": "requires", "need": "require",
    "include": "cover", "includes": "covers", "said": "stated", "told": "informed",
    "also": "as well", "however": "but", "because": "since", "near": "close to",
    "largest": "biggest", "first": "earliest", "several": "a number of",
}  # fmt: skip
_CONVERSIONS = {
    "weeks": (7, "days"), "week": (7, "days"), "years": (12, "months"), "year": (12, "months"),
    "hours": (60, "minutes"), "hour": (60, "minutes"), "days": (24, "hours"),
    "minutes": (60, "seconds"), "km": (1000, "metres"), "kg": (1000, "grams"),
}  # fmt: skip
_QTY = re.compile(r"\b(\d[\d,]*(?:\.\d+)?) ([a-z]+)\b")
_CLAUSE = re.compile(r",\s+|\s+(?:and|which|who|while|but|where)\s+")
_HEDGES = (
    "The documents do not say {x}.",
    "The context doesn't mention {x}.",
    "There is no information about {x} in the sources.",
    "I couldn't find anything about {x} in the provided text.",
)


def lead_in(text: str, rng: np.random.Generator) -> str:
    """``text``, introduced a third of the time by a phrase about the sources."""
    lead = str(rng.choice(LEAD_INS))
    if lead and text.split(maxsplit=1)[0].lower() in ("the", "a", "an", "it", "this", "in"):
        text = text[0].lower() + text[1:]
    return lead + text


def _full_stop(text: str) -> str:
    text = text.strip().rstrip(",;:")
    return text if text.endswith((".", "!", "?")) else text + "."


def _trim(sentence: str, rng: np.random.Generator) -> str | None:
    cuts = [
        m.start() for m in _CLAUSE.finditer(sentence) if len(sentence[: m.start()].split()) >= 5
    ]
    return _full_stop(sentence[: cuts[rng.integers(len(cuts))]]) if cuts else None


def _reword(sentence: str, rng: np.random.Generator) -> str | None:
    words = sentence.split(" ")
    spots = [i for i, w in enumerate(words) if w.lower() in _SYNONYMS]
    if not spots:
        return None
    for i in rng.permutation(spots)[: max(1, len(spots) // 2)]:
        words[i] = _SYNONYMS[words[i].lower()]
    return " ".join(words)


def _computed(sentence: str) -> str | None:
    """The sentence followed by a number computed from its own: a conversion of its first
    convertible quantity, or the difference of two of the same unit."""
    found = [(float(v.replace(",", "")), u) for v, u in _QTY.findall(sentence)]
    for (a, ua), (b, ub) in zip(found, found[1:], strict=False):
        if ua == ub and a != b:
            return f"{_full_stop(sentence)} That is a difference of {abs(a - b):g} {ua}."
    for value, unit in found:
        if unit in _CONVERSIONS and value < 10_000:
            factor, other = _CONVERSIONS[unit]
            return f"{_full_stop(sentence)} That is {value * factor:g} {other}."
    return None


def _phrase(other: str) -> str:
    words = [w.strip(".,;:") for w in other.split()[:6]]
    return "whether " + " ".join(w.lower() if i == 0 else w for i, w in enumerate(words))


def grounded_variant(
    sentences: Sequence[str], index: int, others: Sequence[str], rng: np.random.Generator
) -> tuple[str, str]:
    """A faithful answer built from ``sentences[index]`` (``others``: sentences of other
    documents, for what a hedge says is missing), and its kind."""
    sentence = sentences[index]
    options = {
        "quote": sentence,
        "trim": _trim(sentence, rng),
        "join": f"{_full_stop(sentence)} {sentences[index + 1]}"
        if index + 1 < len(sentences)
        else None,
        "reword": _reword(sentence, rng),
        "computed": _computed(sentence),
        "hedge": f"{_full_stop(sentence)} "
        + str(rng.choice(_HEDGES)).format(x=_phrase(str(rng.choice(others)))),
    }
    kinds = [k for k, v in options.items() if v and k != "hedge"]
    kind = "hedge" if rng.random() < 0.15 else str(rng.choice(kinds))
    return str(options[kind]), kind


def _context_number(sentences: Sequence[str], index: int, rng: np.random.Generator) -> str | None:
    """``sentences[index]`` with one of its numbers replaced by a different number from
    another sentence of the same context."""
    mine = list(_NUM.finditer(sentences[index]))
    theirs = {
        m.group() for i, s in enumerate(sentences) if i != index for m in _NUM.finditer(s)
    } - {m.group() for m in mine}
    if not mine or not theirs:
        return None
    m = mine[rng.integers(len(mine))]
    text = sentences[index]
    return text[: m.start()] + str(rng.choice(sorted(theirs))) + text[m.end() :]


def unsupported_variant(
    sentences: Sequence[str],
    index: int,
    names: Sequence[str],
    others: Sequence[str],
    rng: np.random.Generator,
) -> tuple[str, str] | None:
    """An answer that repeats ``sentences[index]`` with one detail wrong (a perturbation, a
    number from elsewhere in the context, or a clause from another document), and its kind."""
    sentence = sentences[index]
    choice = rng.random()
    out: tuple[str, str] | None = None
    if choice < 0.2:
        swapped = _context_number(sentences, index, rng)
        out = (swapped, "context_number") if swapped else None
    elif choice < 0.4:
        clause = str(rng.choice(others)).rstrip(".").split(",")[0]
        if len(clause.split()) >= 4:
            joined = f"{_full_stop(sentence)[:-1]}, and {clause[0].lower()}{clause[1:]}."
            out = (joined, "extra_clause")
    if out is None:
        out = perturb(sentence, names, rng)
    return out


# Hand-written development sets (scripts/data) ----------------------------------------------


def development_sets() -> dict[str, list]:
    """The hand-written development sets, never trained on: ``dev`` (first and second pass,
    72 answers) and ``more`` (third pass, 80 answers aimed at negations, units, clauses and
    arithmetic). ``scripts/data`` must be on the path."""
    from hallucination_dev import CASES
    from hallucination_dev_more import CASES as MORE

    return {"dev": CASES, "more": MORE}


def development_events(cases: Sequence[dict], name: str = "dev"):
    """Events (context joined, the case's prompt) and labels of a development set."""
    from schemas.events import ContextDocument, InferenceEvent

    events, labels = [], []
    for c, case in enumerate(cases):
        context = "\n".join(case["context"])
        for a, (label, answer) in enumerate(case["answers"]):
            events.append(
                InferenceEvent(
                    service="halueval", model="dev", event_id=f"{name}-{c}-{a}",
                    prompt=case["prompt"], response=answer,
                    context=[ContextDocument(text=context)],
                )
            )  # fmt: skip
            labels.append(label)
    return events, np.array(labels)
