"""UserFeedback: parsing with reasons, what counts as negative, redaction like events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.feedback import redact_feedback
from detectors.pipeline import ScoringPipeline
from schemas.events import UserFeedback
from schemas.feedback import NEGATIVE_LABELS, is_negative, parse_feedback
from schemas.parsing import InvalidEvent


@pytest.mark.parametrize(
    ("raw", "reason", "words"),
    [
        (b'{"event_id": "e"}', "schema_violation", "at least one of thumbs"),
        (b'{"event_id": "e", "thumbs": "sideways"}', "schema_violation", "thumbs"),
        (b'{"event_id": "e", "score": NaN}', "invalid_json", "not JSON"),
        (b'{"event_id": "e", "score": "Infinity"}', "schema_violation", "score"),
        (b'{"event_id": "e", "score": false}', "schema_violation", "score"),
        (b'{"event_id": "e", "score": "4.5"}', "schema_violation", "score"),
        (b'{"thumbs": "up"}', "schema_violation", "event_id"),
        (b"[1]", "not_an_object", "JSON object"),
        (b'{"event_id": "e", "thumbs": "up", "schema_version": 2}',
         "unsupported_schema_version", "llm.feedback.v1"),
        (b'{"event_id": "e", "comment": "a\\u0000b"}', "schema_violation", "NUL"),
    ],
)  # fmt: skip
def test_bad_feedback_is_refused_with_its_reason(raw: bytes, reason: str, words: str) -> None:
    """Each kind of bad feedback names its reason code and the offending field."""
    with pytest.raises(InvalidEvent) as caught:
        parse_feedback(raw)
    assert caught.value.reason.value == reason and words in caught.value.message


@pytest.mark.parametrize(
    ("fields", "negative"),
    [
        ({"thumbs": "down"}, True),
        ({"thumbs": "up", "label": "wrong"}, False),  # explicit thumbs win
        ({"label": "Wrong "}, True),
        ({"label": "great"}, False),
        ({"score": -0.5}, True),
        ({"score": 1.0}, False),
        ({"score": -1.0, "label": "great"}, False),  # a label says more than a score
        ({"comment": "meh"}, False),
    ],
)
def test_what_counts_as_negative(fields: dict, negative: bool) -> None:
    """Thumbs first, then a negative label, then a negative score alone."""
    assert is_negative(UserFeedback(event_id="e", **fields)) is negative


@given(st.sampled_from(sorted(NEGATIVE_LABELS)), st.floats(-10, 10))
def test_a_negative_label_is_negative_whatever_the_score(label: str, score: float) -> None:
    """With no thumbs, any label of NEGATIVE_LABELS makes the judgement negative."""
    assert is_negative(UserFeedback(event_id="e", label=label, score=score))


def test_comment_label_and_user_are_redacted_by_the_events_path() -> None:
    """Email in the comment and a phone in the user id are redacted as in an event; the
    judgement itself is unchanged."""
    fb = UserFeedback(event_id="ev-1", thumbs="down", label="wrong",
                      comment="call me on +1 415 555 0100 or ann@example.com",
                      user_id="ann@example.com")  # fmt: skip
    [(stored, pii)] = redact_feedback(ScoringPipeline([]), [fb])
    assert "ann@example.com" not in stored.model_dump_json()
    assert "<EMAIL_ADDRESS>" in stored.comment and "EMAIL_ADDRESS" in pii
    assert (stored.event_id, stored.thumbs, stored.label) == ("ev-1", "down", "wrong")


def test_raw_pii_opt_in_keeps_the_comment() -> None:
    """With store_raw_pii the comment is kept as written, as event texts are."""
    fb = UserFeedback(event_id="e", comment="ann@example.com")
    [(stored, pii)] = redact_feedback(ScoringPipeline([], store_raw_pii=True), [fb])
    assert stored.comment == "ann@example.com" and pii == ["EMAIL_ADDRESS"]


EMAIL = "canary.ann@example.com"


@pytest.mark.parametrize(
    "doc",
    [
        {"event_id": "e", "thumbs": EMAIL},
        {"event_id": "e", "score": EMAIL},
        {"event_id": "e", "label": EMAIL * 30},
        {"event_id": "e", "thumbs": "up", "schema_version": EMAIL},
        {"event_id": "e", "thumbs": "up", "timestamp": "3000-01-01T00:00:00Z", "comment": EMAIL},
        {"event_id": "e", "thumbs": "up", EMAIL: {"nested": EMAIL}, "user_id": [EMAIL]},
    ],
)
def test_rejection_never_quotes_a_value(doc: dict) -> None:
    """Dead-lettered feedback says which field and why, never what was in it."""
    import orjson

    with pytest.raises(InvalidEvent) as caught:
        parse_feedback(orjson.dumps(doc))
    said = caught.value.message + orjson.dumps(caught.value.errors).decode()
    assert "canary" not in said and "3000-01-01" not in said and caught.value.message


def test_feedback_without_a_timestamp_takes_its_records_so_a_replay_is_the_same() -> None:
    """The latest judgement wins by timestamp: the read time would let a replayed old
    judgement replace a newer one. The record's time makes every reading the same."""
    from datetime import UTC, datetime

    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    raw = b'{"event_id": "e", "thumbs": "up"}'
    assert parse_feedback(raw, record_timestamp=at).timestamp == at
    stamped = b'{"event_id": "e", "thumbs": "up", "timestamp": "2026-01-01T00:00:00Z"}'
    assert parse_feedback(stamped, record_timestamp=at).timestamp.month == 1


def test_feedback_from_a_clock_far_ahead_is_refused() -> None:
    """Stamped in 2100 it would stay "latest" over every later judgement of that user."""
    from datetime import UTC, datetime

    now = datetime(2026, 3, 1, tzinfo=UTC)
    raw = b'{"event_id": "e", "thumbs": "up", "timestamp": "2100-01-01T00:00:00Z"}'
    with pytest.raises(InvalidEvent) as caught:
        parse_feedback(raw, max_future_s=3600, now=now)
    assert caught.value.reason.value == "timestamp_in_future"
    assert caught.value.event_id == "e"
    assert parse_feedback(raw, now=now).timestamp.year == 2100, "no limit given, none applied"


def test_comments_expire_like_event_bodies(tmp_path) -> None:
    """A comment is free text, and redaction misses names in prose: after 90 days it is
    emptied at merge time, as events' bodies are (005); the judgement itself stays."""
    from datetime import UTC, datetime, timedelta

    from sinks.clickhouse import ClickHouseSettings, ClickHouseSink
    from sinks.feedback import FEEDBACK_COLUMNS, feedback_row

    now = datetime.now(UTC)
    sink = ClickHouseSink(ClickHouseSettings(data_dir=tmp_path, database="fb"))
    try:
        sink.migrate()
        rows = [
            feedback_row(UserFeedback(event_id=e, thumbs="down", comment="I am John Smith",
                                      timestamp=now - timedelta(days=age)), True, [], now)
            for e, age in (("old", 91), ("new", 1))
        ]  # fmt: skip
        sink.insert("feedback", rows, FEEDBACK_COLUMNS)
        sink.query("OPTIMIZE TABLE feedback FINAL")
        _, got = sink.query("SELECT event_id, comment, thumbs, negative FROM feedback ORDER BY 1")
    finally:
        sink.close()
    assert [tuple(r) for r in got] == [
        ("new", "I am John Smith", "down", 1),
        ("old", "", "down", 1),
    ]
