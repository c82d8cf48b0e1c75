"""The PII scanner's speed-ups change nothing: gated scans and cached spans equal a full scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import pii
from detectors.pii import _scan, find_all, find_pii
from detectors.pii_patterns import GATES, PATTERNS

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [
    "mail jane.doe@example.com or call +1 415-555-0132",
    "card 4111 1111 1111 1111, ssn 123-45-6789, iban GB82 WEST 1234 5698 7654 32",
    "Authorization: Bearer abcd1234efgh5678ijkl",
    "postgres://admin:s3cr3tPassw0rd@db.internal:5432/app",
    'config: {"client_secret": "9f8e7d6c5b4a3210ffee"}',
    "<password>hunter2hunter2</password>",
    "the signing secret is 8f3a91c4d2e0",
    "the password is ²²²²xyzzyabc",  # a non-ASCII digit: str.isdigit says yes, \\d says no
    "aws wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz9K3ABCDE key",
    "ssh -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx5m2exampleexample\n-----END RSA",
    "sk-proj-abcdefghijklmnopqrstuvwx and xoxb-1234567890",
    "hosts 10.0.0.12 and 2001:db8::1 and fe80::1ff:fe23:4567:890a",
    "ring 07911 123456 today or 030 901820",
    "",
    "plain text with nothing in it",
]


# Characters and words the patterns and their gates key on, joined at random.
PIECES = [" ", "\n", "²", "é", "://", "</", "::"] + (
    "a Z 0 7 9 @ . : = - / + < > _ sk- AKIA password token Bearer is -----BEGIN PRIVATE "
    "KEY----- GB82 4111 example.com"
).split()


def corpus() -> list[str]:
    texts = list(SAMPLES)
    for line in (ROOT / "benchmarks/quality/fieldsets/pii_leak.jsonl").read_text().splitlines():
        row = json.loads(line)
        prompt = row.get("prompt") or ""
        texts += [m["content"] for m in prompt] if isinstance(prompt, list) else [prompt]
        texts.append(row.get("response") or "")
        texts += [d["text"] for d in row.get("context") or []]
    return texts


def test_one_gate_per_pattern() -> None:
    """Every pattern has its precondition, in the same order."""
    assert len(GATES) == len(PATTERNS)


def test_gated_scan_equals_full_scan_on_the_field_set_and_samples() -> None:
    """Skipping patterns by their gates finds exactly what running every pattern finds."""
    texts = corpus()
    assert len(texts) > 100
    found = 0
    for text in texts:
        full = _scan(text, gated=False)
        assert _scan(text) == full, text
        found += len(full)
    assert found > 50  # the corpus does hold PII


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(PIECES),
        max_size=60,
    ).map("".join)
)
def test_gated_scan_equals_full_scan_on_generated_text(text: str) -> None:
    """Texts built from the characters and words the patterns key on: same spans both ways."""
    assert _scan(text) == _scan(text, gated=False)


def test_cached_findings_carry_the_field_they_were_asked_for() -> None:
    """The span cache is keyed by text only: the field comes from each call."""
    text = "write to ann@example.com"
    a = find_all(text, "metadata.owner")
    b = find_all(text, "response")
    assert [(f.type, f.start, f.end) for f in a] == [(f.type, f.start, f.end) for f in b]
    assert {f.field for f in a} == {"metadata.owner"} and {f.field for f in b} == {"response"}
    assert find_pii(text, "x")[0].field == "x"


def test_cache_never_holds_the_text_and_stays_bounded(monkeypatch) -> None:
    """Keys are hashes, and the oldest entry goes when the cache is full."""
    monkeypatch.setattr(pii, "_CACHE_SIZE", 3)
    monkeypatch.setattr(pii, "_cache", {})
    texts = [f"user{i}@example.com" for i in range(5)]
    for t in texts:
        find_pii(t, "f")
    assert len(pii._cache) == 3
    assert not any(isinstance(part, str) for key in pii._cache for part in key)
    assert [f.type for f in find_pii(texts[0], "f")] == ["EMAIL_ADDRESS"]  # recomputed


def test_only_fields_that_cannot_hold_text_are_skipped_by_the_scrubber() -> None:
    """Numbers, times and models of numbers are skipped; anything that may hold a str is not."""
    from datetime import datetime
    from typing import Annotated, Any, Literal

    from pydantic import BaseModel, Field

    from detectors.redaction import _text_fields
    from schemas.events import InferenceEvent

    class Counts(BaseModel):
        n: int = 0
        at: datetime | None = None

    class Inner(BaseModel):
        label: Literal["a", "b"] = "a"

    class Outer(BaseModel):
        counts: Counts = Counts()
        inner: Inner = Inner()
        version: Literal[1] = 1
        ratio: Annotated[float, Field(ge=0)] | None = None
        tags: dict[str, int] = {}
        either: int | list[str] = 0
        anything: Any = None
        nested: list[Counts] = []

    assert _text_fields(Outer) == ("inner", "tags", "either", "anything")
    skipped = set(InferenceEvent.model_fields) - set(_text_fields(InferenceEvent))
    assert skipped == {"schema_version", "timestamp", "usage", "latency_ms", "ttft_ms"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "name",
    [
        "password" * 100,  # 40 characters of this took over 5 s (exponential backtracking)
        "password_" * 20_000 + "key",  # 180 kB: 4.5 kB took 12 s with an unbounded name
        "x" * 100_000 + "_api_key",  # a long prefix neither hides the secret nor costs more
    ],
)
def test_a_run_of_secret_names_does_not_stall_the_scanner(name: str) -> None:
    """Hostile runs of setting names scan well inside the test's timeout, with the finding."""
    text = name + "=hunter2hunter2"
    assert [(f.type, text[f.start : f.end]) for f in find_pii(text, "x")] == [
        ("SECRET", "hunter2hunter2")
    ]
