"""Units for the hallucination detector: the right number with the wrong unit.

A quantity is a number with the unit written beside it ("12 months", "500 mg", "GBP 2") and
the rate it is given per ("GBP 2 per day", "USD 18 a day"), units from a fixed vocabulary
(time, mass, length, volume, data, money). A claim's quantity is a swapped unit when the
source (context and prompt) has the same number with another unit of the same kind and never
with the claim's: "covered for 12 weeks" where the context says "12 months", "500 g" for
"500 mg", "GBP 2 per hour" for "GBP 2 per day". Words the vocabulary does not know ("4
tablets", "3 visitors") are not units here, so "USD 18 a day" against "USD 18 per day" and a
count of other things never fire (the older ``unit_mismatch`` check compared any next word
and fired on 17 % of grounded development answers).

>>> unit_swap("Batteries are covered for 12 weeks only.", "Batteries are covered for 12 months.")
1.0
>>> unit_swap("You pay USD 18 a day.", "Drivers pay a surcharge of USD 18 per day.")
0.0
>>> unit_swap("Vouchers cost GBP 2 per hour.", "Vouchers cost GBP 2 per day.")
1.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["UNITS", "Measure", "measures", "unit_swap"]

_UNIT_WORDS = {
    "time": "second seconds sec secs minute minutes min mins hour hours hr hrs day days "
    "week weeks fortnight fortnights month months year years",
    "mass": "mg milligram milligrams g gram grams kg kilogram kilograms kilo kilos lb lbs "
    "tonne tonnes ton tons oz ounce ounces",
    "length": "mm millimetre millimetres cm centimetre centimetres m metre metres meter "
    "meters km kilometre kilometres kilometer kilometers mile miles inch inches foot feet ft "
    "yard yards",
    "volume": "ml millilitre millilitres l litre litres liter liters gallon gallons",
    "data": "kb mb gb tb pb byte bytes kilobyte kilobytes megabyte megabytes gigabyte "
    "gigabytes terabyte terabytes",
    "money": "usd eur gbp chf dkk sek nok jpy cad aud inr $ £ € dollar dollars euro euros "
    "cent cents pence",
    "share": "% percent percentage",
}
_SAME = {"min": "minute", "hr": "hour", "sec": "second", "kilo": "kg", "kilogram": "kg",
         "gram": "g", "milligram": "mg", "metre": "m", "meter": "m", "kilometre": "km",
         "kilometer": "km", "millimetre": "mm", "centimetre": "cm", "litre": "l", "liter": "l",
         "millilitre": "ml", "inche": "inch", "feet": "foot", "ft": "foot", "dollar": "usd",
         "euro": "eur", "$": "usd", "€": "eur", "£": "gbp", "percent": "%",
         "percentage": "%", "ton": "tonne", "ounce": "oz", "megabyte": "mb", "lb": "lb",
         "gigabyte": "gb", "kilobyte": "kb", "terabyte": "tb"}  # fmt: skip


def _canonical(word: str) -> str:
    """ "weeks" -> "week", "kilograms" -> "kg", "lbs" -> "lb", "$" -> "usd"."""
    single = word[:-1] if word.endswith("s") and len(word) > 3 else word
    single = {"lbs": "lb", "mins": "min", "hrs": "hr", "secs": "sec"}.get(word, single)
    return _SAME.get(single, single)


#: Per unit word: its kind and canonical name.
UNITS: dict[str, tuple[str, str]] = {
    w: (kind, _canonical(w)) for kind, words in _UNIT_WORDS.items() for w in words.split()
}
#: Words before a rate's time unit: "per day", "a day", "each month", "every hour".
_RATE_WORDS = frozenset("per a an each every".split())
_TOKEN = re.compile(r"\d{1,2}:\d{2}|\d(?:[\d,]*\d)?(?:\.\d+)?|[A-Za-z][A-Za-z']*|%|[£$€]")
_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100,
}  # fmt: skip


@dataclass(frozen=True)
class Measure:
    """A number with its unit (kind and canonical name) and the time unit it is per."""

    value: float
    kind: str
    unit: str
    rate: str = ""


def _value(token: str) -> float | None:
    if ":" in token:
        return None
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return _WORDS.get(token.lower())


def _rate(tokens: list[str], start: int) -> str:
    """The time unit after "per"/"a"/"each"/"every" within four tokens of ``start``."""
    for j in range(start, min(start + 4, len(tokens) - 1)):
        if tokens[j].lower() in _RATE_WORDS:
            unit = UNITS.get(tokens[j + 1].lower())
            return unit[1] if unit and unit[0] == "time" else ""
    return ""


def measures(text: str) -> list[Measure]:
    """Every number of ``text`` that has a unit of the vocabulary after it (or a currency
    before it), with the rate it is given per.

    >>> [(m.value, m.unit, m.rate) for m in measures("GBP 2 per day, 4 tablets or 12 months.")]
    [(2.0, 'gbp', 'day'), (12.0, 'month', '')]
    """
    tokens = _TOKEN.findall(text)
    out = []
    for i, tok in enumerate(tokens):
        value = _value(tok)
        if value is None:
            continue
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        prev = tokens[i - 1].lower() if i > 0 else ""
        if nxt in UNITS and (tok[0].isdigit() or len(nxt) > 2):  # not "one m", "two l"
            kind, unit = UNITS[nxt]
            out.append(Measure(value, kind, unit, _rate(tokens, i + 2)))
        elif prev in UNITS and UNITS[prev][0] == "money" and tok[0].isdigit():
            out.append(Measure(value, "money", UNITS[prev][1], _rate(tokens, i + 1)))
    return out


def unit_swap(claim: str, source: str) -> float:
    """1 when a quantity of ``claim`` has the number of one in ``source`` with another unit
    of the same kind (or another rate), and ``source`` never gives that number that unit."""
    theirs = measures(source)
    for m in measures(claim):
        same = [t for t in theirs if abs(t.value - m.value) < 1e-9 and t.kind == m.kind]
        if not same:
            continue
        if all(t.unit != m.unit for t in same):
            return 1.0
        rated = [t for t in same if t.unit == m.unit]
        if m.rate and all(t.rate and t.rate != m.rate for t in rated):
            return 1.0
    return 0.0
