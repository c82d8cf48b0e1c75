-- Latency sketches at three grains for the p95 panel in buckets wider than an hour (issue 13).
--
-- A bucket wider than an hour merges DDSketch states. Before this migration it merged one
-- state per hour from dashboard_hour, and much of the time went into reading states: a read
-- takes whole granules, and a granule of rollup_dashboard_hour holds thousands of states of
-- every service and model (30 days on 10 M events: 4,320 states merged, 9,666 rows read).
--
-- * One row per grain, period, service and model, plus the totals service = '__all' and
--   model = '__all' (as in 060): grain_s = 3600 (hours), 21600 (six hours, aligned to
--   midnight UTC) and 86400 (UTC days). A panel reads whole periods of the coarsest grain
--   that tiles its bucket, and hours only for the periods cut by the ends of its range.
-- * Sorted by (grain_s, service, model, period) with small granules (64 rows), so that a
--   panel reads the states it merges and few others.
-- * The states are merges of the hour rollup's states; DDSketch merges add bucket counts,
--   so every grain gives the figures a merge of its hours gives. The p95 of each row is
--   finalised when it is computed (latency_p95_ms, as in 060): a bucket that is one whole
--   period reads it and merges nothing.
--
-- Freshness and replays as in 060: every minute, each grain's periods holding an hour
-- recomputed in the last 10 minutes are recomputed from rollup_events_hour FINAL and
-- appended with a version; the backfill at the end is dated 1970-01-01 so that any refresh
-- wins over it.
CREATE TABLE IF NOT EXISTS rollup_dashboard_latency
(
    grain_s             UInt32 COMMENT 'seconds per period: 3600, 21600 or 86400',
    period              DateTime('UTC') COMMENT 'start of the period',
    service             LowCardinality(String) COMMENT 'or __all: every service',
    model               LowCardinality(String) COMMENT 'or __all: every model',
    events              UInt64,
    latency_ms_count    UInt64,
    latency_p95_ms      Float64 COMMENT 'the p95 of latency_ms, finalised when the row is computed',
    latency_ms          AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Nullable(Float32)),
    version             DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period)
ORDER BY (grain_s, service, model, period)
SETTINGS index_granularity = 64;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_dashboard_latency_hour_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_dashboard_latency
AS SELECT
    toUInt32(3600) AS grain_s,
    r.hour AS period,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    if(grouping(r.model) = 1, '__all', r.model) AS model,
    sum(r.events) AS events,
    sum(r.latency_ms_count) AS latency_ms_count,
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[3] AS latency_p95_ms,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms) AS latency_ms,
    now64(3) AS version
FROM rollup_events_hour AS r FINAL
WHERE r.hour >= (SELECT min(hour) FROM rollup_events_hour WHERE version >= now64(3) - INTERVAL 10 MINUTE)
  AND r.hour IN (
      SELECT DISTINCT hour FROM rollup_events_hour
      WHERE version >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY GROUPING SETS ((period, r.service, r.model), (period, r.model), (period, r.service), (period))
SETTINGS max_partitions_per_insert_block = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_dashboard_latency_6h_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_dashboard_latency
AS SELECT
    toUInt32(21600) AS grain_s,
    toStartOfInterval(r.hour, INTERVAL 21600 SECOND) AS period,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    if(grouping(r.model) = 1, '__all', r.model) AS model,
    sum(r.events) AS events,
    sum(r.latency_ms_count) AS latency_ms_count,
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[3] AS latency_p95_ms,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms) AS latency_ms,
    now64(3) AS version
FROM rollup_events_hour AS r FINAL
WHERE r.hour >= (SELECT toStartOfInterval(min(hour), INTERVAL 21600 SECOND) FROM rollup_events_hour WHERE version >= now64(3) - INTERVAL 10 MINUTE)
  AND toStartOfInterval(r.hour, INTERVAL 21600 SECOND) IN (
      SELECT DISTINCT toStartOfInterval(hour, INTERVAL 21600 SECOND) FROM rollup_events_hour
      WHERE version >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY GROUPING SETS ((period, r.service, r.model), (period, r.model), (period, r.service), (period))
SETTINGS max_partitions_per_insert_block = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_dashboard_latency_day_mv
REFRESH EVERY 1 MINUTE APPEND TO rollup_dashboard_latency
AS SELECT
    toUInt32(86400) AS grain_s,
    toStartOfInterval(r.hour, INTERVAL 86400 SECOND) AS period,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    if(grouping(r.model) = 1, '__all', r.model) AS model,
    sum(r.events) AS events,
    sum(r.latency_ms_count) AS latency_ms_count,
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[3] AS latency_p95_ms,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms) AS latency_ms,
    now64(3) AS version
FROM rollup_events_hour AS r FINAL
WHERE r.hour >= (SELECT toStartOfInterval(min(hour), INTERVAL 86400 SECOND) FROM rollup_events_hour WHERE version >= now64(3) - INTERVAL 10 MINUTE)
  AND toStartOfInterval(r.hour, INTERVAL 86400 SECOND) IN (
      SELECT DISTINCT toStartOfInterval(hour, INTERVAL 86400 SECOND) FROM rollup_events_hour
      WHERE version >= now64(3) - INTERVAL 10 MINUTE)
GROUP BY GROUPING SETS ((period, r.service, r.model), (period, r.model), (period, r.service), (period))
SETTINGS max_partitions_per_insert_block = 0;

-- The view the p95 panel reads (FINAL, as the views of 060).
CREATE VIEW IF NOT EXISTS dashboard_latency AS
SELECT grain_s, period, service, model, events, latency_ms_count, latency_p95_ms, latency_ms
FROM rollup_dashboard_latency FINAL;

-- Backfill from the hour rollup, every grain, dated in the past (see the top).
INSERT INTO rollup_dashboard_latency (grain_s, period, service, model, events,
    latency_ms_count, latency_p95_ms, latency_ms, version)
SELECT
    g AS grain_s,
    toDateTime(intDiv(toUInt32(r.hour), g) * g, 'UTC') AS period,
    if(grouping(r.service) = 1, '__all', r.service) AS service,
    if(grouping(r.model) = 1, '__all', r.model) AS model,
    sum(r.events), sum(r.latency_ms_count),
    quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms)[3],
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(r.latency_ms),
    toDateTime64(0, 3, 'UTC')
FROM rollup_events_hour AS r FINAL
ARRAY JOIN [toUInt32(3600), toUInt32(21600), toUInt32(86400)] AS g
GROUP BY GROUPING SETS ((g, period, r.service, r.model), (g, period, r.model),
    (g, period, r.service), (g, period))
SETTINGS max_partitions_per_insert_block = 0;
