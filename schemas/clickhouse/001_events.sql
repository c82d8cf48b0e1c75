-- Every accepted inference event, text redacted before it gets here (see detectors/pii.py).
-- ReplacingMergeTree on the full sorting key: a redelivered event (same event_id, same
-- service/model/timestamp) collapses into one row. Queries that must count each event once
-- read `events_v` (FINAL) or group by event_id; see docs/analysts.md.
CREATE TABLE IF NOT EXISTS events
(
    event_id                String,
    timestamp               DateTime64(3, 'UTC'),
    service                 LowCardinality(String),
    environment             LowCardinality(String),
    operation               LowCardinality(String),
    provider                LowCardinality(String),
    request_model           LowCardinality(String),
    model                   LowCardinality(String) COMMENT 'response_model, else request_model',
    prompt                  String CODEC(ZSTD(3)) COMMENT 'redacted; chat messages as role: content lines',
    prompt_messages         String CODEC(ZSTD(3)) COMMENT 'redacted chat messages as JSON, empty for text prompts',
    response                String CODEC(ZSTD(3)) COMMENT 'redacted',
    context                 Array(String) CODEC(ZSTD(3)) COMMENT 'redacted retrieved documents',
    input_tokens            UInt32 COMMENT 'all input tokens, cached included',
    output_tokens           UInt32,
    cache_read_tokens       UInt32,
    cache_write_tokens      UInt32,
    cost_usd                Nullable(Decimal(18, 9)) COMMENT 'NULL when the model has no known price',
    latency_ms              Nullable(Float32),
    ttft_ms                 Nullable(Float32),
    status                  LowCardinality(String),
    error_type              LowCardinality(String),
    finish_reasons          Array(LowCardinality(String)),
    user_id                 String,
    session_id              String,
    prompt_template_id      LowCardinality(String),
    prompt_template_version LowCardinality(String),
    experiment              LowCardinality(String),
    variant                 LowCardinality(String),
    segments                Array(LowCardinality(String)),
    metadata                Map(LowCardinality(String), String) COMMENT 'redacted values',
    pii_types               Array(LowCardinality(String)) COMMENT 'PII types found anywhere in the event',
    ingested_at             DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (service, model, timestamp, event_id);

CREATE VIEW IF NOT EXISTS events_v AS SELECT * FROM events FINAL;
