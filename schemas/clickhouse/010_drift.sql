-- Embedding drift results: one row per tested window of one stream (service, model, field)
-- and test, written by the monitor agent from detectors.drift.DriftResult.to_row().
-- A window re-tested after a worker restart (same stream, test, window_index, window_end)
-- collapses to one row; query drift_results_v (FINAL) for exact figures.
--
-- Chart the p-value against alpha, or the statistic, per stream over time:
--   SELECT window_end, p_value, alpha FROM drift_results_v
--   WHERE service = {service:String} AND model = {model:String} AND field = 'prompt'
--   ORDER BY window_end
CREATE TABLE IF NOT EXISTS drift_results
(
    service           LowCardinality(String),
    model             LowCardinality(String),
    field             LowCardinality(String) COMMENT 'prompt or response',
    test              LowCardinality(String) COMMENT 'mmd, lsdd, ks, classifier, alibi_*',
    window_index      UInt32 COMMENT 'windows tested on this stream since its reference',
    window_start      DateTime64(3, 'UTC'),
    window_end        DateTime64(3, 'UTC'),
    n_ref             UInt32,
    n_cur             UInt32,
    statistic         Float64,
    p_value           Float64,
    alpha             Float64 COMMENT 'per-window significance after multiple-testing correction',
    significant       UInt8 COMMENT 'p_value < alpha in this window',
    drift             UInt8 COMMENT 'alert decision: streak >= consecutive windows required',
    streak            UInt16 COMMENT 'consecutive significant windows up to this one',
    reason            String COMMENT 'the sentence for on-call; example texts are PII-redacted',
    detail            String CODEC(ZSTD(3)) COMMENT 'JSON: test details, cluster shares, moved examples',
    sample_event_ids  Array(String) COMMENT 'current-window events least like the reference',
    computed_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_end)
ORDER BY (service, model, field, test, window_end, window_index);

CREATE VIEW IF NOT EXISTS drift_results_v AS SELECT * FROM drift_results FINAL;
