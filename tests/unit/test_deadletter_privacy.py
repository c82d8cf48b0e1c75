"""Rejections say which field and why, never the input: no values, no metadata keys."""

from __future__ import annotations

import orjson
import pytest

from schemas.parsing import InvalidEvent, parse_event

EMAIL = "canary.ann@example.com"
CARD = "4111 1111 1111 1111"


@pytest.mark.parametrize(
    "doc",
    [
        {"service": "s", "model": "m", "schema_version": EMAIL},
        {"service": "s", "model": "m", "schema_version": [CARD]},
        {"service": "s", "model": "m", "metadata": {EMAIL: 5}},
        {"service": "s", "model": "m", "metadata": {CARD: "x" * 5000}},
        {"service": "s", "model": "m", "usage": {"input_tokens": EMAIL}},
        {"service": "s", "model": "m", "timestamp": "3000-01-01T00:00:00Z", "user_id": EMAIL},
        {"service": "s", "model": "m", "prompt": [{"role": EMAIL}]},
        {"service": "s", "model": "m", "status": CARD},
        {"service": "s", "model": "m", "segments": [EMAIL * 20]},
    ],
)
def test_rejection_never_quotes_a_value_or_a_key(doc: dict) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event(orjson.dumps(doc))
    exc = err.value
    said = exc.message + orjson.dumps(exc.errors).decode() + str(exc)
    for needle in (EMAIL, CARD, "canary", "4111", "3000-01-01"):
        assert needle not in said
    assert exc.message  # still says which field and why


def test_a_metadata_key_error_names_the_field_with_a_placeholder() -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event(orjson.dumps({"service": "s", "model": "m", "metadata": {EMAIL: 5}}))
    assert err.value.errors[0]["loc"] == "metadata.<key>"
    assert "metadata.<key>" in err.value.message
