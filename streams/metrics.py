"""Pipeline counters, served as Prometheus text at ``/metrics`` and JSON at ``/stats``.

Detectors have no side effects; the stream layer counts what happened to each message.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

__all__ = ["Metrics"]


class Metrics:
    """Thread-safe counters and gauges with optional labels."""

    HELP = {
        "messages_received": "Messages read from llm.inference.v1.",
        "events_stored": "Valid events written to ClickHouse (replays count again).",
        "deadlettered": "Messages sent to llm.deadletter.v1, by reason.",
        "signals_published": "EventSignals messages published to llm.signals.v1.",
        "batches": "Micro-batches processed.",
        "sink_failures": "Failed ClickHouse writes (each is retried).",
        "alerts_published": "Alert state changes published to llm.alerts.v1.",
        "notifications_sent": "Alerts delivered to a channel.",
        "notification_failures": "Deliveries given up after delivery_expiry_s (each failed "
        "attempt before that is retried from the outbox and logged).",
        "notifications_suppressed": "Deliveries not sent, by reason: silenced, skipped.",
        "delivery_failures": "Outbox delivery rounds that failed (retried next interval).",
        "retraining_published": "RetrainingEvents published to llm.retraining.v1.",
        "monitor_failures": "Rule evaluations that failed (retried next interval).",
        "batch_retries": "Batches retried after a failure in a hop.",
        "drift_windows": "Embedding windows tested for drift.",
        "drift_failures": "Batches whose drift update failed (stream went on).",
        "otlp_spans_received": "Spans read from the OTLP traces topic.",
        "otlp_spans_skipped": "Spans that are not one LLM call, by reason.",
        "otlp_events": "GenAI spans mapped onto events.",
        "otlp_evaluations_published": "gen_ai.evaluation.result events published back.",
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._gauges: dict[str, float] = {}
        self.started = time.time()

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        with self._lock:
            self._counters[(name, tuple(sorted(labels.items())))] += n

    def set(self, name: str, value: float) -> None:
        with self._lock:
            self._gauges[name] = value

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            if labels:
                return self._counters[(name, tuple(sorted(labels.items())))]
            return sum(v for (n, _), v in self._counters.items() if n == name)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {"uptime_s": round(time.time() - self.started, 3)}
            for (name, labels), value in sorted(self._counters.items()):
                if labels:
                    out.setdefault(name + "_by", {})[",".join(v for _, v in labels)] = value
                out[name] = out.get(name, 0) + value
            out.update(self._gauges)
            return out

    def prometheus(self) -> str:
        lines: list[str] = []
        with self._lock:
            names = sorted({n for n, _ in self._counters} | set(self.HELP))
            for name in names:
                metric = f"infersight_{name}_total"
                lines.append(f"# HELP {metric} {self.HELP.get(name, name)}")
                lines.append(f"# TYPE {metric} counter")
                series = [(lb, v) for (n, lb), v in self._counters.items() if n == name]
                if not series:
                    lines.append(f"{metric} 0")
                for labels, value in sorted(series):
                    lbl = ",".join(f'{k}="{v}"' for k, v in labels)
                    lines.append(f"{metric}{{{lbl}}} {value:g}" if lbl else f"{metric} {value:g}")
            for name, value in sorted(self._gauges.items()):
                lines.append(f"# TYPE infersight_{name} gauge")
                lines.append(f"infersight_{name} {value:g}")
        return "\n".join(lines) + "\n"
