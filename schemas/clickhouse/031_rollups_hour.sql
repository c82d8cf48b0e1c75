-- Per-hour rollups, built from the per-minute ones (030) the same way: every minute, the
-- hours that hold a minute bucket recomputed in the last 10 minutes are merged again from
-- rollup_*_minute FINAL and appended with a version. Reading the small minute rollup
-- instead of the events keeps each refresh cheap at any event rate; sums stay exact and
-- the DDSketch merge is lossless. An hour lags the events by up to about two minutes.
CREATE TABLE IF NOT EXISTS rollup_events_hour
(
    hour                DateTime('UTC'),
    service             LowCardinality(String),
    environment         LowCardinality(String),
    model               LowCardinality(String),
    events              UInt64,
    errors              UInt64,
    priced_events       UInt64,
    cost_usd            Decimal(38, 9),
    input_tokens        UInt64,
    output_tokens       UInt64,
    cache_read_tokens   UInt64,
    cache_write_tokens  UInt64,
    rag_events          UInt64,
    pii_events          UInt64,
    latency_ms_sum      Float64,
    latency_ms_count    UInt64,
    latency_ms          AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Nullable(Float32)),
    ttft_ms             AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Nullable(Float32)),
    version             DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, service, environment, model);

CREATE TABLE IF NOT EXISTS rollup_signals_hour
(
    hour         DateTime('UTC'),
    service      LowCardinality(String),
    environment  LowCardinality(String),
    model        LowCardinality(String),
    detector     LowCardinality(String),
    scored       UInt64,
    fired        UInt64,
    score_sum    Float64,
    score_max    Float64,
    version      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, service, environment, model, detector);

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
GROUP BY hour, service, environment, model;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_signals_hour_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_signals_hour
AS SELECT
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
GROUP BY hour, service, environment, model, detector;

-- Backfill from the minute rollups filled by 030.
INSERT INTO rollup_events_hour
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
GROUP BY hour, service, environment, model;

INSERT INTO rollup_signals_hour
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
GROUP BY hour, service, environment, model, detector;
