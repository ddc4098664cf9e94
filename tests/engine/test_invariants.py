"""`check_invariants` must fail on broken states, or it proves nothing.

Each case builds the same healthy engine (offers, assignments, a wrap-up,
waiting contacts, an agent in the available index, a finished contact),
checks that it passes, breaks one record by hand and expects AssertionError
naming what broke.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

import pytest

from router.engine import (
    AgentStateChanged,
    AgentUpserted,
    ConfigReplaced,
    ContactAbandoned,
    ContactCompleted,
    OfferAnswered,
)
from router.engine.core import Engine
from router.engine.invariants import check_invariants, free_capacity, requirement
from router.engine.records import ContactRecord
from router.model import AgentState, ContactState, EngineConfig, Offer, QueueConfig, RoutingSettings
from router.testing import RouterHarness

SUPPORT = QueueConfig(
    name="support", channels=("chat", "voice", "email"), skills=("support",), wrapup_seconds=30.0
)
SALES = QueueConfig(
    name="sales", channels=("chat",), skills=("sales",), require_language=True, min_level=3
)
CONFIG = EngineConfig(queues=(SUPPORT, SALES))


def healthy() -> RouterHarness:
    """c1 wrap-up (a1), c2 assigned (a2), c3 offered (a1), c4 queued (voice), c5 abandoned,
    c6 offered (a2), c7 queued (sales, French); a3 away; a4 available in the index."""
    h = RouterHarness(CONFIG)
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 2, "voice": 1})
    h.add_agent("a2", skills={"support": 4, "sales": 6}, capacity={"chat": 1, "email": 1})
    h.add_agent("a3", skills={"support": 9}, capacity={"voice": 1}, state=AgentState.AWAY)
    for i in (1, 2, 3):
        h.arrive(id=f"c{i}", channel="chat")
    h.send(OfferAnswered(offer_of(h.engine, "c1").id, True))
    h.send(OfferAnswered(offer_of(h.engine, "c2").id, True))
    h.send(ContactCompleted("c1"))
    h.arrive(id="c4", channel="voice")
    h.arrive(id="c5", channel="chat", queue="sales", customer={"language": "fr"})
    h.send(ContactAbandoned("c5"))
    h.arrive(id="c6", channel="email")
    h.arrive(id="c7", channel="chat", queue="sales", customer={"language": "fr"})
    h.add_agent("a4", skills={"support": 2}, capacity={"email": 2})
    h.advance(1)
    return h


def offer_of(engine: Engine, contact_id: str) -> Offer:
    offer = engine.contacts[contact_id].offer
    assert offer is not None
    return offer


def live(engine: Engine, contact_id: str) -> ContactRecord:
    return engine.contacts[contact_id]


def test_the_healthy_engine_is_what_the_cases_expect() -> None:
    h = healthy()
    engine = h.engine
    states = {cid: r.state for cid, r in {**engine.contacts, **engine.finished}.items()}
    assert states == {
        "c1": ContactState.WRAPUP,
        "c2": ContactState.ASSIGNED,
        "c3": ContactState.OFFERED,
        "c4": ContactState.QUEUED,
        "c5": ContactState.ABANDONED,
        "c6": ContactState.OFFERED,
        "c7": ContactState.QUEUED,
    }
    assert offer_of(engine, "c3").agent_id == "a1"
    assert offer_of(engine, "c6").agent_id == "a2"
    assert engine.available.is_placed("a4")
    check_invariants(engine)


def test_a_fresh_engine_and_the_default_harness_pass() -> None:
    check_invariants(RouterHarness().engine)
    h = RouterHarness()
    h.add_agent("a1")
    h.arrive()
    h.arrive()
    check_invariants(h.engine)


# ------------------------------------------------------------ corruptions
def _bump_load(e: Engine) -> None:
    e.agents["a1"].load["chat"] += 1


def _drop_load(e: Engine) -> None:
    e.agents["a2"].load["email"] = 0


def _total_load(e: Engine) -> None:
    e.agents["a1"].total_load += 1


def _exclusive_held(e: Engine) -> None:
    e.agents["a4"].exclusive_held = 1


def _capacity(e: Engine) -> None:
    agent = e.agents["a1"]
    agent.profile = replace(agent.profile, capacity=MappingProxyType({"chat": 1, "voice": 1}))


def _blend(e: Engine) -> None:
    # a voice contact held beside chats: move the queued voice contact onto a1 as assigned
    record, agent = live(e, "c4"), e.agents["a1"]
    record.state, record.agent_id = ContactState.ASSIGNED, "a1"
    agent.contacts.add("c4")
    agent.take("voice", e.config.routing.exclusive_channels)
    e.counters["support"].waiting -= 1


def _second_offer(e: Engine) -> None:
    record = live(e, "c3")
    extra = offer_of(e, "c3")._replace(id="of-99", agent_id="a4")
    e.offers["of-99"] = record
    e.agents["a4"].offers["of-99"] = extra


def _offer_not_in_engine(e: Engine) -> None:
    del e.offers[offer_of(e, "c3").id]


def _offer_not_on_agent(e: Engine) -> None:
    del e.agents["a1"].offers[offer_of(e, "c3").id]


def _offered_without_offer(e: Engine) -> None:
    record = live(e, "c6")
    del e.offers[offer_of(e, "c6").id]
    record.offer = None


def _assigned_not_listed(e: Engine) -> None:
    e.agents["a2"].contacts.discard("c2")


def _held_by_two(e: Engine) -> None:
    e.agents["a4"].contacts.add("c2")


def _assigned_without_agent(e: Engine) -> None:
    live(e, "c2").agent_id = None


def _queued_with_agent(e: Engine) -> None:
    live(e, "c4").agent_id = "a3"


def _queued_with_offer(e: Engine) -> None:
    live(e, "c4").offer = offer_of(e, "c3")


def _live_and_finished(e: Engine) -> None:
    e.finished["c4"] = live(e, "c4")


def _terminal_but_live(e: Engine) -> None:
    live(e, "c7").state = ContactState.ABANDONED


def _finished_not_terminal(e: Engine) -> None:
    e.finished["c5"].state = ContactState.QUEUED


def _finished_still_held(e: Engine) -> None:
    e.agents["a4"].contacts.add("c5")


def _away_but_indexed(e: Engine) -> None:
    e.agents["a4"].state = AgentState.AWAY


def _available_not_indexed(e: Engine) -> None:
    e.available.remove("a4")


def _full_but_indexed(e: Engine) -> None:
    agent = e.agents["a4"]
    agent.profile = replace(agent.profile, capacity=MappingProxyType({"email": 0}))
    e.matcher.compute_levels(agent)  # levels right, index left stale


def _wrong_levels(e: Engine) -> None:
    e.agents["a4"].levels["sales"] = 7


def _not_waiting(e: Engine) -> None:
    live(e, "c4").version += 1  # every waiting entry of c4 is now stale


def _wrong_requirement(e: Engine) -> None:
    live(e, "c7").min_level = 1  # escalated without re-entering the waiting heaps


def _wrong_priority(e: Engine) -> None:
    live(e, "c4").priority += 5


def _waiting_counter(e: Engine) -> None:
    e.counters["support"].waiting += 1


def _offer_outlived(e: Engine) -> None:
    e.now = offer_of(e, "c3").expires_at + 1  # the clock moved, no timer fired


def _no_timers(e: Engine) -> None:
    e.timers._heap.clear()


def _wrong_id(e: Engine) -> None:
    e.agents["a9"] = e.agents.pop("a3")


CORRUPTIONS: list[tuple[Callable[[Engine], None], str]] = [
    (_bump_load, r"agent a1: load \{'chat': 3\} but holds \{'chat': 2\}"),
    (_drop_load, r"agent a2: load \{'chat': 1\} but holds \{'chat': 1, 'email': 1\}"),
    (_total_load, r"agent a1: total_load is 3 but it holds 2"),
    (_exclusive_held, r"agent a4: exclusive_held is 1 but it holds 0"),
    (_capacity, r"agent a1: holds 2 contact\(s\) on chat, capacity 1"),
    (_blend, r"agent a1: holds an exclusive-channel contact and 2 other"),
    (_second_offer, r"contact c3 has 2 open offers"),
    (_offer_not_in_engine, r"offered contact c3: its offer of-\d+ is not in engine.offers"),
    (_offer_not_on_agent, r"agent a1 does not list its offer"),
    (_offered_without_offer, r"offered contact c6 has no offer"),
    (_assigned_not_listed, r"live contact c2 is assigned with agent a2, who does not list it"),
    (_held_by_two, r"contact c2 is held by several agents: \['a2', 'a4'\]"),
    (_assigned_without_agent, r"live contact c2 is assigned but its agent None is unknown"),
    (_queued_with_agent, r"live contact c4 is queued but has agent a3"),
    (_queued_with_offer, r"live contact c4 is queued but has offer"),
    (_live_and_finished, r"live contact c4 is also in engine.finished"),
    (_terminal_but_live, r"live contact c7 is abandoned but still live"),
    (_finished_not_terminal, r"finished contact c5 is queued, not a terminal state"),
    (_finished_still_held, r"agent a4 holds contact c5, which is not live \(finished\)"),
    (_away_but_indexed, r"available index lists agent a4 in \('support', 'email', None\).*away"),
    (_available_not_indexed, r"agent a4 is available .* missing from the available index"),
    (_full_but_indexed, r"available index lists agent a4 in \('support', 'email', None\)"),
    (_wrong_levels, r"agent a4: levels \{'support': 2, 'sales': 7\} but its profile gives"),
    (_not_waiting, r"queued contact c4 has no live waiting entry in queue support"),
    (_wrong_requirement, r"c7 in sales/chat: filed under requirement \(3, 'fr'"),
    (_wrong_priority, r"waiting entry of contact c4 .* ordered by priority"),
    (_waiting_counter, r"queue support: waiting counter is 4 but 3 contact\(s\)"),
    (_offer_outlived, r"offer of-\d+ for contact c3 expired at .* but is still open"),
    (_no_timers, r"offer of-\d+ has no expiry timer"),
    (_no_timers, r"contact c1 is in wrap-up with no wrap-up end armed"),
    (_wrong_id, r"agent a9 is filed under the wrong id \(profile says a3\)"),
]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    CORRUPTIONS,
    ids=[f"{corrupt.__name__.strip('_')}-{i}" for i, (corrupt, _) in enumerate(CORRUPTIONS)],
)
def test_a_broken_record_is_caught(corrupt: Callable[[Engine], None], message: str) -> None:
    h = healthy()
    check_invariants(h.engine)
    corrupt(h.engine)
    with pytest.raises(AssertionError) as caught:
        check_invariants(h.engine)
    text = str(caught.value)
    assert text.startswith("engine invariants broken at now=")
    assert re.search(message, text), text


def test_every_problem_is_listed_not_only_the_first() -> None:
    h = healthy()
    _bump_load(h.engine)
    _waiting_counter(h.engine)
    _wrong_id(h.engine)
    with pytest.raises(AssertionError, match=r"\(3\):") as caught:
        check_invariants(h.engine)
    text = str(caught.value)
    assert "agent a1: load" in text
    assert "waiting counter" in text
    assert "wrong id" in text


# ----------------------------------------------------- over the limit, by admin
def test_capacity_lowered_by_an_admin_is_allowed_only_for_the_agents_named() -> None:
    h = healthy()
    profile = h.engine.agents["a1"].profile
    h.send(AgentUpserted(replace(profile, capacity=MappingProxyType({"chat": 1, "voice": 1}))))
    with pytest.raises(AssertionError, match=r"agent a1: holds 2 contact\(s\) on chat, capacity 1"):
        check_invariants(h.engine)
    check_invariants(h.engine, over_limit_ok={"a1"})
    # everything else is still checked for that agent
    h.engine.agents["a1"].load["chat"] += 1
    with pytest.raises(AssertionError, match=r"agent a1: load"):
        check_invariants(h.engine, over_limit_ok={"a1"})


def test_a_reload_making_a_held_channel_exclusive_is_allowed_for_the_agents_named() -> None:
    h = healthy()
    exclusive_chat = replace(CONFIG.routing, exclusive_channels=("voice", "chat"))
    h.send(ConfigReplaced(replace(CONFIG, routing=exclusive_chat)))
    with pytest.raises(AssertionError, match=r"agent a1: holds an exclusive-channel contact"):
        check_invariants(h.engine)
    check_invariants(h.engine, over_limit_ok={"a1", "a2"})


# --------------------------------------------------------------- helpers
def test_free_capacity_follows_the_blend_rule() -> None:
    h = RouterHarness(
        EngineConfig(queues=(SUPPORT,), routing=RoutingSettings(exclusive_channels=("voice",)))
    )
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 2, "voice": 1})
    agent = h.engine.agents["a1"]
    exclusive = ("voice",)
    assert free_capacity(agent, "chat", exclusive) == 2
    assert free_capacity(agent, "voice", exclusive) == 1
    assert free_capacity(agent, "email", exclusive) == 0
    h.arrive(id="c1", channel="chat")
    assert free_capacity(agent, "chat", exclusive) == 1
    assert free_capacity(agent, "voice", exclusive) == 0  # voice needs the agent idle
    h.send(ContactAbandoned("c1"))
    h.arrive(id="c2", channel="voice")
    assert free_capacity(agent, "chat", exclusive) == 0  # a voice call takes the agent whole
    h.send(AgentStateChanged("a1", AgentState.AWAY))
    assert free_capacity(agent, "voice", exclusive) == 0


def test_requirement_uses_the_contact_level_only_in_its_own_queue() -> None:
    h = healthy()
    record = live(h.engine, "c7")
    assert requirement(h.engine, record, "sales") == (3, "fr", frozenset())
    record.min_level = 1
    assert requirement(h.engine, record, "sales") == (1, "fr", frozenset())
    assert requirement(h.engine, record, "support") == (1, None, frozenset())
