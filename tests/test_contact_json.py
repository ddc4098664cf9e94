"""router.contact_json: the normalized contact of CONTRACT 4, read strictly."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.contact_json import contact_from_json
from router.model import Contact, Customer, ModelError

FULL: dict[str, Any] = {
    "id": "ext-1",
    "channel": "email",
    "customer": {
        "id": "42",
        "name": "Ada",
        "email": "ada@example.com",
        "phone": "+15550100",
        "tier": "vip",
        "language": "en",
    },
    "subject": "Invoice",
    "body": "Where is it?",
    "queue": "billing",
    "skills": ["billing", "english"],
    "priority": 7,
    "thread_id": "t-9",
    "attributes": {"order": 1234, "tags": ["late"]},
}


def test_reads_every_field() -> None:
    contact = contact_from_json(FULL, contact_id="assigned")
    assert contact == Contact(
        id="ext-1",
        channel="email",
        customer=Customer(
            id="42",
            name="Ada",
            email="ada@example.com",
            phone="+15550100",
            tier="vip",
            language="en",
        ),
        subject="Invoice",
        body="Where is it?",
        queue="billing",
        skills=("billing", "english"),
        priority=7,
        thread_id="t-9",
        attributes=MappingProxyType({"order": 1234, "tags": ["late"]}),
    )


def test_minimal_contact_takes_defaults_and_the_assigned_id() -> None:
    contact = contact_from_json({"channel": "chat"}, contact_id="c-1")
    assert contact == Contact(id="c-1", channel="chat")
    assert contact.customer.tier == "standard"


def test_null_means_absent() -> None:
    payload: dict[str, Any] = dict.fromkeys(FULL) | {"channel": "chat"}
    payload["customer"] = {"id": None, "tier": None}
    assert contact_from_json(payload, contact_id="c-1") == Contact(id="c-1", channel="chat")


def test_unknown_keys_are_ignored() -> None:
    payload = FULL | {"future_field": {"x": 1}, "customer": FULL["customer"] | {"vip_since": 2020}}
    assert contact_from_json(payload, contact_id="x") == contact_from_json(FULL, contact_id="x")


def test_attributes_are_read_only_and_a_copy() -> None:
    attributes = {"a": 1}
    contact = contact_from_json({"channel": "chat", "attributes": attributes}, contact_id="c")
    attributes["a"] = 2
    assert contact.attributes == {"a": 1}
    with pytest.raises(TypeError):
        contact.attributes["b"] = 2  # type: ignore[index]


def test_topic_channel() -> None:
    assert contact_from_json({}, contact_id="c", channel="sms").channel == "sms"
    assert contact_from_json({"channel": "sms"}, contact_id="c", channel="sms").channel == "sms"
    with pytest.raises(ModelError, match="differs"):
        contact_from_json({"channel": "chat"}, contact_id="c", channel="sms")
    with pytest.raises(ModelError, match="topic"):
        contact_from_json({"channel": "chat"}, contact_id="c", channel="")


def test_limits_are_inclusive() -> None:
    payload = {
        "channel": "chat",
        "id": "i" * 200,
        "subject": "s" * 1000,
        "body": "b" * 100_000,
        "priority": -1000,
    }
    contact = contact_from_json(payload, contact_id="c")
    assert (len(contact.id), len(contact.subject), len(contact.body)) == (200, 1000, 100_000)
    assert contact_from_json({"channel": "chat", "priority": 1000}, contact_id="c").priority == 1000


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "channel is missing"),
        ({"channel": ""}, "channel"),
        ({"channel": 5}, "channel"),
        ({"channel": "chat", "customer": "ada"}, "customer must be an object"),
        ({"channel": "chat", "customer": ["ada"]}, "customer must be an object"),
        ({"channel": "chat", "customer": {"name": 5}}, r"customer\.name"),
        ({"channel": "chat", "customer": {"email": ["a@b"]}}, r"customer\.email"),
        ({"channel": "chat", "customer": {"tier": 1}}, r"customer\.tier"),
        ({"channel": "chat", "customer": {"language": True}}, r"customer\.language"),
        ({"channel": "chat", "skills": "billing"}, "skills must be an array"),
        ({"channel": "chat", "skills": ["billing", 3]}, r"skills\[1\]"),
        ({"channel": "chat", "skills": [""]}, r"skills\[0\]"),
        ({"channel": "chat", "priority": True}, "priority must be an integer"),
        ({"channel": "chat", "priority": 1.0}, "priority must be an integer"),
        ({"channel": "chat", "priority": "1"}, "priority must be an integer"),
        ({"channel": "chat", "priority": 1001}, "priority must be from -1000 to 1000"),
        ({"channel": "chat", "priority": -1001}, "priority must be from -1000 to 1000"),
        ({"channel": "chat", "attributes": []}, "attributes must be an object"),
        ({"channel": "chat", "attributes": {1: "x"}}, "attributes keys"),
        ({"channel": "chat", "id": ""}, "id must be a non-empty string"),
        ({"channel": "chat", "id": 12}, "id must be a non-empty string"),
        ({"channel": "chat", "id": "i" * 201}, "id must be at most 200"),
        ({"channel": "chat", "subject": 1}, "subject must be a string"),
        ({"channel": "chat", "subject": "s" * 1001}, "subject must be at most 1,000"),
        ({"channel": "chat", "body": "b" * 100_001}, "body must be at most 100,000"),
        ({"channel": "chat", "body": {"text": "hi"}}, "body must be a string"),
        ({"channel": "chat", "queue": ""}, "queue must be a non-empty string"),
        ({"channel": "chat", "queue": 3}, "queue must be a non-empty string"),
        ({"channel": "chat", "thread_id": 3}, "thread_id must be a non-empty string"),
    ],
)
def test_bad_input_names_the_field(payload: dict[Any, Any], field: str) -> None:
    with pytest.raises(ModelError, match=field):
        contact_from_json(payload, contact_id="c")


@pytest.mark.parametrize("payload", [None, [], "contact", 3, b"{}"])
def test_payload_must_be_an_object(payload: Any) -> None:
    with pytest.raises(ModelError, match="contact must be a JSON object"):
        contact_from_json(payload, contact_id="c")


def test_round_trip_through_to_json() -> None:
    contact = contact_from_json(FULL, contact_id="x")
    again = contact_from_json(json.loads(json.dumps(contact.to_json())), contact_id="other")
    assert again == contact
    minimal = Contact(id="m", channel="sms")
    assert contact_from_json(minimal.to_json(), contact_id="z") == minimal


# -- property tests --------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from([*FULL, "extra"])
NEAR_VALID = st.dictionaries(KEYS, JSON | st.sampled_from(list(FULL.values())), max_size=12)


@given(payload=JSON | NEAR_VALID, channel=st.none() | st.sampled_from(["chat", "email", ""]))
def test_arbitrary_json_raises_nothing_but_model_error(payload: Any, channel: str | None) -> None:
    refusal: str | None = None
    try:
        contact = contact_from_json(payload, contact_id="c", channel=channel)
    except ModelError as exc:  # any other exception fails the test
        refusal = str(exc)
    if refusal is None:
        assert contact.channel
        assert channel is None or contact.channel == channel
    else:
        assert refusal  # a refusal always says why


TEXT = st.text(min_size=1, max_size=20)
CONTACTS = st.builds(
    Contact,
    id=TEXT,
    channel=TEXT,
    customer=st.builds(
        Customer,
        id=st.none() | TEXT,
        name=st.none() | st.text(max_size=20),
        email=st.none() | TEXT,
        phone=st.none() | TEXT,
        tier=st.text(max_size=10),
        language=st.none() | TEXT,
    ),
    subject=st.text(max_size=50),
    body=st.text(max_size=200),
    queue=st.none() | TEXT,
    skills=st.lists(TEXT, max_size=4).map(tuple),
    priority=st.integers(-1000, 1000),
    thread_id=st.none() | TEXT,
    attributes=st.dictionaries(st.text(max_size=8), JSON, max_size=4).map(MappingProxyType),
)


@given(CONTACTS)
def test_any_valid_contact_survives_the_round_trip(contact: Contact) -> None:
    assert contact_from_json(contact.to_json(), contact_id="other") == contact
