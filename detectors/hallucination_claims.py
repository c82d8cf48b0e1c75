"""The lexical checks of the hallucination detector, one claim at a time: sentence
splitting, the numbers of a text with their units, whether an answer's number derives from
the context's by one arithmetic step, negation, and the novel-word, novel-name, unit and
anchor checks (``detectors/hallucination.py`` explains what each is for).

>>> rows, names, numbers, computed = check_claims(
...     ["The annual plan costs EUR 390 and gives 10 guest passes."],
...     ["The annual plan costs EUR 390."],
...     "The annual plan costs EUR 390. It gives 6 guest passes.",
...     "The annual plan costs EUR 390 and gives 10 guest passes.",
... )
>>> names, numbers, computed
([], ['10'], set())
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHECKS",
    "FRAGMENT_WORDS",
    "META_WORDS",
    "check_claims",
    "context_chunks",
    "is_checkable",
    "probe_text",
    "split_sentences",
]

#: What :func:`check_claims` measures on every claim, in this order (larger means less
#: supported).
CHECKS = (
    "novel_word_frac",
    "novel_name_frac",
    "underived_number_frac",
    "unit_mismatch",
    "negation_mismatch",
    "anchor_mismatch",
)

#: A claim of fewer words without end punctuation is a fragment, embedded after its question.
FRAGMENT_WORDS = 6
MAX_CHUNKS = 256
#: Documents of at most this many sentences also get chunks of two adjacent sentences.
PAIRED_SENTENCES = 20
#: Context numbers used as arithmetic operands (the first ones, in order of appearance).
MAX_OPERANDS = 40
#: Numbers of an answer checked for derivation (the first ones; real answers have a few).
MAX_ANSWER_NUMBERS = 200
#: Operands tried in products of three (the first ones): 20 give 1,140 products.
MAX_TRIPLE_OPERANDS = 20

# A sentence ends at . ! ? followed by space and a capital, digit or quote, or glued to a
# capital after a lower-case letter or digit (HaluEval's knowledge strings concatenate
# sentences: "century.First for Women").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|(?<=[a-z0-9)\"'][.!?])(?=[A-Z])|\n+")
# A title or abbreviation a sentence does not end at: "Dr. Haddad", "e.g. Parquet".
_ABBREVIATION = re.compile(r"(?:^|\s)(?:Dr|Mr|Mrs|Ms|Prof|St|Mt|vs|approx|e\.g|i\.e|etc)\.$")
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
#: Words an answer uses to talk about its sources and its reader, not about the facts.
META_WORDS = frozenset(
    """according based document documents context contexts provided information source sources
    text passage excerpt article materials material mention mentions mentioned say says said
    state states stated specify specifies specified note answer question please help hope
    here unfortunately however also""".split()
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


def _is_content(token: str) -> bool:
    """A word that says something about the facts: not a stop word, not about the sources."""
    low = token.lower()
    return token[0].isalpha() and low not in _STOP and low not in META_WORDS


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences (claims), dropping empty pieces.

    >>> split_sentences("Arthur's Magazine came first.First for Women came in 1989. Yes!")
    ["Arthur's Magazine came first.", 'First for Women came in 1989.', 'Yes!']
    >>> split_sentences("Dr. Haddad leads it. Mr. Berg does not.")
    ['Dr. Haddad leads it.', 'Mr. Berg does not.']
    """
    out: list[str] = []
    for piece in (s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()):
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def context_chunks(documents: Sequence[str]) -> list[str]:
    out: list[str] = []
    for doc in documents:
        sentences = split_sentences(doc)
        out.extend(sentences)
        if len(sentences) <= PAIRED_SENTENCES:
            out.extend(f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False))
    return list(dict.fromkeys(out))[:MAX_CHUNKS]


@functools.lru_cache(maxsize=1 << 16)
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
        if i + 1 < len(tokens) and tokens[i + 1] in ("st", "nd", "rd", "th") and value <= 31:
            continue  # an ordinal ("the 1st", "the 21st"): a day or a rank, not a quantity
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
        stems = frozenset(_stem(t) for t in near if _is_content(t) and len(t) > 1)
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


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_INDEX = {
    m: i % 12
    for i, m in enumerate(
        "january february march april may june july august september october november "
        "december jan feb mar apr may jun jul aug sep oct nov dec".split()
    )
}
_MONTH_INDEX["sept"] = 8


def _day_of_year(day: float, month: str) -> float:
    m = _MONTH_INDEX[month]
    return sum(_MONTH_DAYS[:m]) + day


