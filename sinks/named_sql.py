"""The SQL text of the named queries in ``sinks.queries`` (split out of it to keep both
modules short). Each string uses server-side parameters (``{name:Type}``).

The dashboard-facing ones read the pre-merged dashboard rollups of migration 060
(``dashboard_hour``, ``dashboard_day``, ``dashboard_signals_hour``: one row per bucket and
series, service/model ``'__all'`` for the totals, percentiles stored); the rest read the
deduplicated raw tables (``FINAL``).
"""

from __future__ import annotations

__all__ = [
    "ALERT_HISTORY",
    "CACHE_SAVINGS",
    "COST_BY_MODEL_DAY",
    "DRIFT_HISTORY",
    "DRIFT_TABLE",
    "HALLUCINATION_RATE_RAG",
    "SLOWEST_MODELS",
    "TOP_SERVICES_PII_LEAKS",
    "TOXICITY_TREND",
]

#: The table migration 010_drift.sql creates (owned by the drift detector).
DRIFT_TABLE = "drift_results"

COST_BY_MODEL_DAY = """
SELECT
    toDate(hour) AS day,
    model,
    sum(d.events) AS events,
    sum(d.events) - sum(d.priced_events) AS unpriced_events,
    sum(d.input_tokens) AS input_tokens,
    sum(d.output_tokens) AS output_tokens,
    sum(d.cache_read_tokens) AS cache_read_tokens,
    sum(d.cost_usd) AS cost_usd,
    sum(d.reasoning_tokens) AS reasoning_tokens
FROM dashboard_hour AS d
WHERE hour >= toDateTime({since:Date}, 'UTC')
  AND hour < toDateTime({until:Date}, 'UTC') + INTERVAL 1 DAY
  AND service = if({service:String} = '', '__all', {service:String})
  AND model != '__all'
GROUP BY day, model
ORDER BY day, cost_usd DESC, model
"""

TOP_SERVICES_PII_LEAKS = """
SELECT
    service,
    sum(fired) AS leaks,
    count() AS scored,
    round(leaks / scored, 4) AS leak_rate,
    arraySort(groupUniqArrayIf(model, fired = 1)) AS models,
    arraySort(groupUniqArrayArrayIf(
        JSONExtract(detail, 'leaked_types', 'Array(String)'), fired = 1)) AS leaked_types,
    maxIf(timestamp, fired = 1) AS last_leak_at,
    argMaxIf(event_id, timestamp, fired = 1) AS last_leak_event_id
FROM signals FINAL
WHERE detector = 'pii'
  AND timestamp >= toDateTime64({since:Date}, 3, 'UTC')
  AND timestamp < toDateTime64({until:Date}, 3, 'UTC') + INTERVAL 1 DAY
GROUP BY service
HAVING leaks > 0
ORDER BY leaks DESC, service
LIMIT {limit:UInt32}
"""

TOXICITY_TREND = """
SELECT
    toStartOfInterval(hour, toIntervalHour({bucket_hours:UInt32})) AS bucket,
    service,
    sum(d.scored) AS scored,
    sum(d.fired) AS toxic,
    round(toxic / scored, 4) AS toxicity_rate,
    round(sum(d.score_sum) / scored, 4) AS mean_score
FROM dashboard_signals_hour AS d
WHERE detector = 'toxicity'
  AND hour >= toDateTime({since:Date}, 'UTC')
  AND hour < toDateTime({until:Date}, 'UTC') + INTERVAL 1 DAY
  AND service != '__all'
  AND ({service:String} = '' OR service = {service:String})
GROUP BY bucket, service
ORDER BY bucket, service
"""

