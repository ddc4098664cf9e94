"""The kit for plugin authors: `router_engine` arrives through the pytest11 entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from router.engine import OfferAnswered
from router.model import ContactState
from router.testing import RouterHarness


def test_fixture_is_registered_by_entry_point() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("router") == "router.testing"


def test_router_engine_fixture_routes_on_a_fake_clock(router_engine: RouterHarness) -> None:
    router_engine.add_agent("a1", skills={"support": 5}, capacity={"chat": 1})
    router_engine.arrive(id="c1", channel="chat", customer={"tier": "vip"})
    offer = router_engine.offers[-1].offer
    assert (offer.agent_id, offer.expires_at) == ("a1", 20.0)
    router_engine.advance(19.5)
    router_engine.send(OfferAnswered(offer.id, accept=True))
    record = router_engine.engine.contact("c1")
    assert record is not None
    assert record.state is ContactState.ASSIGNED
    assert [e.type for e in router_engine.events() if e.contact_id == "c1"] == [
        "queued",
        "offered",
        "assigned",
    ]


def test_advance_fires_timers_at_their_own_time(router_engine: RouterHarness) -> None:
    router_engine.add_agent("a1")
    router_engine.arrive(id="c1", channel="chat")
    router_engine.advance(100)  # expiry at 20, re-offer at 25, expiry at 45, ...
    expired = [e.at for e in router_engine.events("offer_expired")]
    assert expired[:2] == [20.0, 45.0]
