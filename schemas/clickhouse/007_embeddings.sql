-- Optional store of the embeddings the detectors computed (for drift analysis and
-- nearest-neighbour look-ups). One row per (event, field, embedding model); a redelivered
-- event collapses like in events. Whole rows expire after 30 days: vectors are large and
-- derived, and the text they came from expires after 90 (005_retention.sql). Change it with
--   ALTER TABLE embeddings MODIFY TTL toDateTime(timestamp) + INTERVAL 60 DAY
CREATE TABLE IF NOT EXISTS embeddings
(
    event_id         String,
    timestamp        DateTime64(3, 'UTC'),
    service          LowCardinality(String),
    environment      LowCardinality(String),
    model            LowCardinality(String) COMMENT 'the LLM that answered, as in events',
    field            LowCardinality(String) COMMENT 'prompt or response',
    embedding_model  LowCardinality(String) COMMENT 'e.g. all-MiniLM-L6-v2',
    vector           Array(Float32) CODEC(ZSTD(1)),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (service, model, field, embedding_model, timestamp, event_id)
TTL toDateTime(timestamp) + INTERVAL 30 DAY;
