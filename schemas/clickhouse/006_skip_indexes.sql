-- Skip indexes for the lookups the sorting keys do not serve: one event by id (alert
-- evidence, support tickets), everything one user or session did, and "what was written
-- recently" (ingested_at, used by the rollup refreshes in 030/031). Bloom filters answer
-- equality and IN; minmax prunes by range. MATERIALIZE builds them for existing parts in
-- the background (a mutation); new parts get them at insert.
ALTER TABLE events ADD INDEX IF NOT EXISTS idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4;

ALTER TABLE events ADD INDEX IF NOT EXISTS idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 4;

ALTER TABLE events ADD INDEX IF NOT EXISTS idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 4;

ALTER TABLE events ADD INDEX IF NOT EXISTS idx_ingested_at ingested_at TYPE minmax GRANULARITY 1;

ALTER TABLE signals ADD INDEX IF NOT EXISTS idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4;

ALTER TABLE signals ADD INDEX IF NOT EXISTS idx_ingested_at ingested_at TYPE minmax GRANULARITY 1;

ALTER TABLE events MATERIALIZE INDEX idx_event_id;

ALTER TABLE events MATERIALIZE INDEX idx_user_id;

ALTER TABLE events MATERIALIZE INDEX idx_session_id;

ALTER TABLE events MATERIALIZE INDEX idx_ingested_at;

ALTER TABLE signals MATERIALIZE INDEX idx_event_id;

ALTER TABLE signals MATERIALIZE INDEX idx_ingested_at;
