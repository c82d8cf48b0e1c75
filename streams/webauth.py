"""Who may use the store's HTTP endpoints (``/api/...`` and the live page): the gate in front
of ``streams.api`` and ``streams.live``, without the web framework.

Those endpoints read every stored event (redacted prompts and responses included) and write
silences, which mute pages. Three rules, in this order:

1. **No cross-site requests.** A request whose ``Origin`` is not the address it was sent to
   is refused (403). A web page the on-call engineer happens to open could otherwise POST a
   silence to ``http://127.0.0.1:6066/api/silences`` as a plain form (no preflight: browsers
   send it), muting every page, or run long queries; browsers always send ``Origin`` with
   such requests, and a same-origin page (the live page) sends its own. A plain GET from
   another page (an image, a link) carries no ``Origin``; browsers mark it with
   ``Sec-Fetch-Site: cross-site`` (or ``same-site``: another port of the same host), refused
   too. A typed address or a bookmark says ``none``; the command line sends neither header.
2. **A token, when one is set** (``INFERSIGHT_API_TOKEN``): ``Authorization: Bearer TOKEN``
   (the command line, curl) or HTTP Basic with the token as the password (a browser asks for
   it once). Compared in constant time; missing or wrong answers 401.
3. **No token: loopback only.** Without a token the endpoints answer only when the worker
   binds a loopback address (the default, 127.0.0.1), and only to a request addressed to a
   loopback name (``Host: 127.0.0.1:6066``, ``localhost``): a site whose own name is made to
   resolve to 127.0.0.1 (DNS rebinding) passes the Origin check, since its Origin and Host
   agree, but not this one. Bound to 0.0.0.0 (a pod, compose) they answer 403 and say to set
   the token. ``/healthz``, ``/readyz``, ``/stats`` and
   ``/metrics`` stay open: they hold counts, not data, and a scraper must reach them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Gate", "Refusal", "is_loopback"]

_REALM = 'Basic realm="infersight store", charset="UTF-8"'


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (``127.0.0.1``, ``::1``, ``localhost``)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: HTTP status, one line for the client, extra headers."""

    status: int
    message: str
    headers: Mapping[str, str]


def _presented(authorization: str) -> str | None:
    """The token in an ``Authorization`` header: Bearer, or Basic's password."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def _same_origin(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


class Gate:
    """The three rules above for one worker: its token (or None) and the address it binds."""

    def __init__(self, token: str | None, bind_host: str) -> None:
        self._token = (token or "").encode() or None
        self.bind_host = bind_host

    def __repr__(self) -> str:
        return f"Gate(token={'<set>' if self._token else None}, bind_host={self.bind_host!r})"

    def refuse(self, headers: Mapping[str, str]) -> Refusal | None:
        """None when the request may proceed; else why not. ``headers``: the request's
        (case-insensitive, as aiohttp's are)."""
        origin = headers.get("Origin")
        if origin is not None and not _same_origin(origin, headers.get("Host", "")):
            return Refusal(403, f"cross-origin request refused (Origin {origin[:100]!r})", {})
        site = headers.get("Sec-Fetch-Site", "").lower()
        if site in ("cross-site", "same-site"):  # an <img> or a link of another page: no Origin
            return Refusal(403, f"cross-origin request refused (Sec-Fetch-Site {site})", {})
        if self._token is not None:
            given = _presented(headers.get("Authorization", ""))
            if given is None or not hmac.compare_digest(given.encode(), self._token):
                msg = "this worker's store needs its token (INFERSIGHT_API_TOKEN) as Bearer"
                return Refusal(401, msg, {"WWW-Authenticate": _REALM})
            return None
        if not is_loopback(self.bind_host):
            msg = (
                f"the store is not served on {self.bind_host} without a token: set "
                "INFERSIGHT_API_TOKEN on the worker (and send it as Authorization: Bearer), or "
                "bind INFERSIGHT_WEB_HOST to 127.0.0.1"
            )
            return Refusal(403, msg, {})
        host = urlsplit("//" + headers.get("Host", "")).hostname or ""
        if not is_loopback(host):  # DNS rebinding: a site's own name pointed at 127.0.0.1
            return Refusal(403, f"without a token only a loopback Host is served, got {host!r}", {})
        return None
