"""Reasoning tokens: a subset of the output, validated as one, priced once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from detectors.cost import price_event
from schemas.events import InferenceEvent, TokenUsage


def ev(model: str, provider: str | None = None, **usage: int) -> InferenceEvent:
    return InferenceEvent(service="s", model=model, provider=provider, event_id="e", usage=usage)


def test_reasoning_tokens_default_to_zero() -> None:
    """An event from a producer that never heard of reasoning tokens still validates."""
    assert TokenUsage(input_tokens=3, output_tokens=4).reasoning_tokens == 0


def test_reasoning_tokens_over_output_are_rejected_with_both_numbers() -> None:
    """Reasoning is part of the output: more reasoning than output is a producer bug."""
    with pytest.raises(
        ValidationError, match=r"reasoning_tokens \(11\) exceed output_tokens \(10\)"
    ):
        TokenUsage(output_tokens=10, reasoning_tokens=11)


def test_reasoning_on_a_model_without_a_reasoning_rate_costs_the_same() -> None:
    """o3 bills reasoning at its output rate: splitting the output changes nothing."""
    plain, _ = price_event(ev("o3", "openai", input_tokens=1000, output_tokens=1000))
    split, _ = price_event(
        ev("o3", "openai", input_tokens=1000, output_tokens=1000, reasoning_tokens=600)
    )
    assert plain == split == Decimal("0.010")  # 1000 * 2e-6 + 1000 * 8e-6


def test_reasoning_at_its_own_rate_is_counted_once() -> None:
    """Sonar Deep Research: 400 answer tokens at $8/MTok + 600 reasoning at $3/MTok, not 1600."""
    cost, _ = price_event(
        ev("sonar-deep-research", "perplexity", input_tokens=1000, output_tokens=1000,
           reasoning_tokens=600)
    )  # fmt: skip
    assert cost == Decimal("0.0070")  # 1000*2e-6 + 400*8e-6 + 600*3e-6


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2_000_000), st.integers(0, 200_000), st.integers(0, 200_000))
def test_reasoning_never_adds_to_the_output_bill(inp: int, out: int, reasoning: int) -> None:
    """For any usage, declaring part of the output as reasoning moves it to the reasoning rate
    and never prices it on top of the output."""
    reasoning = min(reasoning, out)
    model, provider = "sonar-deep-research", "perplexity"
    plain, _ = price_event(ev(model, provider, input_tokens=inp, output_tokens=out))
    split, _ = price_event(
        ev(model, provider, input_tokens=inp, output_tokens=out, reasoning_tokens=reasoning)
    )
    assert plain - split == Decimal(reasoning) * (Decimal(8) - Decimal(3)) / 1_000_000
