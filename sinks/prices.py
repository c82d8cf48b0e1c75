"""Prices from the genai-prices table (offline, maintained, cache-read and cache-write rates
included): what prompt-cache reads saved.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

__all__ = ["cache_read_saving"]


def cache_read_saving(
    provider: str, model: str, day: date, calls: int, input_tokens: int, cache_read_tokens: int
) -> Decimal | None:
    """What ``cache_read_tokens`` would have cost at the full input price, minus what they
    cost as cache reads, in USD, from the genai-prices table in force at noon of ``day``.

    Prices are linear in tokens except for models with context-length tiers; the tier is
    chosen from the average call (``input_tokens / calls``), which is exact when every call
    falls in the same tier. None when the model has no known price.

    Examples
    --------
    >>> cache_read_saving("openai", "gpt-4o", date(2025, 6, 1), 2, 4000, 2000)
    Decimal('0.0025')
    """
    from genai_prices import Usage, calc_price  # lazy: the price table is large

    avg_input = max(1, round(input_tokens / calls))
    avg_read = min(avg_input, max(1, round(cache_read_tokens / calls)))
    at = datetime.combine(day, time(12), tzinfo=UTC)
    for provider_id in [provider, None] if provider else [None]:
        try:
            full = calc_price(
                Usage(input_tokens=avg_input),
                model_ref=model,
                provider_id=provider_id,
                genai_request_timestamp=at,
            )
            cached = calc_price(
                Usage(input_tokens=avg_input, cache_read_tokens=avg_read),
                model_ref=model,
                provider_id=provider_id,
                genai_request_timestamp=at,
            )
        except LookupError:
            continue
        per_token = (Decimal(full.total_price) - Decimal(cached.total_price)) / avg_read
        return (per_token * cache_read_tokens).normalize()
    return None
