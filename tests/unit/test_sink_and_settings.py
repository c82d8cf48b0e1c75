"""ClickHouse sink on the real embedded engine, and settings errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from detectors.cost import CostDetector
from detectors.pipeline import ScoringPipeline
from schemas.events import InferenceEvent
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, SinkUnavailable, retrying
from streams.settings import Settings


@pytest.fixture(scope="module")
def sink(chdb_dir):
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="sink_unit"))
    yield s
    s.close()


def test_migrations_apply_once_and_are_recorded(sink) -> None:
    """A second migrate applies nothing; every file is recorded in schema_migrations."""
    first = sink.migrate()
    assert sink.migrate() == []
    assert "001_events" in first or sink.scalar("SELECT count() FROM schema_migrations FINAL") >= 4


def test_redelivered_batches_are_stored_once_as_queried(sink) -> None:
    """The same batch written three times reads back as one row per event and detector."""
    sink.migrate()
    events = [InferenceEvent(service="svc", model="gpt-4o", provider="openai", event_id=f"x{i}",
                             usage={"input_tokens": 100}) for i in range(10)]  # fmt: skip
    scored, _ = ScoringPipeline([CostDetector()]).score(events)
    for _ in range(3):
        sink.write_results(scored)
    assert sink.scalar("SELECT count() FROM events_v WHERE service = 'svc'") == 10
    assert sink.scalar("SELECT count() FROM signals_v WHERE service = 'svc'") == 10
    assert (
        str(sink.scalar("SELECT sum(cost_usd) FROM events_v WHERE service = 'svc'"))
        == "0.002500000"
    )


def test_retrying_holds_until_the_sink_recovers() -> None:
    """Failures are retried with backoff until the write succeeds; each failure is reported."""
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise SinkUnavailable("down")
        return "written"

    seen = []
    assert retrying(flaky, initial_s=0.001, max_s=0.004,
                    on_failure=lambda e, n, d: seen.append((n, d))) == "written"  # fmt: skip
    assert seen == [(1, 0.001), (2, 0.002), (3, 0.004)]


def test_bad_settings_name_the_variable() -> None:
    """Unknown detectors and SASL without credentials fail at start-up with a clear message."""
    with pytest.raises(ValidationError, match="unknown detector"):
        Settings(detectors={"enabled": ["cost", "tox1city"]})
    with pytest.raises(ValidationError, match="INFERSIGHT_KAFKA_SASL_USERNAME"):
        Settings(kafka={"security_protocol": "SASL_SSL"})


def test_env_variables_configure_nested_sections(monkeypatch) -> None:
    """INFERSIGHT_KAFKA_BOOTSTRAP and INFERSIGHT_DATA_DIR reach their sections."""
    monkeypatch.setenv("INFERSIGHT_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("INFERSIGHT_DATA_DIR", "/var/lib/infersight")
    s = Settings()
    assert s.kafka.bootstrap == "k1:9092,k2:9092"
    assert str(s.clickhouse.data_dir) == "/var/lib/infersight/clickhouse"


def test_secrets_are_not_shown_in_settings_repr() -> None:
    """Passwords and webhook secrets never appear in a printed configuration."""
    s = Settings(alerts={"webhook_url": "http://x", "webhook_secret": "hunter2"},
                 clickhouse={"password": "pw-123"})  # fmt: skip
    assert "hunter2" not in repr(s) and "pw-123" not in repr(s)


def test_embeddings_are_stored_only_when_asked(sink) -> None:
    """With an embedding label the vectors land in the embeddings table, once per replay."""
    import numpy as np

    from detectors.pipeline import ScoredEvent

    sink.migrate()
    event = InferenceEvent(service="emb", model="m", event_id="v1")
    scored = [ScoredEvent(event, [], embeddings={"prompt": np.full(384, 0.5, np.float32)})]
    sink.write_results(scored)
    assert sink.scalar("SELECT count() FROM embeddings WHERE service = 'emb'") == 0
    for _ in range(2):
        sink.write_results(scored, embedding_model="all-MiniLM-L6-v2/fp32")
    assert (
        sink.scalar(
            "SELECT count(), sum(arraySum(vector)) FROM embeddings FINAL WHERE service = 'emb'"
        )
        == 1
    )
    assert sink.query("SELECT arraySum(vector) FROM embeddings FINAL WHERE service = 'emb'")[1] == [
        (192.0,)
    ]
