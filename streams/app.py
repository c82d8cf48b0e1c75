"""The faust application: settings in, a configured ``faust.App`` with every hop wired.

``build(settings)`` returns the app and the objects behind it (sink, pipeline, metrics), so
the CLI, the demo and the tests share one construction path.
"""

from __future__ import annotations

import logging
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust

from alerting.channels import (
    AlertmanagerNotifier,
    MemoryNotifier,
    Notifier,
    PagerDutyNotifier,
    SlackNotifier,
    WebhookNotifier,
)
from alerting.engine import RuleEngine
from alerting.outbox import Outbox
from alerting.rulefile import DEFAULT_RULES_FILE, load_rules
from alerting.rules import RuleSet
from detectors.base import create
from detectors.drift.bank import DriftBank
from detectors.embedding import configure as configure_embedding
from detectors.embedding import configured_precision, resolve_auto
from detectors.pii import RegexPIIDetector
from detectors.pipeline import ScoringPipeline
from detectors.precision import last_choice
from sinks.clickhouse import ClickHouseSink
from streams.agents import EvaluateRules, NotifyAlerts, ScoreEvents, wire
from streams.lifecycle import Health
from streams.logsafety import redact_http_logs
from streams.metrics import Metrics
from streams.settings import AlertSettings, KafkaSettings, Settings, secret_values
from streams.stages import instrument
from streams.topics import TOPIC_NAMES, declare
from streams.webauth import Gate

__all__ = [
    "Built",
    "build",
    "build_notifiers",
    "build_pipeline",
    "load_ruleset",
    "ensure_topics",
    "kafka_credentials",
]

log = logging.getLogger(__name__)


def build_pipeline(settings: Settings) -> ScoringPipeline:
    """Detectors from the registry, as configured; the PII scanner that drives redaction."""
    det = settings.detectors
    salt = det.hash_salt.get_secret_value()
    cache_dir = str(det.model_cache) if det.model_cache else None
    configure_embedding(
        det.embedding_precision, cache_dir, det.embedding_cache_size, det.model_threads
    )
    if det.embedding_precision == "auto" and settings.drift.enabled:
        # Drift embeds every batch and labels what it stores with the precision: measure
        # now, and let every reader of the settings name the precision that runs. Without
        # drift, the first detector that embeds measures (detectors.embedding.get_embedder).
        det.embedding_precision = resolve_auto(cache_dir)  # type: ignore[assignment]  # a PRECISIONS value

    def params(name: str) -> dict[str, Any]:
        out = dict(det.params.get(name, {}))
        if name == "pii_ner":  # one redaction setting for both PII paths
            out.setdefault("redaction", det.redaction)
            out.setdefault("hash_salt", salt)
        if name in ("pii", "pii_ner") and det.pii_policy_file is not None:
            out.setdefault("policy", str(det.pii_policy_file))
        return out

    detectors = [create(name, **params(name)) for name in det.enabled]
    scanner = next((d for d in detectors if d.name == det.pii_scanner), None)
    if scanner is None:
        scanner = create(det.pii_scanner, **params(det.pii_scanner))
    if not isinstance(scanner, RegexPIIDetector):
        msg = f"pii_scanner {det.pii_scanner!r} must be a PII detector (pii, pii_ner)"
        raise ValueError(msg)
    return ScoringPipeline(
        detectors,
        scanner=scanner,
        redaction=det.redaction,
        store_raw_pii=det.store_raw_pii,
        hash_salt=salt,
        embed_fields=settings.drift.fields if settings.drift.enabled else (),
        identifiers=det.identifiers,
        drift_sample=_drift_sampler(settings),
    )


def _drift_sampler(settings: Settings) -> Any:
    """``DriftSampler.select`` when drift samples heavy streams, else None (every event)."""
    rate = settings.drift.sample_above_rate
    if not settings.drift.enabled or rate <= 0:
        return None
    from detectors.drift.sampling import DriftSampler

    return DriftSampler(rate).select


def unkeyed_ids_warning(settings: Settings) -> str | None:
    """The start-up warning when ids are pseudonymised without a secret key, else None."""
    det = settings.detectors
    if det.hash_salt.get_secret_value() or det.identifiers != "hash" or det.store_raw_pii:
        return None
    return ("INFERSIGHT_DETECTORS_HASH_SALT is not set: user and session ids are "
            "pseudonymised with an unkeyed hash; set a secret salt")  # fmt: skip


def placeholder_secrets(settings: Settings) -> list[str]:
    """The ``INFERSIGHT_*`` secrets still set to a deploy file's placeholder (``CHANGE-ME...``,
    ``change-me``): anyone who read the repository knows them."""
    return [var for var, value in secret_values(settings).items()
            if value.lower().startswith("change-me")]  # fmt: skip


CHANNELS = ("webhook", "slack", "pagerduty", "alertmanager")


