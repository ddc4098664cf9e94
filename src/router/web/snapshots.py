"""What the pages show, built from the engine: an agent's desk, the wallboard's figures.

Built on `router.runtime.views` (the shapes HTTP and MQTT already use), with
what a page needs beside them: each offer and contact with its customer, text
and customer history, wrap-up ends, and per queue the agents by state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.engine import Engine
from router.engine.records import ContactRecord
from router.model import AgentState, ContactState
from router.runtime.views import agent_json, stats_json


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    #: None when the engine does not know the agent (not created yet, or removed)
    body: dict[str, Any] | None
    #: the contacts it shows: events on them change the agent's view
    contact_ids: tuple[str, ...]


def _contact_details(engine: Engine, record: ContactRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "state": str(record.state),
        "channel": record.channel,
        "queue": record.queue,
        "contact": record.contact.to_json(),
        "customer_history": [e.to_json() for e in engine.customer_history(record)],
        "answered_at": record.answered_at,
        "wrapup_until": record.wrapup_until if record.state is ContactState.WRAPUP else None,
    }


def agent_snapshot(engine: Engine, agent_id: str) -> AgentSnapshot:
    agent = engine.agent(agent_id)
    if agent is None:
        return AgentSnapshot(None, ())
    body = agent_json(engine, agent)
    offers = []
    ids = []
    for offer in agent.offers.values():
        record = engine.contact(offer.contact_id)
        if record is not None:
            ids.append(record.id)
            offers.append(
                {
                    # the shape of CONTRACT 5's offer message, as the stream's "offer"
                    "offer_id": offer.id,
                    "contact": record.contact.to_json(),
                    "queue": offer.queue,
                    "expires_at": offer.expires_at,
                    "customer_history": [e.to_json() for e in engine.customer_history(record)],
                }
            )
    contacts = []
    for contact_id in sorted(agent.contacts):
        record = engine.contact(contact_id)
        if record is not None:
            ids.append(record.id)
            contacts.append(_contact_details(engine, record))
    body["offers"] = offers
    body["contacts"] = contacts
    return AgentSnapshot(body, tuple(ids))


def wallboard_stats(engine: Engine, now: float) -> dict[str, Any]:
    """`GET /v1/stats` as of `now`, with agents busy and away per queue.

    The engine's clock moves only when it handles an event; while none comes
    the waiting contacts are the same ones, each waiting `now - engine.now`
    longer (as the metrics collector reads it).
    """
    stats = stats_json(engine)
    idle = max(0.0, now - engine.now)
    per_queue: dict[str, dict[str, int]] = {}
    idle_agents = 0
    for agent in engine.agents.values():
        busy = bool(agent.contacts or agent.offers)
        idle_agents += agent.state is AgentState.AVAILABLE and not busy
        for queue in agent.levels:
            counts = per_queue.setdefault(queue, {"busy": 0, "away": 0, "idle": 0})
            if agent.state is AgentState.AWAY:
                counts["away"] += 1
            elif agent.state is AgentState.AVAILABLE:
                counts["busy" if busy else "idle"] += 1
    for queue in stats["queues"]:
        if queue["waiting"]:
            queue["longest_wait_seconds"] = round(queue["longest_wait_seconds"] + idle, 3)
        counts = per_queue.get(queue["name"], {})
        queue["agents_busy"] = counts.get("busy", 0)
        queue["agents_away"] = counts.get("away", 0)
        queue["agents_idle"] = counts.get("idle", 0)
    #: available and holding nothing: who can take the next contact now
    stats["agents"]["idle"] = idle_agents
    stats["at"] = now
    return stats
