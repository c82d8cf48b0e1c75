-- Messages refused at ingest. The original bytes stay in the llm.deadletter.v1 topic (they
-- may hold raw PII); here only what an analyst needs to count and find them.
CREATE TABLE IF NOT EXISTS deadletters
(
    topic            LowCardinality(String),
    partition        UInt32,
    offset           UInt64,
    reason           LowCardinality(String),
    message          String,
    event_id         String,
    original_size    UInt64,
    original_sha256  String,
    received_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, partition, offset);
