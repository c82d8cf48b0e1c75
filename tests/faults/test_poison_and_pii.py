"""Poison input never stops the stream and every bad message is dead-lettered with its exact
reason; raw PII canaries reach no table, alert, notification or log line."""

from __future__ import annotations

import random
from collections import Counter

import poison
import scenarios

from schemas.parsing import InvalidEvent, parse_event


def test_hostile_message_labels_agree_with_the_parser_offline() -> None:
    """The generator's expected reason codes are what parse_event says (labels are right)."""
    rng = random.Random(3)
    msgs = poison.hypothesis_messages(60, rng, "lbl") + poison.handmade_messages(200, rng, "lbl")
    wrong: Counter[tuple[str, str | None, str | None]] = Counter()
    for m in msgs:
        try:
            parse_event(m.value, max_future_s=3600)  # the worker's default
            got = None
        except InvalidEvent as exc:
            got = exc.reason.value
        if got != m.expected:
            wrong[(m.kind, m.expected, got)] += 1
    assert not wrong


def test_ten_thousand_hostile_messages_dead_lettered_with_reasons_and_no_canary_stored(
    broker, tmp_path
) -> None:
    """10,000+ bad messages interleaved with valid and canary events: valid ones stored once,
    bad ones dead-lettered with the expected reason, the worker never restarts, no raw
    canary anywhere, every webhook POST correctly signed, the secret never logged."""
    acc = scenarios.poison_and_canaries(
        broker, tmp_path, n_hyp_each=900, n_hand=4500, n_canary=150, seed=5
    )
    n = acc.notes
    print(acc.as_row(), {k: v for k, v in n.items() if k != "tables"})
    assert n["bad_published"] >= 10_000
    assert (acc.lost, acc.unexpected, acc.duplicates_as_queried) == (0, 0, 0)
    assert acc.balanced and acc.deadlettered == n["bad_published"]
    assert n["dl_mismatches"] == [] and n["dl_missing"] == []
    assert set(n["dl_reasons"]) == {
        "oversized", "invalid_encoding", "invalid_json", "not_an_object",
        "unsupported_schema_version", "schema_violation", "timestamp_in_future",
    }  # fmt: skip
    assert n["alive_same_pid"] and n["batch_retries"] == 0 and n["tracebacks"] == 0
    assert n["canary_hits"] == []
    assert {"events", "signals", "deadletters", "alerts"} <= set(n["tables"])
    assert n["webhook_posts"] >= 1 and n["webhook_signed_ok"] == n["webhook_posts"]
    assert not n["secret_in_logs"]
