-- Dashboard rollups (issue 13): the hour rollups pre-merged to what a panel shows, so that
-- a panel reads a few thousand small rows and merges no sketch at query time.
--
-- * One row per hour, service and model, plus the totals a panel without a service filter
--   needs: service = '__all' (every service) and model = '__all' (every model). A panel
--   filters `service = '${service}'` and reads exactly its series; nothing is summed over
--   environments or services when it is read.
-- * Latency quantiles are finalised when the row is computed (latency_p50/p95/p99_ms,
--   ttft_p95_ms): the same DDSketch merge as the hour rollups, so the same figures. The
--   merged states stay beside them for buckets wider than an hour.
-- * rollup_dashboard_day holds the same states per day, for ranges of days
--   (slowest_models merges 7 states per model for a week instead of 168).
--
-- Freshness and replays work as in 030/031: every minute, the hours (days) whose hour
-- rollup was recomputed in the last 10 minutes are recomputed from rollup_*_hour FINAL and
-- appended with a version. Background merges leave one version per row (only the current
-- hours carry a few), so the views at the end read them with a cheap FINAL: a panel reads a
-- few thousand pre-merged rows and merges no sketch.
--
-- The backfill at the end is dated in the past (version = 1970-01-01), so that a refresh
-- after the upgrade does not take the backfilled rows for fresh ones and re-derive every
-- hour for 10 minutes, and so that any refresh newer than the backfill wins.
CREATE TABLE IF NOT EXISTS rollup_dashboard_hour
(
    hour                DateTime('UTC'),
    service             LowCardinality(String) COMMENT 'or __all: every service',
    model               LowCardinality(String) COMMENT 'or __all: every model',
    events              UInt64,
    errors              UInt64,
    priced_events       UInt64,
    cost_usd            Decimal(38, 9),
    input_tokens        UInt64,
    output_tokens       UInt64,
    cache_read_tokens   UInt64,
    reasoning_tokens    UInt64,
    rag_events          UInt64,
    pii_events          UInt64,
    latency_ms_count    UInt64,
    latency_p50_ms      Float64,
    latency_p95_ms      Float64,
    latency_p99_ms      Float64,
    ttft_p95_ms         Float64,
    latency_ms          AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Nullable(Float32)),
    ttft_ms             AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Nullable(Float32)),
    version             DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (service, model, hour);

CREATE TABLE IF NOT EXISTS rollup_dashboard_day
(
    day                 Date,
    service             LowCardinality(String) COMMENT 'or __all: every service',
    model               LowCardinality(String) COMMENT 'or __all: every model',
    events              UInt64,
    latency_ms_count    UInt64,
    latency_ms          AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Nullable(Float32)),
    ttft_ms             AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Nullable(Float32)),
    version             DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (service, model, day);

CREATE TABLE IF NOT EXISTS rollup_dashboard_signals_hour
(
    hour         DateTime('UTC'),
    service      LowCardinality(String) COMMENT 'or __all: every service',
    detector     LowCardinality(String),
    scored       UInt64,
    fired        UInt64,
    score_sum    Float64,
    version      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (service, detector, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_dashboard_hour_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_dashboard_hour
AS SELECT
    r.hour AS hour,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    if(grouping(r.model) = 1, '__all', r.model) AS model,
    sum(r.events) AS events,
    sum(r.errors) AS errors,
    sum(r.priced_events) AS priced_events,
    sum(r.cost_usd) AS cost_usd,
    sum(r.input_tokens) AS input_tokens,
    sum(r.output_tokens) AS output_tokens,
    sum(r.cache_read_tokens) AS cache_read_tokens,
    sum(r.reasoning_tokens) AS reasoning_tokens,
    sum(r.rag_events) AS rag_events,
    sum(r.pii_events) AS pii_events,
    sum(r.latency_ms_count) AS latency_ms_count,
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[1] AS latency_p50_ms,
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[3] AS latency_p95_ms,
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[4] AS latency_p99_ms,
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.ttft_ms)[3] AS ttft_p95_ms,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms) AS latency_ms,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.ttft_ms) AS ttft_ms,
    now64(3) AS version
FROM rollup_events_hour AS r FINAL
WHERE hour >= (SELECT min(hour) FROM rollup_events_hour WHERE version >= now64(3) - INTERVAL 10 MINUTE)
  AND hour IN (
      SELECT DISTINCT hour FROM rollup_events_hour
      WHERE version >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY GROUPING SETS ((r.hour, r.service, r.model), (r.hour, r.model), (r.hour, r.service), (r.hour))
SETTINGS max_partitions_per_insert_block = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_dashboard_day_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_dashboard_day
AS SELECT
    toDate(r.hour) AS day,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    if(grouping(r.model) = 1, '__all', r.model) AS model,
    sum(r.events) AS events,
    sum(r.latency_ms_count) AS latency_ms_count,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms) AS latency_ms,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.ttft_ms) AS ttft_ms,
    now64(3) AS version
