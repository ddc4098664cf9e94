"""The engine's timer heap: lazy cancellation of a void timer (an answered offer's expiry)."""

from __future__ import annotations

from router.engine import OfferAnswered
from router.engine.timers import EscalationDue, OfferExpiry, ReofferDue, Timers, WrapupEnd
from router.model import ContactState, EngineConfig, EscalationStep, QueueConfig
from router.testing import RouterHarness


def test_a_cancelled_timer_neither_fires_nor_wakes_the_host() -> None:
    timers = Timers()
    timers.arm(10.0, OfferExpiry("of-1"))
    timers.arm(20.0, WrapupEnd("c1"))
    timers.cancel(OfferExpiry("of-1"))
    assert len(timers) == 1
    assert timers.next_due() == 20.0
    assert timers.pop_due(30.0) == (20.0, WrapupEnd("c1"))
    assert timers.pop_due(30.0) is None
    assert timers.next_due() is None
    assert len(timers) == 0


def test_a_cancelled_timer_is_skipped_when_popped_before_being_peeked() -> None:
    timers = Timers()
    timers.arm(5.0, OfferExpiry("of-1"))
    timers.arm(6.0, OfferExpiry("of-2"))
    timers.cancel(OfferExpiry("of-1"))
    assert timers.pop_due(10.0) == (6.0, OfferExpiry("of-2"))
    assert timers.pop_due(10.0) is None
    assert len(timers) == 0


def test_a_timer_cancelled_after_being_peeked_is_skipped_all_the_same() -> None:
    # `next_due` remembers the first entry it found live; a cancel must forget it.
    timers = Timers()
    timers.arm(10.0, OfferExpiry("of-1"))
    timers.arm(20.0, WrapupEnd("c1"))
    assert timers.next_due() == 10.0
    assert timers.next_due() == 10.0
    timers.cancel(OfferExpiry("of-1"))
    assert timers.next_due() == 20.0
    timers.arm(5.0, OfferExpiry("of-2"))
    assert timers.next_due() == 5.0  # an earlier timer armed since is seen
    assert timers.pop_due(30.0) == (5.0, OfferExpiry("of-2"))
    assert timers.next_due() == 20.0


def test_keys_compare_and_hash_by_kind_and_fields() -> None:
    assert OfferExpiry("of-1") == OfferExpiry("of-1")
    assert hash(OfferExpiry("of-1")) == hash(OfferExpiry("of-1"))
    assert EscalationDue("c1", 1, 0) == EscalationDue("c1", 1, 0)
    assert EscalationDue("c1", 1, 0) != EscalationDue("c1", 2, 0)
    assert ReofferDue("c1", "a1") != ReofferDue("c1", "a2")
    assert WrapupEnd("c1") != ReofferDue("c1", "a1")
    assert {OfferExpiry("of-1"), OfferExpiry("of-1"), WrapupEnd("of-1")} == {
        OfferExpiry("of-1"),
        WrapupEnd("of-1"),
    }


def test_cancelling_one_kind_of_timer_leaves_another_with_the_same_id() -> None:
    # Contact ids come from clients: a contact may be called "of-1" like an offer.
    timers = Timers()
    timers.arm(5.0, WrapupEnd("of-1"))
    timers.arm(6.0, OfferExpiry("of-1"))
    timers.cancel(OfferExpiry("of-1"))
    assert OfferExpiry("of-1") != WrapupEnd("of-1")
    assert timers.pop_due(10.0) == (5.0, WrapupEnd("of-1"))
    assert timers.pop_due(10.0) is None


def test_an_accepted_offer_leaves_no_timer_behind() -> None:
    router = RouterHarness()
    router.add_agent("a1", capacity={"chat": 1})
    router.arrive(channel="chat")
    offer = router.offers[-1].offer
    assert router.engine.next_due() == offer.expires_at
    router.send(OfferAnswered(offer.id, True))
    assert router.engine.next_due() is None  # no Tick needed at the old expiry time
    router.advance(60.0)
    record = router.engine.contact(offer.contact_id)
    assert record is not None
    assert record.state is ContactState.ASSIGNED
    assert [e.type for e in router.events() if e.type.startswith("offer_")] == []


def test_a_rejected_offer_still_expires_nothing_and_goes_on() -> None:
    router = RouterHarness()
    router.add_agent("a1", capacity={"chat": 1})
    router.add_agent("a2", capacity={"chat": 1})
    router.arrive(channel="chat")
    first = router.offers[-1].offer
    router.send(OfferAnswered(first.id, False))
    second = router.offers[-1].offer
    assert second.agent_id != first.agent_id
    router.advance(30.0)  # past both offers' expiry: only the open one expires
    assert [e.details["offer_id"] for e in router.events("offer_expired")] == [second.id]


def test_an_answered_contact_leaves_no_escalation_step_behind() -> None:
    steps = (EscalationStep(after_seconds=30, min_level=1), EscalationStep(after_seconds=90))
    queue = QueueConfig(name="support", channels=("chat",), skills=("support",), escalation=steps)
    router = RouterHarness(EngineConfig(queues=(queue,)))
    router.arrive(channel="chat")
    router.advance(40.0)  # the first step is taken while it waits (no agent yet)
    assert [e.type for e in router.events("escalated")] == ["escalated"]
    router.add_agent("a1", capacity={"chat": 1})
    offer = router.offers[-1].offer
    router.send(OfferAnswered(offer.id, True))
    assert router.engine.next_due() is None  # the 90 s step is gone with the expiry
    router.advance(120.0)
    assert len(list(router.events("escalated"))) == 1
    assert len(router.engine.timers) == 0
