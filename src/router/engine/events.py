"""What the engine is told. Every event is handled at an explicit `now`.

Events carry only plain values, so the runtime can journal them and the
engine can be rebuilt by replaying the journal (the engine is deterministic).
"""

from __future__ import annotations

from typing import NamedTuple

from router.model import AgentProfile, AgentState, Contact, EngineConfig


class ContactArrived(NamedTuple):
    """A new contact; a contact id seen before is ignored (idempotent ingest)."""

    contact: Contact


class AgentUpserted(NamedTuple):
    """An agent created or updated (skills, languages, capacity); its state is kept."""

    agent: AgentProfile


class AgentStateChanged(NamedTuple):
    agent_id: str
    state: AgentState


class OfferAnswered(NamedTuple):
    offer_id: str
    accept: bool
    #: when given, the offer must be this agent's (the API passes the caller)
    agent_id: str | None = None


class ContactCompleted(NamedTuple):
    contact_id: str
    outcome: str = "resolved"
    csat: int | None = None
    #: when given, the contact must be held by this agent (the API passes the caller)
    by_agent: str | None = None


class ContactAbandoned(NamedTuple):
    contact_id: str
    #: when given, the contact must be offered to or held by this agent
    by_agent: str | None = None


class ContactTransferred(NamedTuple):
    """To a queue or to one agent; exactly one of the two is given."""

    contact_id: str
    queue: str | None = None
    agent_id: str | None = None
    #: when given, the contact must be held by this agent (the API passes the caller)
    by_agent: str | None = None


class ConfigReplaced(NamedTuple):
    """A reloaded config: applied without dropping a waiting contact, offer or assignment."""

    config: EngineConfig


class Tick(NamedTuple):
    """Nothing but the passing of time: fires the timers due at `now`."""


Event = (
    ContactArrived
    | AgentUpserted
    | AgentStateChanged
    | OfferAnswered
    | ContactCompleted
    | ContactAbandoned
    | ContactTransferred
    | ConfigReplaced
    | Tick
)
