"""The one error root. Every error infersight raises on purpose derives from
``InfersightError``, and keeps the built-in base it had (so ``except ValueError`` still
catches a bad rules file)::

    InfersightError
    ├── schemas.parsing.InvalidEvent           (ValueError)  a message that cannot be accepted
    ├── detectors.base.ModelIntegrityError     (ValueError)  packaged weights do not match
    ├── detectors.base.UnknownDetector         (KeyError)    a detector name not registered
    ├── detectors.hf.CheckpointError           (ValueError)  a local HF checkpoint is unusable
    ├── sinks.clickhouse.SinkUnavailable       (RuntimeError) ClickHouse cannot be reached
    ├── sinks.queries.QueryError               (ValueError)  a named query or its parameters
    ├── alerting.rulefile.RuleFileError        (ValueError)  a rules file that cannot be used
    ├── detectors.pii_policy_file.PolicyFileError (ValueError) a PII leak policy file
    └── alerting.channels.base.DeliveryError   (RuntimeError) a channel did not accept

Messages say what happened and what to check.
"""

from __future__ import annotations

__all__ = ["InfersightError"]


class InfersightError(Exception):
    """Base of every error raised by infersight on purpose (the tree is above)."""
