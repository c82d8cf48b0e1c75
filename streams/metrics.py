"""Pipeline metrics, served as Prometheus text at ``/metrics`` and JSON at ``/stats``.

Detectors have no side effects; the stream layer counts what happened to each message and
times each stage of a batch. Every metric is declared once below, with its help text and
label names, in a ``prometheus_client`` registry of this app's own (not the library's global
one), so several apps in one process (embedded workers, tests) never share or collide.

>>> m = Metrics()
>>> m.inc("deadlettered", reason="invalid_json"); m.inc("deadlettered", 2, reason="oversized")
>>> m.get("deadlettered"), m.snapshot()["deadlettered_by"]
(3.0, {'invalid_json': 1, 'oversized': 2})
>>> m.observe("publish_to_stored_seconds", 0.3)
>>> text, content_type = m.prometheus()
>>> 'infersight_publish_to_stored_seconds_bucket{le="0.5"} 1.0' in text.decode(), content_type
(True, 'text/plain; version=0.0.4; charset=utf-8')
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

__all__ = ["COUNTERS", "GAUGES", "HISTOGRAMS", "Metrics"]

NAMESPACE = "infersight"

#: name -> (help, label names); exposed as ``infersight_<name>_total``.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "messages_received": ("Messages read from llm.inference.v1 (and the OTLP topic).", ()),
    "events_stored": ("Valid events written to ClickHouse (replays count again).", ()),
    "deadlettered": ("Messages sent to llm.deadletter.v1, by reason.", ("reason",)),
    "signals_published": ("EventSignals messages published to llm.signals.v1.", ()),
    "batches": ("Micro-batches processed.", ()),
    "sink_failures": ("Failed ClickHouse writes (each is retried).", ()),
    "alerts_published": ("Alert state changes published to llm.alerts.v1.", ("rule", "status")),
    "notifications_sent": ("Alerts delivered to a channel.", ("channel",)),
    "notification_failures": (
        "Deliveries given up after delivery_expiry_s (each failed attempt before that is "
        "retried from the outbox and logged).",
        ("channel",),
    ),
    "notifications_suppressed": (
        "Deliveries not sent, by reason: silenced, skipped.",
        ("channel", "reason"),
    ),
    "delivery_failures": ("Outbox delivery rounds that failed (retried next interval).", ()),
    "retraining_published": ("RetrainingEvents published to llm.retraining.v1.", ()),
    "monitor_failures": ("Rule evaluations that failed (retried next interval).", ()),
    "rule_series_truncated": (
        "Rule evaluations cut at monitor.max_series_per_rule series (breaching ones kept).",
        ("rule",),
    ),
    "monitor_publish_failures": ("Failed attempts to publish stored alerts (retried).", ()),
    "batch_retries": ("Batches retried after a failure in a hop.", ("hop",)),
    "drift_windows": ("Embedding windows tested for drift.", ()),
    "drift_failures": ("Batches whose drift update failed (stream went on).", ()),
    "drift_streams_evicted": (
        "Drift monitors saved and dropped past drift.max_streams (least recently seen).",
        (),
    ),
    "otlp_spans_received": ("Spans read from the OTLP traces topic.", ()),
    "otlp_spans_skipped": ("Spans that are not one LLM call, by reason.", ("reason",)),
    "otlp_events": ("GenAI spans mapped onto events.", ()),
    "otlp_evaluations_published": ("gen_ai.evaluation.result events published back.", ()),
    "feedback_received": ("Messages read from llm.feedback.v1.", ()),
    "feedback_stored": ("Feedback rows written to ClickHouse.", ()),
}

#: name -> (help, label names); exposed as ``infersight_<name>``, set when an endpoint is read.
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "seconds_since_last_stored_batch": (
        "Seconds since the ingest hop last stored a batch (since start-up before the first).",
        (),
    ),
    "ingest_in_flight": ("Messages the ingest hop holds, read but not yet stored.", ()),
    "consumer_lag": (
        "Sum over assigned partitions of llm.inference.v1: high watermark minus committed.",
        (),
    ),
    "consumer_partition_lag": (
        "Per assigned partition: the high watermark of the consumer's last fetch minus the "
        "group's committed offset (messages not yet stored and committed).",
        ("topic", "partition"),
    ),
    "stalled": ("1 while messages wait and nothing was stored for stall_after_s.", ()),
}

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600)
_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                  5, 10, 30, 60)  # fmt: skip
_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

#: name -> (help, label names, buckets); exposed as ``infersight_<name>_bucket|_sum|_count``.
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "publish_to_stored_seconds": (
        "Per stored event: from its Kafka record timestamp (the producer's CreateTime, or "
        "LogAppendTime on such topics) to the moment its batch's ClickHouse write returned "
        "(clamped at 0 when the producer's clock is ahead).",
        (),
        _LATENCY_BUCKETS,
    ),
    "batch_size": ("Messages per micro-batch taken by a score hop.", ("hop",), _SIZE_BUCKETS),
    "stage_seconds": (
        "Seconds per batch in each stage of a hop (stage: parse, embed, detector:NAME, redact, "
        "drift, clickhouse_write, publish, ack; hop consumer, stage commit: one offset commit).",
        ("hop", "stage"),
        _STAGE_BUCKETS,
    ),
}


def _num(value: float) -> float | int:
    """Whole numbers as ints in JSON (counts read as counts)."""
    return int(value) if float(value).is_integer() else value


class Metrics:
    """Counters, gauges and histograms of one app, by name (without prefix or suffix).

    Thread-safe (``prometheus_client`` locks each value). An undeclared name raises
    ``KeyError``: declare it in ``COUNTERS``, ``GAUGES`` or ``HISTOGRAMS``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.started = time.time()
        reg = self.registry
        self._counters = {
            n: Counter(n, h, labels, namespace=NAMESPACE, registry=reg)
            for n, (h, labels) in COUNTERS.items()
        }
        self._gauges = {
            n: Gauge(n, h, labels, namespace=NAMESPACE, registry=reg)
            for n, (h, labels) in GAUGES.items()
        }
        self._histograms = {
            n: Histogram(n, h, labels, namespace=NAMESPACE, registry=reg, buckets=b)
            for n, (h, labels, b) in HISTOGRAMS.items()
        }

    @staticmethod
    def _child(metric: Any, labels: dict[str, str]) -> Any:
        return metric.labels(**labels) if labels else metric

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        self._child(self._counters[name], labels).inc(n)

    def set(self, name: str, value: float, **labels: str) -> None:
        self._child(self._gauges[name], labels).set(value)

    def clear(self, name: str) -> None:
        """Drop every labelled series of gauge ``name`` (partitions no longer assigned)."""
        self._gauges[name].clear()

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._child(self._histograms[name], labels).observe(value)

    def get(self, name: str, **labels: str) -> float:
        """A counter's or gauge's value: summed over the series whose labels match."""
        metric = self._counters.get(name) or self._gauges[name]
        return sum(value for _, value in self._series(metric, labels))

    @staticmethod
    def _series(metric: Any, match: dict[str, str]) -> list[tuple[dict[str, str], float]]:
        [family] = metric.collect()
        return [
            (s.labels, s.value)
            for s in family.samples
            if not s.name.endswith("_created") and match.items() <= s.labels.items()
        ]

    def snapshot(self) -> dict[str, Any]:
        """Every counter's and gauge's total by name; labelled ones also by label values
        (``NAME_by``: label values joined with ``,`` in label-name order)."""
        out: dict[str, Any] = {"uptime_s": round(time.time() - self.started, 3)}
        for name, metric in [*self._counters.items(), *self._gauges.items()]:
            series = self._series(metric, {})
            labelled = [(lb, v) for lb, v in series if lb]
            if labelled:
                out[name + "_by"] = {
                    ",".join(v for _, v in sorted(lb.items())): _num(value)
                    for lb, value in labelled
                }
            if series or name in COUNTERS:
                out[name] = _num(sum(v for _, v in series))
        return out

    def prometheus(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition and its content type: Prometheus text, or OpenMetrics when the
        ``Accept`` header asks for it."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
