"""Alerting: rules over stored windows, the alert state machine, silences, dispatch and the
channels, and the retraining policy. Knows ``schemas`` and ``sinks``; no detector imports it.

Reading order: ``metrics.py`` (what can be measured, as ClickHouse SQL), ``rules.py`` (one
rule, the retraining policy), ``rulefile.py`` (the YAML file, validated; the packaged default
is ``alert_rules.yaml``), ``engine.py`` (the state machine: evaluate, restore), ``dispatch.py``
(routes, silences, deduplication, grouping, rate limits), ``channels/`` (webhook, Slack,
PagerDuty, Alertmanager) and ``outbox.py`` (every alert state change owed to every channel:
delivered concurrently, retried across restarts, given up only after an expiry). Storage of
all of it is ``sinks.alert_store`` (the outbox reads and writes ``alert_outbox`` itself).
"""

from alerting.engine import Evaluation, RuleEngine, SeriesState, State, Transition
from alerting.metrics import METRICS, Metric
from alerting.rulefile import DEFAULT_RULES_FILE, RuleFileError, load_rules, parse_duration
from alerting.rules import RetrainPolicy, Rule, RuleSet

__all__ = [
    "DEFAULT_RULES_FILE",
    "METRICS",
    "Evaluation",
    "Metric",
    "RetrainPolicy",
    "Rule",
    "RuleEngine",
    "RuleFileError",
    "RuleSet",
    "SeriesState",
    "State",
    "Transition",
    "load_rules",
    "parse_duration",
]
