-- One row per refused item, not per message. An OTLP export holds many spans, and each span
-- that cannot be stored is dead-lettered on its own, by its event id (streams/otel.py): keyed
-- by (topic, partition, offset) alone, every refusal of one message collapsed into one row,
-- and the deadletters table showed one bad span where there were several.
--
-- ClickHouse can only extend a sorting key with a column added in the same statement, and
-- not with one computed from another column: the sink writes the event id into item_id
-- (sinks/rows.py). Rows written before this migration keep an empty item_id.
ALTER TABLE deadletters
    ADD COLUMN IF NOT EXISTS item_id String
        COMMENT 'event_id of the item refused (a span of an OTLP export); empty for a whole message',
    MODIFY ORDER BY (topic, partition, offset, item_id);
