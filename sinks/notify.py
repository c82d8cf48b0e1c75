"""Notifiers: deliver an ``Alert`` to a human's channel. A notifier never decides who gets
paged; the rule engine does.

Contract: ``async send(alert)`` raises ``DeliveryError`` when the channel did not accept the
alert after its retries; ``aclose()``; usable as ``async with``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any

import httpx

from schemas.results import Alert

__all__ = ["DeliveryError", "MemoryNotifier", "Notifier", "WebhookNotifier"]

log = logging.getLogger(__name__)


class DeliveryError(RuntimeError):
    """A channel refused or could not be reached after retries."""


class Notifier(ABC):
    name: str = "notifier"

    @abstractmethod
    async def send(self, alert: Alert) -> None: ...

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class MemoryNotifier(Notifier):
    """Keeps what it was sent: the null object for configuration without channels."""

    name = "memory"

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)


class WebhookNotifier(Notifier):
    """POST the alert as JSON to ``url``.

    With a ``secret``, the body is signed: header ``X-Infersight-Signature`` is
    ``sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body))`` and ``X-Infersight-Timestamp``
    the Unix time used, so a receiver can reject replays. 5xx and connection errors are
    retried with exponential backoff; 4xx is not (the receiver said no).
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
        if not url.startswith(("http://", "https://")):
            msg = f"webhook url must start with http:// or https://, got {url!r}"
            raise ValueError(msg)
        self.url = url
        self._secret = secret.encode() if secret else None
        self.retries = retries
        self.backoff_s = backoff_s
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookNotifier(url={self.url!r}, signed={self._secret is not None})"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return alert.model_dump(mode="json")

    def headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "infersight"}
        if self._secret:
            ts = str(int(time.time()))
            mac = hmac.new(self._secret, ts.encode() + b"." + body, hashlib.sha256)
            headers["X-Infersight-Timestamp"] = ts
            headers["X-Infersight-Signature"] = f"sha256={mac.hexdigest()}"
        return headers

    async def send(self, alert: Alert) -> None:
        import orjson

        body = orjson.dumps(self.payload(alert))
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
                resp = await self._client.post(self.url, content=body, headers=self.headers(body))
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 300:
                    return
                last = f"HTTP {resp.status_code}"
                if resp.status_code < 500 and resp.status_code != 429:
                    break
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        msg = f"webhook {self.url} did not accept alert {alert.alert_id}: {last}"
        raise DeliveryError(msg)

    async def aclose(self) -> None:
        await self._client.aclose()