def _date_shift(target: _Quantity, pool: Sequence[_Quantity]) -> bool:
    """Whether ``target`` ("2 April") is a date of ``pool`` ("3 March") shifted by a number
    of days, weeks or months that ``pool`` has ("30 days")."""
    if target.unit not in _MONTH_INDEX or not 1 <= target.value <= 31:
        return False
    goal = _day_of_year(target.value, target.unit)
    dates = [q for q in pool if q.unit in _MONTH_INDEX and 1 <= q.value <= 31]
    per = {"day": 1.0, "days": 1.0, "week": 7.0, "weeks": 7.0, "month": 30.0, "months": 30.0}
    spans = [q.value * per[q.unit] for q in pool if q.unit in per]
    for d in dates:
        start = _day_of_year(d.value, d.unit)
        for span in spans:
            if span and any(abs((start + s * span - goal) % 365) < 0.5 for s in (1, -1)):
                return True
    return False


def _triple_product(target: _Quantity, pool: Sequence[_Quantity]) -> bool:
    """Whether ``target`` (not a small integer) is the product of three of ``pool``'s numbers
    ("USD 1,440" = 40 licences x USD 12 x 3 months)."""
    if target.value.is_integer() and abs(target.value) < 100:
        return False
    for a, b, c in itertools.combinations(pool[:MAX_TRIPLE_OPERANDS], 3):
        units = {a.unit, b.unit, c.unit}
        if (not target.unit or target.unit in units) and _close(
            a.value * b.value * c.value, target
        ):
            return True
    return False


def _derivable(target: _Quantity, pool: Sequence[_Quantity]) -> bool:
    """Whether ``target`` is one arithmetic step from the numbers in ``pool``, a date shifted
    by a span, or a product of three."""
    if _date_shift(target, pool) or _triple_product(target, pool):
        return True
    for a in pool:
        if _close(a.value, target):
            return True
        hours = (a.value / 60, a.value / 60 - 12)  # 16:00 is "4pm", 10:00 is "10am"
        if a.unit == "time" and any(_close(h, target, False) for h in hours):
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
    body = claim if _is_fragment(claim) else claim.split(maxsplit=1)[-1]
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
                    frozenset(_stem(t) for t in near if _is_content(t)),
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


def _is_fragment(claim: str) -> bool:
    """A bare answer ("Delhi", "Mumbai."), whose first word may be a name, rather than a
    sentence, whose first word is capitalised anyway ("Reading data won't stop.")."""
    words = len(claim.split())
    ended = claim.rstrip().endswith((".", "!", "?"))
    return words < 4 or (words < FRAGMENT_WORDS and not ended)


def is_checkable(claim: str) -> bool:
    """Whether a sentence states anything: "Yes." and "Sure!" do not."""
    return any(w.lower() not in _STOP or w[0].isdigit() for w in _WORD.findall(claim))


def probe_text(claim: str, question: str) -> str:
    """The text embedded for a claim: a short one ("Delhi") is read after its question."""
    if question and len(claim.split()) < FRAGMENT_WORDS:
        return f"{question} {claim}"
    return claim


def check_claims(
    claims: Sequence[str], best_chunks: Sequence[str], source_text: str, response: str
) -> tuple[list[tuple[float, ...]], list[str], list[str], set[str]]:
    """Per claim, the checks of :data:`CHECKS` against ``source_text`` (the context, then
    the prompt), the negation compared with the claim's best-matching chunk; the names and
    numbers the source does not back, in order; and the texts of the answer's numbers the
    source does not have but gives by one arithmetic step.

    Numbers are derived over the whole ``response``, so one derived in an earlier claim is
    an operand for a later one.
    """
    source = _Source.of(source_text)
    answer_quantities = _quantities(response, window=3)
    # Only the first numbers are checked: an answer of thousands of numbers took seconds.
    missing = _underived(answer_quantities[:MAX_ANSWER_NUMBERS], source.quantities)
    underived = {answer_quantities[i].text for i in missing}
    literal = {q.value for q in source.quantities}
    computed = {
        q.text
        for i, q in enumerate(answer_quantities)
        if i not in missing and q.value not in literal
    }
    rows: list[tuple[float, ...]] = []
    names: list[str] = []
    numbers: list[str] = []
    for claim, chunk in zip(claims, best_chunks, strict=True):
        lex = _lexical(claim, source, underived)
        negation = float(_negated(claim) != _negated(chunk))
        rows.append(
            (
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
    return rows, names, numbers, computed
