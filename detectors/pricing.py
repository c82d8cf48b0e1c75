"""Token prices from the genai-prices table, resolved once per (provider, model) and applied here.

genai-prices matches a model reference against hundreds of models and decomposes a usage
object on every call: at the score hop's rate that was a fifth of warm scoring time
(``benchmarks/speed/reports/profile_score.txt``). Here the model is resolved once per
``(provider, model)``, the price set in force once per price object, and each call is a few
Decimal multiplications in genai-prices' own order, so the result is the same Decimal.

Anything this arithmetic does not cover (usage kinds we do not report, such as audio tokens;
Groq's Whisper minimum; a usage that does not decompose) is priced by genai-prices itself,
and the first call on each price set is computed both ways and must agree, or that price set
stays with genai-prices.

>>> from datetime import UTC, datetime
>>> price("openai", "gpt-4o", datetime(2025, 6, 1, tzinfo=UTC), input_tokens=1000,
...       output_tokens=500)
(Decimal('0.0075'), 'openai')
>>> price("acme", "my-local-llm", datetime(2025, 6, 1, tzinfo=UTC)) is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = ["price", "price_uncached"]

#: The usage keys an ``InferenceEvent`` reports (all others are 0 or inferred by genai-prices).
_REPORTED = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
             "output_reasoning_tokens")  # fmt: skip
_MAX_MODELS = 4096  # distinct (provider, model) references kept; hostile names cannot grow it


@dataclass(frozen=True, slots=True)
class _Unit:
    usage_key: str
    price: Any  # Decimal, or genai-prices' TieredPrices
    per: int
    direction: str | None
    below: tuple[str, ...]  # priced usage keys that are a part of this one (cache reads of input)


@dataclass(frozen=True, slots=True)
class _Plan:
    units: tuple[_Unit, ...]  # genai-prices' summation order
    leaf_order: tuple[_Unit, ...]  # most specific first, as its decomposition goes
    tiered: bool


_resolved: dict[tuple[str | None, str], Any] = {}
_plans: dict[int, tuple[Any, _Plan | None]] = {}
_snapshot: list[Any] = [None]


def _snap() -> Any:
    from genai_prices import data_snapshot

    snap = data_snapshot.get_snapshot()
    if snap is not _snapshot[0]:  # a custom or updated table: start over
        _resolved.clear()
        _plans.clear()
        _snapshot[0] = snap
    return snap


def _resolve(provider: str | None, model: str) -> Any:
    """genai-prices' (Provider, ModelInfo) for a reference, or None; memoised."""
    key = (provider, model)
    if key not in _resolved:
        snap = _snap()
        if len(_resolved) >= _MAX_MODELS:
            _resolved.clear()
        try:
            _resolved[key] = snap.find_provider_model(model, None, provider, None)
        except LookupError:
            _resolved[key] = None
    return _resolved[key]


def _independent(keys: list[str]) -> bool:
    """Whether genai-prices infers 0 for each of ``keys`` (web searches, audio tokens) from any
    usage we report: then an unreported count is 0 here too."""
    from genai_prices import Usage

    probe = Usage(**dict(zip(_REPORTED, (1000, 500, 300, 200, 100), strict=True)))
    try:
        return all(getattr(probe, k) == 0 for k in keys)
    except Exception:  # an inference genai-prices refuses: leave the set to it
        return False


def _plan(model_price: Any) -> _Plan | None:
    """The units a price set charges for, or None where our arithmetic does not cover it."""
    from genai_prices.decompose import is_descendant_or_self
    from genai_prices.types import TieredPrices, _collect_resolved_model_prices
    from genai_prices.units import _get_registry
    from genai_prices.validation import validate_priced_units

    registry = _get_registry()
    resolved = _collect_resolved_model_prices(model_price, registry)
    validate_priced_units(tuple(unit for unit, _ in resolved), registry)
    others = [u.usage_key for u, _ in resolved if u.usage_key not in (*_REPORTED, "requests")]
    if others and not _independent(others):
        return None
    tokens = [u for u, _ in resolved if u.usage_key != "requests"]
    units = tuple(
        _Unit(
            u.usage_key,
            p,
            u.per,
            u.dimensions.get("direction"),
            tuple(d.usage_key for d in tokens if d is not u and is_descendant_or_self(u, d)),
        )
        for u, p in resolved
    )
    leaf_order = sorted(
        (x for x in units if x.usage_key != "requests"),
        key=lambda x: (-len(registry.units[x.usage_key].dimensions), x.usage_key),
    )
    tiered = any(isinstance(x.price, TieredPrices) for x in units)
    return _Plan(units, tuple(leaf_order), tiered)


def _unit_price(price: Any, count: int, total_input: int, per: int) -> Decimal:
    if isinstance(price, Decimal):
        return price * Decimal(count) / per
    applicable = price.base  # tiered: crossing a tier prices every token at its rate
    for tier in reversed(price.tiers):
        if total_input > tier.start:
            applicable = tier.price
            break
    return applicable * Decimal(count) / per


def _apply(plan: _Plan, usage: dict[str, int]) -> Decimal | None:
    """Total price of ``usage`` under ``plan``; None when it does not decompose."""
    leaves: dict[str, int] = {"requests": 1}
    for unit in plan.leaf_order:
        leaf = usage.get(unit.usage_key, 0) - sum(leaves[k] for k in unit.below)
        if leaf < 0:
            return None  # genai-prices raises its own error for this usage
        leaves[unit.usage_key] = leaf
    total_input = usage.get("input_tokens", 0) if plan.tiered else 0
    total = Decimal(0)
    for unit in plan.units:
        total += _unit_price(unit.price, leaves[unit.usage_key], total_input, unit.per)
    return total


def price_uncached(
    provider: str | None, model: str, at: datetime, **usage: int
) -> tuple[Decimal, str] | None:
    """genai-prices' own ``calc_price`` for the same question (the reference :func:`price`
    is tested against)."""
    from genai_prices import Usage, calc_price

    try:
        calc = calc_price(Usage(**usage), model_ref=model, provider_id=provider,
                          genai_request_timestamp=at)  # fmt: skip
    except LookupError:
        return None
    return Decimal(calc.total_price), calc.provider.id


def price(
    provider: str | None, model: str, at: datetime, **usage: int
) -> tuple[Decimal, str] | None:
    """Total USD price of one call of ``model`` at ``provider`` at time ``at`` and the provider
    it was priced as, or None when genai-prices knows no price; ``usage`` holds genai-prices'
    usage keys (``input_tokens``, ``output_tokens``, ``cache_read_tokens``,
    ``cache_write_tokens``, ``output_reasoning_tokens``), each defaulting to 0.
    """
    found = _resolve(provider, model)
    if found is None:
        return None
    prov, info = found
    if prov.id == "groq" and info.id.startswith("whisper"):  # billed with a minimum
        return price_uncached(provider, model, at, **usage)
    model_price = info.get_prices(at)
    cached = _plans.get(id(model_price))
    if cached is None or cached[0] is not model_price:
        plan = _plan(model_price)
        if plan is not None:
            total = _apply(plan, usage)
            reference = price_uncached(provider, model, at, **usage)
            if total is None or reference is None or str(total) != str(reference[0]):
                plan = None  # not covered after all: genai-prices prices this set
        cached = _plans[id(model_price)] = (model_price, plan)
    plan = cached[1]
    total = _apply(plan, usage) if plan is not None else None
    if total is None:
        return price_uncached(provider, model, at, **usage)
    return total, prov.id
