"""One customer across channels (issue 3): identifiers linked, history and sticky agent shared."""

from __future__ import annotations

from dataclasses import replace

import pytest

from router.engine import ContactCompleted, OfferAnswered
from router.engine import core as engine_core
from router.engine.customers import CustomerDirectory
from router.model import Customer, EngineConfig, QueueConfig
from router.testing import RouterHarness

ALL_CHANNELS = ("voice", "chat", "email", "sms", "whatsapp", "messenger")
CONFIG = EngineConfig(queues=(QueueConfig(name="support", channels=ALL_CHANNELS),))


def test_identities_normalise_email_case_and_phone_punctuation() -> None:
    a = Customer(email="Grace@Example.com ", phone="+44 20 7946-0018")
    b = Customer(email="grace@example.com", phone="+442079460018", handles={"whatsapp": "4420"})
    assert a.identities() == ("email:grace@example.com", "phone:+442079460018")
    assert b.identities()[:2] == a.identities()
    assert b.identities()[2] == "whatsapp:4420"
    assert Customer().identities() == ()


def test_directory_links_transitively_and_merges_histories_in_arrival_order() -> None:
    directory = CustomerDirectory(history_limit=10)
    email = directory.link(("email:g@x",))
    phone = directory.link(("phone:+1",))
    assert email is not None
    assert phone is not None
    assert email != phone
    directory.remember(email, 1, "c1")
    directory.remember(phone, 2, "c2")
    directory.set_last_agent(phone, 2, "a2")
    directory.set_last_agent(email, 1, "a1")
    # a chat that gives both joins them
    joined = directory.link(("email:g@x", "phone:+1"))
    directory.remember(joined, 3, "c3")
    assert directory.find("email:g@x") == directory.find("phone:+1") == joined
    assert directory.recent("phone:+1") == ["c3", "c2", "c1"]
    assert directory.last_agent("email:g@x") == "a2", "the latest answered contact's agent"
    assert directory.link(()) is None


def test_history_is_bounded_after_a_merge() -> None:
    directory = CustomerDirectory(history_limit=2)
    for seq in range(5):
        directory.remember(directory.link((f"email:{seq % 2}",)) or "", seq, f"c{seq}")
    directory.link(("email:0", "email:1"))
    assert directory.recent("email:0") == ["c4", "c3", "c2"]  # limit + 1: one is the contact itself


def test_an_offer_carries_the_customers_contacts_from_every_channel() -> None:
    h = RouterHarness(CONFIG)
    h.add_agent("a1", skills={}, capacity=dict.fromkeys(ALL_CHANNELS, 5))
    h.arrive(id="e1", channel="email", customer={"email": "grace@example.com"}, subject="invoice")
    h.send(OfferAnswered(h.offers[-1].offer.id, True))
    h.send(ContactCompleted("e1"))
    # a chat giving e-mail and phone links the phone number to that customer
    h.arrive(
        id="ch1", channel="chat", customer={"email": "GRACE@example.com", "phone": "+1 555 0100"}
    )
    # WhatsApp knows only the phone number (and its own id)
    h.arrive(
        id="wa1",
        channel="whatsapp",
        customer={"phone": "+15550100", "handles": {"whatsapp": "15550100"}},
    )
    offer = h.offers[-1]
    assert offer.contact.id == "wa1"
    assert [entry.contact_id for entry in offer.customer_history] == ["ch1", "e1"]
    assert [entry.channel for entry in offer.customer_history] == ["chat", "email"]


def test_sticky_agent_follows_the_customer_across_channels() -> None:
    h = RouterHarness(CONFIG)
    h.add_agent("a1", skills={}, capacity={"email": 1, "sms": 1})
    h.add_agent("a2", skills={}, capacity={"email": 1, "sms": 1})
    h.arrive(id="e1", channel="email", customer={"email": "g@example.com", "phone": "+1555"})
    first = h.offers[-1].offer.agent_id
    h.send(OfferAnswered(h.offers[-1].offer.id, True))
    h.send(ContactCompleted("e1"))
    h.advance(60)
    # the other agent has been idle longer now, but the customer's last agent wins on sticky
    h.arrive(id="s1", channel="sms", customer={"phone": "+1 555"})
    offer = h.offers[-1]
    assert offer.offer.agent_id == first
    assert h.engine.contacts["s1"].customer == h.engine.customers.find("email:g@example.com")


