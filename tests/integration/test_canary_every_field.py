"""Canaries in every field of the schema, through a real broker and a real worker: none
survives in any ClickHouse table, topic, log line or webhook body.

The events are built by walking ``InferenceEvent``'s fields recursively (nested models,
lists, dict keys and values), so a field added to the schema is covered without touching
this test. Every text slot gets a unique canary of one kind: email, card, AWS secret (as
``AWS_SECRET_ACCESS_KEY=...``), bearer token (``Authorization: Bearer ...``), IBAN (spaced)
and phone; the chat and the plain-text prompt are both covered. A few invalid events
carrying canaries in a bad ``schema_version``, a metadata key and an over-long field check
the dead-letter path. The events are produced with librdkafka (confluent-kafka).
"""

from __future__ import annotations

import itertools
import random
import string
import sys
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import orjson
import pytest
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

import faultkit as fk  # noqa: E402  # tests/faults helpers: chDB dump, canary search
from conftest import wait_until  # noqa: E402
from helpers import consume, create_topics, start_worker, worker_settings  # noqa: E402

from schemas.events import InferenceEvent  # noqa: E402
from streams.demo import WebhookReceiver  # noqa: E402

KINDS = ("email", "card", "aws_secret", "bearer", "iban", "phone")
RNG = random.Random(20261129)
_serial = itertools.count(1)


def _luhn(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body + "0")):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def _iban(bban: str) -> str:
    n = int("".join(str(int(ch, 36)) for ch in bban + "GB00"))
    raw = f"GB{98 - n % 97:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def canary(kind: str) -> tuple[str, list[str]]:
    """A unique canary of ``kind``: the text to publish and the raw strings that must not
    survive (numbers also without their spaces)."""
    n = next(_serial)
    alnum = string.ascii_letters + string.digits
    if kind == "email":
        value = f"canary.{n}.{RNG.randrange(10**6)}@mailcanary.net"
        return value, [value]
    if kind == "card":
        digits = _luhn(f"4539{n:05d}{RNG.randrange(10**6):06d}")
        spaced = " ".join(digits[i : i + 4] for i in range(0, 16, 4))
        return spaced, [spaced, digits]
    if kind == "aws_secret":
        secret = "".join(RNG.choice(alnum) for _ in range(36)) + f"{n:04d}"
        secret = "Ab9" + secret[3:]  # upper, lower and digits, as AWS secrets are
        return f"AWS_SECRET_ACCESS_KEY={secret}", [secret]
    if kind == "bearer":
        token = f"tok{n:05d}" + "".join(RNG.choice(alnum) for _ in range(24))
        return f"Authorization: Bearer {token}", [token]
    if kind == "iban":
        spaced = _iban(f"WEST{RNG.randrange(10**6):06d}{n:08d}")
        return spaced, [spaced, spaced.replace(" ", "")]
    phone = f"+44 20 7946 {n % 10_000:04d}"
    return phone, [phone, phone.replace(" ", "")]


def _unwrap(ann: Any) -> Any:
    while get_origin(ann) is typing.Annotated:
        ann = get_args(ann)[0]
    return ann


def _values(ann: Any, path: str, kind: str, variant: int, needles: list[str]) -> Any:
    """A value for ``ann`` with a canary in every text slot (``variant`` picks the branch of
    a union: the plain-text and the chat prompt)."""
    ann = _unwrap(ann)
    origin = get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(ann) if a is not type(None)]
        return _values(options[variant % len(options)], path, kind, variant, needles)
    if origin is Literal:
        return get_args(ann)[0]
    if origin is list:
        return [_values(get_args(ann)[0], f"{path}[0]", kind, variant, needles)]
    if origin is dict:
        k_ann, v_ann = get_args(ann)
        key = _values(k_ann, f"{path}.key", kind, variant, needles)
        return {key: _values(v_ann, f"{path}.value", kind, variant, needles)}
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return build(ann, path, kind, variant, needles)
    if ann is str:
        text, raw = canary(kind)
        needles.extend(raw)
        return text
    if ann is datetime:
        return datetime.now(UTC).isoformat()
    if ann is int:
        return 0
    if ann is float:
        return 1.5
    if ann is bool:
        return False
    raise AssertionError(f"the canary builder does not know {ann!r} at {path}: teach it")


