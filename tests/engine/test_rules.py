"""One test (or a few) per routing rule of DESIGN "Routing semantics"."""

from __future__ import annotations

import pytest

from router.engine import (
    AgentStateChanged,
    ConfigReplaced,
    ContactAbandoned,
    ContactCompleted,
    ContactTransferred,
    EngineError,
    OfferAnswered,
    RevokeOffer,
)
from router.model import (
    AgentState,
    ContactState,
    EngineConfig,
    EscalationStep,
    QueueConfig,
    RoutingSettings,
)
from router.testing import RouterHarness

ALL = ("voice", "chat", "email", "sms", "whatsapp", "messenger")


def config(*queues: QueueConfig, **routing: object) -> EngineConfig:
    return EngineConfig(queues=queues, routing=RoutingSettings(**routing))  # type: ignore[arg-type]


def offered_to(h: RouterHarness, contact_id: str) -> str | None:
    record = h.engine.contact(contact_id)
    assert record is not None
    return record.offer.agent_id if record.offer else None


def accept(h: RouterHarness, contact_id: str) -> str:
    record = h.engine.contact(contact_id)
    assert record is not None
    assert record.offer is not None
    agent = record.offer.agent_id
    h.send(OfferAnswered(record.offer.id, accept=True))
    return agent


def state(h: RouterHarness, contact_id: str) -> ContactState:
    record = h.engine.contact(contact_id)
    assert record is not None
    return record.state


# 1. Queue selection ---


def test_explicit_queue_wins_over_matching() -> None:
    h = RouterHarness(
        config(
            QueueConfig("support", channels=ALL, skills=("support",)),
            QueueConfig("sales", channels=ALL, skills=("sales",)),
        )
    )
    h.arrive(id="c1", channel="chat", queue="sales")
    h.arrive(id="c2", channel="chat")
    assert h.engine.contact("c1").queue == "sales"  # type: ignore[union-attr]
    assert h.engine.contact("c2").queue == "support"  # type: ignore[union-attr]


def test_queue_matched_by_channel_and_skills() -> None:
    h = RouterHarness(
        config(
            QueueConfig("voice_only", channels=("voice",), skills=("support",)),
            QueueConfig("billing", channels=("chat", "email"), skills=("billing", "support")),
        )
    )
    h.arrive(id="c1", channel="email", skills=("billing",))
    assert h.engine.contact("c1").queue == "billing"  # type: ignore[union-attr]


def test_no_matching_queue_rejects_and_keeps_the_contact() -> None:
    h = RouterHarness()
    h.arrive(id="c1", channel="fax")
    h.arrive(id="c2", channel="chat", queue="nonexistent")
    for contact_id, reason in (("c1", "channel 'fax'"), ("c2", "unknown queue 'nonexistent'")):
        record = h.engine.contact(contact_id)
        assert record is not None
        assert record.state is ContactState.REJECTED
        assert reason in (record.reason or "")
        assert record.events[-1].type == "rejected"


def test_arrival_is_idempotent_on_contact_id() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    first = h.arrive(id="same", channel="chat")
    again = h.arrive(id="same", channel="chat", subject="retry")
    assert first
    assert again == []
    assert len(h.offers) == 1


# 2. Priority with aging ---


def test_vip_is_served_before_an_older_standard_contact() -> None:
    h = RouterHarness()
    h.arrive(id="standard", channel="chat")
    h.advance(5)
    h.arrive(id="vip", channel="chat", customer={"tier": "vip"})
    h.add_agent("a1")
    assert offered_to(h, "vip") == "a1"
    assert state(h, "standard") is ContactState.QUEUED


def test_aging_lets_a_long_waiting_contact_overtake_a_vip() -> None:
    # VIP bonus 10 points; aging 1 point per 10 s: after 110 s the standard contact wins.
    h = RouterHarness(
        config(QueueConfig("support", channels=ALL, skills=("support",)), aging_seconds=10.0)
    )
    h.arrive(id="standard", channel="chat")
    h.advance(110)
    h.arrive(id="vip", channel="chat", customer={"tier": "vip"})
    h.add_agent("a1")
    assert offered_to(h, "standard") == "a1"


def test_fifo_within_equal_priority() -> None:
    h = RouterHarness()
    for i in range(5):
        h.arrive(id=f"c{i}", channel="chat")
        h.advance(1)
    h.add_agent("a1", capacity={"chat": 5})
    offered = [o.contact.id for o in h.offers]
    assert offered == ["c0", "c1", "c2", "c3", "c4"]


