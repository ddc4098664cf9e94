"""What the engine is told. Every event is handled at an explicit `now`.

Events carry only plain values, so the runtime can journal them and the
engine can be rebuilt by replaying the journal (the engine is deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass

from router.model import AgentProfile, AgentState, Contact, EngineConfig


@dataclass(frozen=True, slots=True)
class ContactArrived:
    """A new contact; a contact id seen before is ignored (idempotent ingest)."""

    contact: Contact


@dataclass(frozen=True, slots=True)
class AgentUpserted:
    """An agent created or updated (skills, languages, capacity); its state is kept."""

    agent: AgentProfile


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    agent_id: str
    state: AgentState


@dataclass(frozen=True, slots=True)
class OfferAnswered:
    offer_id: str
    accept: bool
    #: when given, the offer must be this agent's (the API passes the caller)
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class ContactCompleted:
    contact_id: str
    outcome: str = "resolved"
    csat: int | None = None
    #: when given, the contact must be held by this agent (the API passes the caller)
    by_agent: str | None = None


@dataclass(frozen=True, slots=True)
class ContactAbandoned:
    contact_id: str
    #: when given, the contact must be offered to or held by this agent
    by_agent: str | None = None


@dataclass(frozen=True, slots=True)
class ContactTransferred:
    """To a queue or to one agent; exactly one of the two is given."""

    contact_id: str
    queue: str | None = None
    agent_id: str | None = None
    #: when given, the contact must be held by this agent (the API passes the caller)
    by_agent: str | None = None


@dataclass(frozen=True, slots=True)
class ConfigReplaced:
    """A reloaded config: applied without dropping a waiting contact, offer or assignment."""

    config: EngineConfig


@dataclass(frozen=True, slots=True)
class Tick:
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
