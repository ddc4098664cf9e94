"""JSON shapes of agents, contacts, offers and stats: one place, for HTTP, MQTT and pages."""

from __future__ import annotations

from typing import Any

from router.engine import Engine, SendOffer
from router.engine.records import AgentRecord, ContactRecord
from router.model import AgentState, ContactState, Offer


def offer_json(offer: Offer) -> dict[str, Any]:
    return {
        "offer_id": offer.id,
        "contact_id": offer.contact_id,
        "agent_id": offer.agent_id,
        "queue": offer.queue,
        "created_at": offer.created_at,
        "expires_at": offer.expires_at,
    }


def offer_message(effect: SendOffer) -> dict[str, Any]:
    """CONTRACT 5 `router/agents/{id}/offers`: what the agent needs to decide."""
    return {
        "offer_id": effect.offer.id,
        "contact": effect.contact.to_json(),
        "queue": effect.offer.queue,
        "expires_at": effect.offer.expires_at,
        "customer_history": [entry.to_json() for entry in effect.customer_history],
    }


def contact_json(engine: Engine, record: ContactRecord) -> dict[str, Any]:
    """CONTRACT 3 `GET /v1/contacts/{id}`, with the contact itself and its open offer."""
    return {
        "id": record.id,
        "state": str(record.state),
        "queue": record.queue,
        "agent_id": record.agent_id,
        "channel": record.channel,
        "arrived_at": record.arrived_at,
        "answered_at": record.answered_at,
        "outcome": record.outcome,
        "csat": record.csat,
        "reason": record.reason,
        "offer": offer_json(record.offer) if record.offer else None,
        "contact": record.contact.to_json(),
        "customer_history": [e.to_json() for e in engine.customer_history(record)],
        "history": [event.to_json() for event in record.events],
    }


def agent_json(engine: Engine, agent: AgentRecord) -> dict[str, Any]:
    profile = agent.profile
    contacts = []
    for contact_id in sorted(agent.contacts):
        record = engine.contact(contact_id)
        if record is not None:
            contacts.append(
                {
                    "id": record.id,
                    "state": str(record.state),
                    "channel": record.channel,
                    "queue": record.queue,
                    "customer": record.contact.customer.name,
                    "subject": record.contact.subject,
                }
            )
    return {
        "id": agent.id,
        "name": profile.name,
        "state": str(agent.state),
        "skills": dict(profile.skills),
        "languages": sorted(profile.languages),
        "capacity": dict(profile.capacity),
        "load": {channel: n for channel, n in agent.load.items() if n},
        "idle_since": agent.idle_since if agent.state is AgentState.AVAILABLE else None,
        "missed_offers": agent.missed_offers,
        "queues": sorted(agent.levels),
        "offers": [offer_json(offer) for offer in agent.offers.values()],
        "contacts": contacts,
    }


def stats_json(engine: Engine) -> dict[str, Any]:
    """CONTRACT 3 `GET /v1/stats`."""
    queues = [
        {
            "name": q.name,
            "waiting": q.waiting,
            "longest_wait_seconds": round(q.longest_wait_seconds, 3),
            # no contact finished waiting yet: nothing missed the target, report 1.0
            "service_level": 1.0 if q.service_level is None else round(q.service_level, 4),
            "asa_seconds": round(q.asa_seconds, 3),
            "offered": q.arrived,
            "answered": q.answered,
            "handled": q.handled,
            "abandoned": q.abandoned,
            "agents_available": q.agents_available,
            "sla_seconds": q.sla_seconds,
        }
        for q in engine.stats()
    ]
    by_state = dict.fromkeys((str(s) for s in AgentState), 0)
    busy = 0
    for agent in engine.agents.values():
        by_state[str(agent.state)] += 1
        busy += bool(agent.contacts or agent.offers)
    contacts = dict.fromkeys((str(s) for s in ContactState if not s.is_terminal), 0)
    for record in engine.contacts.values():
        if not record.state.is_terminal:
            contacts[str(record.state)] += 1
    return {
        "at": engine.now,
        "queues": queues,
        "agents": {"total": len(engine.agents), **by_state, "busy": busy},
        "contacts": contacts,
    }
