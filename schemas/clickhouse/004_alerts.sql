-- Alert state changes: one row per (episode, status). Replays collapse.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id          String,
    fingerprint       String,
    episode_id        String,
    rule              LowCardinality(String),
    status            LowCardinality(String),
    severity          LowCardinality(String),
    service           LowCardinality(String),
    model             LowCardinality(String),
    summary           String,
    value             Float64,
    threshold         Float64,
    window_start      DateTime64(3, 'UTC'),
    window_end        DateTime64(3, 'UTC'),
    labels            Map(LowCardinality(String), String),
    sample_event_ids  Array(String),
    evidence_sql      String,
    runbook_url       String,
    created_at        DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (rule, fingerprint, episode_id, status);

CREATE TABLE IF NOT EXISTS retraining_events
(
    retraining_id  String,
    service        LowCardinality(String),
    model          LowCardinality(String),
    reason         String,
    triggered_by   String,
    since          DateTime64(3, 'UTC'),
    window_start   DateTime64(3, 'UTC'),
    window_end     DateTime64(3, 'UTC'),
    statistics     Map(LowCardinality(String), Float64),
    selection_sql  String,
    created_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (model, retraining_id);
