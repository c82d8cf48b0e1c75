"""Where results go: ClickHouse (embedded chDB or a server). Knows ``schemas`` and
``detectors``' result types; never Kafka, never ``alerting``.

Reading order: ``sql.py`` (literals and time helpers), ``rows.py`` (the stream's rows),
``clickhouse.py`` (settings, migrations, idempotent batched writes, queries),
``alert_store.py`` (every alerting table, written under the sink's lock), ``backoff.py``
(capped exponential retries), ``queries.py`` (the analysts' named queries, priced by
``prices.py``; the live page's in ``live_queries.py``), ``tables.py`` (results as text),
``charts.py`` (time-series charts drawn by the vendored uPlot in ``static/``) and
``report.py`` (dashboard panels shared by Grafana, the static HTML report and the live
page); then ``feedback.py`` and ``queries_feedback.py`` (user feedback stored and joined),
``compare.py`` (versions against a control, with significance tests, and their Grafana
dashboard) and ``dataset.py`` (training data out).

Importing this package loads nothing: names resolve on first use, so importing the settings
(``streams.settings`` → ``sinks.clickhouse``) pulls in no model code.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["AlertStore", "ClickHouseSettings", "ClickHouseSink", "SinkUnavailable"]

_WHERE = {
    "AlertStore": "sinks.alert_store",
    "ClickHouseSettings": "sinks.clickhouse",
    "ClickHouseSink": "sinks.clickhouse",
    "SinkUnavailable": "sinks.clickhouse",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'sinks' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
