-- Retention of raw text. After 90 days the bodies (prompt, chat messages, response,
-- retrieved context) are emptied by ClickHouse at merge time; every other column (ids,
-- tokens, cost, latency, PII types, metadata) is kept, and so are the signals.
--
-- context_count is captured first, at insert, so that "was this a RAG call?" survives
-- the context TTL (a MATERIALIZED column is stored once and not recomputed).
--
-- Changing the period: run, for each body column, e.g. for 30 days
--   ALTER TABLE events MODIFY COLUMN prompt TTL toDateTime(timestamp) + INTERVAL 30 DAY
-- (or ship it as a new numbered migration). Removing it: ALTER TABLE events MODIFY COLUMN
-- prompt REMOVE TTL. No later migration resets a period set this way. See docs/analysts.md.
ALTER TABLE events ADD COLUMN IF NOT EXISTS context_count UInt16 MATERIALIZED length(context) COMMENT 'retrieved documents; kept after the context TTL';

ALTER TABLE events MODIFY COLUMN prompt TTL toDateTime(timestamp) + INTERVAL 90 DAY;

ALTER TABLE events MODIFY COLUMN prompt_messages TTL toDateTime(timestamp) + INTERVAL 90 DAY;

ALTER TABLE events MODIFY COLUMN response TTL toDateTime(timestamp) + INTERVAL 90 DAY;

ALTER TABLE events MODIFY COLUMN context TTL toDateTime(timestamp) + INTERVAL 90 DAY;