FROM rollup_events_hour AS r FINAL
WHERE r.hour >= (SELECT toStartOfDay(min(hour)) FROM rollup_events_hour WHERE version >= now64(3) - INTERVAL 10 MINUTE)
  AND toDate(r.hour) IN (
      SELECT DISTINCT toDate(hour) FROM rollup_events_hour
      WHERE version >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY GROUPING SETS ((day, r.service, r.model), (day, r.model), (day, r.service), (day))
SETTINGS max_partitions_per_insert_block = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_dashboard_signals_hour_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_dashboard_signals_hour
AS SELECT
    r.hour AS hour,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    r.detector AS detector,
    sum(r.scored) AS scored,
    sum(r.fired) AS fired,
    sum(r.score_sum) AS score_sum,
    now64(3) AS version
FROM rollup_signals_hour AS r FINAL
WHERE hour >= (SELECT min(hour) FROM rollup_signals_hour WHERE version >= now64(3) - INTERVAL 10 MINUTE)
  AND hour IN (
      SELECT DISTINCT hour FROM rollup_signals_hour
      WHERE version >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY GROUPING SETS ((r.hour, r.service, r.detector), (r.hour, r.detector))
SETTINGS max_partitions_per_insert_block = 0;

-- The views panels and named queries read. FINAL on these small, mostly merged tables
-- (30,282 rows for 30 days of 5 services x 6 models) is no slower than deduplicating with
-- argMax(column, version) ... GROUP BY: benchmarks/speed/reports/dashboard_queries.md times
-- both. Filters on the bucket, service or model reach the primary key through the view.
CREATE VIEW IF NOT EXISTS dashboard_hour AS
SELECT
    hour, service, model, events, errors, priced_events, cost_usd, input_tokens,
    output_tokens, cache_read_tokens, reasoning_tokens, rag_events, pii_events,
    latency_ms_count, latency_p50_ms, latency_p95_ms, latency_p99_ms, ttft_p95_ms,
    latency_ms, ttft_ms
FROM rollup_dashboard_hour FINAL;

CREATE VIEW IF NOT EXISTS dashboard_day AS
SELECT day, service, model, events, latency_ms_count, latency_ms, ttft_ms
FROM rollup_dashboard_day FINAL;

CREATE VIEW IF NOT EXISTS dashboard_signals_hour AS
SELECT hour, service, detector, scored, fired, score_sum
FROM rollup_dashboard_signals_hour FINAL;

-- Backfill from the hour rollups, dated in the past (see the top).
INSERT INTO rollup_dashboard_hour (hour, service, model, events, errors, priced_events,
    cost_usd, input_tokens, output_tokens, cache_read_tokens, reasoning_tokens, rag_events,
    pii_events, latency_ms_count, latency_p50_ms, latency_p95_ms, latency_p99_ms, ttft_p95_ms,
    latency_ms, ttft_ms, version)
SELECT
    r.hour AS hour,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    if(grouping(r.model) = 1, '__all', r.model) AS model,
    sum(r.events), sum(r.errors), sum(r.priced_events), sum(r.cost_usd), sum(r.input_tokens),
    sum(r.output_tokens), sum(r.cache_read_tokens), sum(r.reasoning_tokens),
    sum(r.rag_events), sum(r.pii_events), sum(r.latency_ms_count),
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[1],
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[3],
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[4],
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.ttft_ms)[3],
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms),
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.ttft_ms),
    toDateTime64(0, 3, 'UTC')
FROM rollup_events_hour AS r FINAL
GROUP BY GROUPING SETS ((r.hour, r.service, r.model), (r.hour, r.model), (r.hour, r.service), (r.hour))
SETTINGS max_partitions_per_insert_block = 0;

INSERT INTO rollup_dashboard_day (day, service, model, events, latency_ms_count, latency_ms,
    ttft_ms, version)
SELECT
    toDate(r.hour) AS day,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    if(grouping(r.model) = 1, '__all', r.model) AS model,
    sum(r.events), sum(r.latency_ms_count),
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms),
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.ttft_ms),
    toDateTime64(0, 3, 'UTC')
FROM rollup_events_hour AS r FINAL
GROUP BY GROUPING SETS ((day, r.service, r.model), (day, r.model), (day, r.service), (day))
SETTINGS max_partitions_per_insert_block = 0;

INSERT INTO rollup_dashboard_signals_hour (hour, service, detector, scored, fired, score_sum,
    version)
SELECT
    r.hour AS hour,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    r.detector AS detector,
    sum(r.scored), sum(r.fired), sum(r.score_sum),
    toDateTime64(0, 3, 'UTC')
FROM rollup_signals_hour AS r FINAL
GROUP BY GROUPING SETS ((r.hour, r.service, r.detector), (r.hour, r.detector))
SETTINGS max_partitions_per_insert_block = 0;
