"""All configuration, from ``INFERSIGHT_*`` environment variables (or constructor arguments
in tests). Sections nest with one underscore after the section name:
``INFERSIGHT_KAFKA_BOOTSTRAP``, ``INFERSIGHT_CLICKHOUSE_DATA_DIR``,
``INFERSIGHT_DETECTORS_ENABLED='["cost","pii","toxicity","injection"]'`` (lists and dicts as JSON).

Every field says what it means and its default; a bad value fails at start-up with the
variable's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sinks.clickhouse import ClickHouseSettings

__all__ = [
    "AlertSettings",
    "DetectorSettings",
    "DriftSettings",
    "IngestSettings",
    "KafkaSettings",
    "MonitorSettings",
    "OtelSettings",
    "Settings",
    "load_settings",
    "secret_values",
]


class KafkaSettings(BaseModel):
    """The Kafka cluster (any Kafka-protocol broker)."""

    bootstrap: str | None = Field(
        default=None,
        description="host:port[,host:port]. Unset: `infersight demo` starts a local broker; "
        "`infersight worker` refuses to start.",
    )
    topic_prefix: str = Field(
        default="", description="Prepended to every topic name (tenancy, tests)."
    )
    partitions: int = Field(default=1, ge=1, description="Partitions for topics we create.")
    replication_factor: int = Field(default=1, ge=1, description="For topics we create.")
    session_timeout_s: float = Field(
        default=10.0, gt=0, description="Consumer group session timeout."
    )
    heartbeat_interval_s: float = Field(default=3.0, gt=0, description="Consumer heartbeat.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = Field(default=None, description="CA bundle for SSL/SASL_SSL.")

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password
        ):
            msg = (
                f"security_protocol {self.security_protocol} needs "
                "INFERSIGHT_KAFKA_SASL_USERNAME and INFERSIGHT_KAFKA_SASL_PASSWORD"
            )
            raise ValueError(msg)
        return self

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


class IngestSettings(BaseModel):
    """How inference events are read and batched."""

    max_message_bytes: int = Field(
        default=1_048_576, ge=1024, description="Larger messages are dead-lettered (oversized)."
    )
    max_future_s: float = Field(
        default=3600.0,
        gt=0,
        description="Events timestamped further ahead of the worker's clock are dead-lettered "
        "(timestamp_in_future): a producer's clock or time-zone bug would be stored where no "
        "alert window looks, its texts kept past the retention period.",
    )
    batch_size: int = Field(default=256, ge=1, le=100_000, description="Events per micro-batch.")
    batch_within_s: float = Field(
        default=0.5,
        gt=0,
        description="Longest wait to fill a micro-batch. Under a backlog batches fill in "
        "milliseconds, so it sets publish->stored latency at moderate load, not throughput: "
        "on busy minutes 0.5 s gave a p99 0.3-0.7 s lower than 1 s at 70 % load; on a quiet "
        "machine the two were within 0.1 s (benchmarks/speed/reports/throughput_notes.md). "
        "Each worker writes at most 1/this inserts per second per table: raise it to 1 s "
        "where many workers share one ClickHouse server.",
    )
    pipelined: bool = Field(
        default=False,
        description="Read the next micro-batch and queue it on the model thread while this "
        "one is scored and the last is written, published and acked (acks stay in order, "
        "each after its batch is stored; at most two batches held). It keeps the model busy "
        "across batch boundaries (0.95-1.06 of a long drain against 0.81-0.91) and raised the "
        "cache-off ratio to the bare model from 0.64 to 0.72 on average, but it raised "
        "publish->stored p99 at 70 % load by 0.4-0.5 s with the embedding cache on, so it is "
        "off by default (benchmarks/speed/reports/throughput_notes.md, branch fast3).",
    )


class OtelSettings(BaseModel):
    """OpenTelemetry GenAI spans in (schemas/otel.py): the topic the Collector's kafkaexporter
    writes traces to, read beside llm.inference.v1 and scored the same way."""

    enabled: bool = Field(default=True, description="Consume OTLP spans from `topic`.")
    topic: str = Field(
        default="otlp_spans",
        description="kafkaexporter's traces topic (its default: otlp_spans); the Kafka topic "
        "prefix applies as to every topic.",
    )
    encoding: Literal["auto", "otlp_proto", "otlp_json"] = Field(
        default="auto",
        description="kafkaexporter's encoding: otlp_proto (its default) or otlp_json; auto "
        "tells them apart per message.",
    )
    max_message_bytes: int = Field(
        default=16 * 1_048_576,
        ge=1024,
        description="Larger exported batches are dead-lettered (oversized).",
    )
    evaluations_topic: str = Field(
        default="",
        description="Optional: publish every span's detector verdicts back as OpenTelemetry "
        "gen_ai.evaluation.result events (OTLP logs, protobuf) to this topic, for a "
        "Collector's Kafka receiver. Empty (the default): off.",
    )

    def topics(self) -> tuple[str, ...]:
        """The topics OTel ingestion reads and writes (none when it is off)."""
        if not self.enabled:
            return ()
        return (self.topic, *([self.evaluations_topic] if self.evaluations_topic else []))


class DetectorSettings(BaseModel):
    """Which detectors score every event, with what parameters."""

    enabled: list[str] = Field(
        default_factory=lambda: ["cost", "pii", "toxicity", "injection"],
        description="Registry names, run in order (see detectors/base.py REGISTRY). "
        "toxicity and injection are heads over the shared embedding (almost free once drift "
        "has embedded the batch; injection reads the user message and retrieved documents: "
        "AUC 0.972 on a frozen hand-written field set, 0.6% of benign user requests fired "
        "at its 0.99 threshold, benchmarks/quality/reports/injection.md). Opt-in: "
        "hallucination "
        "(AUC 0.57 on hand-written RAG answers, 0.57-0.84 on HaluEval tasks it was not "
        "trained on: evidence to look at, not a pager; "
        "benchmarks/quality/reports/hallucination.md).",
    )
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Per-detector constructor arguments, e.g. {"cost": {"max_cost_usd": 0.5}}.',
    )
    embedding_precision: Literal["auto", "fp32", "bf16", "onnx-fp32", "onnx-int8"] = Field(
        default="auto",
        description="Shared MiniLM embedding: fp32, bf16, or ONNX Runtime fp32/int8 (faster; "
        "benchmarks/quality/reports/embedding.md). auto: measured at start-up, the fastest of "
        "fp32, bf16 and onnx-int8 whose vectors agree with fp32 (detectors/precision.py; AUC "
        "change per precision in benchmarks/quality/reports/precision.md), saved in the model "
        "cache and reused on this machine. Drift references are per precision: a saved "
        "reference from another precision is dropped and learned again (logged), so pin it "
        "where workers run on mixed CPUs.",
    )
    model_cache: Path | None = Field(
        default=None, description="Writable directory for the ONNX export (default ~/.cache)."
    )
    model_threads: int = Field(
        default=0,
        ge=0,
        description="Threads the embedding model uses (torch and ONNX Runtime). 0: the "
        "libraries' default, one per core of the machine, which in a container limited to "
        "fewer CPUs (a pod's CPU limit) oversubscribes them; set it to the CPUs the worker has.",
    )
    embedding_cache_size: int = Field(
        default=10_000,
        ge=0,
        description="Sentence vectors the worker keeps by a hash of the text (least recently "
        "used out, about 1.6 kB each): a text seen before in this or an earlier batch (system "
        "prompts, templated questions, canned answers) is not encoded again. 0 turns it off.",
    )
    pii_scanner: str = Field(
        default="pii", description="Detector whose PII findings drive redaction (pii, pii_ner)."
    )
    redaction: Literal["replace", "mask", "hash"] = Field(
        default="replace", description="How PII is redacted before storage."
    )
    store_raw_pii: bool = Field(
        default=False,
        description="Opt-in: store raw text with PII in ClickHouse. Off by default.",
    )
    hash_salt: SecretStr = Field(
        default=SecretStr(""),
        description="INFERSIGHT_DETECTORS_HASH_SALT: key of the keyed hash (HMAC-SHA256) that "
        "pseudonymises user_id, session_id and event ids carrying PII, and salt of "
        "redaction=hash. Keep it secret and stable (changing it changes every pseudonym); "
        "unset, pseudonyms are an unkeyed hash that anyone can test guesses against.",
    )
    identifiers: Literal["hash", "redact"] = Field(
        default="hash",
        description="user_id and session_id: hash (a keyed pseudonym, group-by still works) "
        "or redact (PII inside them replaced by its type, like any other text).",
    )
    pii_policy_file: Path | None = Field(
        default=None,
        description="YAML leak policy for the pii and pii_ner detectors (default "
        "detectors/pii_policy.yaml): which leak kinds page, allow-listed types and values, "
        "which types are personal, identity metadata keys; per service. Validated at start-up.",
    )

    @model_validator(mode="after")
    def _known(self) -> DetectorSettings:
        from detectors.base import REGISTRY

        unknown = [n for n in [*self.enabled, self.pii_scanner] if n not in REGISTRY]
        if unknown:
            msg = f"unknown detector(s) {unknown}; registered: {sorted(REGISTRY)}"
            raise ValueError(msg)
        stray = sorted(set(self.params) - set(self.enabled) - {self.pii_scanner})
        if stray:
            msg = f"params given for detectors that are not enabled: {stray}"
            raise ValueError(msg)
        return self

    @property
    def embedding_label(self) -> str:
        """The shared embedding as stored beside vectors and drift state (model/precision)."""
        return f"all-MiniLM-L6-v2/{self.embedding_precision}"


class DriftSettings(BaseModel):
    """Embedding drift per (service, model) and field (detectors/drift/)."""

    enabled: bool = Field(default=True, description="Embed every event and test for drift.")
    fields: list[Literal["prompt", "response"]] = Field(
        default_factory=lambda: ["prompt", "response"], description="Embeddings watched."
    )
    test: Literal["mmd", "lsdd", "ks", "classifier"] = Field(
        default="mmd", description="Two-sample test per window."
    )
    window_size: int = Field(default=500, ge=20, description="Events per tested window.")
    reference_size: int = Field(
        default=1000, ge=20, description="First events of a stream that form its reference."
    )
    reference: Literal["pinned", "rolling"] = Field(
        default="pinned", description="pinned until rebaselined, or rolling over clean windows."
    )
    false_alarm_rate: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Target chance, per window round, that any stream without drift is "
        "significant (split over n_streams, Bonferroni).",
    )
    n_streams: int = Field(
        default=20, ge=1, description="Streams (service x model x field) expected: alpha divisor."
    )
    max_streams: int = Field(
        default=2000,
        ge=1,
        description="Drift monitors a worker holds at most (service x model x field); past "
        "it the least recently seen are saved to ClickHouse and dropped, and resume from "
        "there when their stream comes back (infersight_drift_streams_evicted_total).",
    )
    consecutive: int = Field(
        default=2, ge=1, description="Significant windows in a row before drift is declared."
    )
    sample_above_rate: float = Field(
        default=200.0,
        ge=0,
        description="Events/s per (service, model) above which drift embeds a sample of the "
        "stream's events (rate/this many; the same events on a replay), so a window still "
        "fills within window_size/this seconds; each drift result states sampled n, seen n "
        "and the rate. Fields a detector embeds anyway (response, with toxicity on) are not "
        "sampled. 0: embed every event.",
    )
    store_embeddings: bool = Field(
        default=False,
        description="Also write every event's embeddings to the embeddings table (30-day "
        "TTL) for offline drift analysis. Off by default: sentence embeddings of raw text "
        "can be partly inverted, so they count as personal data where the text does.",
    )

    def monitor_params(self) -> dict[str, Any]:
        exclude = {"enabled", "fields", "store_embeddings", "sample_above_rate", "max_streams"}
        return self.model_dump(exclude=exclude)


class MonitorSettings(BaseModel):
    """Windowed rules over what has been stored (the monitor hop)."""

    interval_s: float = Field(default=5.0, gt=0, description="How often rules are evaluated.")
    max_series_per_rule: int = Field(
        default=1000,
        ge=1,
        description="Series (groups) one rule evaluates at most, breaching ones first; a rule "
        "cut short is logged and counted (infersight_rule_series_truncated_total) and declares "
        "none of its series quiet that round.",
    )
    window_s: float = Field(
        default=300.0, gt=0, description="Each rule looks at the last window_s seconds."
    )
    cost_budget_usd: float = Field(
        default=5.0, gt=0, description="Alert when one (service, model) spends more per window."
    )
    pii_leak_threshold: int = Field(
        default=5, ge=1, description="Alert at this many PII leaks per window per series."
    )
    retrain_after_s: float = Field(
        default=900.0,
        ge=0,
        description="A rule firing this long without resolving emits a RetrainingEvent.",
    )
    retrain_cooldown_s: float = Field(
        default=86_400.0, ge=0, description="At most one RetrainingEvent per model per cooldown."
    )
    rules_file: Path | None = Field(
        default=None,
        description="YAML alert rules (see alerting/alert_rules.yaml, the default when unset); "
        "validated at start-up. ${name} in it reads the monitor setting of that name.",
    )


class AlertSettings(BaseModel):
    """Where alerts go, and how often. A channel is on when its URL or key is set; with none,
    alerts are only stored and published to llm.alerts.v1."""

    webhook_url: str | None = Field(default=None, description="JSON POST per alert.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key for X-Infersight-Signature."
    )
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming-webhook URL (a secret: it grants posting)."
    )
    pagerduty_routing_key: SecretStr | None = Field(
        default=None, description="PagerDuty Events API v2 integration (routing) key."
    )
    pagerduty_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        description="PagerDuty Events API v2 endpoint (EU accounts: events.eu.pagerduty.com).",
    )
    alertmanager_url: str | None = Field(
        default=None, description="Alertmanager base URL; alerts go to {url}/api/v2/alerts."
    )
    alertmanager_ttl_s: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="endsAt of a firing alert sent to Alertmanager, from now; keep it above "
        "renotify_interval_s so re-notifications extend it.",
    )
    renotify_interval_s: float = Field(
        default=3 * 3600.0,
        ge=0,
        description="Re-send a still-firing alert this often (0: never); a rule's `renotify` "
        "overrides.",
    )
    rate_limit_per_minute: float = Field(
        default=30.0,
        ge=0,
        description="Notifications per channel per minute (0: unlimited); beyond it the "
        "outbox delays deliveries, it never drops them.",
    )
    retries: int = Field(
        default=0,
        ge=0,
        description="Immediate retries inside one delivery attempt. The outbox retries "
        "failed deliveries anyway (backoff_s, doubling, up to delivery_backoff_max_s, across "
        "restarts), without holding the other alerts of the channel.",
    )
    backoff_s: float = Field(default=0.5, ge=0, description="First retry delay; doubles.")
    timeout_s: float = Field(default=5.0, gt=0, description="HTTP timeout of one delivery.")
    delivery_interval_s: float = Field(
        default=1.0, gt=0, description="How often the outbox sends what is due."
    )
    delivery_backoff_max_s: float = Field(
        default=300.0, gt=0, description="Longest wait between two attempts of one delivery."
    )
    delivery_expiry_s: float = Field(
        default=3600.0,
        gt=0,
        description="A delivery still failing this long after its alert was stored is given "
        "up; giving up raises an infersight_delivery_expired alert on the other channels.",
    )


class Settings(BaseSettings):
    """Everything infersight reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="INFERSIGHT_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
    )

    app_id: str = Field(default="infersight", description="Consumer group and app id.")
    data_dir: Path = Field(default=Path("data"), description="Local state (chDB lives under it).")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    web_host: str = Field(
        default="127.0.0.1",
        description="Address the health/metrics endpoint binds to (127.0.0.1: this machine "
        "only; 0.0.0.0 for a scraper on another host, e.g. in a pod).",
    )
    web_port: int = Field(default=6066, ge=0, le=65535, description="Health/metrics port.")
    api_token: SecretStr | None = Field(
        default=None,
        description="Token the store's endpoints (/api/..., the live page) require, as "
        "'Authorization: Bearer TOKEN' or a browser's Basic password. Unset: they are served "
        "only when web_host is a loopback address, and answer 403 elsewhere. /healthz, "
        "/readyz, /stats and /metrics never need it.",
    )
    shutdown_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="On SIGTERM/SIGINT the worker stops consuming, abandons a write that is "
        "being retried (it is not committed: it is read again on restart) and exits within "
        "this many seconds in every state, forcibly if faust has not finished by then.",
    )
    stall_after_s: float = Field(
        default=120.0,
        gt=0,
        description="/healthz and /readyz answer 503 'stalled' when no batch has been stored "
        "for this long while messages wait (in the ingest hop or on the broker).",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    detectors: DetectorSettings = Field(default_factory=DetectorSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    otel: OtelSettings = Field(default_factory=OtelSettings)

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_." for c in value):
            msg = f"app_id must be letters, digits, '-', '_' or '.', got {value!r}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _default_chdb_dir(self) -> Settings:
        # The chDB directory follows data_dir unless set explicitly.
        if "data_dir" not in self.clickhouse.model_fields_set:
            self.clickhouse = self.clickhouse.model_copy(
                update={"data_dir": self.data_dir / "clickhouse"}
            )
        return self


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and ``overrides``); on a bad value, exit with one
    line per offending ``INFERSIGHT_*`` variable instead of a traceback."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            var = "INFERSIGHT_" + "_".join(str(p) for p in err["loc"] if isinstance(p, str)).upper()
            lines.append(f"  {var}: {err['msg']}")
        msg = "invalid configuration:\n" + "\n".join(lines)
        raise SystemExit(msg) from None


def secret_values(settings: Settings) -> dict[str, str]:
    """Every secret that is set, by its ``INFERSIGHT_*`` variable, with its real value (a
    dump masks them)."""
    out = {}
    for section, value in settings:
        items = value if isinstance(value, BaseModel) else [(section, value)]
        for name, item in items:
            if isinstance(item, SecretStr):
                var = f"{section}_{name}" if isinstance(value, BaseModel) else name
                out[f"INFERSIGHT_{var}".upper()] = item.get_secret_value()
    return out
