-- alert_outbox: every alert state change to deliver, one row per (channel, alert), written in
-- the same step that stores the alert (sinks/outbox.py). Delivery reads the due pending rows,
-- sends them (channels concurrently), and writes the row again with its new state: sent, or
-- pending with attempts + 1 and a later next_attempt_at, or expired after the configured
-- expiry (which raises its own alert on the other channels), or silenced / skipped. A restart
-- resumes from here, so a page survives a kill between storing an alert and sending it.
--   What is still owed:
--   SELECT channel, rule, status, attempts, next_attempt_at FROM alert_outbox FINAL
--   WHERE state = 'pending' ORDER BY created_at
CREATE TABLE IF NOT EXISTS alert_outbox
(
    channel          LowCardinality(String),
    alert_id         String,
    episode_id       String,
    rule             LowCardinality(String),
    status           LowCardinality(String) COMMENT 'firing, resolved',
    alert            String CODEC(ZSTD(3)) COMMENT 'the Alert as JSON',
    state            LowCardinality(String) COMMENT 'pending, sent, expired, silenced, skipped',
    attempts         UInt32,
    last_error       String,
    created_at       DateTime64(3, 'UTC'),
    next_attempt_at  DateTime64(3, 'UTC'),
    updated_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (channel, alert_id);
