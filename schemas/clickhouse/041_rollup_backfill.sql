-- Rollup refreshes after a backfill (issue 12): a refresh re-aggregates every bucket that
-- received events in the last 10 minutes, and a backfill spanning more than 100 months made
-- that one INSERT block touch more than 100 partitions, so ClickHouse refused it
-- (Code 252) at every refresh and the backfilled events never reached the rollups. The same
-- queries as 030/031, with the per-insert partition limit lifted for the refresh only (the
-- stream's own inserts are grouped by month in sinks/clickhouse.py).

ALTER TABLE rollup_events_minute_mv MODIFY QUERY
SELECT
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

ALTER TABLE rollup_signals_minute_mv MODIFY QUERY
SELECT
    toStartOfMinute(timestamp) AS minute,
    service,
    environment,
    model,
    detector,
    count() AS scored,
    sum(toUInt64(s.fired)) AS fired,
    sum(score) AS score_sum,
    max(score) AS score_max,
    now64(3) AS version
FROM signals AS s FINAL
WHERE timestamp >= (SELECT min(timestamp) FROM signals WHERE ingested_at >= now64(3) - INTERVAL 10 MINUTE)
  AND (service, model, detector, toStartOfMinute(timestamp)) IN (
      SELECT DISTINCT service, model, detector, toStartOfMinute(timestamp)
      FROM signals
      WHERE ingested_at >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY minute, service, environment, model, detector
SETTINGS max_partitions_per_insert_block = 0;

ALTER TABLE rollup_events_hour_mv MODIFY QUERY
SELECT
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

ALTER TABLE rollup_signals_hour_mv MODIFY QUERY
SELECT
    toStartOfHour(minute) AS hour,
    service,
    environment,
    model,
    detector,
    sum(m.scored) AS scored,
    sum(m.fired) AS fired,
    sum(m.score_sum) AS score_sum,
    max(m.score_max) AS score_max,
    now64(3) AS version
FROM rollup_signals_minute AS m FINAL
WHERE minute >= (SELECT min(toStartOfHour(minute)) FROM rollup_signals_minute WHERE version >= now64(3) - INTERVAL 10 MINUTE)
  AND toStartOfHour(minute) IN (
      SELECT DISTINCT toStartOfHour(minute) FROM rollup_signals_minute
      WHERE version >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY hour, service, environment, model, detector
SETTINGS max_partitions_per_insert_block = 0;
