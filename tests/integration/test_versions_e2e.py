"""Versions compared end to end: an A/B experiment's events and feedback through tansu and a
worker; the variant rule fires on the worse variant, compare_versions says why."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from helpers import consume, create_topics, start_worker, worker_settings

from streams.demo import settings_env
from streams.publish import Publisher

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
RULES = """
rules:
  - name: variant_errors
    metric: variant_rate_worse_p
    comparison: "<"
    threshold: 0.01
    window: 1h
    group_by: [service, experiment]
    where: {experiment: checkout-prompt}
    params: {control: control, outcome: error}
    severity: warning
  - name: variant_slower
    metric: variant_latency_worse_p
    comparison: "<"
    threshold: 0.01
    window: 1h
    group_by: [service, experiment]
    where: {experiment: checkout-prompt}
    params: {control: control}
    severity: warning
"""


def arms(seed: int = 5) -> list[dict]:
    """80 calls per arm: B errs 40% of the time (control 2%) at the same latency."""
    rng = random.Random(seed)
    out = []
    for arm, err in (("control", 0.02), ("B", 0.4)):
        for i in range(80):
            out.append({
                "event_id": f"ab-{arm}-{i}", "service": "checkout", "model": "gpt-4o-mini",
                "provider": "openai", "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                "experiment": "checkout-prompt", "variant": arm, "prompt_template_id": "checkout",
                "prompt_template_version": "v1" if arm == "control" else "v2",
                "status": "error" if rng.random() < err else "ok",
                "latency_ms": round(rng.lognormvariate(6.0, 0.3), 1), "prompt": f"q{i}",
                "response": f"a{i}", "usage": {"input_tokens": 50, "output_tokens": 10},
            })  # fmt: skip
    return out


async def _send(settings, events: list[dict]) -> None:
    k = settings.kafka
    async with Publisher(
        k.bootstrap, k.topic("llm.inference.v1"), k.topic("llm.feedback.v1")
    ) as pub:
        for e in events:
            await pub.publish(e)
        for e in events[::2]:  # half judged (40 an arm); B's answers disliked
            bad = e["variant"] == "B"
            await pub.feedback(e["event_id"], thumbs="down" if bad else "up", user_id="u")


@pytest.fixture(scope="module")
def run(broker: str, tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("versions")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    settings = worker_settings(broker, tmp, monitor={"interval_s": 1.0, "rules_file": rules})
    events = arms()
    create_topics(settings)
    worker = start_worker(settings)
    try:
        asyncio.run(_send(settings, events))
        consume(broker, settings.kafka.topic("llm.signals.v1"), len(events))
        alerts = consume(broker, settings.kafka.topic("llm.alerts.v1"), 1, timeout_s=60)
    finally:
        assert worker.stop() == 0, "worker did not shut down cleanly on SIGTERM"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    return settings, events, alerts, env


def test_variant_rule_fires_for_the_worse_variant_only(run) -> None:
    """variant_errors fires for the experiment (p < 0.01); latency, equal, does not."""
    _, _, alerts, _ = run
    firing = [orjson.loads(a.value) for a in alerts]
    assert [(a["rule"], a["status"], a["labels"].get("experiment")) for a in firing] == [
        ("variant_errors", "firing", "checkout-prompt")
    ]
    assert firing[0]["value"] < 0.01


def test_compare_versions_names_what_is_worse_and_by_how_much(run) -> None:
    """The named query, by variant and by template version, calls B worse on errors and
    negative feedback against the control."""
    _, events, _, env = run
    day = T0.date().isoformat()

    def compare(*params: str) -> dict[str, dict]:
        out = subprocess.run(
            [sys.executable, "-m", "streams.cli", "query", "compare_versions", "-p",
             f"since={day}", "-p", f"until={day}", *params, "--format", "json"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return {r["arm"]: r for r in json.loads(out.stdout)}

    by_variant = compare(
        "-p", "by=variant", "-p", "experiment=checkout-prompt", "-p", "control=control"
    )
    b = by_variant["B"]
    errors = sum(e["status"] == "error" for e in events if e["variant"] == "B")
    assert b["events"] == 80 and b["error_rate"] == pytest.approx(errors / 80)
    assert b["verdict"].startswith("worse: error, negative_feedback")
    assert b["error_p"] < 0.01 and b["latency_p"] > 0.01
    assert by_variant["control"]["role"] == "control"
    by_version = compare("-p", "by=prompt_template_version", "-p", "control=v1")
    assert by_version["v2"]["verdict"] == b["verdict"]
