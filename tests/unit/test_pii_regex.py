"""Property tests for the regex PII patterns in detectors.pii."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from detectors.pii import find_pii, redact_text
from detectors.pii_patterns import _PLACEHOLDER, luhn

FILLER = st.sampled_from(["please check", "the value is", "see", "ok:", "note that"])


def luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    for d in "0123456789":
        if luhn(body + d):
            return body + d
    raise AssertionError("unreachable: one digit always completes a Luhn number")


cards = st.builds(
    lambda prefix, rest: luhn_complete(prefix + rest),
    st.sampled_from(["4", "51", "55", "37", "6011"]),
    st.text("0123456789", min_size=11, max_size=11),
).filter(lambda n: len(set(n)) > 1)


def iban(country: str, bban: str) -> str:
    """A valid IBAN: check digits computed by ISO 13616 mod-97."""
    moved = bban + country + "00"
    number = int("".join(str(int(ch, 36)) for ch in moved))
    return f"{country}{98 - number % 97:02d}{bban}"


#: BBAN length per country (the IBAN is 4 longer), as the ISO 13616 registry has them.
BBAN_LENGTHS = {"GB": 18, "DE": 18, "FR": 23, "NL": 14, "IT": 23, "ES": 20}
ibans = st.sampled_from(sorted(BBAN_LENGTHS)).flatmap(
    lambda country: st.builds(
        iban,
        st.just(country),
        st.text(
            string.ascii_uppercase[:6] + string.digits,
            min_size=BBAN_LENGTHS[country],
            max_size=BBAN_LENGTHS[country],
        ),
    )
)


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in find_pii(text, "response")]


@settings(max_examples=150, deadline=None)
@given(card=cards, before=FILLER, sep=st.sampled_from(["", " ", "-"]))
def test_luhn_valid_card_is_found(card: str, before: str, sep: str) -> None:
    """A Luhn-valid 16-digit number, plain or grouped by four, is a CREDIT_CARD."""
    grouped = sep.join(card[i : i + 4] for i in range(0, len(card), 4))
    text = f"{before} {grouped} thanks"
    assert ("CREDIT_CARD", grouped) in kinds(text)


@settings(max_examples=150, deadline=None)
@given(card=cards, delta=st.integers(1, 9))
def test_luhn_invalid_card_is_not_found(card: str, delta: int) -> None:
    """Changing the check digit breaks Luhn, and the number is no longer a card."""
    wrong = card[:-1] + str((int(card[-1]) + delta) % 10)
    assert not luhn(wrong)
    assert "CREDIT_CARD" not in {k for k, _ in kinds(f"number {wrong} here")}


@settings(max_examples=150, deadline=None)
@given(code=ibans, before=FILLER)
def test_mod97_valid_iban_is_found_whole(code: str, before: str) -> None:
    """A mod-97-valid IBAN is one IBAN_CODE, never a card inside it."""
    assert kinds(f"{before} {code} today") == [("IBAN_CODE", code)]


@settings(max_examples=100, deadline=None)
@given(code=ibans)
def test_iban_with_wrong_check_digits_is_not_an_iban(code: str) -> None:
    """Wrong check digits fail mod-97."""
    check = (int(code[2:4]) + 1) % 100
    wrong = f"{code[:2]}{check:02d}{code[4:]}"
    assert "IBAN_CODE" not in {k for k, _ in kinds(f"iban {wrong}")}


local_part = st.text(
    string.ascii_lowercase + string.digits + "._+", min_size=1, max_size=12
).filter(lambda s: s[0].isalnum() and s[-1].isalnum() and ".." not in s)
domain = st.text(string.ascii_lowercase, min_size=2, max_size=10)


@settings(max_examples=150, deadline=None)
@given(user=local_part, host=domain, tld=st.sampled_from(["com", "org", "io", "co.uk"]))
def test_email_is_found_exactly(user: str, host: str, tld: str) -> None:
    """An email address in prose is found with exact boundaries."""
    email = f"{user}@{host}.{tld}"
    assert kinds(f"write to {email}, please") == [("EMAIL_ADDRESS", email)]


@settings(max_examples=150, deadline=None)
@given(
    area=st.integers(200, 999),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
    fmt=st.sampled_from(["{a}-{e}-{l}", "({a}) {e}-{l}", "+1 {a} {e} {l}", "{a}.{e}.{l}"]),
)
def test_nanp_phone_is_found(area: int, exchange: int, line: int, fmt: str) -> None:
    """North American numbers in the usual formats are PHONE_NUMBER."""
    phone = fmt.format(a=area, e=exchange, l=f"{line:04d}")
    assert kinds(f"call {phone} now") == [("PHONE_NUMBER", phone)]


@settings(max_examples=100, deadline=None)
@given(
    secret=st.sampled_from(
        [
            "sk-" + "A1b2C3d4" * 4,
            "sk-proj-" + "x9Y8z7W6" * 4,
            "AKIA" + "ABCDEFGHIJ234567",
            "ghp_" + "a" * 18 + "B" * 18,
            "xoxb-123456789012-abcdef",
        ]
    ),
    before=FILLER,
)
def test_api_keys_are_found(secret: str, before: str) -> None:
    """Provider API keys are API_KEY spans covering the whole key."""
    assert kinds(f"{before} {secret} end") == [("API_KEY", secret)]


@settings(max_examples=100, deadline=None)
@given(value=st.text(string.ascii_letters + string.digits + "!#$%", min_size=8, max_size=24))
def test_password_assignment_redacts_only_the_value(value: str) -> None:
    """``password=...`` is a SECRET spanning the value, not the key name (unless the value is
    a variable or placeholder: ``$DB_PASS``, ``%PASS%``, ``changeme``)."""
    assume(not _PLACEHOLDER.match(value))
    text = f"password={value}"
    assert kinds(text) == [("SECRET", value)]


pii_piece = st.one_of(
    cards,
    ibans,
    st.builds(lambda u, h: f"{u}@{h}.com", local_part, domain),
    st.just("123-45-6789"),
    st.just("+44 20 7946 0958"),
    st.just("10.12.0.7"),
)


@settings(max_examples=150, deadline=None)
@given(
    pieces=st.lists(pii_piece, min_size=1, max_size=4),
    mode=st.sampled_from(["replace", "mask", "hash"]),
)
def test_redaction_never_leaves_the_raw_span(pieces: list[str], mode: str) -> None:
    """Every found span is gone from the redacted text, whatever the mode."""
    text = " and ".join(f"item {p}" for p in pieces)
    found = find_pii(text, "response")
    redacted = redact_text(text, found, mode, salt="s")  # type: ignore[arg-type]  # sampled
    assert len(found) == len(pieces)
    for f in found:
        assert text[f.start : f.end] not in redacted


@settings(max_examples=100, deadline=None)
@given(code=ibans, before=FILLER)
def test_space_separated_iban_is_one_iban_never_a_card(code: str, before: str) -> None:
    """An IBAN printed in groups of four is found whole, even when capitals follow it."""
    spaced = " ".join(code[i : i + 4] for i in range(0, len(code), 4))
    assert kinds(f"{before} {spaced} BIC NWBKGB2L") == [("IBAN_CODE", spaced)]


SECRET_VALUE = "tR9vB2kLmX4qZ8wN1pY6sD3fG7hJ0cV5uE2iO8aK"


@pytest.mark.parametrize(
    "template",
    [
        "aws_secret_access_key = {v}",
        "AWS_SECRET_ACCESS_KEY={v}",
        "export DB_PASSWORD={v}",
        "client_secret: {v}",
        '{{"clientSecret": "{v}"}}',
        'dbPassword := "{v}"',
        "<password>{v}</password>",
        "Authorization: Bearer {v}",
        "postgres://app:{v}@db.internal:5432/app",
        "the signing secret is {v}",
        "{v}",
    ],
)
def test_secret_forms_of_issue_11_are_found(template: str) -> None:
    """Names after an underscore, camelCase, YAML/JSON/XML, headers, URLs, prose, bare AWS."""
    text = template.format(v=SECRET_VALUE)
    assert [(k, v) for k, v in kinds(text) if k in ("SECRET", "API_KEY")] == [
        (kinds(text)[0][0], SECRET_VALUE)
    ]


@pytest.mark.parametrize(
    "text",
    [
        'api_key = os.getenv("API_KEY")',
        "password: ${DB_PASSWORD}",
        "AWS_SECRET_ACCESS_KEY=<your-secret-key>",
        "STRIPE_API_KEY=sk_test_xxxxxxxxxxxxxxxxxxxxxxxx",
        'headers = {"Authorization": f"Bearer {token}"}',
        "postgres://user:password@localhost:5432/app",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "password = self.password",
        "db_password: ENC[AES256_GCM,data:8fK2m==,iv:Qx1==]",
    ],
)
def test_code_that_talks_about_secrets_holds_none(text: str) -> None:
    assert [k for k, _ in kinds(text) if k in ("SECRET", "API_KEY", "PRIVATE_KEY")] == []
