"""What the engine is told. Every event is handled at an explicit `now`.

Events carry only plain values, so the runtime can journal them and the
engine can be rebuilt by replaying the journal (the engine is deterministic).
Immutable `Value`s: the simulator makes several per contact.
"""

from __future__ import annotations

from typing import Final

from router.model import AgentProfile, AgentState, Contact, EngineConfig
from router.value import Value


class ContactArrived(Value):
    """A new contact; a contact id seen before is ignored (idempotent ingest)."""

    __match_args__ = ("contact",)

    def __init__(self, contact: Contact) -> None:
        self.contact: Final = contact


class AgentUpserted(Value):
    """An agent created or updated (skills, languages, capacity); its state is kept."""

    __match_args__ = ("agent",)

    def __init__(self, agent: AgentProfile) -> None:
        self.agent: Final = agent


class AgentStateChanged(Value):
    __match_args__ = ("agent_id", "state")

    def __init__(self, agent_id: str, state: AgentState) -> None:
        self.agent_id: Final = agent_id
        self.state: Final = state


class OfferAnswered(Value):
    __match_args__ = ("offer_id", "accept", "agent_id")

    def __init__(self, offer_id: str, accept: bool, agent_id: str | None = None) -> None:
        self.offer_id: Final = offer_id
        self.accept: Final = accept
        #: when given, the offer must be this agent's (the API passes the caller)
        self.agent_id: Final = agent_id


class ContactCompleted(Value):
    __match_args__ = ("contact_id", "outcome", "csat", "by_agent")

    def __init__(
        self,
        contact_id: str,
        outcome: str = "resolved",
        csat: int | None = None,
        by_agent: str | None = None,
    ) -> None:
        self.contact_id: Final = contact_id
        self.outcome: Final = outcome
        self.csat: Final = csat
        #: when given, the contact must be held by this agent (the API passes the caller)
        self.by_agent: Final = by_agent


class ContactAbandoned(Value):
    __match_args__ = ("contact_id", "by_agent")

    def __init__(self, contact_id: str, by_agent: str | None = None) -> None:
        self.contact_id: Final = contact_id
        #: when given, the contact must be offered to or held by this agent
        self.by_agent: Final = by_agent


class ContactTransferred(Value):
    """To a queue or to one agent; exactly one of the two is given."""

    __match_args__ = ("contact_id", "queue", "agent_id", "by_agent")

    def __init__(
        self,
        contact_id: str,
        queue: str | None = None,
        agent_id: str | None = None,
        by_agent: str | None = None,
    ) -> None:
        self.contact_id: Final = contact_id
        self.queue: Final = queue
        self.agent_id: Final = agent_id
        #: when given, the contact must be held by this agent (the API passes the caller)
        self.by_agent: Final = by_agent


class ConfigReplaced(Value):
    """A reloaded config: applied without dropping a waiting contact, offer or assignment."""

    __match_args__ = ("config",)

    def __init__(self, config: EngineConfig) -> None:
        self.config: Final = config


class Tick(Value):
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
