-- Reasoning tokens (gen_ai.usage.reasoning.output_tokens): a subset of output_tokens, so
-- every sum of output_tokens already includes them; the column says how much of it was
-- hidden reasoning. Events stored before this migration had no such count: the default 0
-- is what they reported, so the rollups need no backfill.
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS reasoning_tokens UInt32 DEFAULT 0
    COMMENT 'of output_tokens, the hidden reasoning (a subset, never added on top)'
    AFTER cache_write_tokens;

ALTER TABLE rollup_events_minute
    ADD COLUMN IF NOT EXISTS reasoning_tokens UInt64 DEFAULT 0 AFTER cache_write_tokens;

ALTER TABLE rollup_events_hour
    ADD COLUMN IF NOT EXISTS reasoning_tokens UInt64 DEFAULT 0 AFTER cache_write_tokens;

-- events_v is SELECT * over the table: recreated so that it names the new column.
CREATE OR REPLACE VIEW events_v AS SELECT * FROM events FINAL;

-- The refreshable views carry their SELECT: replaced by the same query plus the new sum,
-- keeping 041's lifted partition limit (a backfill's refresh touches many months).
DROP VIEW IF EXISTS rollup_events_minute_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_events_minute_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_events_minute
AS SELECT
    toStartOfMinute(timestamp) AS minute,
    service,
    environment,
    model,
    count() AS events,
    countIf(status != 'ok') AS errors,
    count(e.cost_usd) AS priced_events,
    sum(ifNull(e.cost_usd, toDecimal64(0, 9))) AS cost_usd,
    sum(toUInt64(e.input_tokens)) AS input_tokens,
    sum(toUInt64(e.output_tokens)) AS output_tokens,
    sum(toUInt64(e.cache_read_tokens)) AS cache_read_tokens,
    sum(toUInt64(e.cache_write_tokens)) AS cache_write_tokens,
    sum(toUInt64(e.reasoning_tokens)) AS reasoning_tokens,
    countIf(context_count > 0) AS rag_events,
    countIf(notEmpty(pii_types)) AS pii_events,
    sum(ifNull(toFloat64(e.latency_ms), 0)) AS latency_ms_sum,
    count(e.latency_ms) AS latency_ms_count,
    quantilesDDState(0.01, 0.5, 0.9, 0.95, 0.99)(e.latency_ms) AS latency_ms,
    quantilesDDState(0.01, 0.5, 0.9, 0.95, 0.99)(e.ttft_ms) AS ttft_ms,
    now64(3) AS version
FROM events AS e FINAL
WHERE timestamp >= (SELECT min(timestamp) FROM events WHERE ingested_at >= now64(3) - INTERVAL 10 MINUTE)
  AND (service, model, toStartOfMinute(timestamp)) IN (
      SELECT DISTINCT service, model, toStartOfMinute(timestamp)
      FROM events
      WHERE ingested_at >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY minute, service, environment, model
SETTINGS max_partitions_per_insert_block = 0;

DROP VIEW IF EXISTS rollup_events_hour_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_events_hour_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_events_hour
AS SELECT
    toStartOfHour(minute) AS hour,
    service,
    environment,
    model,
    sum(m.events) AS events,
    sum(m.errors) AS errors,
    sum(m.priced_events) AS priced_events,
    sum(m.cost_usd) AS cost_usd,
    sum(m.input_tokens) AS input_tokens,
    sum(m.output_tokens) AS output_tokens,
    sum(m.cache_read_tokens) AS cache_read_tokens,
    sum(m.cache_write_tokens) AS cache_write_tokens,
    sum(m.reasoning_tokens) AS reasoning_tokens,
    sum(m.rag_events) AS rag_events,
    sum(m.pii_events) AS pii_events,
    sum(m.latency_ms_sum) AS latency_ms_sum,
    sum(m.latency_ms_count) AS latency_ms_count,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(m.latency_ms) AS latency_ms,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(m.ttft_ms) AS ttft_ms,
    now64(3) AS version
FROM rollup_events_minute AS m FINAL
WHERE minute >= (SELECT min(toStartOfHour(minute)) FROM rollup_events_minute WHERE version >= now64(3) - INTERVAL 10 MINUTE)
  AND toStartOfHour(minute) IN (
      SELECT DISTINCT toStartOfHour(minute) FROM rollup_events_minute
      WHERE version >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY hour, service, environment, model
SETTINGS max_partitions_per_insert_block = 0;

CREATE OR REPLACE VIEW events_per_minute AS
SELECT
    minute, service, environment, model, events, errors,
    errors / events AS error_rate,
    priced_events, cost_usd, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens, reasoning_tokens, rag_events, pii_events,
    if(latency_ms_count > 0, latency_ms_sum / latency_ms_count, nan) AS latency_avg_ms,
    finalizeAggregation(latency_ms) AS latency_q,
    latency_q[1] AS latency_p50_ms, latency_q[2] AS latency_p90_ms,
    latency_q[3] AS latency_p95_ms, latency_q[4] AS latency_p99_ms,
    finalizeAggregation(ttft_ms)[1] AS ttft_p50_ms,
    finalizeAggregation(ttft_ms)[3] AS ttft_p95_ms
FROM rollup_events_minute AS r FINAL;

CREATE OR REPLACE VIEW events_per_hour AS
SELECT
    hour, service, environment, model, events, errors,
    errors / events AS error_rate,
    priced_events, cost_usd, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens, reasoning_tokens, rag_events, pii_events,
    if(latency_ms_count > 0, latency_ms_sum / latency_ms_count, nan) AS latency_avg_ms,
    finalizeAggregation(latency_ms) AS latency_q,
    latency_q[1] AS latency_p50_ms, latency_q[2] AS latency_p90_ms,
    latency_q[3] AS latency_p95_ms, latency_q[4] AS latency_p99_ms,
    finalizeAggregation(ttft_ms)[1] AS ttft_p50_ms,
    finalizeAggregation(ttft_ms)[3] AS ttft_p95_ms
FROM rollup_events_hour AS r FINAL;
