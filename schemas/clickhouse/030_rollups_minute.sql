-- Per-minute rollups of events and signals, exact under redelivery.
--
-- Why not ordinary (insert-triggered) materialized views: they see every inserted block,
-- redelivered duplicates included, and a sum or count state cannot tell a replay from a new
-- event, so replays would inflate costs and counts. Instead each rollup is a refreshable
-- materialized view that recomputes, once a minute, every bucket that received a row in the
-- last 10 minutes (by ingested_at, so late and replayed events are caught whatever their
-- timestamp) from the deduplicated table (FINAL), and appends the result with a version.
-- The target is a ReplacingMergeTree on the bucket key: the newest computation of a bucket
-- replaces older ones, so a bucket recomputed after a replay holds the same numbers as
-- before. Read the rollups through the views in 032 (or with FINAL).
--
-- Freshness: a row is in the minute rollup within about a minute of being written.
-- Sums are exact (cost as Decimal(38, 9)); latency quantiles are DDSketch states (1 %
-- relative accuracy) whose merges are lossless, so any bucket range merges to the same
-- sketch as the raw rows would give.
CREATE TABLE IF NOT EXISTS rollup_events_minute
(
    minute              DateTime('UTC'),
    service             LowCardinality(String),
    environment         LowCardinality(String),
    model               LowCardinality(String),
    events              UInt64,
    errors              UInt64,
    priced_events       UInt64 COMMENT 'events with a known price (cost_usd not NULL)',
    cost_usd            Decimal(38, 9),
    input_tokens        UInt64,
    output_tokens       UInt64,
    cache_read_tokens   UInt64,
    cache_write_tokens  UInt64,
    rag_events          UInt64 COMMENT 'events with retrieved context',
    pii_events          UInt64 COMMENT 'events with PII anywhere (found, then redacted)',
    latency_ms_sum      Float64,
    latency_ms_count    UInt64,
    latency_ms          AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Nullable(Float32)),
    ttft_ms             AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Nullable(Float32)),
    version             DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, service, environment, model);

CREATE TABLE IF NOT EXISTS rollup_signals_minute
(
    minute       DateTime('UTC'),
    service      LowCardinality(String),
    environment  LowCardinality(String),
    model        LowCardinality(String),
    detector     LowCardinality(String),
    scored       UInt64 COMMENT 'events the detector scored',
    fired        UInt64 COMMENT 'of which over its threshold (pii: a leak)',
    score_sum    Float64,
    score_max    Float64,
    version      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, service, environment, model, detector);

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
GROUP BY minute, service, environment, model;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_signals_minute_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_signals_minute
AS SELECT
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
GROUP BY minute, service, environment, model, detector;

-- Backfill: events written before this migration (a refresh only looks 10 minutes back).
INSERT INTO rollup_events_minute
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
GROUP BY minute, service, environment, model;

INSERT INTO rollup_signals_minute
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
GROUP BY minute, service, environment, model, detector;
