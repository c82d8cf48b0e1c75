"""Named queries behind the live page (``streams.live``), in the same library as the others
(``infersight query NAME``; ``sinks.queries`` builds them from the table below), so that
every number on the page is one an analyst can rerun.

Examples
--------
>>> from sinks.queries import QUERIES
>>> [q[0] for q in LIVE_QUERIES if q[0] in QUERIES]
['cost_by_service_model', 'deadletters_by_reason', 'open_alerts', 'drift_explanations']
"""

from __future__ import annotations

from typing import Any

DRIFT_TABLE = "drift_results"  # as in sinks.queries (migration 010)

__all__ = ["LIVE_QUERIES"]

COST_BY_SERVICE_MODEL = """
SELECT
    service,
    model,
    sum(r.events) AS events,
    sum(r.errors) AS errors,
    sum(r.input_tokens) AS input_tokens,
    sum(r.output_tokens) AS output_tokens,
    sum(r.cost_usd) AS cost_usd
FROM rollup_events_hour AS r FINAL
WHERE hour >= toDateTime({since:Date}, 'UTC')
  AND hour < toDateTime({until:Date}, 'UTC') + INTERVAL 1 DAY
  AND ({service:String} = '' OR service = {service:String})
GROUP BY service, model
ORDER BY cost_usd DESC, service, model
"""

DEADLETTERS_BY_REASON = """
SELECT
    reason,
    count() AS messages,
    max(received_at) AS last_at,
    argMax(d.message, received_at) AS last_message
FROM deadletters AS d FINAL
WHERE received_at >= toDateTime64({since:Date}, 3, 'UTC')
  AND received_at < toDateTime64({until:Date}, 3, 'UTC') + INTERVAL 1 DAY
GROUP BY reason
ORDER BY messages DESC, reason
"""

OPEN_ALERTS = """
SELECT rule, severity, service, model, changed_at, value, threshold, summary,
       sample_event_ids, evidence_sql
FROM
(
    SELECT
        fingerprint,
        argMax(a.rule, a.created_at) AS rule,
        argMax(a.severity, a.created_at) AS severity,
        argMax(a.service, a.created_at) AS service,
        argMax(a.model, a.created_at) AS model,
        argMax(a.status, a.created_at) AS status,
        max(a.created_at) AS changed_at,
        argMax(a.value, a.created_at) AS value,
        argMax(a.threshold, a.created_at) AS threshold,
        argMax(a.summary, a.created_at) AS summary,
        argMax(a.sample_event_ids, a.created_at) AS sample_event_ids,
        argMax(a.evidence_sql, a.created_at) AS evidence_sql
    FROM alerts AS a FINAL
    GROUP BY fingerprint
)
WHERE status = 'firing'
ORDER BY changed_at DESC, rule
LIMIT {limit:UInt32}
"""

DRIFT_EXPLANATIONS = f"""
SELECT
    window_end, service, model, field, test, p_value, streak, reason,
    arrayFilter(t -> t != '',
        arrayMap(m -> JSONExtractString(m, 'text'), JSONExtractArrayRaw(detail, 'moved')))
        AS examples
FROM {DRIFT_TABLE} FINAL
WHERE drift = 1
  AND window_end >= toDateTime64({{since:Date}}, 3, 'UTC')
  AND window_end < toDateTime64({{until:Date}}, 3, 'UTC') + INTERVAL 1 DAY
ORDER BY window_end DESC, service, model, field
LIMIT {{limit:UInt32}}
"""

#: (name, title, SQL, parameters, tables required). A parameter is a name of the library's
#: shared ones (since, until, service) or ``(name, default)`` for a ``limit``-like UInt32.
LIVE_QUERIES: tuple[tuple[str, str, str, tuple[Any, ...], tuple[str, ...]], ...] = (
    (
        "cost_by_service_model",
        "Calls, errors, tokens and cost per service and model (USD)",
        COST_BY_SERVICE_MODEL,
        ("since", "until", "service"),
        (),
    ),
    (
        "deadletters_by_reason",
        "Messages refused at ingest, by reason",
        DEADLETTERS_BY_REASON,
        ("since", "until"),
        (),
    ),
    (
        "open_alerts",
        "Alerts firing now, with their evidence (sample events, SQL)",
        OPEN_ALERTS,
        (("limit", 50),),
        (),
    ),
    (
        "drift_explanations",
        "The latest drift alarms, with the texts that moved",
        DRIFT_EXPLANATIONS,
        ("since", "until", ("limit", 5)),
        (DRIFT_TABLE,),
    ),
)