def test_complaint_and_channel_urgency_terms_are_recorded() -> None:
    h = RouterHarness()
    h.arrive(id="c1", channel="voice", subject="This is unacceptable", customer={"tier": "vip"})
    queued = next(h.events("queued"))
    assert queued.details["priority_terms"] == {"vip": 10.0, "complaint": 5.0, "channel": 3.0}
    assert queued.details["priority"] == 18.0


# 3. Eligibility ---


def test_skills_below_min_level_are_not_eligible() -> None:
    h = RouterHarness(config(QueueConfig("expert", channels=ALL, skills=("support",), min_level=7)))
    h.add_agent("novice", skills={"support": 3})
    h.arrive(id="c1", channel="chat")
    assert offered_to(h, "c1") is None
    h.add_agent("expert", skills={"support": 8})
    assert offered_to(h, "c1") == "expert"


def test_agent_without_the_skill_is_not_eligible() -> None:
    h = RouterHarness()
    h.add_agent("sales", skills={"sales": 10})
    h.arrive(id="c1", channel="chat")
    assert offered_to(h, "c1") is None


def test_language_required_by_queue() -> None:
    h = RouterHarness(
        config(QueueConfig("billing", channels=ALL, skills=("billing",), require_language=True))
    )
    h.add_agent("en", skills={"billing": 9}, languages=["en"])
    h.add_agent("de", skills={"billing": 2}, languages=["de"])
    h.arrive(id="c1", channel="chat", customer={"language": "de"})
    assert offered_to(h, "c1") == "de"
    h.arrive(id="c2", channel="chat", customer={"language": "fr"})
    assert offered_to(h, "c2") is None


def test_language_not_required_still_routes() -> None:
    h = RouterHarness()
    h.add_agent("en", languages=["en"])
    h.arrive(id="c1", channel="chat", customer={"language": "fr"})
    assert offered_to(h, "c1") == "en"


def test_channel_absent_from_capacity_is_not_taken() -> None:
    h = RouterHarness()
    h.add_agent("a1", capacity={"chat": 3})
    h.arrive(id="c1", channel="email")
    assert offered_to(h, "c1") is None


def test_per_channel_capacity() -> None:
    h = RouterHarness()
    h.add_agent("a1", capacity={"chat": 2})
    for i in range(3):
        h.arrive(id=f"c{i}", channel="chat")
    assert [offered_to(h, f"c{i}") for i in range(3)] == ["a1", "a1", None]


def test_voice_is_exclusive_by_default() -> None:
    h = RouterHarness()
    h.add_agent("a1", capacity={"chat": 3, "voice": 1})
    h.arrive(id="chat1", channel="chat")
    h.arrive(id="call", channel="voice")
    assert offered_to(h, "call") is None  # busy with a chat: no call
    h2 = RouterHarness()
    h2.add_agent("a1", capacity={"chat": 3, "voice": 1})
    h2.arrive(id="call", channel="voice")
    h2.arrive(id="chat1", channel="chat")
    assert offered_to(h2, "chat1") is None  # on a call: no chat


def test_voice_blending_can_be_configured() -> None:
    h = RouterHarness(
        config(QueueConfig("support", channels=ALL, skills=("support",)), exclusive_channels=())
    )
    h.add_agent("a1", capacity={"chat": 3, "voice": 1})
    h.arrive(id="chat1", channel="chat")
    h.arrive(id="call", channel="voice")
    assert offered_to(h, "call") == "a1"


def test_away_and_offline_agents_get_nothing() -> None:
    h = RouterHarness()
    h.add_agent("away", state=AgentState.AWAY)
    h.add_agent("offline", state=None)
    h.arrive(id="c1", channel="chat")
    assert offered_to(h, "c1") is None
    h.send(AgentStateChanged("away", AgentState.AVAILABLE))
    assert offered_to(h, "c1") == "away"


# 4. Agent choice ---


def test_most_proficient_agent_wins() -> None:
    h = RouterHarness()
    h.add_agent("low", skills={"support": 2})
    h.add_agent("high", skills={"support": 9})
    h.arrive(id="c1", channel="chat")
    assert offered_to(h, "c1") == "high"


