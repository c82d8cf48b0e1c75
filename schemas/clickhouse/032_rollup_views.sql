-- Plain views over the rollups: one row per bucket and series, states finalised, FINAL
-- applied, so analysts and dashboards never see -State columns or superseded versions.
-- Rates are fired / scored: the share of the events a detector looked at that it flagged.
-- To aggregate over several buckets (a day, a week) merge the states instead of averaging
-- the per-bucket quantiles: quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_ms)
-- over rollup_events_hour FINAL (see docs/analysts.md). The first parameter, 0.01, is the
-- sketch's relative accuracy; the array holds the p50, p90, p95 and p99, in that order.
CREATE VIEW IF NOT EXISTS events_per_minute AS
SELECT
    minute, service, environment, model, events, errors,
    errors / events AS error_rate,
    priced_events, cost_usd, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens, rag_events, pii_events,
    if(latency_ms_count > 0, latency_ms_sum / latency_ms_count, nan) AS latency_avg_ms,
    finalizeAggregation(latency_ms) AS latency_q,
    latency_q[1] AS latency_p50_ms, latency_q[2] AS latency_p90_ms,
    latency_q[3] AS latency_p95_ms, latency_q[4] AS latency_p99_ms,
    finalizeAggregation(ttft_ms)[1] AS ttft_p50_ms,
    finalizeAggregation(ttft_ms)[3] AS ttft_p95_ms
FROM rollup_events_minute AS r FINAL;

CREATE VIEW IF NOT EXISTS events_per_hour AS
SELECT
    hour, service, environment, model, events, errors,
    errors / events AS error_rate,
    priced_events, cost_usd, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens, rag_events, pii_events,
    if(latency_ms_count > 0, latency_ms_sum / latency_ms_count, nan) AS latency_avg_ms,
    finalizeAggregation(latency_ms) AS latency_q,
    latency_q[1] AS latency_p50_ms, latency_q[2] AS latency_p90_ms,
    latency_q[3] AS latency_p95_ms, latency_q[4] AS latency_p99_ms,
    finalizeAggregation(ttft_ms)[1] AS ttft_p50_ms,
    finalizeAggregation(ttft_ms)[3] AS ttft_p95_ms
FROM rollup_events_hour AS r FINAL;

CREATE VIEW IF NOT EXISTS detectors_per_minute AS
SELECT
    minute, service, environment, model, detector, scored, fired,
    fired / scored AS fire_rate,
    score_sum / scored AS score_avg,
    score_max
FROM rollup_signals_minute FINAL;

CREATE VIEW IF NOT EXISTS detectors_per_hour AS
SELECT
    hour, service, environment, model, detector, scored, fired,
    fired / scored AS fire_rate,
    score_sum / scored AS score_avg,
    score_max
FROM rollup_signals_hour FINAL;

-- One row per hour and series with the four quality rates side by side (NaN where the
-- detector did not run).
CREATE VIEW IF NOT EXISTS quality_per_hour AS
SELECT
    hour, service, environment, model,
    sumIf(scored, detector = 'toxicity') AS toxicity_scored,
    sumIf(fired, detector = 'toxicity') / toxicity_scored AS toxicity_rate,
    sumIf(scored, detector = 'pii') AS pii_scored,
    sumIf(fired, detector = 'pii') AS pii_leaks,
    pii_leaks / pii_scored AS pii_leak_rate,
    sumIf(scored, detector = 'hallucination') AS hallucination_scored,
    sumIf(fired, detector = 'hallucination') / hallucination_scored AS hallucination_rate,
    sumIf(scored, detector = 'injection') AS injection_scored,
    sumIf(fired, detector = 'injection') / injection_scored AS injection_rate
FROM rollup_signals_hour FINAL
GROUP BY hour, service, environment, model;

CREATE VIEW IF NOT EXISTS quality_per_minute AS
SELECT
    minute, service, environment, model,
    sumIf(scored, detector = 'toxicity') AS toxicity_scored,
    sumIf(fired, detector = 'toxicity') / toxicity_scored AS toxicity_rate,
    sumIf(scored, detector = 'pii') AS pii_scored,
    sumIf(fired, detector = 'pii') AS pii_leaks,
    pii_leaks / pii_scored AS pii_leak_rate,
    sumIf(scored, detector = 'hallucination') AS hallucination_scored,
    sumIf(fired, detector = 'hallucination') / hallucination_scored AS hallucination_rate,
    sumIf(scored, detector = 'injection') AS injection_scored,
    sumIf(fired, detector = 'injection') / injection_scored AS injection_rate
FROM rollup_signals_minute FINAL
GROUP BY minute, service, environment, model;
