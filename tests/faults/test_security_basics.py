"""Security basics that need no running system: Kafka SASL/TLS settings reach both Kafka
clients, secrets stay out of reprs and dumps, webhook bodies are HMAC-signed, ClickHouse
connection errors never echo a password."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from datetime import UTC, datetime

import httpx
import pytest

from alerting.channels import WebhookNotifier
from schemas.results import Alert
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, SinkUnavailable
from streams.app import aiokafka_security, kafka_credentials
from streams.demo import settings_env
from streams.settings import KafkaSettings, Settings

PASSWORD = "s3cr3t-Kafka-pa55"


def test_sasl_ssl_settings_reach_faust_and_aiokafka_clients() -> None:
    """SASL_SSL with SCRAM: faust gets SASLCredentials with a TLS context, aiokafka the same
    mechanism, user, password and an SSL context."""
    import faust

    k = KafkaSettings(bootstrap="kafka:9093", security_protocol="SASL_SSL",
                      sasl_mechanism="SCRAM-SHA-512", sasl_username="svc", sasl_password=PASSWORD)  # fmt: skip
    creds = kafka_credentials(k)
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password, creds.ssl_context is not None) == (
        "svc",
        PASSWORD,
        True,
    )
    kw = aiokafka_security(k)
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kw["sasl_plain_username"], kw["sasl_plain_password"]) == ("svc", PASSWORD)
    assert kw["ssl_context"] is not None
    assert aiokafka_security(KafkaSettings()) == {} and kafka_credentials(KafkaSettings()) is None


def test_sasl_without_credentials_is_refused_at_startup() -> None:
    """A SASL protocol with no username/password fails validation, naming the variables."""
    with pytest.raises(ValueError, match="INFERSIGHT_KAFKA_SASL_PASSWORD"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_username="svc")


def test_secrets_are_masked_in_repr_and_dumps_but_passed_to_child_workers() -> None:
    """Settings print and dump secrets masked; only settings_env (the child's environment)
    carries the real values."""
    s = Settings(
        kafka={"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u",
               "sasl_password": PASSWORD},
        clickhouse={"url": "https://ch:8443", "password": "ch-pa55word"},
        detectors={"redaction": "hash", "hash_salt": "salt-pa55"},
        alerts={"webhook_url": "https://hook", "webhook_secret": "whsec-pa55"},
    )  # fmt: skip
    shown = repr(s) + str(s.model_dump()) + s.model_dump_json()
    for secret in (PASSWORD, "ch-pa55word", "salt-pa55", "whsec-pa55"):
        assert secret not in shown
    env = settings_env(s)
    assert env["INFERSIGHT_KAFKA_SASL_PASSWORD"] == PASSWORD
    assert env["INFERSIGHT_CLICKHOUSE_PASSWORD"] == "ch-pa55word"


def test_webhook_body_is_hmac_signed_and_secret_not_in_repr() -> None:
    """X-Infersight-Signature = sha256 HMAC over timestamp.body with the configured key."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    n = WebhookNotifier("https://hook.example/x", secret="whsec-k",
                        transport=httpx.MockTransport(handle))  # fmt: skip
    now = datetime.now(UTC)
    alert = Alert(fingerprint="f", episode_id="e", rule="pii_leaks", status="firing",
                  severity="critical", service="s", model="m", summary="3 leaks", value=3,
                  threshold=1, window_start=now, window_end=now, evidence_sql="SELECT 1")  # fmt: skip
    asyncio.run(n.send(alert))
    asyncio.run(n.aclose())
    [req] = seen
    ts = req.headers["X-Infersight-Timestamp"]
    mac = hmac.new(b"whsec-k", ts.encode() + b"." + req.content, hashlib.sha256).hexdigest()
    assert req.headers["X-Infersight-Signature"] == f"sha256={mac}"
    assert "whsec-k" not in repr(n)


def test_clickhouse_connection_error_names_the_host_never_the_password(caplog) -> None:
    """An unreachable server (a closed local port) fails with SinkUnavailable whose message
    and logs hold the host but not the password given in settings or in the URL."""
    from streams.broker import free_port

    port = free_port()
    sink = ClickHouseSink(ClickHouseSettings(
        url=f"http://admin:url-pa55@127.0.0.1:{port}", password="set-pa55"))  # fmt: skip
    with caplog.at_level(logging.DEBUG), pytest.raises(SinkUnavailable) as err:
        sink.migrate()
    text = str(err.value) + caplog.text
    assert "127.0.0.1" in text
    assert "url-pa55" not in text and "set-pa55" not in text