def test_ties_go_to_the_longest_idle() -> None:
    h = RouterHarness(
        config(
            QueueConfig("support", channels=ALL, skills=("support",)),
            weights={"idle": 0.0},  # equal totals: the tie-break alone decides
        )
    )
    h.add_agent("first")
    h.advance(10)
    h.add_agent("second")
    h.advance(10)
    h.arrive(id="c1", channel="chat")
    assert offered_to(h, "c1") == "first"


def test_idle_term_prefers_the_longest_idle() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.add_agent("a2")
    h.advance(10)
    h.arrive(id="c1", channel="chat")
    first = accept(h, "c1")
    h.advance(10)
    h.send(ContactCompleted("c1"))  # `first` is idle from t=20, the other from t=0
    h.advance(10)
    h.arrive(id="c2", channel="chat")
    assert offered_to(h, "c2") not in (None, first)


def test_sticky_agent_for_the_same_customer_across_channels() -> None:
    h = RouterHarness(
        config(QueueConfig("support", channels=ALL, skills=("support",)), weights={"sticky": 5.0})
    )
    h.add_agent("a1", capacity={"chat": 1, "email": 1})
    h.add_agent("a2", capacity={"chat": 1, "email": 1})
    h.arrive(id="c1", channel="chat", customer={"id": "cust"})
    agent = accept(h, "c1")
    h.send(ContactCompleted("c1"))
    h.advance(60)  # the other agent is now much longer idle
    h.arrive(id="c2", channel="email", customer={"id": "cust"})
    assert offered_to(h, "c2") == agent


def test_round_robin_strategy_rotates_by_agent_id() -> None:
    h = RouterHarness(
        config(QueueConfig("support", channels=ALL, skills=("support",), strategy="round_robin"))
    )
    for name in ("a", "b", "c"):
        h.add_agent(name, capacity={"chat": 10})
    for i in range(6):
        h.arrive(id=f"c{i}", channel="chat")
    assert [offered_to(h, f"c{i}") for i in range(6)] == ["a", "b", "c", "a", "b", "c"]


def test_a_plugin_scoring_term_changes_the_choice() -> None:
    from router import hookimpl

    class PreferB:
        @hookimpl
        def router_score_agents(self, contact, queue, candidates, context):  # type: ignore[no-untyped-def]
            return {"prefer_b": [1.0 if a.id == "b" else 0.0 for a in candidates]}

    h = RouterHarness(
        config(QueueConfig("support", channels=ALL, skills=("support",)), weights={"prefer_b": 10}),
        extra_plugins=[("prefer_b", PreferB())],
    )
    h.add_agent("a", skills={"support": 10})
    h.add_agent("b", skills={"support": 1})
    h.arrive(id="c1", channel="chat")
    assert offered_to(h, "c1") == "b"


# 5. Contact choice when an agent frees up ---


def test_freed_agent_takes_the_highest_priority_across_its_queues() -> None:
    h = RouterHarness(
        config(
            QueueConfig("low", channels=ALL, skills=("support",)),
            QueueConfig("high", channels=ALL, skills=("support",), priority=5),
        )
    )
    h.arrive(id="low1", channel="chat", queue="low")
    h.advance(1)
    h.arrive(id="high1", channel="chat", queue="high")
    h.add_agent("a1")
    assert offered_to(h, "high1") == "a1"
    assert offered_to(h, "low1") is None


def test_freed_agent_skips_contacts_it_cannot_take() -> None:
    h = RouterHarness()
    h.arrive(id="email1", channel="email")
    h.advance(1)
    h.arrive(id="chat1", channel="chat")
    h.add_agent("chatter", capacity={"chat": 1})
    assert offered_to(h, "chat1") == "chatter"
    assert offered_to(h, "email1") is None


# 6. Escalation ---

ESCALATING = config(
    QueueConfig(
        "support",
        channels=ALL,
        skills=("support",),
        min_level=7,
        escalation=(
            EscalationStep(after_seconds=30, min_level=1),
            EscalationStep(after_seconds=90, add_queues=("overflow",)),
        ),
    ),
    QueueConfig("overflow", channels=ALL, skills=("general",)),
)


def test_escalation_lowers_min_level_after_its_delay() -> None:
    h = RouterHarness(ESCALATING)
    h.add_agent("novice", skills={"support": 2})
    h.arrive(id="c1", channel="chat")
    h.advance(29)
    assert offered_to(h, "c1") is None
    h.advance(1)
    assert offered_to(h, "c1") == "novice"
    escalated = next(h.events("escalated"))
    assert escalated.details["step"] == 1
    assert "min_level 1" in escalated.details["rule"]
    accept(h, "c1")
    assigned = next(h.events("assigned"))
    assert assigned.details["escalations"] == ["after 30s: min_level 1"]


