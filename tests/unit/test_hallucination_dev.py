"""The hallucination detector's development sets stay apart from the frozen field set, and
the third pass's claim checks (units, clauses, negations, arithmetic) see what they are for
without firing on the grounded twin."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from detectors.hallucination_align import _negated_stems
from detectors.hallucination_clauses import clause_checks, split_clauses
from detectors.hallucination_features import CLAIM_FEATURES, extract_features
from detectors.hallucination_relations import polarity_conflict
from detectors.hallucination_units import unit_swap
from schemas.events import ContextDocument, InferenceEvent

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


def test_a_swapped_unit_is_seen_and_a_reworded_rate_is_not():
    ctx = "Batteries are covered for 12 months. Vouchers cost GBP 2 per day. Pills are 500 mg."
    assert unit_swap("Batteries are covered for 12 weeks.", ctx) == 1.0
    assert unit_swap("Batteries are covered for 12 months.", ctx) == 0.0
    assert unit_swap("Vouchers cost GBP 2 per hour.", ctx) == 1.0
    assert unit_swap("Vouchers are GBP 2 a day.", ctx) == 0.0
    assert unit_swap("Each pill is 500 g.", ctx) == 1.0
    assert unit_swap("Take 4 pills.", ctx) == 0.0  # not a unit of the vocabulary


def _checks(answers: list[str], context: str) -> list[dict[str, float]]:
    events = [
        InferenceEvent(
            service="s", model="m", event_id=f"e{i}", prompt="Tell me.", response=a,
            context=[ContextDocument(text=context)],
        )
        for i, a in enumerate(answers)
    ]  # fmt: skip
    return [
        {n: max(c[k] for c in r.claim_values) for k, n in enumerate(CLAIM_FEATURES)}
        for r in extract_features(events, relevance=False)
    ]


def test_a_number_moved_between_clauses_conflicts_and_a_two_sentence_claim_does_not():
    """DVDs are lent for 7 days, not the books' 21 of the other clause; a claim joining two
    sentences' numbers ("4 tablets a day, so 2,000 mg") is checked clause by clause."""
    loans = "Books are lent for 21 days and DVDs for 7 days. Members may borrow 12 items."
    rows = _checks(["DVDs are lent for 21 days.", "DVDs are lent for 7 days."], loans)
    assert [r["clause_number_conflict"] for r in rows] == [1.0, 0.0]
    dose = (
        "For adults, take 1 tablet (500 mg) every 6 hours as needed. Do not take more than "
        "4 tablets in 24 hours."
    )
    rows = _checks(["Adults can take up to 4 tablets a day, so at most 2,000 mg.",
                    "Adults can take up to 4 tablets every 6 hours."], dose)  # fmt: skip
    assert rows[0]["clause_number_conflict"] == 0.0
    assert rows[0]["underived_number"] == 0.0  # 4 x 500 mg


def test_arithmetic_in_words_and_implied_numbers_is_derived():
    """Half a 500 mg tablet is 250 mg; four quarterly permits at GBP 40 are GBP 160; 10
    vouchers at GBP 2 are GBP 20; 28 minutes against 19 is 9 fewer. A wrong total is not."""
    ctx = (
        "Take 1 tablet (500 mg). A quarterly permit costs GBP 40. Vouchers cost GBP 2 per day "
        "and are sold in books of 10. The regular train takes 28 minutes, the express 19 "
        "minutes."
    )
    rows = _checks(
        [
            "Half a tablet is 250 mg.",
            "Four quarterly permits cost GBP 160 a year.",
            "A book of vouchers costs GBP 20.",
            "The express takes 9 fewer minutes.",
            "Four quarterly permits cost GBP 170 a year.",
        ],
        ctx,
    )
    assert [r["underived_number"] for r in rows] == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_reworded_negations_and_flips_and_an_answering_no():
    """Opposites added in the third pass fire when the sentence has the other side only;
    "No," answering the question negates nothing; "don't need to" reaches the verb."""
    assert polarity_conflict("Spills are covered.", "Spills are excluded.") == 1.0
    assert polarity_conflict("Take a whole tablet.", "Take half a tablet.") == 1.0
    assert polarity_conflict("Versioning is on both plans.", "Versioning is on Pro only.") == 1.0
    assert polarity_conflict("It is on every plan.", "Only after all on-time ones.") == 0.0
    assert _negated_stems("No, spills count as damage.") == frozenset()
    assert _negated_stems("You don't need to request them.") == frozenset({"request"})


def test_a_term_moved_to_the_other_clause_is_seen():
    assert split_clauses("Upgrading is immediate; downgrading waits.") == [
        "Upgrading is immediate",
        "downgrading waits.",
    ]
    from detectors.hallucination_align import Evidence, Idf

    sents = ["Upgrading takes effect immediately; downgrading takes effect at period end."]
    ev = Evidence.of(sents, sents[0], Idf({}, documents=10))
    assert clause_checks("Downgrading takes effect at period end.", ev, set())["term_conflict"] == 0
    assert clause_checks("Upgrading takes effect at period end.", ev, set())["term_conflict"] == 1
