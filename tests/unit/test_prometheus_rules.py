"""The operator's alerting rules (deploy/prometheus/infersight-rules.yaml) are valid, name only
metrics the worker exports, and fire on the series they are written for.

``promtool`` comes from Debian's ``prometheus`` package (``scripts/setup.sh`` installs it).
Its rule unit tests (tests/prometheus/infersight-rules.test.yaml) feed series such as a
stalled worker, a dead ClickHouse or a channel that refuses pages, and state which alert
fires when, with which labels and text, and which stay silent on a healthy worker.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from streams.metrics import COUNTERS, GAUGES, HISTOGRAMS, Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "infersight-rules.yaml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "infersight-rules.test.yaml"
#: Labels Prometheus adds to every scraped series, or that histograms carry.
TARGET_LABELS = {"instance", "job", "le"}


def _promtool() -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool is needed: apt-get install -y prometheus (scripts/setup.sh does)"
    return tool


def _exported() -> dict[str, set[str]]:
    """Series name -> label names, for every metric the worker declares."""
    names: dict[str, set[str]] = {}
    for n, (_, labels) in COUNTERS.items():
        names[f"infersight_{n}_total"] = set(labels)
    for n, (_, labels) in GAUGES.items():
        names[f"infersight_{n}"] = set(labels)
    for n, (_, labels, _) in HISTOGRAMS.items():
        for suffix in ("_bucket", "_sum", "_count"):
            names[f"infersight_{n}{suffix}"] = set(labels)
    return names


def _rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules_file() -> None:
    out = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in out.stdout


def test_rules_fire_on_the_series_they_are_written_for() -> None:
    out = subprocess.run(
        [_promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_is_unit_tested() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {rule["alert"] for rule in _rules()}
    assert alerts - tested == set(), "alerts never shown to fire in the promtool tests"


def test_rules_name_only_exported_metrics_and_their_labels() -> None:
    exported = _exported()
    text = Metrics().prometheus()[0].decode()
    for rule in _rules():
        expr = rule["expr"]
        used = set(re.findall(r"\binfersight_\w+", expr))
        assert used, rule["alert"]
        unknown = used - set(exported)
        assert not unknown, f"{rule['alert']}: {unknown} is not exported by the worker"
        # Unlabelled counters and gauges are present from start-up (absent() relies on it).
        for name in used:
            if not exported[name] and not name.endswith(("_bucket", "_sum", "_count")):
                assert re.search(rf"^{name} ", text, re.M), name
        for grouping, inner in re.findall(r"by \(([^)]*)\)\s*\(([^()]*\(?\s*infersight_\w+)", expr):
            metric = re.search(r"infersight_\w+", inner).group(0)
            for label in (s.strip() for s in grouping.split(",")):
                assert label in exported[metric] | TARGET_LABELS, (rule["alert"], label, metric)


def test_every_alert_has_severity_and_words_for_the_on_call() -> None:
    for rule in _rules():
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"].split()) >= 15, rule["alert"]