def test_escalation_adds_an_overflow_queue() -> None:
    h = RouterHarness(ESCALATING)
    h.add_agent("generalist", skills={"general": 5})
    h.arrive(id="c1", channel="chat")
    h.advance(89)
    assert offered_to(h, "c1") is None
    h.advance(1)
    assert offered_to(h, "c1") == "generalist"
    offered = next(h.events("offered"))
    assert offered.details["via_queue"] == "overflow"


def test_overflow_agent_that_frees_up_takes_an_escalated_contact() -> None:
    h = RouterHarness(ESCALATING)
    h.add_agent("generalist", skills={"general": 5}, state=AgentState.AWAY)
    h.arrive(id="c1", channel="chat")
    h.advance(100)
    h.send(AgentStateChanged("generalist", AgentState.AVAILABLE))
    assert offered_to(h, "c1") == "generalist"


# 7. Offers ---


def test_reject_returns_the_contact_with_its_original_arrival() -> None:
    h = RouterHarness(config(QueueConfig("support", channels=ALL, skills=("support",))))
    h.add_agent("a1")
    h.arrive(id="old", channel="chat")
    h.advance(5)
    h.arrive(id="new", channel="chat")
    record = h.engine.contact("old")
    assert record is not None
    assert record.offer is not None
    h.send(OfferAnswered(record.offer.id, accept=False))
    assert record.state is ContactState.QUEUED
    assert record.arrived_at == 0.0
    assert next(h.events("offer_rejected")).agent_id == "a1"
    # a1 declined "old", so it takes "new" now; "old" comes back to a1 later.
    assert offered_to(h, "new") == "a1"
    h.add_agent("a2")
    assert offered_to(h, "old") == "a2"


def test_declined_contact_comes_back_to_the_same_agent_after_the_delay() -> None:
    h = RouterHarness()
    h.add_agent("only")
    h.arrive(id="c1", channel="chat")
    offer = h.engine.contact("c1").offer  # type: ignore[union-attr]
    assert offer is not None
    h.send(OfferAnswered(offer.id, accept=False))
    assert offered_to(h, "c1") is None
    h.advance(5)
    assert offered_to(h, "c1") == "only"


def test_offer_timeout_requeues_and_counts_a_miss() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.arrive(id="c1", channel="chat")
    h.advance(20)
    assert next(h.events("offer_expired")).contact_id == "c1"
    assert h.engine.agent("a1").missed_offers == 1  # type: ignore[union-attr]


def test_agent_missing_n_offers_in_a_row_goes_away() -> None:
    h = RouterHarness()
    h.add_agent("sleepy")
    h.arrive(id="c1", channel="chat")
    for _ in range(3):
        h.advance(20)  # expire
        h.advance(5)  # re-offer after the delay
    agent = h.engine.agent("sleepy")
    assert agent is not None
    assert agent.state is AgentState.AWAY
    away = [e for e in h.events("agent_state") if e.details["state"] == "away"]
    assert away[0].details["reason"] == "missed offers"
    assert state(h, "c1") is ContactState.QUEUED


def test_accepting_resets_the_miss_count() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.arrive(id="c1", channel="chat")
    h.advance(20)
    h.advance(5)
    accept(h, "c1")
    assert h.engine.agent("a1").missed_offers == 0  # type: ignore[union-attr]


def test_answering_a_gone_offer_is_a_conflict() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.arrive(id="c1", channel="chat")
    offer = h.engine.contact("c1").offer  # type: ignore[union-attr]
    assert offer is not None
    h.send(OfferAnswered(offer.id, accept=True))
    with pytest.raises(EngineError) as error:
        h.send(OfferAnswered(offer.id, accept=True))
    assert error.value.code == "conflict"
    with pytest.raises(EngineError) as error:
        h.send(OfferAnswered("of-unknown", accept=False))
    assert error.value.code == "conflict"


def test_an_agent_cannot_answer_another_agents_offer() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.arrive(id="c1", channel="chat")
    offer = h.engine.contact("c1").offer  # type: ignore[union-attr]
    assert offer is not None
    with pytest.raises(EngineError) as error:
        h.send(OfferAnswered(offer.id, accept=True, agent_id="intruder"))
    assert error.value.code == "forbidden"
    assert state(h, "c1") is ContactState.OFFERED


