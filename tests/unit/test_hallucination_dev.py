"""The hallucination detector's development sets stay apart from the frozen field set (the
third pass's claim checks and their tests are in commit f1331ab; look 5 did not ship them)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "data"))
from hallucination_dev import CASES  # noqa: E402  (path set above)
from hallucination_dev_more import CASES as MORE  # noqa: E402

SHINGLE = 8  # words


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


@pytest.mark.parametrize("name,cases", [("dev", CASES), ("more", MORE)])
def test_development_sets_share_no_text_with_the_field_set(name, cases):
    """No development answer or context shares a run of 8 words with any field-set response,
    prompt or context (the field set is read by this test only, never printed)."""
    field = ROOT / "benchmarks/quality/fieldsets/hallucination.jsonl"
    rows = [json.loads(line) for line in field.read_text().splitlines() if line.strip()]
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        prompt = row["prompt"] if isinstance(row["prompt"], str) else json.dumps(row["prompt"])
        for text in (row["response"], prompt, *row["context"]):
            seen |= _shingles(text)
    ours = [t for case in cases for t in (*case["context"], *(a for _, a in case["answers"]))]
    overlapping = [t[:60] for t in ours if _shingles(t) & seen]
    assert len(ours) > 60
    assert overlapping == [], f"{name}: development text overlaps the field set"


def test_more_development_answers_are_balanced_and_labelled():
    labels = [label for case in MORE for label, _ in case["answers"]]
    assert len(labels) == 80
    assert labels.count(0) == 32 and labels.count(1) == 48
