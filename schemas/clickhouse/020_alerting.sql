-- Alerting state (detectors/rules.py, sinks/notify.py, `infersight alerts`).
--
-- alert_states: every state change of every series (rule x group labels), a full snapshot of
-- the series' state in each row, so a restarted monitor rebuilds from the latest row per
-- fingerprint (argMax by (at, step)). A re-evaluation that repeats a change collapses.
--   History of one series:
--   SELECT at, from_state, to_state, value, reason FROM alert_states FINAL
--   WHERE fingerprint = {fp:String} ORDER BY at, step
CREATE TABLE IF NOT EXISTS alert_states
(
    fingerprint    String,
    rule           LowCardinality(String),
    labels         Map(LowCardinality(String), String),
    from_state     LowCardinality(String) COMMENT 'ok, pending, firing, resolved, no_data',
    to_state       LowCardinality(String),
    episode_id     String,
    value          Float64,
    threshold      Float64,
    at             DateTime64(3, 'UTC') COMMENT 'evaluation time',
    step           UInt64 COMMENT 'order of changes within one evaluation',
    reason         String,
    alert_id       String COMMENT 'the alert this change emitted, empty when none',
    pending_since  Nullable(DateTime64(3, 'UTC')),
    firing_since   Nullable(DateTime64(3, 'UTC')),
    notified_at    Nullable(DateTime64(3, 'UTC')),
    notify_seq     UInt32,
    stored_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(stored_at)
PARTITION BY toYYYYMM(at)
ORDER BY (rule, fingerprint, at, episode_id, to_state, notify_seq);

-- silences: label matchers with a time range, set by `infersight alerts silence`. A silence
-- is changed by inserting a newer version of its row (unsilence sets ends_at to now).
--   Active now: SELECT * FROM silences FINAL WHERE starts_at <= now64() AND ends_at > now64()
CREATE TABLE IF NOT EXISTS silences
(
    silence_id  String,
    matchers    Array(Tuple(name String, op String, value String)) COMMENT 'op: =, !=, =~, !~',
    starts_at   DateTime64(3, 'UTC'),
    ends_at     DateTime64(3, 'UTC'),
    created_by  String,
    comment     String,
    updated_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY silence_id;

-- alert_notifications: what each channel was sent (or why not), per alert id. The notify hop
-- reads it to skip an alert a channel already has (a replayed message) and to send a resolve
-- only where the firing went.
CREATE TABLE IF NOT EXISTS alert_notifications
(
    channel      LowCardinality(String),
    alert_id     String,
    episode_id   String,
    fingerprint  String,
    rule         LowCardinality(String),
    status       LowCardinality(String),
    outcome      LowCardinality(String) COMMENT 'sent, failed, silenced, rate_limited, skipped',
    detail       String,
    at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(at)
PARTITION BY toYYYYMM(at)
ORDER BY (channel, episode_id, alert_id);
