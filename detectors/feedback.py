"""User feedback redacted the way events are: the comment, the label and the user id go
through the same scoring pipeline path (PII scanner, redaction mode, salt) as an event's
text, so a feedback row never holds what its event's row would not.

>>> from detectors.pipeline import ScoringPipeline
>>> from schemas.events import UserFeedback
>>> fb = UserFeedback(event_id="e1", thumbs="down", comment="mail me at ann@example.com")
>>> [(stored, pii)] = redact_feedback(ScoringPipeline([]), [fb])
>>> stored.comment, pii
('mail me at <EMAIL_ADDRESS>', ['EMAIL_ADDRESS'])
"""

from __future__ import annotations

from collections.abc import Sequence

from detectors.pipeline import ScoringPipeline
from schemas.events import InferenceEvent, UserFeedback

__all__ = ["redact_feedback"]


def _as_event(fb: UserFeedback) -> InferenceEvent:
    return InferenceEvent(
        event_id=fb.event_id,
        timestamp=fb.timestamp,
        service="feedback",
        request_model="feedback",
        response=fb.comment or "",
        user_id=fb.user_id,
        metadata={"label": fb.label} if fb.label is not None else {},
    )


def redact_feedback(
    pipeline: ScoringPipeline, feedback: Sequence[UserFeedback]
) -> list[tuple[UserFeedback, list[str]]]:
    """Each feedback as it may be stored, with the PII types found in it.

    Only the pipeline's PII scanner and redaction run (no detector scores feedback); with
    ``store_raw_pii`` the texts stay raw, as events' do.
    """
    # Every redaction setting of the events' pipeline (and any it gains, e.g. how ids are
    # pseudonymised), so a feedback row holds exactly what its event's row would.
    same = {k: getattr(pipeline, k) for k in ("identifiers",) if hasattr(pipeline, k)}
    redactor = ScoringPipeline(
        [],
        scanner=pipeline.scanner,
        redaction=pipeline.redaction,
        store_raw_pii=pipeline.store_raw_pii,
        hash_salt=pipeline.hash_salt,
        **same,
    )
    scored, failed = redactor.score([_as_event(fb) for fb in feedback])
    if failed:  # the scanner could not read a text: never store it unredacted
        raise RuntimeError(f"feedback redaction failed: {failed[0].error}")
    out = []
    for fb, s in zip(feedback, scored, strict=True):
        e = s.event
        stored = fb.model_copy(
            update={
                "event_id": e.event_id,
                "user_id": e.user_id,
                "label": e.metadata.get("label") if fb.label is not None else None,
                "comment": e.response if fb.comment is not None else None,
            }
        )
        out.append((stored, s.pii_types))
    return out
