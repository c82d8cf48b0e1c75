-- One row per event with its outcomes side by side, for comparing versions (experiment /
-- variant, prompt template, model) and for the variant rules: error (0/1), cost, latency,
-- each quality detector's verdict (NULL where it did not score the event) and negative
-- feedback (NULL where no user judged the event; 1 when any judgement was negative).
-- Read through FINAL on all three tables: each event, signal and judgement once.
CREATE VIEW IF NOT EXISTS event_outcomes AS
SELECT
    e.event_id AS event_id, e.timestamp AS timestamp, e.service AS service,
    e.environment AS environment, e.model AS model, e.provider AS provider,
    e.operation AS operation, e.prompt_template_id AS prompt_template_id,
    e.prompt_template_version AS prompt_template_version, e.experiment AS experiment,
    e.variant AS variant, e.cost_usd AS cost_usd, e.latency_ms AS latency_ms,
    toUInt8(e.status != 'ok') AS error,
    if(s.toxicity_n > 0, toNullable(toUInt8(s.toxicity_k > 0)), NULL) AS toxicity,
    if(s.pii_n > 0, toNullable(toUInt8(s.pii_k > 0)), NULL) AS pii,
    if(s.hallucination_n > 0, toNullable(toUInt8(s.hallucination_k > 0)), NULL) AS hallucination,
    if(s.injection_n > 0, toNullable(toUInt8(s.injection_k > 0)), NULL) AS injection,
    if(f.n > 0, toNullable(toUInt8(f.negative > 0)), NULL) AS negative_feedback
FROM events AS e FINAL
LEFT JOIN (
    SELECT
        event_id,
        countIf(detector = 'toxicity') AS toxicity_n,
        countIf(detector = 'toxicity' AND fired = 1) AS toxicity_k,
        countIf(detector = 'pii') AS pii_n,
        countIf(detector = 'pii' AND fired = 1) AS pii_k,
        countIf(detector = 'hallucination') AS hallucination_n,
        countIf(detector = 'hallucination' AND fired = 1) AS hallucination_k,
        countIf(detector = 'injection') AS injection_n,
        countIf(detector = 'injection' AND fired = 1) AS injection_k
    FROM signals FINAL
    GROUP BY event_id
) AS s ON s.event_id = e.event_id
LEFT JOIN (
    SELECT event_id, count() AS n, sum(negative) AS negative FROM feedback FINAL GROUP BY event_id
) AS f ON f.event_id = e.event_id;
