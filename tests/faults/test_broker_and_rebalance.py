"""A broker SIGKILLed and restarted on durable storage, and a worker SIGKILLed during a
rebalance: producers and workers carry on, nothing is lost, nothing duplicated as queried."""

from __future__ import annotations

import pytest
import scenarios
from faultkit import Accounting


def test_broker_sigkill_and_restart_on_durable_storage_loses_nothing(tmp_path) -> None:
    """tansu on s3:// (localbucket) killed mid-stream and restarted: the producer re-sends,
    the same worker process reconnects, every event is stored once."""
    acc = scenarios.broker_restart(tmp_path, n=1000, down_s=3.0, seed=13)
    print(acc.as_row(), acc.notes)
    assert (acc.lost, acc.unexpected, acc.duplicates_as_queried) == (0, 0, 0)
    assert acc.stored_ids == 1000 and acc.balanced
    assert acc.notes["worker_alive"]
    assert acc.notes["at_kill"]["published"] < 1000  # the kill landed mid-stream


@pytest.fixture(scope="module")
def rebalance(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Accounting:
    """One run of the rebalance scenario, read by the tests below."""
    acc = scenarios.rebalance_kill(broker, tmp_path_factory.mktemp("rebalance"), n=1200, seed=17)
    print(acc.as_row(), acc.notes)
    return acc


def test_worker_killed_during_rebalance_partitions_move_without_loss(rebalance) -> None:
    """Worker B joins, A is SIGKILLed inside the rebalance; B takes every partition and the
    union of both data directories holds each event once."""
    acc, n = rebalance, rebalance.notes
    assert (acc.lost, acc.unexpected, acc.duplicates_as_queried) == (0, 0, 0)
    assert acc.stored_ids == 1200 and acc.balanced
    assert n["stored_in_b"] > 0 and n["stored_in_a"] > 0


def test_each_worker_directory_records_each_alert_transition_once(rebalance) -> None:
    """Within one chDB directory the monitor never re-fires an alert it already stored."""
    for per_dir in rebalance.notes["alerts_per_dir"].values():
        assert per_dir and all(row["n"] == 1 for row in per_dir)


@pytest.mark.xfail(
    reason="embedded chDB: each worker's monitor restores alert state from its own "
    "directory, so the worker that takes over leadership re-fires every alert the killed "
    "one had fired (new episode). A shared ClickHouse server, or restoring from "
    "llm.alerts.v1, avoids it; see docs/security.md and the fault report.",
    strict=True,
)
def test_takeover_leader_sends_no_duplicate_alert(rebalance) -> None:
    """Across the takeover each (fingerprint, status) is published once to llm.alerts.v1."""
    assert all(count == 1 for count in rebalance.notes["alert_transitions"].values())