def test_offer_carries_the_customer_history_across_channels() -> None:
    h = RouterHarness()
    h.add_agent("a1", capacity={"chat": 1, "email": 1, "sms": 1})
    h.arrive(id="e1", channel="email", subject="Invoice", customer={"email": "Ann@x.org"})
    accept(h, "e1")
    h.send(ContactCompleted("e1", outcome="resolved"))
    h.arrive(id="s1", channel="sms", customer={"email": "ann@x.org"})
    history = h.offers[-1].customer_history
    assert [(e.contact_id, e.channel, e.subject, e.outcome) for e in history] == [
        ("e1", "email", "Invoice", "resolved")
    ]


# 8. Wrap-up ---


def test_wrapup_keeps_the_agent_busy_then_frees_it() -> None:
    h = RouterHarness(
        config(QueueConfig("support", channels=ALL, skills=("support",), wrapup_seconds=30))
    )
    h.add_agent("a1")
    h.arrive(id="c1", channel="chat")
    accept(h, "c1")
    h.arrive(id="c2", channel="chat")
    h.send(ContactCompleted("c1", csat=5))
    assert state(h, "c1") is ContactState.WRAPUP
    assert offered_to(h, "c2") is None
    h.advance(30)
    assert state(h, "c1") is ContactState.COMPLETED
    assert offered_to(h, "c2") == "a1"
    outcomes = h.engine.agent("a1").outcomes["support"]  # type: ignore[union-attr]
    assert (outcomes.handled, outcomes.resolved, outcomes.csat_sum) == (1, 1, 5)


def test_complete_requires_an_assigned_contact() -> None:
    h = RouterHarness()
    h.arrive(id="c1", channel="chat")
    with pytest.raises(EngineError) as error:
        h.send(ContactCompleted("c1"))
    assert error.value.code == "conflict"
    with pytest.raises(EngineError) as error:
        h.send(ContactCompleted("nobody"))
    assert error.value.code == "not_found"


# 9. Abandon ---


def test_abandon_while_queued() -> None:
    h = RouterHarness()
    h.arrive(id="c1", channel="chat")
    h.advance(12)
    h.send(ContactAbandoned("c1"))
    assert state(h, "c1") is ContactState.ABANDONED
    stats = h.engine.stats()[0]
    assert (stats.abandoned, stats.waiting, stats.service_level) == (1, 0, 0.0)
    h.add_agent("a1")
    assert h.offers == []


def test_abandon_while_offered_revokes_the_offer_and_frees_the_agent() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.arrive(id="c1", channel="chat")
    h.arrive(id="c2", channel="chat")
    effects = h.send(ContactAbandoned("c1"))
    assert any(isinstance(e, RevokeOffer) and e.offer.contact_id == "c1" for e in effects)
    assert offered_to(h, "c2") == "a1"


def test_abandon_after_answer_ends_the_conversation() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.arrive(id="c1", channel="chat")
    accept(h, "c1")
    h.send(ContactAbandoned("c1"))
    record = h.engine.contact("c1")
    assert record is not None
    assert record.state is ContactState.COMPLETED
    assert record.outcome == "customer_left"
    with pytest.raises(EngineError):
        h.send(ContactAbandoned("c1"))


# 10. Transfer ---


def test_transfer_to_another_queue_frees_the_agent() -> None:
    h = RouterHarness(
        config(
            QueueConfig("support", channels=ALL, skills=("support",)),
            QueueConfig("billing", channels=ALL, skills=("billing",)),
        )
    )
    h.add_agent("s", skills={"support": 5})
    h.add_agent("b", skills={"billing": 5})
    h.arrive(id="c1", channel="chat")
    accept(h, "c1")
    h.send(ContactTransferred("c1", queue="billing"))
    record = h.engine.contact("c1")
    assert record is not None
    assert record.queue == "billing"
    assert offered_to(h, "c1") == "b"
    assert record.arrived_at == 0.0
    assert h.engine.agent("s").total_load == 0  # type: ignore[union-attr]
    transferred = next(h.events("transferred"))
    assert (transferred.details["from_queue"], transferred.details["to_queue"]) == (
        "support",
        "billing",
    )


