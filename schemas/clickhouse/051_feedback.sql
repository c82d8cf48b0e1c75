-- User feedback from llm.feedback.v1 (thumbs, score, label, comment), one judgement per
-- (event_id, user_id): the latest by its timestamp wins, and a redelivered message collapses
-- into its first copy. Feedback may arrive before its event: nothing here needs the event to
-- exist; queries join at read time. The comment is redacted like every stored text, and
-- user_id is stored as events store it.
CREATE TABLE IF NOT EXISTS feedback
(
    event_id     String,
    user_id      String COMMENT 'empty for an anonymous judgement',
    timestamp    DateTime64(3, 'UTC') COMMENT 'when the user judged',
    thumbs       LowCardinality(String) COMMENT 'up, down or empty',
    score        Nullable(Float64),
    label        LowCardinality(String),
    comment      String CODEC(ZSTD(3)) COMMENT 'redacted',
    negative     UInt8 COMMENT 'thumbs down, a negative label, or a score below 0 alone',
    pii_types    Array(LowCardinality(String)) COMMENT 'PII found in the comment, then redacted',
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(timestamp)
ORDER BY (event_id, user_id);

CREATE VIEW IF NOT EXISTS feedback_v AS SELECT * FROM feedback FINAL;

-- Feedback with the dimensions of the call it judges (feedback whose event has not arrived
-- yet is left out until it does). The alert rules' feedback metrics read this view by the
-- feedback's own time.
CREATE VIEW IF NOT EXISTS feedback_events AS
SELECT
    f.event_id AS event_id, f.user_id AS user_id, f.timestamp AS timestamp, f.thumbs AS thumbs,
    f.score AS score, f.label AS label, f.negative AS negative,
    e.timestamp AS event_timestamp, e.service AS service, e.environment AS environment,
    e.model AS model, e.provider AS provider, e.operation AS operation,
    e.prompt_template_id AS prompt_template_id,
    e.prompt_template_version AS prompt_template_version,
    e.experiment AS experiment, e.variant AS variant
FROM feedback AS f FINAL
INNER JOIN (
    SELECT * FROM events FINAL WHERE event_id IN (SELECT event_id FROM feedback)
) AS e ON e.event_id = f.event_id;
