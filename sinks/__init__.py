"""Where results go: ClickHouse (embedded chDB or a server) and the notifiers that reach a
human. Knows ``schemas`` and ``detectors``' result types; never Kafka.

Reading order: ``clickhouse.py`` (settings, migrations, idempotent batched writes, queries),
``notify.py`` (webhook, Slack, PagerDuty, Alertmanager, the dispatcher with silences and
rate limits), ``outbox.py`` (every alert state change owed to every channel, delivered
concurrently with retries that survive restarts), ``queries.py`` (the analysts' named
queries) and ``report.py`` (dashboard panels shared by Grafana and the static HTML report).
"""

from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, SinkUnavailable
from sinks.notify import DeliveryError, MemoryNotifier, Notifier, WebhookNotifier

__all__ = [
    "ClickHouseSettings",
    "ClickHouseSink",
    "DeliveryError",
    "MemoryNotifier",
    "Notifier",
    "SinkUnavailable",
    "WebhookNotifier",
]
