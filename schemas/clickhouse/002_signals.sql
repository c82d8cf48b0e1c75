-- One row per (event, detector). Same replay-collapsing rule as events.
CREATE TABLE IF NOT EXISTS signals
(
    event_id     String,
    timestamp    DateTime64(3, 'UTC'),
    service      LowCardinality(String),
    environment  LowCardinality(String),
    model        LowCardinality(String),
    detector     LowCardinality(String),
    score        Float64,
    fired        UInt8,
    reason       String,
    detail       String CODEC(ZSTD(3)) COMMENT 'JSON evidence, never raw PII',
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (service, model, detector, timestamp, event_id);

CREATE VIEW IF NOT EXISTS signals_v AS SELECT * FROM signals FINAL;
