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


def test_sigterm_during_a_clickhouse_outage_exits_in_bounded_time_committing_nothing(
    broker, tmp_path
) -> None:
    """ClickHouse down: /healthz and /readyz say 503 stalled, the staleness and lag gauges
    are served, SIGTERM ends the worker within shutdown_timeout_s with nothing committed,
    and a restarted worker stores all 300 once (before: SIGTERM never finished)."""
    acc = scenarios.sigterm_during_outage(broker, tmp_path, n=300, shutdown_timeout_s=8, seed=5)
    print(acc.as_row(), acc.notes)
    notes = acc.notes
    assert notes["stop_s"] <= 8 + 5 and notes["exit_code"] == 0
    assert notes["committed_before_term"] == 0 and notes["committed_after_term"] == 0
    assert notes["health"]["healthz"]["status"] == "stalled"
    assert notes["health"]["readyz"]["ready"] is False
    assert notes["health"]["healthz"]["in_flight"] > 0
    names = {ln.split()[0] for ln in notes["gauge_lines"]}
    assert names == {"infersight_seconds_since_last_stored_batch", "infersight_consumer_lag",
                     "infersight_ingest_in_flight"}  # fmt: skip
    assert (acc.lost, acc.unexpected, acc.duplicates_as_queried) == (0, 0, 0)
    assert acc.stored_ids == 300 and acc.balanced


def test_duplicates_of_events_without_timestamp_are_stored_once(broker, tmp_path) -> None:
    """200 events without timestamp, each record sent twice: 200 rows as queried, each at its
    Kafka record's time (before: two rows per event, stamped with two parse times)."""
    acc = scenarios.duplicates_without_timestamp(broker, tmp_path, n=200, seed=3)
    print(acc.as_row(), acc.notes)
    assert (acc.lost, acc.unexpected, acc.duplicates_as_queried) == (0, 0, 0)
    assert acc.stored_ids == 200 and acc.notes["at_record_time"] == 200


def test_pages_survive_slow_and_dead_receivers_and_a_kill(broker, tmp_path) -> None:
    """A slow webhook (timing out) does not delay Slack; after a SIGKILL and restart the
    webhook gets the firing it missed, then the resolve; the dead PagerDuty page is given
    up after its expiry and an expiry alert reaches webhook and Slack: 6 of 6 pages (before:
    the slow channel's page was recorded failed and never sent again)."""
    acc = scenarios.slow_and_dead_receivers(broker, tmp_path, slow_s=3.0, expiry_s=15.0)
    print(acc.as_row(), acc.notes)
    n = acc.notes
    assert n["pages_delivered"] == n["pages_expected"] == 6
    assert n["healthy_channel_after_s"] < 15  # not behind the slow channel's timeouts
    assert n["slow_attempts_before_kill"] >= 1
    for channel, got in n["received"].items():
        leaks = [s for r, s in got if r == "leaks"]
        assert leaks.index("firing") < leaks.index("resolved"), (channel, got)
    pd = {(r["rule"], r["status"]): r["state"] for r in n["outbox"] if r["channel"] == "pagerduty"}
    assert pd[("leaks", "firing")] == "expired" and pd[("leaks", "resolved")] == "skipped"
