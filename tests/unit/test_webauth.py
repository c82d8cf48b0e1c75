"""The gate in front of the store's endpoints (streams.webauth): same origin, the token, and
loopback only without one. The served path is tested on a real worker in
tests/integration/test_serve.py."""

from __future__ import annotations

import base64

import pytest
from multidict import CIMultiDict

from streams.webauth import Gate, is_loopback

TOKEN = "s3cret-token-for-tests"


def headers(**kw: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in kw.items()})


def basic(password: str, user: str = "oncall") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("host", "loop"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.7", False),
     ("worker.internal", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_without_a_token_only_a_loopback_bind_serves() -> None:
    assert Gate(None, "127.0.0.1").refuse(headers(Host="127.0.0.1:6066")) is None
    refusal = Gate(None, "0.0.0.0").refuse(headers(Host="10.0.0.7:6066"))
    assert refusal is not None and refusal.status == 403
    assert "INFERSIGHT_API_TOKEN" in refusal.message and "0.0.0.0" in refusal.message


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0"])
def test_with_a_token_every_request_needs_it(bind: str) -> None:
    gate = Gate(TOKEN, bind)
    host = "10.0.0.7:6066"
    for good in (f"Bearer {TOKEN}", f"bearer  {TOKEN} ", basic(TOKEN), basic(TOKEN, user="")):
        assert gate.refuse(headers(Host=host, Authorization=good)) is None, good
    for bad in ("", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", basic("nope"), "Basic !!!",
                f"Token {TOKEN}", TOKEN, basic(TOKEN)[:-2]):  # fmt: skip
        refusal = gate.refuse(headers(Host=host, Authorization=bad))
        assert refusal is not None and refusal.status == 401, bad
        assert refusal.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert TOKEN not in refusal.message
    assert TOKEN not in repr(gate)


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://127.0.0.1:8080", "null", "http://127.0.0.1:6066.evil.io",
     "file://", "http://localhost:6066"],
)  # fmt: skip
def test_a_cross_site_request_is_refused_even_with_the_token(origin: str) -> None:
    """A page the on-call engineer opens must not POST a silence to the worker on their
    machine: the browser sends its Origin, which is not the worker's Host."""
    for gate, auth in (
        (Gate(None, "127.0.0.1"), ""),
        (Gate(TOKEN, "127.0.0.1"), f"Bearer {TOKEN}"),
    ):
        refusal = gate.refuse(headers(Host="127.0.0.1:6066", Origin=origin, Authorization=auth))
        assert refusal is not None and refusal.status == 403, origin


@pytest.mark.parametrize(("site", "ok"), [("cross-site", False), ("same-site", False),
                                          ("same-origin", True), ("none", True)])  # fmt: skip
def test_a_plain_get_from_another_page_is_refused(site: str, ok: bool) -> None:
    """<img src="http://127.0.0.1:6066/api/sql?sql=..."> on another page sends no Origin, but
    the browser says where it came from (another port of this host is 'same-site')."""
    refusal = Gate(None, "127.0.0.1").refuse(headers(Host="127.0.0.1:6066", Sec_Fetch_Site=site))
    assert (refusal is None) is ok


def test_dns_rebinding_is_refused_without_a_token() -> None:
    """evil.example made to resolve to 127.0.0.1: its page's Origin and Host agree, so only
    the Host's name tells it from the worker's own; with a token it has nothing to send."""
    rebound = headers(Host="evil.example:6066", Origin="http://evil.example:6066")
    refusal = Gate(None, "127.0.0.1").refuse(rebound)
    assert refusal is not None and refusal.status == 403 and "loopback Host" in refusal.message
    assert Gate(TOKEN, "127.0.0.1").refuse(rebound).status == 401
    for host in ("localhost:6066", "[::1]:6066", "127.0.0.1"):
        assert Gate(None, "127.0.0.1").refuse(headers(Host=host)) is None, host


def test_the_live_page_own_requests_pass() -> None:
    """The live page's fetches carry its own origin (or none, for a same-origin GET)."""
    gate = Gate(None, "127.0.0.1")
    assert gate.refuse(headers(Host="127.0.0.1:6066", Origin="http://127.0.0.1:6066")) is None
    assert gate.refuse(headers(Host="127.0.0.1:6066")) is None
