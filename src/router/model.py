"""Value objects shared by the engine, the plugins, the runtime and the simulator.

Everything here is immutable: frozen dataclasses, and `Value` classes with
`Final` fields for what the engine makes several of per contact (offers,
events), which build ten times faster compiled (see `router.value`). The
engine keeps its own mutable records (see `router.engine.records`) and hands
plugins read-only views of them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeVar

from router.value import Value

_K = TypeVar("_K")
_V = TypeVar("_V")

PROFICIENCY_MIN = 1
PROFICIENCY_MAX = 10

#: Channels the project knows by name; a plugin may bring others.
KNOWN_CHANNELS = ("voice", "chat", "email", "sms", "whatsapp", "messenger")

EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})


def _empty_mapping() -> Mapping[str, Any]:
    return EMPTY_MAPPING


def lookup(mapping: Mapping[_K, _V], key: _K, default: _V) -> _V:
    """`mapping.get(key, default)`, for the per-candidate reads of read-only mappings.

    Profiles and config hold their mappings as `MappingProxyType`s, whose `get` is a
    method found by name and forwarded to the dict's, again by name: about 460
    instructions a call from compiled code. `in` and `[]` go straight to the dict's
    slots, at a fraction of that, with the same answer for any mapping.
    """
    return mapping[key] if key in mapping else default  # noqa: SIM401 - not `get`: see above


class ContactState(enum.StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    WRAPUP = "wrapup"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_STATES


_TERMINAL_STATES = frozenset(
    {ContactState.COMPLETED, ContactState.ABANDONED, ContactState.REJECTED}
)


class AgentState(enum.StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


class ModelError(ValueError):
    """A value that does not fit the model; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Customer:
    id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    tier: str = "standard"
    language: str | None = None
    #: the customer's ids on channels that have their own (WhatsApp wa_id, Messenger
    #: page-scoped id), keyed by channel
    handles: Mapping[str, str] = field(default_factory=_empty_mapping)

    @property
    def key(self) -> str | None:
        """The first identity of `identities()`; the engine links all of them to one customer."""
        identities = self.identities()
        return identities[0] if identities else None

    def identities(self) -> tuple[str, ...]:
        """Every identifier this contact gives for its customer, strongest first.

        E-mail addresses are compared without case, phone numbers by their
        digits (and a leading +), so "+44 20 7946 0018" and "+442079460018" match.
        """
        found = []
        if self.id:
            found.append(f"id:{self.id}")
        if self.email:
            found.append(f"email:{self.email.strip().lower()}")
        if self.phone and (phone := normalize_phone(self.phone)):
            found.append(f"phone:{phone}")
        if self.handles:
            found.extend(f"{channel}:{value}" for channel, value in sorted(self.handles.items()))
        return tuple(found)


#: the customer of a contact that names none (immutable, so one serves them all)
_ANONYMOUS = Customer()


def normalize_phone(phone: str) -> str:
    """Digits only, with the leading + kept: the form phone numbers are compared in."""
    digits = "".join(char for char in phone if char.isdigit())
    return ("+" + digits if phone.strip().startswith("+") else digits) if digits else ""


class Contact(Value):
    """The normalized contact of CONTRACT section 4; every channel plugin produces one.

    A `Value` (not a frozen dataclass): the simulator builds one per arrival."""

    __match_args__ = (
        "id",
        "channel",
        "customer",
        "subject",
        "body",
        "queue",
        "skills",
        "priority",
        "thread_id",
        "attributes",
    )

    def __init__(  # noqa: PLR0917 - positional, as when it was a dataclass
        self,
        id: str,
        channel: str,
        customer: Customer | None = None,
        subject: str = "",
        body: str = "",
        queue: str | None = None,
        skills: tuple[str, ...] = (),
        priority: int = 0,
        thread_id: str | None = None,
        attributes: Mapping[str, Any] = EMPTY_MAPPING,
    ) -> None:
        self.id: Final = id
        self.channel: Final = channel
        self.customer: Final = _ANONYMOUS if customer is None else customer
        self.subject: Final = subject
        self.body: Final = body
        self.queue: Final = queue
        self.skills: Final = skills
        self.priority: Final = priority
        self.thread_id: Final = thread_id
        self.attributes: Final = attributes

    def to_json(self) -> dict[str, Any]:
        customer = {k: v for k, v in _customer_items(self.customer) if v is not None}
        return {
            "id": self.id,
            "channel": self.channel,
            "customer": customer,
            "subject": self.subject,
            "body": self.body,
            "queue": self.queue,
            "skills": list(self.skills),
            "priority": self.priority,
            "thread_id": self.thread_id,
            "attributes": dict(self.attributes),
        }


