"""Generic webhook: each alert as its JSON, optionally HMAC-signed."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx

from alerting.channels.base import HTTPNotifier
from schemas.results import Alert

__all__ = ["WebhookNotifier"]


class WebhookNotifier(HTTPNotifier):
    """POST each alert as its JSON (schemas/alert.v1.schema.json) to ``url``.

    With a ``secret``, the body is signed: header ``X-Infersight-Signature`` is
    ``sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body))`` and ``X-Infersight-Timestamp``
    the Unix time used, so a receiver can reject replays. One POST per alert: machine
    consumers key on the alert's fingerprint and episode.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, transport=transport
        )
        self._secret = secret.encode() if secret else None

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookNotifier(url={self.url!r}, signed={self._secret is not None})"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return alert.model_dump(mode="json")

    def headers(self, body: bytes) -> dict[str, str]:
        headers = super().headers(body)
        if self._secret:
            ts = str(int(time.time()))
            mac = hmac.new(self._secret, ts.encode() + b"." + body, hashlib.sha256)
            headers["X-Infersight-Timestamp"] = ts
            headers["X-Infersight-Signature"] = f"sha256={mac.hexdigest()}"
        return headers

    async def send(self, alert: Alert) -> None:
        await self._post(self.payload(alert), f"alert {alert.alert_id}")
