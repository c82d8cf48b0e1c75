"""Every topic infersight reads or writes, declared once. Kafka names are dotted and
versioned; values are raw bytes (JSON we encode and validate ourselves, so that a bad
message reaches the dead-letter topic byte for byte instead of failing in a codec).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import faust

    from streams.settings import KafkaSettings

__all__ = ["TOPIC_NAMES", "Topics", "declare"]

INFERENCE = "llm.inference.v1"
FEEDBACK = "llm.feedback.v1"
SIGNALS = "llm.signals.v1"
ALERTS = "llm.alerts.v1"
RETRAINING = "llm.retraining.v1"
DEADLETTER = "llm.deadletter.v1"

#: Every topic, in the order of the data flow.
TOPIC_NAMES = (INFERENCE, FEEDBACK, SIGNALS, ALERTS, RETRAINING, DEADLETTER)


@dataclass(frozen=True)
class Topics:
    inference: faust.TopicT
    feedback: faust.TopicT
    signals: faust.TopicT
    alerts: faust.TopicT
    retraining: faust.TopicT
    deadletter: faust.TopicT


def declare(app: faust.App, kafka: KafkaSettings) -> Topics:
    """Declare every topic on ``app`` (names get ``kafka.topic_prefix``)."""

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            kafka.topic(name),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=kafka.partitions,
        )

    return Topics(*(topic(name) for name in TOPIC_NAMES))
