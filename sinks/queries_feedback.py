"""Named queries that join user feedback (migration 051) to the calls it judges.

Registered in ``sinks.queries.QUERIES``; every one reads ``FINAL`` (one judgement per user
per event, each event once). Feedback that arrived before its event joins once the event is
stored.
"""

from __future__ import annotations

__all__ = ["FEEDBACK_BY_MODEL", "NEGATIVE_FEEDBACK"]

#: Per-event feedback totals, joined to events by event_id.
_PER_EVENT = """(
    SELECT event_id, count() AS n, sum(negative) AS neg, count(score) AS scored,
           sum(ifNull(score, 0)) AS score_sum
    FROM feedback FINAL GROUP BY event_id
)"""

FEEDBACK_BY_MODEL = f"""
SELECT
    toDate(e.timestamp) AS day,
    e.service AS service,
    e.model AS model,
    count() AS events,
    sum(f.n) AS feedback,
    sum(f.neg) AS negative,
    if(feedback > 0, round(negative / feedback, 4), nan) AS negative_rate,
    if(sum(f.scored) > 0, round(sum(f.score_sum) / sum(f.scored), 3), nan) AS avg_score
FROM events AS e FINAL
LEFT JOIN {_PER_EVENT} AS f ON f.event_id = e.event_id
WHERE e.timestamp >= toDateTime64({{since:Date}}, 3, 'UTC')
  AND e.timestamp < toDateTime64({{until:Date}}, 3, 'UTC') + INTERVAL 1 DAY
  AND ({{service:String}} = '' OR e.service = {{service:String}})
GROUP BY day, service, model
ORDER BY day, service, model
"""

NEGATIVE_FEEDBACK = """
SELECT
    f.timestamp AS judged_at,
    f.event_id AS event_id,
    e.service AS service,
    e.model AS model,
    f.thumbs AS thumbs,
    f.score AS score,
    f.label AS label,
    f.comment AS comment,
    substring(e.response, 1, 200) AS response
FROM feedback AS f FINAL
INNER JOIN (
    SELECT event_id, service, model, response FROM events FINAL
    WHERE event_id IN (SELECT event_id FROM feedback WHERE negative = 1)
) AS e ON e.event_id = f.event_id
WHERE f.negative = 1
  AND f.timestamp >= toDateTime64({since:Date}, 3, 'UTC')
  AND f.timestamp < toDateTime64({until:Date}, 3, 'UTC') + INTERVAL 1 DAY
  AND ({service:String} = '' OR e.service = {service:String})
ORDER BY judged_at DESC, event_id
LIMIT {limit:UInt32}
"""