def build(model: type[BaseModel], path: str, kind: str, variant: int, needles: list[str]) -> dict:
    return {
        name: _values(field.annotation, f"{path}.{name}", kind, variant, needles)
        for name, field in model.model_fields.items()
    }


def canary_events() -> tuple[list[bytes], list[str], int]:
    """Valid events with canaries everywhere (each kind x each prompt variant), plus invalid
    ones carrying canaries where the parser reports the error; and every raw canary."""
    needles: list[str] = []
    valid: list[bytes] = []
    for kind in KINDS:
        for variant in (0, 1):
            doc = build(InferenceEvent, "event", kind, variant, needles)
            InferenceEvent.model_validate(doc)  # the builder makes valid events
            valid.append(orjson.dumps(doc))
    email, raw = canary("email")
    card, raw2 = canary("card")
    needles += raw + raw2
    bad = [
        {"service": "s", "model": "m", "schema_version": email},
        {"service": "s", "model": "m", "metadata": {card: 7}},
        {"service": "s", "model": "m", "user_id": email, "segments": [card * 20]},
        {"service": "s", "model": "m", "event_id": email, "timestamp": "3000-01-01T00:00:00Z"},
    ]
    return valid + [orjson.dumps(b) for b in bad], needles, len(valid)


def test_no_canary_survives_in_any_field_table_topic_log_or_webhook(broker, tmp_path) -> None:
    from confluent_kafka import Producer

    messages, needles, n_valid = canary_events()
    n_bad = len(messages) - n_valid
    with WebhookReceiver() as hook:
        settings = worker_settings(
            broker, tmp_path,
            monitor={"interval_s": 1.0, "pii_leak_threshold": 1},
            alerts={"webhook_url": hook.url, "webhook_secret": "whsec-canary"},
            detectors={"hash_salt": "canary-test-salt-0123456789"},
        )  # fmt: skip
        create_topics(settings)
        producer = Producer({"bootstrap.servers": broker, "acks": "all", "linger.ms": 5})
        for value in messages:
            producer.produce(settings.kafka.topic("llm.inference.v1"), value)
        assert producer.flush(30) == 0
        worker = start_worker(settings)
        try:
            signals = consume(broker, settings.kafka.topic("llm.signals.v1"), n_valid)
            dead = consume(broker, settings.kafka.topic("llm.deadletter.v1"), n_bad)
            alerts = consume(broker, settings.kafka.topic("llm.alerts.v1"), 1, timeout_s=30)
            wait_until(lambda: hook.bodies, 30, what="a webhook delivery")
        finally:
            assert worker.stop() == 0
        bodies = [orjson.dumps(b).decode() for b in hook.bodies]
    assert (len(signals), len(dead)) == (n_valid, n_bad)
    stored = fk.stored(settings, dump=True)
    assert stored["queries"]["events"][0]["n"] == n_valid
    texts = {f"clickhouse.{t}": text for t, text in stored["tables"].items()}
    assert {"events", "signals", "deadletters", "alerts"} <= set(stored["tables"])
    texts["worker log"] = fk.log_text([settings.data_dir / "worker.log"])
    texts["webhook bodies"] = "\n".join(bodies)
    # The dead-letter envelope keeps the original bytes base64-encoded for replay (that topic
    # is as sensitive as the input topic); its words (message, errors, event id) are checked.
    texts["llm.deadletter.v1"] = "\n".join(
        orjson.dumps({k: v for k, v in orjson.loads(r.value).items() if k != "original_b64"})
        .decode() for r in dead
    )  # fmt: skip
    texts["llm.signals.v1"] = "\n".join(r.value.decode() for r in signals)
    texts["llm.alerts.v1"] = "\n".join(r.value.decode() for r in alerts)
    assert len(needles) > 12 * 30  # every field of every event carried one
    found = fk.find_canaries(needles, texts)
    assert found == [], f"{len(found)} canaries survived, e.g. {found[:5]}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_builder_puts_a_canary_in_every_text_field(kind: str) -> None:
    """The walk reaches every string slot of the schema (so the search above means it)."""
    needles: list[str] = []
    doc = build(InferenceEvent, "event", kind, 1, needles)
    event = InferenceEvent.model_validate(doc)
    assert event.environment and event.metadata and event.segments and event.finish_reasons
    assert isinstance(event.prompt, list) and event.prompt[0].role
    assert event.context[0].id and event.context[0].source
