"""Prices from the genai-prices table (offline, maintained, cache-read and cache-write rates
included): what prompt-cache reads saved. Each model is resolved once
(:mod:`detectors.pricing`).
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
    from detectors.pricing import price

    avg_input = max(1, round(input_tokens / calls))
    avg_read = min(avg_input, max(1, round(cache_read_tokens / calls)))
    at = datetime.combine(day, time(12), tzinfo=UTC)
    for provider_id in [provider, None] if provider else [None]:
        full = price(provider_id, model, at, input_tokens=avg_input)
        cached = price(provider_id, model, at, input_tokens=avg_input, cache_read_tokens=avg_read)
        if full is None or cached is None:
            continue
        per_token = (full[0] - cached[0]) / avg_read
        return (per_token * cache_read_tokens).normalize()
    return None
