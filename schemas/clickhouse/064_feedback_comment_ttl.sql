-- Feedback comments are free text like the events' bodies, and expire as they do (005): 90
-- days after the judgement, ClickHouse empties them at merge time. Redaction finds what its
-- patterns know (emails, phones, cards, ...), not a name or an address written in prose, so
-- without a TTL such a comment was kept forever while the response it judged was not.
-- Every other column (thumbs, score, label, negative, pii_types) is kept.
--
-- Changing the period, as for events:
--   ALTER TABLE feedback MODIFY COLUMN comment TTL toDateTime(timestamp) + INTERVAL 30 DAY
ALTER TABLE feedback MODIFY COLUMN comment TTL toDateTime(timestamp) + INTERVAL 90 DAY;
