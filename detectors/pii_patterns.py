"""The patterns and checks behind the regex PII and secret scanner (detectors.pii).

Each entry of ``PATTERNS`` is ``(type, regex, check)``: a match counts when ``check`` accepts
its value (the last group, or the whole match). Checksums where a format has one (Luhn for
cards, mod-97 and the registry length for IBANs); for secrets, the names, forms and provider
formats that secret scanners look for, and the values that only talk about a secret
(variables, templates, placeholders, calls, documentation examples).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

__all__ = ["GATES", "PATTERNS", "SECRET_TYPES", "iban_ok", "luhn"]


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(match: str) -> bool:
    digits = re.sub(r"[ -]", "", match)
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn(digits)


# IBAN length per country (ISO 13616 registry); a country not listed may be 15..34 long.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24,
    "XK": 20,
}  # fmt: skip


def _iban_ok(match: str) -> bool:
    s = match.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or len(s) != _IBAN_LENGTHS.get(s[:2], len(s)):
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _ip_ok(match: str) -> bool:
    try:
        addr = ipaddress.ip_address(match)
    except ValueError:
        return False
    # Version-like strings such as 1.2.3.4 in prose are still addresses; only the
    # unspecified and loopback addresses identify nobody.
    return not (addr.is_unspecified or addr.is_loopback)


# Values that name a secret without being one: variables, templates, placeholders, calls.
_PLACEHOLDER = re.compile(
    r"""(?ix)^(?:
        \$\{ | \$\( | \{\{ | \{% | <.*>$ | \[.*\]$ | \(.*\)$   # ${VAR} $(cmd) {{ tpl }} <x> [x]
      | %[a-z_][a-z0-9_]*%$                         # %VAR%
      | .*[(\[]                                    # a call or an index: os.getenv(, cfg[
      | .*\{[a-z_][a-z0-9_.]*\}                     # f"{token}"
      | enc\[                                       # sops
      | (?:your|my|the|some|example|sample|dummy|fake|test|placeholder|redacted|changeme
          |change[_-]?me|replace[_-]?me|insert|put|enter|xxx|todo|none|null|undefined
          |true|false|secret|password|token|string|str|bytes)(?:[_\W].*)?$
      | ([*x.#_-])\1{5,}$                           # ****** or xxxxxxxx
    )"""
)
# Code, not a value: a dotted name whose parts are snake_case or SCREAMING_CASE
# (request.form, settings.SECRET_KEY, self.db.password), a snake_case variable (new_password),
# a lowercase path naming a secret (prod/db/password).
_NAME_PART = r"(?:[a-z_][a-z0-9_]*(?:[A-Z][a-z0-9]+)*|[A-Z_][A-Z0-9_]*)"  # snake, camel, CAPS
_IDENTIFIER = re.compile(
    rf"^{_NAME_PART}(?:\.{_NAME_PART})+$"
    r"|^[a-z]+(?:_[a-z0-9]+)+$|^[a-z]+(?:[/.-][a-z_]+)+$"
    r"|^\$(?:[A-Z_][A-Z0-9_]*|[a-z_][a-z0-9_]*)$"  # $VAR, $password
)


def _secret_value_ok(value: str) -> bool:
    """A value assigned to a credential name: anything but a placeholder, a variable, code, or
    a documentation example (AWS's ``...EXAMPLE`` keys)."""
    value = value.strip("\"'`")
    return (
        len(value) >= 8
        and "EXAMPLE" not in value
        and not _PLACEHOLDER.match(value)
        and not _IDENTIFIER.match(value)
    )


def _prose_secret_ok(value: str) -> bool:
    """Prose ("the password is X") is held stricter: prose also says "the token is expired"."""
    body = re.sub(r"[^A-Za-z0-9]", "", value)
    return _secret_value_ok(value) and any(c.isdigit() for c in value) and len(set(body)) >= 5


_KEY_PREFIX = re.compile(r"^[A-Za-z]+[_-](?:(?:live|test|proj|ant|api\d\d|pat)[_-])*|^SG\.")


def _provider_key_ok(value: str) -> bool:
    """A provider-format key, unless it is a documentation example: its random part one
    repeated character (``sk_test_xxxxxxxxxxxxxxxx``) or marked EXAMPLE."""
    tail = _KEY_PREFIX.sub("", value)
    return len(set(tail)) > 1 and "EXAMPLE" not in value.upper()


def _aws_secret_ok(value: str) -> bool:
    """40 characters of base64 with upper, lower and digits (not a hex digest)."""
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
        and not re.fullmatch(r"[0-9a-fA-F]+", value)
        and "EXAMPLE" not in value
    )


def _token_ok(value: str) -> bool:
    """A bearer or basic credential: long enough and not a placeholder such as <token>."""
    return _prose_secret_ok(value)


# Names of settings that hold a credential, wherever they sit in a longer name:
# aws_secret_access_key, AWS_SECRET_ACCESS_KEY, DB_PASSWORD, client_secret, _authToken,
# AccountKey. Matched from the credential word on: what comes before it in the name does not
# change the finding (the value), and leaving it out keeps the cost per start bounded (an
# unbounded prefix and suffix made "password_" x 500 take 12 s, and a prompt may hold a
# megabyte of it).
_SECRET_WORD = (
    r"(?:api[_-]?key|secret(?:[_-]?(?:access[_-]?)?key)?|access[_-]?key|private[_-]?key"
    r"|account[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|session[_-]?key"
    r"|auth[_-]?token|access[_-]?token|refresh[_-]?token|token|password|passwd|passphrase"
    r"|pwd|credentials?|client[_-]?secret)"
    # a suffix, unless it makes the name about the secret rather than the secret itself
    r"(?![_.-]?(?:name|names|file|path|length|len|ttl|expiry|expires|type|header|field|env"
    r"|var|prefix|format|id|ids|hash|hashed|url|uri|count|size|min|max|policy|rotation)\b)"
    # one character per repetition, so a run of name characters splits one way only; at most
    # 48 (longer than any setting name seen), so a start costs at most 48 steps
    r"(?:[_.-]?[A-Za-z0-9]){0,48}?"
)
# The whole name, for an XML element whose closing tag must repeat it; bounded alike.
_SECRET_NAME = r"[A-Za-z0-9_.-]{0,48}?" + _SECRET_WORD

# Order matters: on overlap the earlier pattern wins (secrets before numbers, IBANs before
# cards, cards before phones), and within one pattern the longer span.
PATTERNS: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = [
    (
        "PRIVATE_KEY",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[nr])*"
            r"[A-Za-z0-9+/=]{16}[\s\S]*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)"
        ),
        None,
    ),
    (
        "API_KEY",
        re.compile(
            r"(?<![\w-])(?:"
            r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{32,}"  # Anthropic
            r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"  # OpenAI
            r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe secret and restricted
            r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[0-9A-Z]{16}"  # AWS key ids
            r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
            r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
            r"|xox[abposre]-[A-Za-z0-9-]{10,}"  # Slack tokens
            r"|https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"  # Slack webhooks
            r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
            r"|ya29\.[0-9A-Za-z_-]{20,}"  # Google OAuth access tokens
            r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"  # SendGrid
            r"|npm_[A-Za-z0-9]{36}"  # npm
            r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
            r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
            r")"
        ),
        _provider_key_ok,
    ),
    (  # Authorization: Bearer <token> / Basic <base64> (header, curl -H, or prose)
        "SECRET",
        re.compile(r"(?i)\b(?:bearer|basic|token)\s+([A-Za-z0-9._~+/-]{12,}=*)"),
        _token_ok,
    ),
    (  # scheme://user:password@host (Postgres, MySQL, Mongo, Redis, AMQP, HTTP basic)
        "SECRET",
        re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@'\"]+:([^\s@/'\"]+)@[\w.-]+"),
        _secret_value_ok,
    ),
    (  # key = value, key: value, "key": "value", key => value, key := value, --key=value
        "SECRET",
        re.compile(
            r"(?i)" + _SECRET_WORD + r"[\"']?\s{0,3}(?::=|=>|[:=])\s{0,3}"
            r"[\"'`]?([^\s\"'`,;<]{8,})"
        ),
        _secret_value_ok,
    ),
    (  # XML: <password>value</password>
        "SECRET",
        re.compile(r"(?i)<(" + _SECRET_NAME + r")>\s*([^<\s]{8,})\s*</\1>"),
        _secret_value_ok,
    ),
    (  # prose: "the signing secret is 8f3a91c4...", "password: is" is not a value
        "SECRET",
        re.compile(
            r"(?i)(?:(?<![A-Za-z0-9])(?:api|secret|access|private|signing|encryption)\s+key|"
            + _SECRET_WORD
            + r")\s+is\s+[\"'`]?([^\s\"'`,;]{8,})"
        ),
        _prose_secret_ok,
    ),
    (  # an AWS secret access key on its own: exactly 40 base64 characters
        "API_KEY",
        re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
        _aws_secret_ok,
    ),
    (
        "EMAIL_ADDRESS",
        re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
        None,
    ),
    # An IBAN comes before cards: the digits of a space-separated IBAN ("GB82 WEST 1234 5698
    # 7654 32") hold Luhn-valid runs often enough to be half-taken for a card.
    ("IBAN_CODE", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), None),
    # A card number stands alone: digits glued to letters are part of another code (the
    # BBAN inside "GB76UVNR70568566246287" is Luhn-valid often enough to matter).
    ("CREDIT_CARD", re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])"), _card_ok),
    (
        "US_SSN",
        re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"),
        None,
    ),
    (
        "PHONE_NUMBER",
        re.compile(
            r"(?<![\w+])(?:"
            r"(?:\+?1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]\d{3}[ .-]\d{4}"  # NANP
            r"|\+[1-9]\d{0,2}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}"  # international, E.164
            r")(?![\w-])"
        ),
        lambda m: 10 <= len(re.sub(r"\D", "", m)) <= 15,
    ),
    ("IP_ADDRESS", re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"), _ip_ok),
    (
        "IP_ADDRESS",
        re.compile(
            r"(?<![\w:])(?=[0-9A-Fa-f:]*::|(?:[0-9A-Fa-f]{1,4}:){7})[0-9A-Fa-f:]{3,39}(?![\w:])"
        ),
        _ip_ok,
    ),
]

# One cheap test per pattern, in the same order: a text that fails it cannot hold a match that
# passes the pattern's check, so the regex is not run. ``digits`` counts the text's ``\d``
# characters (Unicode decimal digits, what the patterns' ``\d`` matches).
Gate = Callable[[str, int], bool]
GATES: list[Gate] = [
    lambda t, d: "PRIVATE KEY" in t and "-----BEGIN " in t,
    lambda t, d: len(t) >= 15,  # the shortest provider key, xoxb- and 10 more, is 15 long
    lambda t, d: d > 0,  # bearer/basic/token: the value must hold a digit (ASCII: its class)
    lambda t, d: "://" in t and "@" in t,
    lambda t, d: ":" in t or "=" in t,
    lambda t, d: "</" in t,
    # prose: the value must hold a digit; str.isdigit also takes non-ASCII digits (²)
    lambda t, d: d > 0 or not t.isascii(),
    lambda t, d: d > 0 and len(t) >= 40,
    lambda t, d: "@" in t,
    lambda t, d: d >= 2,
    lambda t, d: d >= 13,
    lambda t, d: d >= 9,
    lambda t, d: d >= 10,
    lambda t, d: d >= 4 and "." in t,
    lambda t, d: ":" in t,
]

#: Types that are secrets rather than personal data; named in reasons as such.
SECRET_TYPES = frozenset({"API_KEY", "SECRET", "PRIVATE_KEY"})

# public names for the scanner
luhn = _luhn
iban_ok = _iban_ok
