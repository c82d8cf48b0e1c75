"""The channel contract and what every HTTP channel shares.

``Notifier``: ``async send(alert)`` / ``send_group(group)`` raise ``DeliveryError`` when the
channel did not accept after its retries; ``aclose()``; ``async with``. ``MemoryNotifier`` is
the null object. ``HTTPNotifier`` POSTs JSON with retries: 5xx, 429 and connection errors back
off exponentially; any other 4xx is final (the receiver said no).
"""

from __future__ import annotations

import asyncio
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from schemas.errors import InfersightError
from schemas.results import Alert, AlertStatus

__all__ = [
    "AlertGroup",
    "DeliveryError",
    "HTTPNotifier",
    "MemoryNotifier",
    "Notifier",
    "clip",
    "neutralise_bidi",
]

#: Unicode bidirectional controls (ALM, LRM, RLM, embeddings/overrides, isolates): in a
#: service name they can make a notification display something other than what it says.
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def neutralise_bidi(value: Any) -> Any:
    """``value`` with every bidi control in every string (keys included) shown as ``<U+XXXX>``,
    so a notification reads in the order its characters are stored.

    >>> neutralise_bidi({"service": "pay\u202egnp.exe"})
    {'service': 'pay<U+202E>gnp.exe'}
    """
    if isinstance(value, str):
        return BIDI_CONTROLS.sub(lambda m: f"<U+{ord(m[0]):04X}>", value)
    if isinstance(value, dict):
        return {neutralise_bidi(k): neutralise_bidi(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [neutralise_bidi(v) for v in value]
    return value


class DeliveryError(InfersightError, RuntimeError):
    """A channel refused or could not be reached after retries. ``retry_after_s``: how long
    the receiver asked us to wait (HTTP 429 ``Retry-After``), when it said."""

    def __init__(self, msg: str, retry_after_s: float | None = None) -> None:
        super().__init__(msg)
        self.retry_after_s = retry_after_s


#: The longest ``Retry-After`` taken at its word (an hour); a longer one is capped.
MAX_RETRY_AFTER_S = 3600.0


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None``
    when absent or unreadable; capped at ``MAX_RETRY_AFTER_S``.

    >>> retry_after_s("30"), retry_after_s("soon"), retry_after_s(None), retry_after_s("99999")
    (30.0, None, None, 3600.0)
    >>> retry_after_s("Thu, 01 Jan 1970 00:01:00 GMT", now=0.0)
    60.0
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


@dataclass(frozen=True)
class AlertGroup:
    """Alerts of one rule with one status, sent as one notification where the channel can."""

    rule: str
    status: AlertStatus
    alerts: tuple[Alert, ...]

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.status.value}"


class Notifier(ABC):
    name: str = "notifier"

    @abstractmethod
    async def send(self, alert: Alert) -> None: ...

    async def send_group(self, group: AlertGroup) -> None:
        """One notification for the group; by default one ``send`` per alert."""
        for alert in group.alerts:
            await self.send(alert)

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
        self.groups: list[AlertGroup] = []

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)

    async def send_group(self, group: AlertGroup) -> None:
        self.groups.append(group)
        self.sent.extend(group.alerts)


class HTTPNotifier(Notifier):
    """POST JSON with retries: 5xx, 429 and connection errors back off exponentially; any
    other 4xx is final (the receiver said no). A 429 with ``Retry-After`` (Slack, PagerDuty
    rate limits) ends the attempts at once and says how long to wait in the
    ``DeliveryError``: the outbox waits that long instead of retrying into the limit."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        label: str | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            shown = label or url
            msg = f"{self.name} url must start with http:// or https://, got {shown!r}"
            raise ValueError(msg)
        if retries < 0:
            msg = f"retries must be >= 0, got {retries!r}"
            raise ValueError(msg)
        if backoff_s < 0:
            msg = f"backoff_s must be >= 0, got {backoff_s!r}"
            raise ValueError(msg)
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self._label = label or url  # what errors may show of the destination
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    def headers(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": "infersight"}

    async def _post(self, payload: Any, what: str) -> None:
        import orjson

        body = orjson.dumps(neutralise_bidi(payload))  # every channel: webhook, Slack, PD, AM
        last = ""
        for attempt in range(self.retries + 1):
            try:
                resp = await self._client.post(self.url, content=body, headers=self.headers(body))
            except httpx.HTTPError as exc:
                last = type(exc).__name__  # the message may carry the (secret) URL
            else:
                if resp.status_code < 300:
                    return
                last = f"HTTP {resp.status_code}"
                if resp.status_code == 429:
                    wait = retry_after_s(resp.headers.get("Retry-After"))
                    if wait is not None:
                        msg = f"{self.name} {self._label} did not accept {what}: {last}, "
                        msg += f"retry after {wait:.0f}s"
                        raise DeliveryError(msg, retry_after_s=wait)
                elif resp.status_code < 500:
                    break
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        msg = f"{self.name} {self._label} did not accept {what}: {last}"
        raise DeliveryError(msg)

    async def aclose(self) -> None:
        await self._client.aclose()


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
