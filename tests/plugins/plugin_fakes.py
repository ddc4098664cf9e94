"""Small frozen stand-ins for the engine's views, shared by the plugin tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from router.model import AgentProfile, AgentState, Contact, Customer, QueueConfig
from router.plugin_api import OutcomeStats, RoutingContext


@dataclass(frozen=True, slots=True)
class FakeAgent:
    """Satisfies `router.plugin_api.AgentView`."""

    id: str
    profile: AgentProfile
    state: AgentState = AgentState.AVAILABLE
    load: Mapping[str, int] = field(default_factory=dict)
    idle_since: float = 0.0
    outcomes: Mapping[str, OutcomeStats] = field(default_factory=dict)

    @property
    def total_load(self) -> int:
        return sum(self.load.values())


@dataclass(frozen=True, slots=True)
class FakeContactView:
    """Satisfies `router.plugin_api.ContactView`."""

    contact: Contact
    queue: str | None = "support"
    arrived_at: float = 0.0
    min_level: int = 1
    priority: float = 0.0


def agent(
    agent_id: str,
    *,
    skills: Mapping[str, int] | None = None,
    languages: tuple[str, ...] = (),
    capacity: Mapping[str, int] | None = None,
    load: Mapping[str, int] | None = None,
    idle_since: float = 0.0,
    outcomes: Mapping[str, OutcomeStats] | None = None,
) -> FakeAgent:
    profile = AgentProfile(
        id=agent_id,
        skills=MappingProxyType(dict(skills or {})),
        languages=frozenset(languages),
        capacity=MappingProxyType(dict(capacity or {})),
    )
    return FakeAgent(
        id=agent_id,
        profile=profile,
        load=dict(load or {}),
        idle_since=idle_since,
        outcomes=dict(outcomes or {}),
    )


def contact(
    *,
    channel: str = "chat",
    skills: tuple[str, ...] = (),
    tier: str = "standard",
    language: str | None = None,
    subject: str = "",
    body: str = "",
    attributes: Mapping[str, object] | None = None,
) -> Contact:
    return Contact(
        id="c1",
        channel=channel,
        customer=Customer(id="cust", tier=tier, language=language),
        subject=subject,
        body=body,
        skills=skills,
        attributes=MappingProxyType(dict(attributes or {})),
    )


def view(contact_: Contact | None = None, *, queue: str | None = "support") -> FakeContactView:
    return FakeContactView(contact=contact_ or contact(), queue=queue)


def queue(
    name: str = "support",
    *,
    channels: tuple[str, ...] = ("chat", "voice", "email"),
    skills: tuple[str, ...] = (),
    strategy: str = "best_score",
) -> QueueConfig:
    return QueueConfig(name=name, channels=channels, skills=skills, strategy=strategy)


def context(
    now: float = 100.0, *, customer_agent: str | None = None, thread_agent: str | None = None
) -> RoutingContext:
    return RoutingContext(
        now=now,
        customer_history=(),
        last_agent_for_customer=customer_agent,
        last_agent_for_thread=thread_agent,
    )
