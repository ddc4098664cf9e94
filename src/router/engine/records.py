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


class ContactRecord:
    """A contact as the engine tracks it. A plain class with its own `__init__` (not a
    dataclass, whose generated one runs as plain Python even compiled): one per contact."""

    __slots__ = (
        "agent_id",
        "answered_at",
        "arrived_at",
        "channel",
        "contact",
        "csat",
        "customer",
        "declined_by",
        "entered_queue_at",
        "escalation_epoch",
        "escalations",
        "events",
        "extra_queues",
        "generation",
        "id",
        "min_level",
        "offer",
        "outcome",
        "priority",
        "queue",
        "reason",
        "seq",
        "state",
        "target_agent",
        "version",
        "wrapup_until",
    )

    def __init__(  # noqa: PLR0917 - positional, as the store's codec passes them
        self,
        contact: Contact,
        seq: int,
        arrived_at: float,
        state: ContactState = ContactState.QUEUED,
        queue: str | None = None,
        entered_queue_at: float = 0.0,
        priority: float = 0.0,
        min_level: int = 1,
        extra_queues: tuple[str, ...] = (),
        escalations: list[EscalationStep] | None = None,
        *,
        version: int = 0,
        generation: int = 0,
        escalation_epoch: int = 0,
        offer: Offer | None = None,
        agent_id: str | None = None,
        target_agent: str | None = None,
        declined_by: dict[str, float] | None = None,
        answered_at: float | None = None,
        wrapup_until: float | None = None,
        outcome: str | None = None,
        csat: int | None = None,
        reason: str | None = None,
        customer: str | None = None,
        events: list[RouterEvent] | None = None,
    ) -> None:
        self.contact = contact
        self.seq = seq
        self.arrived_at = arrived_at
        self.state = state
        self.queue = queue
        #: when the contact entered its current queue: escalation and service level count
        #: from it
        self.entered_queue_at = entered_queue_at
        #: base + queue + plugin terms + escalation boosts; aging is added at comparison time
        self.priority = priority
        self.min_level = min_level
        #: queues an escalation step added, beside `queue`
        self.extra_queues = extra_queues
        self.escalations: list[EscalationStep] = [] if escalations is None else escalations
        #: bumped whenever the contact leaves or re-enters the waiting structures:
        #: entries carrying an older version are stale
        self.version = version
        #: bumped on every (re)queueing into a queue: older waiting-clock entries are void
        self.generation = generation
        #: bumped whenever the escalation steps are armed again (new queue, reload):
        #: timers carrying an older epoch are void
        self.escalation_epoch = escalation_epoch
        self.offer = offer
        self.agent_id = agent_id
        #: a transfer to one agent: only that agent may take the contact
        self.target_agent = target_agent
        #: agents that rejected or missed this contact, and until when they are skipped
        self.declined_by: dict[str, float] = {} if declined_by is None else declined_by
        self.answered_at = answered_at
        #: when the contact's wrap-up ends (state WRAPUP only)
        self.wrapup_until = wrapup_until
        self.outcome = outcome
        self.csat = csat
        self.reason = reason
        #: the customer's key in the engine's `CustomerDirectory` (None: anonymous)
        self.customer = customer
        self.events: list[RouterEvent] = [] if events is None else events
        # ContactView. Copied from `contact` (which never changes) rather than properties:
        # the engine reads them dozens of times per contact.
        self.id = contact.id
        self.channel = contact.channel

    def __repr__(self) -> str:
        return f"ContactRecord(id={self.id!r}, state={self.state!r}, queue={self.queue!r})"

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
        if not self.extra_queues:  # the common case, without unpacking into a new tuple
            return (self.queue,)
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
    #: `profile.capacity` as a plain dict, and the profile it was copied from (see
    #: `capacity`)
    _capacity: dict[str, int] = field(init=False, repr=False)
    _capacity_of: AgentProfile | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.id = self.profile.id
        self._capacity_of = None

    def capacity(self) -> dict[str, int]:
        """`profile.capacity`, copied into a plain dict once per profile.

        `free_on` reads it for every candidate considered; the profile's own is a
        `MappingProxyType`, two dict lookups behind a forwarding call. Checked against
        the profile in place, so replacing the profile needs no care.
        """
        if self._capacity_of is not self.profile:
            self._capacity = dict(self.profile.capacity)
            self._capacity_of = self.profile
        return self._capacity

    def free_on(self, channel: str, exclusive_channels: tuple[str, ...]) -> int:
        """Free capacity on a channel; an exclusive channel (voice) takes the agent whole."""
        if self.state is not AgentState.AVAILABLE:
            return 0
        free = self.capacity().get(channel, 0) - self.load.get(channel, 0)
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