def test_a_follow_up_in_an_open_thread_joins_its_contact() -> None:
    h = RouterHarness(CONFIG)
    h.add_agent("a1", skills={}, capacity={"whatsapp": 2})
    h.arrive(id="wa1", channel="whatsapp", thread_id="whatsapp:1555", body="hello")
    h.arrive(id="wa2", channel="whatsapp", thread_id="whatsapp:1555", body="are you there?")
    assert set(h.engine.contacts) == {"wa1"}, "the follow-up is no new contact"
    assert len(h.offers) == 1
    [message] = list(h.events("message"))
    assert (message.contact_id, message.agent_id) == ("wa1", "a1")  # a1 holds the offer
    assert message.details["body"] == "are you there?"
    assert h.engine.contact("wa2") is h.engine.contacts["wa1"]
    # idempotent: the same follow-up again adds nothing
    h.arrive(id="wa2", channel="whatsapp", thread_id="whatsapp:1555", body="are you there?")
    assert len(list(h.events("message"))) == 1
    # once the conversation is over, the thread starts a new contact (sticky to a1)
    h.send(OfferAnswered(h.offers[-1].offer.id, True))
    h.send(ContactCompleted("wa1"))
    h.arrive(id="wa3", channel="whatsapp", thread_id="whatsapp:1555", body="one more thing")
    assert "wa3" in h.engine.contacts
    assert h.offers[-1].offer.agent_id == "a1"


def test_joining_threads_can_be_switched_off() -> None:
    routing = replace(CONFIG.routing, join_open_threads=False)
    h = RouterHarness(replace(CONFIG, routing=routing))
    h.arrive(id="m1", channel="sms", thread_id="sms:1:2")
    h.arrive(id="m2", channel="sms", thread_id="sms:1:2")
    assert set(h.engine.contacts) == {"m1", "m2"}


def test_the_directory_is_compacted_to_what_the_kept_contacts_need(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a long-running engine sees ever new customers and threads; memory must not follow
    monkeypatch.setattr(engine_core, "HISTORY_COMPACTION_FLOOR", 20)
    routing = replace(CONFIG.routing, finished_contacts_kept=5)
    h = RouterHarness(replace(CONFIG, routing=routing))
    h.add_agent("a1", skills={}, capacity={"sms": 1})
    h.add_agent("a2", skills={}, capacity={"sms": 1})
    largest = 0
    for n in range(200):
        customer = {"phone": f"+1555{n:04d}", "email": f"c{n}@example.com"}
        h.arrive(id=f"s{n}", channel="sms", customer=customer, thread_id=f"sms:{n}")
        h.send(OfferAnswered(h.offers[-1].offer.id, True))
        h.send(ContactCompleted(f"s{n}"))
        largest = max(largest, len(h.engine.customers) + len(h.engine.last_agent_by_thread))
    # the bound for 5 finished and 1 live contact, plus one arrival's 2 identities and thread
    assert largest <= engine_core.HISTORY_COMPACTION_FACTOR * 6 + 3
    assert largest < 3 * 200 / 2, "without compacting it would be 3 per contact"
    # what is kept is what a restore would rebuild: the last contacts' customers, sticky
    last = h.engine.finished["s199"]
    assert last.agent_id is not None
    assert h.engine.customers.last_agent(last.customer) == last.agent_id
    assert h.engine.last_agent_by_thread["sms:199"] == last.agent_id
    h.advance(60)
    h.arrive(id="again", channel="sms", customer={"email": "c199@example.com"})
    assert h.offers[-1].offer.agent_id == last.agent_id, "the customer's last agent, still"
    assert [e.contact_id for e in h.offers[-1].customer_history] == ["s199"]
    # a customer whose contacts all left memory is a new one, as after a restart
    assert "phone:+15550000" not in h.engine.customers._parent
