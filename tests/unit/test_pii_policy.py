"""The leak policy: kinds, whose data it is, published contacts, and the policy file."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.pii import RegexPIIDetector
from detectors.pii_policy import LeakPolicy
from detectors.pii_policy_file import PolicyFileError, load_policy
from schemas.events import ChatMessage, ContextDocument, InferenceEvent

SECRET = "sk-proj-Hk29aLmQ7xVbN3pR8tYw2ZcF5jD1eG6u"


def ev(
    response: str, prompt: str = "hi", docs: tuple[str, ...] = (), **kw: object
) -> InferenceEvent:
    return InferenceEvent(
        service=str(kw.pop("service", "shop")), model="m", prompt=prompt, response=response,
        context=[ContextDocument(text=d) for d in docs], **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def judge(e: InferenceEvent, det: RegexPIIDetector | None = None):  # type: ignore[no-untyped-def]
    [signal] = (det or RegexPIIDetector()).score_batch([e])
    return signal


def test_secret_from_a_config_document_is_critical_and_names_its_source() -> None:
    e = ev(f"It authenticates with {SECRET}.", "Summarise the config",
           ("APP=prod", f"OPENAI_API_KEY={SECRET}"))  # fmt: skip
    s = judge(e)
    assert s.fired and s.detail["kind"] == "secret" and s.detail["severity"] == "critical"
    assert "context[1]" in s.reason and "API_KEY" in s.reason
    assert SECRET not in s.reason and SECRET not in str(s.detail)


def test_secret_the_user_pasted_in_this_prompt_is_not_a_leak() -> None:
    e = ev(f"The key {SECRET} was rejected; rotate it.", f"why 401 with {SECRET}?")
    assert not judge(e).fired


def test_another_customers_email_from_a_record_leaks_the_requesters_own_does_not() -> None:
    docs = ("Order 1 | customer Priya <priya@gmail.com>", "Order 2 | customer Tom <tom.w@onet.pl>")
    meta = {"user_email": "priya@gmail.com"}
    leak = judge(ev("Tom is at tom.w@onet.pl", "where is my order?", docs, metadata=meta))
    own = judge(ev("We emailed priya@gmail.com", "where is my order?", docs, metadata=meta))
    assert leak.fired and leak.detail["kind"] == "third_party_from_context"
    assert "context[1]" in leak.reason
    assert not own.fired


def test_a_record_naming_the_user_id_is_the_requesters_own() -> None:
    docs = ("Account 4471: Dana, mobile (312) 847-2291", "Account 4472: Marcus, (773) 902-4418")
    assert not judge(ev("On file: (312) 847-2291", "my number?", docs, user_id="4471")).fired
    assert judge(ev("On file: (773) 902-4418", "my number?", docs, user_id="4471")).fired


def test_another_number_in_the_requesters_own_line_is_someone_elses() -> None:
    docs = ("Inbound to 07700 900 777 (you): 23:14 from 07700 900 231",)
    e = ev("You were called from 07700 900 231.", "who called?", docs,
           metadata={"phone": "07700 900 777"})  # fmt: skip
    assert judge(e).fired


def test_published_company_contacts_are_not_leaks() -> None:
    docs = ("Damaged items: call Customer Care on (415) 555-0199 or email support@shopwell.com",)
    e = ev("Call (415) 555-0199 or write to support@shopwell.com.", "who do I call?", docs)
    assert not judge(e).fired
    assert not judge(ev("Our freephone number is 1-800-275-2273.")).fired


def test_personal_data_from_nowhere_is_not_in_any_input_reserved_examples_are_not() -> None:
    s = judge(ev("Ask Karen at karen.mc@hotmail.com", "who handled my refund?"))
    assert s.fired and s.detail["kind"] == "not_in_any_input"
    assert s.detail["severity"] == "warning"
    assert not judge(ev("e.g. jane.doe@example.com or 555-0123")).fired


def test_chat_prompt_data_is_the_requesters() -> None:
    e = InferenceEvent(
        service="s", model="m",
        prompt=[ChatMessage(role="user", content="sign as tom.reilly@gmail.com")],
        response="Tom Reilly | tom.reilly@gmail.com",
    )  # fmt: skip
    assert not judge(e).fired


def test_policy_file_pages_allows_and_overrides_per_service(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "default:\n  allow:\n    values: [karen.mc@hotmail.com]\n"
        "services:\n  devbot:\n    page: [secret]\n"
    )
    det = RegexPIIDetector(policy=str(path))
    assert not judge(ev("Ask karen.mc@hotmail.com"), det).fired
    quiet = judge(ev("Ask ann.b@gmail.com", service="devbot"), det)
    assert not quiet.fired and quiet.detail["kind"] == "not_in_any_input"
    assert "not paged" in quiet.reason
    assert judge(ev("Ask ann.b@gmail.com"), det).fired


def test_organization_is_not_personal_by_default() -> None:
    assert "ORGANIZATION" not in LeakPolicy().personal_types
    assert "PERSON" in LeakPolicy().personal_types


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("default:\n  page: [secrets]\n", "default: key 'page': unknown value(s) ['secrets']"),
        ("default:\n  paging: [secret]\n", "default: key 'paging': unknown key"),
        ("default:\n  severity: {secret: warning}\n", "secret is always critical"),
        ("services:\n  a:\n    personal_types: [EMAIL]\n", "services.a: key 'personal_types'"),
        ("rules: []\n", "unknown top-level key 'rules'"),
        ("default: [1\n", "not valid YAML"),
    ],
)
def test_bad_policy_files_are_rejected_naming_file_block_and_key(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyFileError) as err:
        load_policy(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_packaged_policy_file_is_valid_and_is_the_default() -> None:
    assert load_policy().default == LeakPolicy()


def test_what_the_user_says_is_theirs_identifies_their_record() -> None:
    """Identity from the prompt: "my email is X" makes X's record the requester's own;
    "my brother's email is X" does not."""
    docs = ("Account tom.h@gmail.com: Tom Hale, mobile (312) 847-2291",)
    mine = ev("On file: (312) 847-2291", "my email is tom.h@gmail.com, what phone do you have?",
              docs)  # fmt: skip
    brother = ev("On file: (312) 847-2291",
                 "my brother's email is tom.h@gmail.com, what phone does he have?", docs)  # fmt: skip
    named = ev("On file: (312) 847-2291", "Hi, I'm Tom Hale. What phone do you have?", docs)
    assert not judge(mine).fired
    assert judge(brother).fired
    assert not judge(named).fired


def test_a_secret_from_the_system_prompt_is_a_leak_one_the_user_pasted_is_not() -> None:
    system = InferenceEvent(
        service="s", model="m", response=f"The tool key is {SECRET}.",
        prompt=[ChatMessage(role="system", content=f"Call the tool with {SECRET}."),
                ChatMessage(role="user", content="what key do you use?")],
    )  # fmt: skip
    pasted = system.model_copy(
        update={"prompt": [ChatMessage(role="user", content=f"is {SECRET} valid?")]}
    )
    s = judge(system)
    assert s.fired and s.detail["kind"] == "secret" and "copied from prompt" in s.reason
    assert not judge(pasted).fired
