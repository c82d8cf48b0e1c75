"""What each call cost, priced from the maintained ``genai-prices`` table (works offline)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from detectors.base import BatchFeatures, Detector
from schemas.events import InferenceEvent
from schemas.results import Signal

__all__ = ["CostDetector", "price_event"]


def price_event(event: InferenceEvent) -> tuple[Decimal, str] | None:
    """Exact USD cost of one call and the provider it was priced as, or None when unknown.

    ``usage.input_tokens`` includes cached tokens; genai-prices prices the cache reads and
    writes at their own rates and the rest at the input rate, so no token is counted twice.
    ``usage.output_tokens`` likewise includes ``reasoning_tokens``: genai-prices treats
    ``output_reasoning_tokens`` as a part of the output, priced at the model's reasoning rate
    where it has one (e.g. Perplexity's Sonar Deep Research) and at the output rate
    otherwise. The price in force at the event's timestamp is used. The table is genai-prices';
    :mod:`detectors.pricing` resolves each model once and does the arithmetic.
    """
    from detectors.pricing import price

    u = event.usage
    usage = {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "output_reasoning_tokens": u.reasoning_tokens,
    }
    for provider in [event.provider, None] if event.provider else [None]:
        for model in dict.fromkeys([event.model, event.request_model]):
            priced = price(provider, model, event.timestamp, **usage)
            if priced is not None:
                return priced
    return None


class CostDetector(Detector):
    """Price each call; fire when one call costs more than ``max_cost_usd``.

    The score is the cost in US dollars; ``detail["cost_usd"]`` holds it as an exact decimal
    string. A model with no known price scores 0, does not fire, and says so.

    Parameters
    ----------
    max_cost_usd
        Cost of a single call, in USD, above which the signal fires.

    Examples
    --------
    >>> from schemas.events import InferenceEvent
    >>> e = InferenceEvent(service="s", model="gpt-4o", provider="openai", event_id="e1",
    ...                    usage={"input_tokens": 1000, "output_tokens": 500})
    >>> s = CostDetector(max_cost_usd=0.005).score_batch([e])[0]
    >>> s.detail["cost_usd"], s.fired
    ('0.0075', True)
    >>> u = InferenceEvent(service="s", model="my-local-llm", event_id="e2")
    >>> CostDetector().score_batch([u])[0].reason
    "no price known for model 'my-local-llm': cost not computed"
    """

    name: ClassVar[str] = "cost"
    uses_embedding: ClassVar[bool] = False

    def __init__(self, max_cost_usd: float = 1.0) -> None:
        if not max_cost_usd > 0:
            msg = f"max_cost_usd must be > 0, got {max_cost_usd!r}"
            raise ValueError(msg)
        self.max_cost_usd = max_cost_usd

    def score_batch(
        self, events: Sequence[InferenceEvent], features: BatchFeatures | None = None
    ) -> list[Signal]:
        return [self._score(e) for e in events]

    def _score(self, event: InferenceEvent) -> Signal:
        priced = price_event(event)
        if priced is None:
            return Signal(
                detector=self.name,
                event_id=event.event_id,
                score=0.0,
                fired=False,
                reason=f"no price known for model {event.model!r}: cost not computed",
                detail={"priced": False},
            )
        cost, provider = priced
        fired = cost > Decimal(str(self.max_cost_usd))
        verb = "over" if fired else "within"
        return Signal(
            detector=self.name,
            event_id=event.event_id,
            score=float(cost),
            fired=fired,
            reason=(
                f"call cost ${cost:.6f} ({event.usage.input_tokens} in, "
                f"{event.usage.output_tokens} out), {verb} the ${self.max_cost_usd} limit"
            ),
            detail={"priced": True, "cost_usd": str(cost), "provider": provider},
        )
