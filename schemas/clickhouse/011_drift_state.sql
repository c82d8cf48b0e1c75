-- The drift monitors' state per stream (service, model, field): reference embeddings and
-- texts (PII-redacted), the pending window and counters, as npz bytes in base64. A worker
-- that takes over a stream (restart, rebalance) resumes from here instead of re-baselining.
CREATE TABLE IF NOT EXISTS drift_state
(
    service          LowCardinality(String),
    model            LowCardinality(String),
    field            LowCardinality(String),
    state_b64        String CODEC(ZSTD(3)),
    updated_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (service, model, field);