def load_ruleset(settings: Settings) -> RuleSet:
    """The rules file (default: alerting/alert_rules.yaml), validated; ``${name}`` values
    read the monitor settings. Raises ``RuleFileError`` naming the file, rule and key."""
    m = settings.monitor
    return load_rules(m.rules_file or DEFAULT_RULES_FILE, m.model_dump(), channels=CHANNELS)


def build_notifiers(alerts: AlertSettings) -> list[Notifier]:
    """One notifier per configured channel (secrets read here, never logged)."""
    kw = {"retries": alerts.retries, "backoff_s": alerts.backoff_s, "timeout_s": alerts.timeout_s}
    out: list[Notifier] = []
    if alerts.webhook_url:
        secret = alerts.webhook_secret
        out.append(
            WebhookNotifier(alerts.webhook_url, secret.get_secret_value() if secret else None, **kw)
        )
    if alerts.slack_webhook_url:
        out.append(SlackNotifier(alerts.slack_webhook_url.get_secret_value(), **kw))
    if alerts.pagerduty_routing_key:
        key = alerts.pagerduty_routing_key.get_secret_value()
        out.append(PagerDutyNotifier(key, alerts.pagerduty_url, **kw))
    if alerts.alertmanager_url:
        out.append(AlertmanagerNotifier(alerts.alertmanager_url, alerts.alertmanager_ttl_s, **kw))
    return out


def kafka_credentials(kafka: KafkaSettings) -> Any:
    if kafka.security_protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    assert kafka.sasl_username and kafka.sasl_password  # checked by KafkaSettings
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value(),
        mechanism=kafka.sasl_mechanism,
        ssl_context=context if kafka.security_protocol == "SASL_SSL" else None,
    )


def aiokafka_security(kafka: KafkaSettings) -> dict[str, Any]:
    """The same security settings as aiokafka client keyword arguments."""
    if kafka.security_protocol == "PLAINTEXT":
        return {}
    out: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if "SSL" in kafka.security_protocol:
        out["ssl_context"] = ssl.create_default_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None
        )
    if kafka.security_protocol.startswith("SASL"):
        assert kafka.sasl_username and kafka.sasl_password
        out.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=kafka.sasl_password.get_secret_value(),
        )
    return out


