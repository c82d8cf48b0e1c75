"""Storage errors and shutdown, through a real worker: a backfill across years is stored
whole, an event ClickHouse refuses is dead-lettered while the stream goes on."""

from __future__ import annotations

import scenarios


def test_backfill_across_150_months_and_a_refused_event_never_stall_the_stream(
    broker, tmp_path
) -> None:
    """150 events in 150 months, one event a ClickHouse constraint refuses, 50 more: all
    200 valid events stored, the refused one dead-lettered as storage_rejected with
    ClickHouse's code, nothing lost (before: the batch was retried forever)."""
    acc = scenarios.backfill_and_refused(broker, tmp_path, months=150, after=50)
    print(acc.as_row(), acc.notes)
    assert (acc.lost, acc.unexpected, acc.duplicates_as_queried) == (0, 0, 0)
    assert acc.stored_ids == 200 and acc.deadlettered == 1 and acc.balanced
    assert acc.notes["months_stored"] == 150
    [(event_id, reason, message)] = acc.notes["dead_letters"]
    assert (event_id, reason) == ("refuse-me", "storage_rejected")
    assert "Code: 469" in message and "Column values" not in message