HALLUCINATION_RATE_RAG = """
SELECT
    e.service AS service,
    e.model AS model,
    count() AS rag_events,
    countIf(s.event_id != '') AS scored,
    countIf(s.fired = 1) AS hallucinated,
    round(hallucinated / scored, 4) AS hallucination_rate,
    round(avgIf(s.score, s.event_id != ''), 4) AS mean_score
FROM
(
    SELECT event_id, service, model
    FROM events FINAL
    WHERE context_count > 0
      AND timestamp >= toDateTime64({since:Date}, 3, 'UTC')
      AND timestamp < toDateTime64({until:Date}, 3, 'UTC') + INTERVAL 1 DAY
      AND ({service:String} = '' OR service = {service:String})
) AS e
LEFT JOIN
(
    SELECT event_id, score, fired
    FROM signals FINAL
    WHERE detector = 'hallucination'
      AND timestamp >= toDateTime64({since:Date}, 3, 'UTC')
      AND timestamp < toDateTime64({until:Date}, 3, 'UTC') + INTERVAL 1 DAY
) AS s ON s.event_id = e.event_id
GROUP BY service, model
ORDER BY hallucination_rate DESC, service, model
"""

DRIFT_HISTORY = f"""
SELECT
    window_end, service, model, field, test, window_index, n_ref, n_cur,
    round(statistic, 6) AS statistic, p_value, alpha, significant, drift, streak, reason
FROM {DRIFT_TABLE} FINAL
WHERE window_end >= toDateTime64({{since:Date}}, 3, 'UTC')
  AND window_end < toDateTime64({{until:Date}}, 3, 'UTC') + INTERVAL 1 DAY
  AND ({{service:String}} = '' OR service = {{service:String}})
  AND ({{drifted_only:UInt32}} = 0 OR drift = 1)
ORDER BY window_end DESC, service, model, field, test
LIMIT {{limit:UInt32}}
"""

ALERT_HISTORY = """
SELECT
    episode_id,
    rule,
    argMax(a.severity, created_at) AS severity,
    service,
    model,
    minIf(created_at, status = 'firing') AS fired_at,
    if(countIf(status = 'resolved') > 0, maxIf(created_at, status = 'resolved'), NULL)
        AS resolved_at,
    round(dateDiff('millisecond', fired_at, resolved_at) / 1000, 1)
        AS duration_s,
    argMaxIf(a.value, created_at, status = 'firing') AS value,
    argMaxIf(a.threshold, created_at, status = 'firing') AS threshold,
    argMaxIf(a.summary, created_at, status = 'firing') AS summary
FROM alerts AS a FINAL
WHERE created_at >= toDateTime64({since:Date}, 3, 'UTC')
  AND created_at < toDateTime64({until:Date}, 3, 'UTC') + INTERVAL 1 DAY
  AND ({service:String} = '' OR service = {service:String})
GROUP BY episode_id, rule, service, model
ORDER BY fired_at DESC, episode_id
LIMIT {limit:UInt32}
"""

SLOWEST_MODELS = """
SELECT
    model,
    sum(d.events) AS events,
    sum(d.latency_ms_count) AS timed_events,
    round(quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(d.latency_ms)[1], 1) AS p50_ms,
    round(quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(d.latency_ms)[3], 1) AS p95_ms,
    round(quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(d.latency_ms)[4], 1) AS p99_ms,
    round(quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(d.ttft_ms)[3], 1) AS ttft_p95_ms
FROM dashboard_day AS d
WHERE day >= {since:Date}
  AND day <= {until:Date}
  AND service = if({service:String} = '', '__all', {service:String})
  AND model != '__all'
GROUP BY model
HAVING timed_events > 0
ORDER BY p95_ms DESC, model
LIMIT {limit:UInt32}
"""

CACHE_SAVINGS = """
SELECT
    toDate(timestamp) AS day,
    provider,
    model,
    count() AS cached_calls,
    sum(toUInt64(e.input_tokens)) AS input_tokens,
    sum(toUInt64(e.cache_read_tokens)) AS cache_read_tokens
FROM events AS e FINAL
WHERE e.cache_read_tokens > 0
  AND timestamp >= toDateTime64({since:Date}, 3, 'UTC')
  AND timestamp < toDateTime64({until:Date}, 3, 'UTC') + INTERVAL 1 DAY
  AND ({service:String} = '' OR service = {service:String})
GROUP BY day, provider, model
ORDER BY day, provider, model
"""