def test_transfer_to_an_agent_waits_for_that_agent() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.add_agent("a2")
    h.arrive(id="busy", channel="chat")
    h.arrive(id="c1", channel="chat")
    busy_agent = accept(h, "busy")
    other = "a2" if busy_agent == "a1" else "a1"
    accept(h, "c1")
    h.send(ContactTransferred("c1", agent_id=busy_agent))
    assert offered_to(h, "c1") is None  # the target is full; the other agent may not take it
    h.send(ContactCompleted("busy"))
    assert offered_to(h, "c1") == busy_agent
    assert h.engine.agent(other).total_load == 0  # type: ignore[union-attr]


def test_failed_direct_transfer_goes_back_to_the_queue() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.add_agent("a2", state=AgentState.AWAY)
    h.arrive(id="c1", channel="chat")
    h.send(ContactTransferred("c1", agent_id="a1"))
    offer = h.engine.contact("c1").offer  # type: ignore[union-attr]
    assert offer is not None
    h.send(OfferAnswered(offer.id, accept=False))
    h.send(AgentStateChanged("a2", AgentState.AVAILABLE))
    assert offered_to(h, "c1") == "a2"


def test_transfer_errors() -> None:
    h = RouterHarness()
    h.arrive(id="c1", channel="chat")
    cases = [
        (ContactTransferred("c1"), "bad_request"),
        (ContactTransferred("c1", queue="x", agent_id="y"), "bad_request"),
        (ContactTransferred("c1", queue="nope"), "bad_request"),
        (ContactTransferred("c1", agent_id="ghost"), "not_found"),
        (ContactTransferred("ghost", queue="support"), "not_found"),
    ]
    for event, code in cases:
        with pytest.raises(EngineError) as error:
            h.send(event)
        assert error.value.code == code, event


# 11. Agents ---


def test_going_offline_withdraws_open_offers() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.add_agent("a2", state=AgentState.AWAY)
    h.arrive(id="c1", channel="chat")
    effects = h.send(AgentStateChanged("a1", AgentState.OFFLINE))
    assert any(isinstance(e, RevokeOffer) for e in effects)
    h.send(AgentStateChanged("a2", AgentState.AVAILABLE))
    assert offered_to(h, "c1") == "a2"


def test_unknown_agent_state_change_is_not_found() -> None:
    h = RouterHarness()
    with pytest.raises(EngineError) as error:
        h.send(AgentStateChanged("ghost", AgentState.AVAILABLE))
    assert error.value.code == "not_found"


def test_upserting_an_agent_with_new_skills_reroutes() -> None:
    h = RouterHarness()
    h.add_agent("a1", skills={"sales": 5})
    h.arrive(id="c1", channel="chat")
    assert offered_to(h, "c1") is None
    h.add_agent("a1", skills={"support": 5}, state=None)
    assert offered_to(h, "c1") == "a1"


# 12. Config reload ---


def test_config_replace_keeps_waiting_contacts_and_offers() -> None:
    h = RouterHarness()
    h.add_agent("a1")
    h.arrive(id="offered", channel="chat")
    h.arrive(id="waiting", channel="chat")
    new = config(
        QueueConfig("renamed", channels=ALL, skills=("support",)),
    )
    h.send(ConfigReplaced(new))
    assert state(h, "offered") is ContactState.OFFERED
    assert state(h, "waiting") is ContactState.QUEUED
    accept(h, "offered")
    h.send(ContactCompleted("offered"))
    # the retired queue still serves its contact
    assert offered_to(h, "waiting") == "a1"
    # but takes no new one
    h.arrive(id="new", channel="chat", queue="support")
    assert state(h, "new") is ContactState.REJECTED


# 13. Stats ---


def test_stats_count_service_level_and_waits() -> None:
    h = RouterHarness()
    h.arrive(id="fast", channel="chat")
    h.add_agent("a1", capacity={"chat": 1})
    accept(h, "fast")
    h.arrive(id="slow", channel="chat")
    h.advance(30)
    stats = h.engine.stats()[0]
    assert stats.waiting == 1
    assert stats.longest_wait_seconds == 30
    h.send(ContactCompleted("fast"))
    accept(h, "slow")
    stats = h.engine.stats()[0]
    assert (stats.answered, stats.handled, stats.waiting) == (2, 1, 0)
    assert stats.service_level == 0.5  # one answered within 20 s of two
    assert stats.asa_seconds == 15.0
    assert stats.agents_available == 1
