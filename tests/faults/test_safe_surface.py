"""The worker's surface through a real worker: its web endpoint binds INFERSIGHT_WEB_HOST
and serves only our routes; the credentials in notifier URLs and keys never reach its log
(even at DEBUG); bidi controls in a service name reach no channel."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
from faultkit import wait_for
from helpers import create_topics, publish, start_worker, worker_settings

from streams.demo import WebhookReceiver

SLACK_CANARY = "SLACKCANARY0a1b2c3d4e5f"
PD_CANARY = "PDCANARY9f8e7d6c5b4a"
BIDI = "\u202e"


def _listening(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if int(hexport, 16) == port and state == "0A":
                found.add(addr)
    return found


def test_worker_binds_its_host_serves_only_its_routes_and_logs_no_credentials(
    broker, tmp_path
) -> None:
    """Listening on 127.0.0.1 only; /router/ and /table/ are 404 while /healthz, /readyz,
    /metrics answer; a PII-leak page reaches Slack, PagerDuty and the webhook (all a local
    receiver) while the Slack URL's secret path and the PagerDuty key appear nowhere in the
    DEBUG worker log; the Slack and PagerDuty bodies carry no bidi control."""
    with WebhookReceiver() as hook:
        base = hook.url.rsplit("/", 1)[0]
        settings = worker_settings(
            broker, tmp_path, log_level="debug",
            monitor={"interval_s": 1.0, "pii_leak_threshold": 1},
            alerts={"webhook_url": hook.url,
                    "slack_webhook_url": f"{base}/services/T000/B000/{SLACK_CANARY}",
                    "pagerduty_routing_key": PD_CANARY, "pagerduty_url": f"{base}/pd",
                    "retries": 0},
        )  # fmt: skip
        create_topics(settings)
        worker = start_worker(settings)
        try:
            port = settings.web_port
            assert _listening(port) == {"0100007F"}, _listening(port)
            web = f"http://127.0.0.1:{port}"
            codes = {p: httpx.get(web + p, timeout=5).status_code
                     for p in ("/router/", "/table/", "/graph/", "/healthz", "/metrics")}  # fmt: skip
            assert codes == {"/router/": 404, "/table/": 404, "/graph/": 404, "/healthz": 200,
                             "/metrics": 200}  # fmt: skip
            event = {"service": f"pay{BIDI}gnp", "model": "gpt-4o", "prompt": "my contact?",
                     "response": "Write to jane.doe@northwind-mail.com or call 415-555-0132."}  # fmt: skip
            publish(broker, settings.kafka.topic("llm.inference.v1"), [(None, orjson.dumps(event))])
            wait_for(lambda: len(hook.requests) >= 3, 60, "webhook, Slack and PagerDuty posts")
        finally:
            worker.stop()
        paths = [h.get("path", "") for h, _ in hook.requests]
        bodies = [raw.decode() for _, raw in hook.requests]
    log = (settings.data_dir / "worker.log").read_text(errors="replace")
    assert "HTTP Request: POST" in log  # httpx did log the requests, redacted
    assert SLACK_CANARY not in log and PD_CANARY not in log
    assert any(PD_CANARY in b for b in bodies)  # the key was really used
    assert not any(BIDI in b for b in bodies), paths
