"""The engine's mutable records of contacts and agents.

Only the engine writes them. Plugins read agents and contacts through the
`AgentView` and `ContactView` protocols, which these records satisfy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.model import (
    AgentProfile,
    AgentState,
    Contact,
    ContactState,
    EscalationStep,
    Offer,
    RouterEvent,
)
from router.plugin_api import OutcomeStats


@dataclass(slots=True, eq=False)
class ContactRecord:
    contact: Contact
    seq: int
    arrived_at: float
    state: ContactState = ContactState.QUEUED
    queue: str | None = None
    #: when the contact entered its current queue: escalation and service level count from it
    entered_queue_at: float = 0.0
    #: base + queue + plugin terms + escalation boosts; aging is added at comparison time
    priority: float = 0.0
    min_level: int = 1
    #: queues an escalation step added, beside `queue`
    extra_queues: tuple[str, ...] = ()
    escalations: list[EscalationStep] = field(default_factory=list)
    #: bumped whenever the contact leaves or re-enters the waiting structures:
    #: entries carrying an older version are stale
    version: int = 0
    #: bumped on every (re)queueing into a queue: older waiting-clock entries are void
    generation: int = 0
    #: bumped whenever the escalation steps are armed again (new queue, reload):
    #: timers carrying an older epoch are void
    escalation_epoch: int = 0
    offer: Offer | None = None
    agent_id: str | None = None
    #: a transfer to one agent: only that agent may take the contact
    target_agent: str | None = None
    #: agents that rejected or missed this contact, and until when they are skipped
    declined_by: dict[str, float] = field(default_factory=dict)
    answered_at: float | None = None
    #: when the contact's wrap-up ends (state WRAPUP only)
    wrapup_until: float | None = None
    outcome: str | None = None
    csat: int | None = None
    reason: str | None = None
    #: the customer's key in the engine's `CustomerDirectory` (None: anonymous)
    customer: str | None = None
    events: list[RouterEvent] = field(default_factory=list)
    # ContactView. Copied from `contact` (which never changes) rather than properties:
    # the engine reads them dozens of times per contact.
    id: str = field(init=False)
    channel: str = field(init=False)

    def __post_init__(self) -> None:
        self.id = self.contact.id
        self.channel = self.contact.channel

    def declined(self, agent_id: str, now: float) -> bool:
        """The agent rejected or missed this contact and its reoffer delay still runs."""
        return bool(self.declined_by) and self.declined_by.get(agent_id, -1.0) > now

    def answered_by(self) -> str | None:
        """The agent that last took the contact (even if it was transferred on since)."""
        for event in self.events[::-1]:
            if event.type == "assigned":
                return event.agent_id
        return None

    def queues(self) -> tuple[str, ...]:
        """The queues whose agents may take the contact now."""
        if self.queue is None:
            return self.extra_queues
        return (self.queue, *self.extra_queues)


@dataclass(slots=True, eq=False)
class AgentRecord:
    profile: AgentProfile
    state: AgentState = AgentState.OFFLINE
    idle_since: float = 0.0
    load: dict[str, int] = field(default_factory=dict)
    #: contacts held on exclusive channels (voice): while any, nothing else is offered
    exclusive_held: int = 0
    missed_offers: int = 0
    offers: dict[str, Offer] = field(default_factory=dict)
    #: assigned or in wrap-up
    contacts: set[str] = field(default_factory=set)
    outcomes: dict[str, OutcomeStats] = field(default_factory=dict)
    #: queue name → the agent's proficiency for that queue's skills (membership)
    levels: dict[str, int] = field(default_factory=dict)
    #: every availability list the agent may sit in, with the channel it needs room on;
    #: computed with `levels` when the agent or the config changes
    slots: list[tuple[tuple[str, str, str | None], str]] = field(default_factory=list)
    #: the sum of `load`, kept as contacts are taken and released
    total_load: int = 0
    #: when the agent last went to the back of its availability lists (a running count):
    #: the lists' order, longest idle first, which a restored engine rebuilds
    placed: int = 0
    #: `profile.id`, copied: a profile is replaced only by one of the same id
    id: str = field(init=False)

    def __post_init__(self) -> None:
        self.id = self.profile.id

    def free_on(self, channel: str, exclusive_channels: tuple[str, ...]) -> int:
        """Free capacity on a channel; an exclusive channel (voice) takes the agent whole."""
        if self.state is not AgentState.AVAILABLE:
            return 0
        free = self.profile.capacity.get(channel, 0) - self.load.get(channel, 0)
        if free <= 0:
            return 0
        if self.exclusive_held or (self.total_load and channel in exclusive_channels):
            return 0
        return free

    def take(self, channel: str, exclusive_channels: tuple[str, ...]) -> None:
        self.load[channel] = self.load.get(channel, 0) + 1
        self.total_load += 1
        if channel in exclusive_channels:
            self.exclusive_held += 1

    def release(self, channel: str, exclusive_channels: tuple[str, ...]) -> None:
        self.load[channel] = self.load.get(channel, 0) - 1
        self.total_load -= 1
        if channel in exclusive_channels:
            self.exclusive_held -= 1
