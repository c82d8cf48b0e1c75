"""Cost: exact decimals from genai-prices, cached tokens at their own rate, never twice."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.cost import CostDetector, price_event
from schemas.events import InferenceEvent


def ev(model: str, provider: str | None = None, **usage: int) -> InferenceEvent:
    return InferenceEvent(service="s", model=model, provider=provider, event_id="e", usage=usage)


def test_gpt4o_price_is_exact() -> None:
    """1000 in + 500 out on gpt-4o at $2.50/$10 per MTok is exactly $0.0075."""
    assert price_event(ev("gpt-4o", "openai", input_tokens=1000, output_tokens=500)) == (
        Decimal("0.0075"),
        "openai",
    )


def test_cached_reads_are_priced_at_the_cache_rate_not_twice() -> None:
    """200 of 1000 input tokens read from cache cost $1.25/MTok instead of $2.50/MTok."""
    cost, _ = price_event(ev("gpt-4o", "openai", input_tokens=1000, cache_read_tokens=200))
    assert cost == Decimal("0.00225")  # 800 * 2.5e-6 + 200 * 1.25e-6


def test_cache_writes_are_priced_at_their_own_rate() -> None:
    """Anthropic cache writes cost 1.25x input; reads 0.1x; the rest full price."""
    cost, _ = price_event(ev("claude-sonnet-4-5", "anthropic", input_tokens=1000,
                             cache_write_tokens=200, cache_read_tokens=300))  # fmt: skip
    assert cost == Decimal("0.00234")  # 500*3e-6 + 300*0.3e-6 + 200*3.75e-6


def test_unknown_model_says_so_instead_of_crashing() -> None:
    """A model with no known price scores 0, does not fire, and names the model."""
    [s] = CostDetector().score_batch([ev("acme-internal-7b", "acme", input_tokens=10)])
    assert (s.score, s.fired, s.detail) == (0.0, False, {"priced": False})
    assert "acme-internal-7b" in s.reason


def test_max_cost_must_be_positive() -> None:
    """The parameter is validated with a message naming it."""
    import pytest

    with pytest.raises(ValueError, match="max_cost_usd must be > 0, got 0"):
        CostDetector(max_cost_usd=0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2_000_000), st.integers(0, 200_000), st.integers(0, 2_000_000))
def test_caching_never_costs_more_than_paying_full_price(inp: int, out: int, cached: int) -> None:
    """For any usage, reading part of the input from cache costs at most the uncached price."""
    cached = min(cached, inp)
    full, _ = price_event(ev("gpt-4o", "openai", input_tokens=inp, output_tokens=out))
    part, _ = price_event(ev("gpt-4o", "openai", input_tokens=inp, output_tokens=out,
                             cache_read_tokens=cached))  # fmt: skip
    assert Decimal(0) <= part <= full
    assert full - part == Decimal(cached) * (Decimal("2.5") - Decimal("1.25")) / 1_000_000
