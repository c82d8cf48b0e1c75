"""``infersight demo``: the whole system on one machine, then a summary a person can read.

Starts a local broker (unless ``INFERSIGHT_KAFKA_BOOTSTRAP`` is set), a webhook receiver on
localhost standing in for the on-call channel, and a worker process (which owns the embedded
ClickHouse directory); publishes a realistic stream with some malformed messages; waits
until every message is stored or dead-lettered; stops the worker; and reports from
ClickHouse.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from streams.broker import LocalBroker, free_port, wait_for_port
from streams.settings import Settings, secret_values

__all__ = ["WebhookReceiver", "WorkerProcess", "run_demo", "settings_env"]


class WebhookReceiver:
    """A localhost HTTP server that records every JSON body POSTed to it: parsed in
    ``bodies``/``headers``, and as ``requests`` of (lower-cased headers, exact bytes) for
    checking signatures, which are over the bytes."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        #: Seconds to wait before answering (a slow receiver, for the fault suite). A POST
        #: that arrives while it is set is kept in ``late`` instead: its sender timed out.
        self.delay_s = 0.0
        self.late: list[bytes] = []
        self.arrivals: list[float] = []  # time.monotonic() of every POST, late ones included
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.arrivals.append(time.monotonic())
                if received.delay_s:
                    received.late.append(raw)
                    time.sleep(received.delay_s)
                    self.send_response(202)
                    self.end_headers()
                    return
                received.requests.append(({k.lower(): v for k, v in self.headers.items()}, raw))
                received.bodies.append(json.loads(raw))
                received.headers.append(dict(self.headers))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def settings_env(settings: Settings) -> dict[str, str]:
    """``INFERSIGHT_*`` variables that reproduce ``settings`` in a child process."""
    env: dict[str, str] = {}
    data = settings.model_dump(mode="json", exclude_defaults=False)
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                if item is None:
                    continue
                env[f"INFERSIGHT_{key}_{sub}".upper()] = (
                    json.dumps(item) if isinstance(item, (list, dict)) else str(item)
                )
        elif value is not None:
            env[f"INFERSIGHT_{key}".upper()] = str(value)
    env.update(secret_values(settings))  # dumped masked ("**********"): the real values
    return env


class WorkerProcess:
    """``infersight worker`` as a child process, with its stats endpoint."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.stats_url = f"http://{settings.web_host}:{settings.web_port}/stats"

    def start(self, timeout_s: float = 120.0) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
        env.update(settings_env(self.settings))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        wait_for_port(self.settings.web_port, timeout_s, proc=self.proc)
        return self

    def stats(self) -> dict[str, Any]:
        try:
            return dict(httpx.get(self.stats_url, timeout=2).json())
        except (httpx.HTTPError, ValueError):
            return {}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def _maybe_broker(settings: Settings, data_dir: Path) -> Iterator[str]:
    if settings.kafka.bootstrap:
        yield settings.kafka.bootstrap
        return
    with LocalBroker(log_path=data_dir / "broker.log") as broker:
        yield broker.bootstrap


def _wait_processed(worker: WorkerProcess, expected: int, timeout_s: float) -> dict[str, Any]:
    from tqdm import tqdm

    deadline = time.monotonic() + timeout_s
    stats: dict[str, Any] = {}
    with tqdm(total=expected, unit="ev", desc="process", file=sys.stderr) as bar:
        while time.monotonic() < deadline:
            if not worker.alive():
                code = worker.proc and worker.proc.returncode
                msg = f"the worker exited (code {code}); see {worker.log_path}"
                raise RuntimeError(msg)
            stats = worker.stats()
            done = int(stats.get("events_stored", 0) + stats.get("deadlettered", 0))
            bar.update(max(0, min(done, expected) - bar.n))
            if done >= expected:
                return stats
            time.sleep(0.25)
    msg = (
        f"only {stats.get('events_stored', 0)} stored after {timeout_s:.0f}s; see {worker.log_path}"
    )
    raise TimeoutError(msg)


def _demo_settings(settings: Settings, bootstrap: str, hook_url: str) -> Settings:
    """The demo's overrides: the local broker and webhook, a free web port, a 2 s monitor,
    every detector and small drift windows unless the operator configured them."""
    return settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"bootstrap": bootstrap}),
            "web_port": settings.web_port if settings.web_port != 6066 else free_port(),
            "monitor": settings.monitor.model_copy(update={"interval_s": 2.0}),
            # The demo shows every detector, opt-in ones included.
            "detectors": settings.detectors.model_copy(
                update={"enabled": ["cost", "pii", "toxicity", "injection", "hallucination"]}
            )
            if "detectors" not in settings.model_fields_set
            else settings.detectors,
            # ~500 events per series in the demo: small windows so drift can be seen.
            "drift": settings.drift.model_copy(
                update={"reference_size": 150, "window_size": 100, "n_streams": 12}
            )
            if "drift" not in settings.model_fields_set
            else settings.drift,
            "alerts": settings.alerts.model_copy(
                update={"webhook_url": settings.alerts.webhook_url or hook_url}
            ),
        }
    )


def run_demo(settings: Settings, events: int = 3000, seed: int = 7) -> int:
    from streams.app import ensure_topics
    from streams.demo_data import generate
    from streams.publish import Publisher

    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:8]
    started = time.time()
    print(f"infersight demo (run {run_id}) — data under {data_dir}", file=sys.stderr)
    worker: WorkerProcess | None = None
    with _maybe_broker(settings, data_dir) as bootstrap, WebhookReceiver() as hook:
        settings = _demo_settings(settings, bootstrap, hook.url)
        print(
            f"broker: {bootstrap}   alerts webhook: {settings.alerts.webhook_url}", file=sys.stderr
        )
        asyncio.run(ensure_topics(settings.kafka, (settings.otel.topic,)))
        try:
            worker = WorkerProcess(settings, data_dir / "worker.log").start()
            print(f"live page: http://127.0.0.1:{settings.web_port}/ (while the demo runs)",
                  file=sys.stderr)  # fmt: skip
            # From 60% on, the support bot's users ask about finance: drift to be caught.
            messages = generate(events, seed=seed, run_id=run_id, shift_at=0.6)

            async def publish() -> None:
                from tqdm import tqdm

                topic = settings.kafka.topic("llm.inference.v1")
                async with Publisher(bootstrap, topic) as pub:
                    pending = []
                    for m in tqdm(messages, unit="ev", desc="publish", file=sys.stderr):
                        pending.append(await pub.send_raw(m.value, m.key))
                    await asyncio.gather(*pending)

            asyncio.run(publish())
            stats = _wait_processed(worker, len(messages), timeout_s=max(120.0, events / 10))
            # Let the monitor evaluate the finished stream (two intervals) and notify.
            time.sleep(2 * settings.monitor.interval_s + 1.5)
            stats = worker.stats()
        finally:
            if worker is not None:
                worker.stop()
        from streams.summary import print_summary

        print_summary(settings, run_id, stats, hook.bodies, time.time() - started)
    return 0