def _customer_items(customer: Customer) -> list[tuple[str, Any]]:
    return [
        ("id", customer.id),
        ("name", customer.name),
        ("email", customer.email),
        ("phone", customer.phone),
        ("tier", customer.tier),
        ("language", customer.language),
        ("handles", dict(customer.handles) or None),
    ]


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """What an admin says about an agent (CONTRACT `PUT /v1/agents/{id}`)."""

    id: str
    name: str = ""
    skills: Mapping[str, int] = field(default_factory=_empty_mapping)
    languages: frozenset[str] = frozenset()
    capacity: Mapping[str, int] = field(default_factory=_empty_mapping)
    #: the sum of `capacity` over every channel (scoring reads it for every candidate)
    total_capacity: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total_capacity", sum(self.capacity.values()))

    def level_for(self, skills: tuple[str, ...]) -> int | None:
        """The agent's proficiency for a set of skills: the lowest of them; None if one is missing.

        An empty skill set is served by everyone at the top level.
        """
        level = PROFICIENCY_MAX
        for skill in skills:
            own = self.skills.get(skill)
            if own is None:
                return None
            level = min(level, own)
        return level


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """One bullseye ring: after `after_seconds` of waiting, widen who may take the contact."""

    after_seconds: float
    min_level: int | None = None
    add_queues: tuple[str, ...] = ()
    priority_boost: float = 0.0

    def describe(self) -> str:
        parts = []
        if self.min_level is not None:
            parts.append(f"min_level {self.min_level}")
        if self.add_queues:
            parts.append("also queues " + ", ".join(self.add_queues))
        if self.priority_boost:
            parts.append(f"priority +{self.priority_boost:g}")
        return f"after {self.after_seconds:g}s: " + ("; ".join(parts) or "no change")


@dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    channels: tuple[str, ...]
    skills: tuple[str, ...] = ()
    min_level: int = PROFICIENCY_MIN
    priority: float = 0.0
    sla_seconds: float = 20.0
    offer_timeout_seconds: float = 20.0
    wrapup_seconds: float = 0.0
    require_language: bool = False
    strategy: str = "best_score"
    escalation: tuple[EscalationStep, ...] = ()


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """The `[routing]` table: engine-wide knobs."""

    #: one priority point per this many seconds of waiting (the same for every queue,
    #: so that the order of waiting contacts never changes with time)
    aging_seconds: float = 60.0
    #: how many eligible agents are scored per decision (bounded: decision cost must
    #: not grow with the number of agents)
    candidate_limit: int = 16
    #: channels whose contact takes the agent whole (voice by default)
    exclusive_channels: tuple[str, ...] = ("voice",)
    #: consecutive timed-out offers after which an agent is set away (0: never)
    missed_offers_before_away: int = 3
    #: after a reject or timeout the contact goes to another agent first; it may come
    #: back to the same agent after this many seconds
    reoffer_delay_seconds: float = 5.0
    #: recent contacts remembered per customer, carried on offers
    history_per_customer: int = 10
    #: finished contacts kept in memory for lookups and idempotency
    finished_contacts_kept: int = 50_000
    #: a contact whose thread already has an open contact on the same channel (a
    #: follow-up WhatsApp message, an e-mail reply while the first is waiting) joins
    #: that contact as a message instead of queueing as a new one
    join_open_threads: bool = True
    #: weight of each scoring term by name; a term not named here weighs 1.0
    weights: Mapping[str, float] = field(default_factory=_empty_mapping)

    def weight(self, term: str) -> float:
        return self.weights.get(term, 1.0)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What the engine needs of the config: queues in order, and the routing knobs."""

    queues: tuple[QueueConfig, ...]
    routing: RoutingSettings = field(default_factory=RoutingSettings)

    def queue(self, name: str) -> QueueConfig | None:
        for queue in self.queues:
            if queue.name == name:
                return queue
        return None


class Offer(Value):
    __match_args__ = ("id", "contact_id", "agent_id", "queue", "created_at", "expires_at")

    def __init__(  # noqa: PLR0917 - positional, as when it was a NamedTuple
        self,
        id: str,
        contact_id: str,
        agent_id: str,
        queue: str,
        created_at: float,
        expires_at: float,
    ) -> None:
        self.id: Final = id
        self.contact_id: Final = contact_id
        self.agent_id: Final = agent_id
        self.queue: Final = queue
        self.created_at: Final = created_at
        self.expires_at: Final = expires_at


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One of a customer's recent contacts, as an offer carries it."""

    contact_id: str
    channel: str
    queue: str | None
    subject: str
    state: ContactState
    at: float
    agent_id: str | None = None
    outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "channel": self.channel,
            "queue": self.queue,
            "subject": self.subject,
            "state": str(self.state),
            "at": self.at,
            "agent_id": self.agent_id,
            "outcome": self.outcome,
        }


class RouterEvent(Value):
    """A state change, published on `router/events` (CONTRACT 5) and kept on the contact.

    Also one of the engine's effects: the host publishes it."""

    __match_args__ = ("type", "at", "contact_id", "agent_id", "queue", "details")

    def __init__(  # noqa: PLR0917 - positional, as when it was a NamedTuple
        self,
        type: str,
        at: float,
        contact_id: str | None = None,
        agent_id: str | None = None,
        queue: str | None = None,
        details: Mapping[str, Any] = EMPTY_MAPPING,
    ) -> None:
        self.type: Final = type
        self.at: Final = at
        self.contact_id: Final = contact_id
        self.agent_id: Final = agent_id
        self.queue: Final = queue
        self.details: Final = details

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "contact_id": self.contact_id,
            "agent_id": self.agent_id,
            "queue": self.queue,
            "at": self.at,
            **self.details,
        }