async def ensure_topics(kafka: KafkaSettings, extra: tuple[str, ...] = ()) -> list[str]:
    """Create every topic that does not exist yet (and the ``extra`` names, such as the
    OTLP spans topic); returns the ones created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap, **aiokafka_security(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = dict.fromkeys([*TOPIC_NAMES, *extra])
        wanted = [kafka.topic(n) for n in names if kafka.topic(n) not in existing]
        if wanted:
            await admin.create_topics(
                [NewTopic(n, kafka.partitions, kafka.replication_factor) for n in wanted]
            )
        return wanted
    finally:
        await admin.close()


@dataclass
class Built:
    app: faust.App
    sink: ClickHouseSink
    pipeline: ScoringPipeline
    metrics: Metrics
    score: ScoreEvents
    monitor: EvaluateRules
    notify: NotifyAlerts

    def stop_hops(self) -> None:
        """Make every hop give up retrying: their batches stay uncommitted."""
        for hop in (self.score, self.monitor, self.notify):
            hop.stopping = True


def build(settings: Settings) -> Built:
    if not settings.kafka.bootstrap:
        msg = (
            "no Kafka configured: set INFERSIGHT_KAFKA_BOOTSTRAP=host:port, or run "
            "`infersight demo` to start a local broker"
        )
        raise ValueError(msg)
    k = settings.kafka
    redact_http_logs()  # notifier URLs (Slack's is a credential) never reach the log
    app = _faust_app(settings)
    topics = declare(app, k)
    metrics = Metrics()
    sink = ClickHouseSink(settings.clickhouse)
    pipeline = build_pipeline(settings)
    sink_executor = ThreadPoolExecutor(1, thread_name_prefix="clickhouse")
    model_executor = ThreadPoolExecutor(1, thread_name_prefix="detectors")
    # Alerting's queries run on a thread of their own: a batch's write then waits for at
    # most one query in flight (the sink's lock), not for a whole rule evaluation.
    alert_executor = ThreadPoolExecutor(1, thread_name_prefix="alerting")
    notifiers = build_notifiers(settings.alerts) or [MemoryNotifier()]
    ruleset = load_ruleset(settings)
    engine = RuleEngine(
        ruleset.rules,
        renotify_s=settings.alerts.renotify_interval_s,
        policy=ruleset.retraining,
        max_series=settings.monitor.max_series_per_rule,
    )
    drift = None
    if settings.drift.enabled:
        drift = DriftBank(
            settings.drift.fields,
            settings.drift.monitor_params(),
            load=sink.load_drift_states,
            max_streams=settings.drift.max_streams,
            embedding=settings.detectors.embedding_label,
        )
    clock = instrument(app, pipeline, metrics, settings.drift.enabled)
    score = ScoreEvents(
        settings, pipeline, sink, topics, metrics, sink_executor, model_executor, drift, clock
    )
    a = settings.alerts
    outbox = Outbox(
        sink, notifiers, expiry_s=a.delivery_expiry_s, backoff_s=a.backoff_s,
        backoff_max_s=a.delivery_backoff_max_s, rate_limit_per_minute=a.rate_limit_per_minute,
    )  # fmt: skip
    monitor = EvaluateRules(
        engine, sink, topics, metrics, alert_executor, settings.monitor.interval_s, outbox
    )
    notify = NotifyAlerts(outbox, metrics, sink, alert_executor)
    wire(app, settings, topics, score, monitor, notify)
    _wire_spans_and_feedback(app, settings, score)

    topic = topics.inference.get_topic_name()
    token = settings.api_token.get_secret_value() if settings.api_token else None
    health = Health(app, topic, score.progress, settings.stall_after_s, metrics)
    _pages(app, metrics, health, lambda: score.stopping)
    _store_pages(app, sink, metrics, Gate(token, settings.web_host))
    return Built(app, sink, pipeline, metrics, score, monitor, notify)


def _wire_spans_and_feedback(app: faust.App, settings: Settings, score: ScoreEvents) -> None:
    """OTel GenAI spans (otlp_spans) scored by the same pipeline into the same sink, and
    user feedback (llm.feedback.v1) stored beside them."""
    from streams.feedback import StoreFeedback, wire_feedback
    from streams.otel import ScoreSpans, wire_spans

    parts = (score.pipeline, score.sink, score.topics, score.metrics, score.sink_executor,
             score.model_executor)  # fmt: skip
    if settings.otel.enabled:
        wire_spans(app, settings, ScoreSpans(settings, *parts, score.drift, score.clock))
    wire_feedback(app, score.topics, StoreFeedback(settings, *parts))


def _faust_app(settings: Settings) -> faust.App:
    """The faust app for these Kafka settings: at-least-once, acks from every replica."""
    k = settings.kafka
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)  # faust makes one level
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{h.strip()}" for h in k.bootstrap.split(",")],
        broker_credentials=kafka_credentials(k),
        store="memory://",
        # No tables, so no standbys: with faust's default of 1 its sticky assignor gives a
        # 4th and 5th worker over 6 partitions nothing (tests/unit/test_deploy_manifests.py).
        table_standby_replicas=0,
        # faust's own directory under the data directory, not "<app id>-data" in whatever
        # directory the worker was started from (a read-only root in a pod; the checkout).
        datadir=str(settings.data_dir / "faust" / "{conf.name}"),
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication_factor,
        broker_session_timeout=k.session_timeout_s,
        broker_heartbeat_interval=k.heartbeat_interval_s,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_bind=settings.web_host,  # faust binds web_bind (0.0.0.0 by default), not web_host
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        # Only our routes: no /router/, /table/, /graph/, /performance/ or stats pages.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        producer_acks=-1,
        stream_buffer_maxsize=max(4096, settings.ingest.batch_size * 2),
        # Do not wait on stop for every read message to be acked: a batch held by a failing
        # write never is. Unacked means uncommitted: it is read again after a restart.
        stream_wait_empty=False,
    )


def _pages(app: faust.App, metrics: Metrics, health: Health, stopping: Any) -> None:
    """``/healthz`` (liveness), ``/readyz`` (readiness), ``/stats`` (JSON counters) and
    ``/metrics`` (Prometheus)."""

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """503 when the stream is stalled (nothing stored for stall_after_s while messages
        wait)."""
        report = health.report()
        return web.json(report, status=503 if report["status"] == "stalled" else 200)

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """503 while stalled, before the first partition assignment, and while stopping."""
        report = health.report()
        ready = report["status"] == "ok" and report["assigned_partitions"] > 0
        ready = ready and not stopping()
        probe = last_choice()  # {} when the precision was configured, not measured
        precision = {"precision": configured_precision(), "probe": probe or "configured"}
        body = {**report, "ready": ready, "embedding": precision}
        return web.json(body, status=200 if ready else 503)

    @app.page("/stats")
    async def stats(web: Any, request: Any) -> Any:
        health.report()
        return web.json(metrics.snapshot())

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        """Prometheus text (OpenMetrics when the ``Accept`` header asks for it)."""
        health.report()
        body, content_type = metrics.prometheus(request.headers.get("Accept"))
        # aiohttp refuses a charset in content_type=; the header carries it as is.
        return web.bytes(body, headers={"Content-Type": content_type})


def _store_pages(app: faust.App, sink: ClickHouseSink, metrics: Metrics, gate: Gate) -> None:
    """The store over HTTP (``/api/...``, streams.api) and the live page (``/``), behind
    ``gate`` (streams.webauth)."""
    from streams import api, live

    live.mount(app, api.mount(app, sink, gate), metrics)
