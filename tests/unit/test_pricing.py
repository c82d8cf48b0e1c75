"""The memoised pricing gives genai-prices' own Decimal for every model, usage and time."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.pricing import price, price_uncached
from streams.demo_data import SERVICES

DEMO = sorted({pm for models in SERVICES.values() for pm in models})
PRICED = [pm for pm in DEMO if pm[0] != "acme"]  # acme-internal-7b has no public price
TIMES = [
    datetime(2024, 3, 1, 12, tzinfo=UTC),
    datetime(2025, 6, 1, 3, 30, tzinfo=UTC),  # night (off-peak tables by time of day)
    datetime(2026, 11, 29, 17, tzinfo=UTC),
]
CASES = [  # (input, output, cache read, cache write, reasoning)
    (0, 0, 0, 0, 0),
    (1, 1, 0, 0, 0),
    (1000, 500, 0, 0, 0),
    (1000, 500, 200, 0, 0),
    (1000, 500, 300, 200, 0),
    (1000, 500, 0, 1000, 400),
    (250_000, 8000, 100_000, 20_000, 7000),  # past the 200k context tiers
    (3_000_000, 1, 3_000_000, 0, 1),
]


def usage(i: int, o: int, cr: int, cw: int, r: int) -> dict[str, int]:
    return {"input_tokens": i, "output_tokens": o, "cache_read_tokens": cr,
            "cache_write_tokens": cw, "output_reasoning_tokens": r}  # fmt: skip


def test_every_demo_model_prices_as_genai_prices_does() -> None:
    """Each demo (provider, model), with and without its provider, at several times and usages."""
    checked = 0
    for provider, model in DEMO:
        for prov in (provider, None):
            for at in TIMES:
                for case in CASES:
                    got = price(prov, model, at, **usage(*case))
                    want = price_uncached(prov, model, at, **usage(*case))
                    assert (str(got[0]), got[1]) == (str(want[0]), want[1]) if want else got is None
                    checked += want is not None
    assert checked >= 4 * 2 * len(TIMES) * len(CASES)  # acme-internal-7b alone is unpriced


def test_every_model_in_the_table_prices_as_genai_prices_does() -> None:
    """Every model id of every provider in the bundled table, three usages, two times."""
    from genai_prices import data_snapshot

    snap = data_snapshot.get_snapshot()
    n = 0
    for prov in snap.providers:
        for info in prov.models:
            for at in TIMES[1:]:
                for case in (CASES[2], CASES[4], CASES[6]):
                    want = price_uncached(prov.id, info.id, at, **usage(*case))
                    got = price(prov.id, info.id, at, **usage(*case))
                    if want is None:
                        assert got is None
                        continue
                    assert (str(got[0]), got[1]) == (str(want[0]), want[1]), (prov.id, info.id)
                    n += 1
    assert n > 500


def test_missing_usage_keys_price_as_genai_prices_infers_them() -> None:
    """Only input tokens given (as the cache-saving query asks): the same as genai-prices."""
    at = TIMES[1]
    for provider, model in PRICED:
        for kw in ({"input_tokens": 5000}, {"input_tokens": 5000, "cache_read_tokens": 4000}):
            got, want = price(provider, model, at, **kw), price_uncached(provider, model, at, **kw)
            assert got is not None and want is not None
            assert str(got[0]) == str(want[0])


def test_unknown_model_is_none_both_ways() -> None:
    """A model genai-prices does not know has no price, cached or not."""
    assert price("acme", "acme-internal-7b", TIMES[0], input_tokens=10) is None
    assert price_uncached("acme", "acme-internal-7b", TIMES[0], input_tokens=10) is None


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(PRICED),
    st.integers(0, 600_000),
    st.integers(0, 100_000),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_any_valid_usage_prices_as_genai_prices(
    pm: tuple[str, str], i: int, o: int, fr: float, fw: float, fo: float
) -> None:
    """Random usages that the event schema accepts: the same Decimal string."""
    cr = int(i * fr)
    cw = int((i - cr) * fw)
    r = int(o * fo)
    got = price(pm[0], pm[1], TIMES[2], **usage(i, o, cr, cw, r))
    want = price_uncached(pm[0], pm[1], TIMES[2], **usage(i, o, cr, cw, r))
    assert got is not None and want is not None
    assert (str(got[0]), got[1]) == (str(want[0]), want[1])
