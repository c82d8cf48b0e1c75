"""The metrics catalogue: every name the stream layer counts is declared with the labels it
passes, each app has its own registry, and the exposition parses as Prometheus text."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.metrics import COUNTERS, GAUGES, HISTOGRAMS, Metrics
from streams.stages import StageClock

REPO = Path(__file__).resolve().parents[2]
KINDS = {"inc": COUNTERS, "set": GAUGES, "observe": HISTOGRAMS}


def metric_calls() -> list[tuple[str, str, str, set[str]]]:
    """(file:line, method, name, label keywords) of every ``metrics.inc/set/observe("...")``
    call with a literal name in the stream layer."""
    out = []
    for path in sorted((REPO / "streams").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            owner_name = (
                owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            )
            if node.func.attr not in KINDS or owner_name != "metrics" or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                labels = {k.arg for k in node.keywords if k.arg}
                out.append((where, node.func.attr, first.value, labels))
    return out


def test_every_metric_the_stream_layer_uses_is_declared_with_its_labels() -> None:
    """A name or label set not in the catalogue would raise in the hop at run time."""
    calls = metric_calls()
    assert len(calls) >= 30  # the scan finds the hops' calls
    wrong = [
        (where, method, name, labels)
        for where, method, name, labels in calls
        if name not in KINDS[method] or labels != set(KINDS[method][name][1])
    ]
    assert wrong == []


def test_existing_series_names_are_kept() -> None:
    """Names that docs, fault tests and dashboards read stay as they were."""
    text = Metrics().prometheus()[0].decode()
    for name in ("infersight_events_stored_total", "infersight_messages_received_total",
                 "infersight_consumer_lag", "infersight_seconds_since_last_stored_batch",
                 "infersight_ingest_in_flight", "infersight_stalled", "infersight_batches_total"):  # fmt: skip
        assert f"\n{name} " in text or text.startswith(f"{name} "), name


def test_two_apps_in_one_process_count_apart() -> None:
    """Each Metrics has its own registry: no duplicate-timeseries error, no shared counts."""
    a, b = Metrics(), Metrics()
    a.inc("events_stored", 5)
    b.inc("events_stored", 2)
    assert (a.get("events_stored"), b.get("events_stored")) == (5, 2)


def test_exposition_parses_with_histograms_and_labelled_series() -> None:
    """The text parses with prometheus_client's parser; histogram buckets are cumulative."""
    m = Metrics()
    m.inc("deadlettered", reason="invalid_json")
    m.set("consumer_partition_lag", 7, topic="llm.inference.v1", partition="3")
    for v in (0.02, 0.3, 4.0):
        m.observe("publish_to_stored_seconds", v)
    m.observe("stage_seconds", 0.01, hop="ScoreEvents", stage="parse")
    families = {f.name: f for f in text_string_to_metric_families(m.prometheus()[0].decode())}
    hist = families["infersight_publish_to_stored_seconds"]
    samples = {(s.name, s.labels.get("le")): s.value for s in hist.samples}
    assert samples[("infersight_publish_to_stored_seconds_count", None)] == 3
    assert samples[("infersight_publish_to_stored_seconds_bucket", "0.05")] == 1
    assert samples[("infersight_publish_to_stored_seconds_bucket", "5.0")] == 3
    [lag] = families["infersight_consumer_partition_lag"].samples
    assert (lag.labels, lag.value) == ({"topic": "llm.inference.v1", "partition": "3"}, 7)
    assert m.snapshot()["deadlettered_by"] == {"invalid_json": 1}


def test_an_undeclared_metric_name_raises() -> None:
    """A typo fails loudly (and test_every_metric... catches it before it ships)."""
    with pytest.raises(KeyError):
        Metrics().inc("events_storred")


def test_nested_stages_are_counted_exclusive_of_what_runs_inside() -> None:
    """An outer stage's time excludes its inner stages: a batch's stages add up to it."""
    clock = StageClock()

    def work() -> None:
        with clock.stage("detector:toxicity"):
            time.sleep(0.05)
            with clock.stage("embed"):
                time.sleep(0.1)

    started = time.perf_counter()
    _, seconds = clock.run(work)
    total = time.perf_counter() - started
    assert 0.1 <= seconds["embed"] < 0.1 + 0.05
    assert 0.05 <= seconds["detector:toxicity"] < 0.1
    assert sum(seconds.values()) == pytest.approx(total, abs=0.01)
