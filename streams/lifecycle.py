"""Is the stream moving, and how it stops: ``Progress`` (what the ingest hop holds and when
it last stored a batch), ``Health`` (``/healthz``, ``/readyz`` and their gauges) and
``BoundedWorker`` (SIGTERM ends the worker within a bound in every state)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import faust

from streams.metrics import Metrics

__all__ = ["BoundedWorker", "Health", "Progress"]

log = logging.getLogger(__name__)


class Progress:
    """When the ingest hop last finished a batch, and what it holds now: the facts behind
    ``/healthz``, ``/readyz`` and the staleness gauge. Times are ``time.monotonic()``."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last_stored: float | None = None
        self.in_flight = 0
        self.batch_started: float | None = None

    def begin(self, n: int) -> None:
        self.in_flight = n
        self.batch_started = time.monotonic()

    def done(self) -> None:
        self.in_flight = 0
        self.batch_started = None
        self.last_stored = time.monotonic()

    def add(self, n: int) -> None:
        """A batch of ``n`` is taken while others may still be held (the pipelined hop)."""
        self.in_flight += n
        if self.batch_started is None:
            self.batch_started = time.monotonic()

    def stored(self, n: int) -> None:
        """The oldest held batch, of ``n``, is stored and acked."""
        self.in_flight = max(0, self.in_flight - n)
        self.last_stored = time.monotonic()
        self.batch_started = self.last_stored if self.in_flight else None

    def idle_s(self, now: float | None = None) -> float:
        """Seconds since the last batch was stored (since start-up before the first)."""
        now = time.monotonic() if now is None else now
        return now - (self.last_stored if self.last_stored is not None else self.started)


class Health:
    """Is the stream moving? Computed when an endpoint is read, and set as gauges:
    ``seconds_since_last_stored_batch``, ``ingest_in_flight``, ``consumer_lag`` and
    ``consumer_partition_lag``.

    ``consumer_partition_lag`` is, per assigned partition of the inference topic, the high
    watermark aiokafka's consumer recorded from its last fetch response minus the group's
    committed offset; ``consumer_lag`` is their sum. On Kafka that is the standard lag.
    tansu reports high watermarks low after batched writes (DESIGN.md: its end offsets are
    wrong for them), so there the gauges can read up to one producer batch per partition
    short; a stall is still seen through ``ingest_in_flight`` (messages held by the ingest
    hop), which does not depend on it.
    """

    def __init__(
        self, app: faust.App, topic: str, progress: Progress, stall_after_s: float, metrics: Metrics
    ) -> None:
        self.app = app
        self.topic = topic
        self.progress = progress
        self.stall_after_s = stall_after_s
        self.metrics = metrics

    def lag(self) -> tuple[int, int]:
        """(consumer lag, assigned partitions of the inference topic); sets the
        per-partition gauge for the partitions assigned now (others are dropped)."""
        try:
            consumer = self.app.consumer
            tps = [tp for tp in consumer.assignment() if tp.topic == self.topic]
        except Exception:  # not started yet
            return 0, 0
        lag = 0
        self.metrics.clear("consumer_partition_lag")
        for tp in sorted(tps):
            try:
                high = consumer.highwater(tp)
            except Exception:  # no fetch response yet for this partition
                continue
            done = consumer._committed_offset.get(tp)  # faust keeps no public accessor
            behind = max(0, (high or 0) - (done or 0))
            self.metrics.set("consumer_partition_lag", behind, topic=tp.topic,
                             partition=str(tp.partition))  # fmt: skip
            lag += behind
        return lag, len(tps)

    def report(self) -> dict[str, Any]:
        p = self.progress
        idle = p.idle_s()
        lag, assigned = self.lag()
        stalled = p.in_flight + lag > 0 and idle > self.stall_after_s
        self.metrics.set("seconds_since_last_stored_batch", round(idle, 3))
        self.metrics.set("ingest_in_flight", p.in_flight)
        self.metrics.set("consumer_lag", lag)
        self.metrics.set("stalled", int(stalled))
        return {
            "status": "stalled" if stalled else "ok",
            "seconds_since_last_stored_batch": round(idle, 3),
            "in_flight": p.in_flight,
            "consumer_lag": lag,
            "assigned_partitions": assigned,
            "stall_after_s": self.stall_after_s,
        }


class BoundedWorker(faust.Worker):
    """``faust.Worker`` whose shutdown always ends within ``timeout_s``.

    faust waits for in-flight messages before it runs ``on_before_shutdown``, and a batch
    held by a failing write would be in flight for ever; so the signal itself tells the
    hops to give up (``stop_hops``: their batches stay unacked, hence uncommitted, and are
    read again after a restart), and a watchdog ends the process if shutdown still has not
    finished when the time is up. Only what was stored was acked, so only that can be
    committed.
    """

    def __init__(
        self, app: faust.App, stop_hops: Callable[[], None], timeout_s: float, **kw: Any
    ) -> None:
        super().__init__(app, **kw)
        self.stop_hops = stop_hops
        self.timeout_s = timeout_s
        self._watchdog: threading.Timer | None = None

    def _begin_stop(self, why: str) -> None:
        self.stop_hops()
        if self._watchdog is None:
            log.warning("%s: stopping (at most %.0fs)", why, self.timeout_s)
            self._watchdog = threading.Timer(self.timeout_s, self._give_up)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _give_up(self) -> None:
        log.error("shutdown did not finish within %.0fs (INFERSIGHT_SHUTDOWN_TIMEOUT_S); "
                  "exiting now: nothing unstored was committed", self.timeout_s)  # fmt: skip
        logging.shutdown()
        os._exit(1)

    def _on_sigterm(self) -> None:
        self._begin_stop("SIGTERM")
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._begin_stop("SIGINT")
        super()._on_sigint()
