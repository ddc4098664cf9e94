"""Random event sequences through the engine, checked against DESIGN's invariants.

A hypothesis state machine drives `RouterHarness` (three queues on different
channels and skills: one with escalation steps that lower `min_level` and add
a queue, one that requires the customer's language and has a wrap-up, one
retired by a reload) with agents (upserted with random skills, levels,
capacities and languages, capacity sometimes lowered under their load, and
switched between states), contacts (random channels, customers, tiers,
languages, threads, explicit skills, explicit queues known and unknown,
repeated ids), offer answers (right, wrong, anonymous and stale), completions
with random CSAT, abandons, transfers to queues and to agents, the clock
(offers expire, escalations fire, wrap-ups end) and config reloads. Like the
daemon, it sends a `Tick` whenever `next_due()` says a timer is due.

Checked after every step:

- `check_invariants`: the records and indexes agree with each other;
- at the moment of every offer (a `router_event` listener sees the `offered`
  event inside the engine): the agent was available, had room on the channel
  and no exclusive contact, had not declined the contact lately, and was
  eligible — the queue's skills at the contact's level (lowered only by a
  published `escalated` step), the language when the queue requires it, any
  extra skills the contact asks — unless a direct transfer names it; the offer
  carries the customer's other recent contacts;
- FIFO within equal priority: no waiting contact of the same queue and
  channel, with the same priority, that arrived earlier and that the agent
  could take, was passed over;
- the states published for each contact follow the legal transitions, agree
  with the engine's record, and end in exactly one terminal state (the
  teardown finishes every live contact and checks it);
- escalation steps fire no earlier than their `after_seconds`; wrap-ups last
  the queue's `wrapup_seconds`; an agent is set away after exactly
  `missed_offers_before_away` missed offers in a row;
- no contact waits while an available agent that may take it has room
  (work conservation, on the engine's own eligibility rules);
- a contact goes to the queue DESIGN rule 1 names (rejected when none takes
  its channel); a repeated contact id changes nothing; a reload drops no
  contact, offer or assignment;
- a refused event is refused with the code the contract gives and changes
  nothing.

The engine bugs the machine found are kept as regression tests at the end of
this file, each in the fewest events that show it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from router import hookimpl
from router.engine import (
    AgentStateChanged,
    AgentUpserted,
    ConfigReplaced,
    ContactAbandoned,
    ContactArrived,
    ContactCompleted,
    ContactTransferred,
    EngineError,
    Event,
    OfferAnswered,
    RevokeOffer,
    SendOffer,
    Tick,
)
from router.engine import core as engine_core
from router.engine.core import Engine
from router.engine.invariants import check_invariants, free_capacity, requirement
from router.engine.records import AgentRecord, ContactRecord
from router.engine.restore import restore
from router.engine.timers import EscalationDue, OfferExpiry, ReofferDue, WrapupEnd
from router.model import (
    AgentProfile,
    AgentState,
    Contact,
    ContactState,
    Customer,
    EngineConfig,
    EscalationStep,
    QueueConfig,
    RouterEvent,
    RoutingSettings,
)
from router.store import MemoryStore, batch_of, engine_state
from router.store.codec import (
    agent_document,
    contact_document,
    counters_document,
    figures_document,
)
from router.testing import RouterHarness

# ------------------------------------------------------------------ configs
SALES = QueueConfig(
    name="sales",
    channels=("voice", "chat"),
    skills=("sales",),
    min_level=6,
    offer_timeout_seconds=15.0,
    escalation=(
        EscalationStep(after_seconds=20.0, min_level=3),
        EscalationStep(after_seconds=45.0, add_queues=("support",), priority_boost=1.0),
    ),
)
SUPPORT = QueueConfig(
    name="support",
    channels=("chat", "email", "sms"),
    skills=("support",),
    require_language=True,
    wrapup_seconds=8.0,
    offer_timeout_seconds=10.0,
    strategy="round_robin",
)
BILLING = QueueConfig(
    name="billing",
    channels=("email", "voice", "whatsapp"),
    skills=("billing",),
    min_level=3,
    priority=1.0,
    escalation=(EscalationStep(after_seconds=30.0, min_level=1),),
)
BASE = EngineConfig(
    queues=(SALES, SUPPORT, BILLING),
    routing=RoutingSettings(
        missed_offers_before_away=2, reoffer_delay_seconds=4.0, candidate_limit=3
    ),
)
#: a reload: levels and steps changed, language no longer required, billing retired,
#: a new queue, faster aging, declined contacts may come straight back
RELOAD_A = EngineConfig(
    queues=(
        replace(
            SALES,
            min_level=4,
            escalation=(EscalationStep(after_seconds=10.0, min_level=1),),
        ),
        replace(SUPPORT, require_language=False, wrapup_seconds=3.0),
        QueueConfig(
            name="tech",
            channels=("chat", "voice", "sms"),
            skills=("tech",),
            min_level=2,
            escalation=(EscalationStep(after_seconds=15.0, add_queues=("sales",)),),
        ),
    ),
    routing=RoutingSettings(
        aging_seconds=30.0, missed_offers_before_away=0, reoffer_delay_seconds=0.0
    ),
)
#: a reload: whatsapp becomes exclusive too, sales gets a wrap-up
RELOAD_B = EngineConfig(
    queues=(replace(SALES, wrapup_seconds=5.0), SUPPORT, BILLING),
    routing=replace(BASE.routing, exclusive_channels=("voice", "whatsapp")),
)
#: a reload: billing stops taking whatsapp while whatsapp contacts may wait in it
RELOAD_C = EngineConfig(
    queues=(SALES, SUPPORT, replace(BILLING, channels=("email", "voice"))),
    routing=BASE.routing,
)
CONFIGS = (BASE, RELOAD_A, RELOAD_B, RELOAD_C)

AGENT_IDS = ("a0", "a1", "a2", "a3", "a4", "ghost")
CHANNELS = ("voice", "chat", "email", "sms", "whatsapp")
SKILLS = ("sales", "support", "billing", "tech")
QUEUE_NAMES = ("sales", "support", "billing", "tech", "nowhere")

# ------------------------------------------------------------ transitions
# What each published contact event means for the contact's state; "escalated"
# changes nothing and is only legal while waiting.
EVENT_STATE = {
    "queued": "queued",
    "offered": "offered",
    "assigned": "assigned",
    "wrapup": "wrapup",
    "completed": "completed",
    "abandoned": "abandoned",
    "rejected": "rejected",
    "offer_rejected": "queued",
    "offer_expired": "queued",
    "transferred": "transferred",
}
LEGAL = {
    None: {"queued", "rejected"},
    "queued": {"offered", "abandoned", "transferred"},
    "offered": {"assigned", "queued", "abandoned", "transferred"},
    "assigned": {"wrapup", "completed", "transferred"},
    "wrapup": {"completed"},
    "transferred": {"queued"},
}
TERMINAL = {"completed", "abandoned", "rejected"}
#: the event that must bring a contact back from `offered` to `queued`
BACK_TO_QUEUE = {"offer_rejected", "offer_expired"}


@dataclass
class Track:
    """What the published events say about one contact."""

    state: str | None = None
    terminals: int = 0
    history: list[str] = field(default_factory=list)
    #: the queue's min_level when the contact last entered a queue
    entered_min_level: int = 1
    #: escalation steps published since then
    escalations: list[EscalationStep] = field(default_factory=list)
    #: when the current wrap-up ends, as the `wrapup` event announced it
    wrapup_until: float | None = None


def _configured(engine: Engine, queue: str) -> QueueConfig:
    found = engine.config.queue(queue)
    assert found is not None
    return found


class Observer:
    """A `router_event` listener: checks every event as the engine publishes it."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.tracks: dict[str, Track] = {}
        self.problems: list[str] = []
        self.offered: list[str] = []  # offer ids published since the last check
        #: per agent, offers missed in a row since it last took one or became available
        self.missed: dict[str, int] = {}
        #: agents that reached the limit of missed offers while available: away is due
        self.away_due: set[str] = set()

    @hookimpl
    def router_event(self, event: RouterEvent) -> None:
        if self.engine is None:
            return
        if event.contact_id is None:
            self._agent_event(event)
            return
        track = self.tracks.setdefault(event.contact_id, Track())
        track.history.append(event.type)
        record = self.engine.contact(event.contact_id)
        if record is None:
            self.problems.append(f"event {event.type} for unknown contact {event.contact_id}")
            return
        if event.type == "escalated":
            self._escalated(event, record, track)
            return
        if event.type == "message":  # a follow-up joined the conversation: no state change
            if track.state not in ("queued", "offered", "assigned"):
                self.problems.append(f"message joined {event.contact_id} in state {track.state}")
            return
        new = EVENT_STATE.get(event.type)
        if new is None:
            self.problems.append(f"unexpected contact event {event.type} for {event.contact_id}")
            return
        if new not in LEGAL.get(track.state, set()):
            self.problems.append(
                f"contact {event.contact_id}: illegal transition {track.state} -> {new}"
                f" ({event.type}); history {track.history}"
            )
        if track.state == "offered" and new == "queued" and event.type not in BACK_TO_QUEUE:
            self.problems.append(f"contact {event.contact_id}: offered -> queued by {event.type}")
        track.state = new
        if new in TERMINAL:
            track.terminals += 1
        if event.type == "queued":
            track.entered_min_level = self.engine.queues[str(event.queue)].min_level
            track.escalations = []
        elif event.type == "offered":
            self.offered.append(str(event.details["offer_id"]))
            self._offered(event, record, track)
        elif event.type in ("wrapup", "completed"):
            self._wrapup(event, record, track)
        elif event.type == "assigned":
            assert event.agent_id is not None
            self.missed[event.agent_id] = 0
        elif event.type == "offer_expired" and "reason" not in event.details:
            self._missed(event)

    # -- agents --------------------------------------------------------
    def _agent_event(self, event: RouterEvent) -> None:
        if event.type != "agent_state" or event.agent_id is None:
            return
        state = event.details["state"]
        if state == AgentState.AVAILABLE:
            self.missed[event.agent_id] = 0
        if event.details.get("reason") == "missed offers":
            if state != AgentState.AWAY or event.agent_id not in self.away_due:
                self.problems.append(
                    f"agent {event.agent_id} set {state} for missed offers after"
                    f" {self.missed.get(event.agent_id, 0)} in a row"
                )
            self.away_due.discard(event.agent_id)

    def _missed(self, event: RouterEvent) -> None:
        engine = self.engine
        assert engine is not None
        assert event.agent_id is not None
        count = self.missed[event.agent_id] = self.missed.get(event.agent_id, 0) + 1
        limit = engine.config.routing.missed_offers_before_away
        if limit and count >= limit and engine.agents[event.agent_id].state is AgentState.AVAILABLE:
            self.away_due.add(event.agent_id)

    # -- wrap-up -------------------------------------------------------
    def _wrapup(self, event: RouterEvent, record: ContactRecord, track: Track) -> None:
        engine = self.engine
        assert engine is not None
        assert record.queue is not None
        wrapup = engine.queues[record.queue].wrapup_seconds
        if event.type == "wrapup":
            until = float(event.details["until"])
            track.wrapup_until = until
            if wrapup <= 0 or until != engine.now + wrapup:
                self.problems.append(
                    f"contact {record.id}: wrap-up until {until:g} at {engine.now:g};"
                    f" {record.queue} has wrapup_seconds {wrapup:g}"
                )
        elif track.wrapup_until is not None:
            if engine.now != track.wrapup_until:
                self.problems.append(
                    f"contact {record.id}: wrap-up announced until {track.wrapup_until:g}"
                    f" ended at {engine.now:g}"
                )
        elif wrapup > 0:
            self.problems.append(
                f"contact {record.id} completed without the {wrapup:g}s wrap-up of {record.queue}"
            )

    # -- escalation ---------------------------------------------------
    def _escalated(self, event: RouterEvent, record: ContactRecord, track: Track) -> None:
        engine = self.engine
        assert engine is not None
        if track.state not in ("queued", "offered"):
            self.problems.append(f"contact {record.id} escalated while {track.state}")
            return
        step = record.escalations[-1]
        track.escalations.append(step)
        waited = engine.now - record.entered_queue_at
        if waited + 1e-9 < step.after_seconds:
            self.problems.append(
                f"contact {record.id}: step {step.describe()!r} taken after {waited:g}s in"
                f" {record.queue}"
            )

    # -- offers --------------------------------------------------------
    def _offered(self, event: RouterEvent, record: ContactRecord, track: Track) -> None:
        engine = self.engine
        assert engine is not None
        offer = record.offer
        if offer is None or offer.id != event.details["offer_id"]:
            self.problems.append(f"offered event for {record.id} without its open offer")
            return
        agent = engine.agents[offer.agent_id]
        where = (
            f"offer {offer.id} of {record.id} ({record.channel}) to {agent.id} via {offer.queue}"
        )
        if event.agent_id != agent.id:
            self.problems.append(f"{where}: published for agent {event.agent_id}")
        if agent.state is not AgentState.AVAILABLE:
            self.problems.append(f"{where}: the agent is {agent.state}")
        self._check_room(agent, record, where)
        if record.declined_by.get(agent.id, -1.0) > engine.now:
            self.problems.append(f"{where}: the agent declined it until {record.declined_by}")
        if record.target_agent is not None:
            if record.target_agent != agent.id:
                self.problems.append(
                    f"{where}: the contact was transferred to {record.target_agent}"
                )
            elif not event.details.get("direct_transfer"):
                self.problems.append(f"{where}: a direct transfer not marked as such")
            return  # a direct transfer names the agent: no skill rule applies
        reason = self._ineligible(agent, record, offer.queue, track)
        if reason:
            self.problems.append(f"{where}: not eligible: {reason}")
        self._check_fifo(agent, record, offer.queue, where)

    def _check_room(self, agent: AgentRecord, record: ContactRecord, where: str) -> None:
        """Free capacity on the channel *before* this offer, from the agent's holdings."""
        engine = self.engine
        assert engine is not None
        exclusive = engine.config.routing.exclusive_channels
        held = [engine.offers[o] for o in agent.offers if engine.offers[o] is not record]
        held += [engine.contacts[c] for c in agent.contacts if c in engine.contacts]
        on_channel = sum(1 for r in held if r.channel == record.channel)
        capacity = agent.profile.capacity.get(record.channel, 0)
        if on_channel >= capacity:
            self.problems.append(
                f"{where}: no room: already {on_channel} on {record.channel}, capacity {capacity}"
            )
        if any(r.channel in exclusive for r in held):
            self.problems.append(f"{where}: the agent holds an exclusive-channel contact")
        if record.channel in exclusive and held:
            self.problems.append(
                f"{where}: exclusive channel, but the agent holds {[r.id for r in held]}"
            )

    def _ineligible(
        self, agent: AgentRecord, record: ContactRecord, via: str, track: Track
    ) -> str | None:
        engine = self.engine
        assert engine is not None
        if via not in engine.queues:
            return f"unknown queue {via}"
        queue = engine.queues[via]
        added = {name for step in track.escalations for name in step.add_queues}
        if via != record.queue and via not in added:
            return f"{via} is neither its queue {record.queue} nor added by an escalation step"
        if via == record.queue:
            lowered = [s.min_level for s in track.escalations if s.min_level is not None]
            needed = min([track.entered_min_level, *lowered])
        else:
            needed = queue.min_level
        return _lacks(agent, record, queue, needed)

    def _check_fifo(self, agent: AgentRecord, record: ContactRecord, via: str, where: str) -> None:
        """No earlier contact of equal priority, waiting where this one did, was passed over."""
        engine = self.engine
        assert engine is not None
        queue = engine.queues[via]
        for other in engine.contacts.values():
            if (
                other is record
                or other.state is not ContactState.QUEUED
                or other.target_agent is not None
                or other.channel != record.channel
                or via not in other.queues()
                or other.priority != record.priority
                or (other.arrived_at, other.seq) >= (record.arrived_at, record.seq)
                or other.declined_by.get(agent.id, -1.0) > engine.now
            ):
                continue
            level = requirement(engine, other, via)[0]
            if _lacks(agent, other, queue, level) is None:
                self.problems.append(
                    f"FIFO: {where}, but {other.id} (priority {other.priority:g}, arrived"
                    f" {other.arrived_at:g} before {record.arrived_at:g}) waits in {via} and"
                    f" {agent.id} could take it"
                )


def _lacks(agent: AgentRecord, record: ContactRecord, queue: QueueConfig, level: int) -> str | None:
    """Why the agent may not take the contact through the queue at `level`; None if it may."""
    skills = agent.profile.skills
    for skill in queue.skills:
        if skills.get(skill, 0) < level:
            return f"{skill} {skills.get(skill)} below level {level}"
    for skill in record.contact.skills:
        if skill not in queue.skills and skills.get(skill, 0) < level:
            return f"asked skill {skill} {skills.get(skill)} below level {level}"
    language = record.contact.customer.language
    if queue.require_language and language is not None and language not in agent.profile.languages:
        return f"does not speak {language}"
    return None


def _serves(agent: AgentRecord, queue: QueueConfig) -> bool:
    """Member of the queue: all its skills and capacity on one of its channels."""
    return all(s in agent.profile.skills for s in queue.skills) and any(
        agent.profile.capacity.get(c, 0) > 0 for c in queue.channels
    )


def _fingerprint(engine: Engine) -> Any:
    contacts = sorted(
        (
            r.id,
            r.state,
            r.queue,
            r.agent_id,
            r.offer.id if r.offer else None,
            r.target_agent,
            r.min_level,
            r.priority,
            r.extra_queues,
            len(r.events),
        )
        for r in engine.contacts.values()
    )
    agents = sorted(
        (
            a.id,
            a.state,
            tuple(sorted(a.load.items())),
            tuple(sorted(a.offers)),
            tuple(sorted(a.contacts)),
            a.profile,
            a.missed_offers,
        )
        for a in engine.agents.values()
    )
    return (
        contacts,
        tuple(engine.finished),
        tuple(sorted(engine.offers)),
        agents,
        engine.config,
        len(engine.timers),
        sorted(
            (
                name,
                c.waiting,
                c.arrived,
                c.answered,
                c.answered_in_sla,
                c.abandoned,
                c.handled,
                c.answer_wait_sum,
            )
            for name, c in engine.counters.items()
        ),
    )


# ------------------------------------------------------------- the machine
skill_levels = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), min_size=1, max_size=4)
capacities = st.dictionaries(
    st.sampled_from(CHANNELS), st.sampled_from([0, 1, 1, 2, 3]), min_size=1, max_size=4
)
languages = st.frozensets(st.sampled_from(["en", "en", "fr", "de"]), max_size=2)
customers = st.builds(
    Customer,
    id=st.sampled_from([None, "k1", "k2", "k3"]),
    tier=st.sampled_from(["standard", "standard", "vip"]),
    language=st.sampled_from([None, "en", "en", "fr", "de"]),
)
picks = st.integers(0, 10_000)
#: how a rule names its contact: mostly one it saw, sometimes one that never existed
targets = st.sampled_from(["pick"] * 9 + ["unknown"])


@dataclass(frozen=True)
class ContactSpec:
    channel: str
    customer: Customer
    thread: str | None
    skills: tuple[str, ...]
    queue: str | None
    priority: int
    subject: str
    #: None: a new id; else an index among the ids already sent (idempotent ingest)
    repeat: int | None


contact_specs = st.builds(
    ContactSpec,
    channel=st.sampled_from(
        ["chat", "chat", "voice", "voice", "email", "email", "sms", "whatsapp"]
    ),
    customer=customers,
    thread=st.sampled_from([None, "t1", "t2"]),
    skills=st.sampled_from([(), (), (), (), (), ("sales",), ("support",), ("tech",), ("billing",)]),
    queue=st.sampled_from([None] * 12 + list(QUEUE_NAMES)),
    priority=st.sampled_from([0, 0, 0, 1, 2]),
    subject=st.sampled_from(["", "", "", "I want a refund"]),
    repeat=st.sampled_from([None] * 9 + [0, 7]),
)


class RouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.observer = Observer()
        self.h = RouterHarness(BASE, extra_plugins=[("stateful_observer", self.observer)])
        self.observer.engine = self.h.engine
        self.contact_ids: list[str] = []
        self.past_offers: list[str] = []
        self.created = 0
        self.over_limit: set[str] = set()
        #: where the effects of the current engine call start, and those not yet checked
        self.step_start = 0
        self.unchecked = 0
        self.clean = True
        #: what a store would hold, written from the engine's changes after every step
        self.store = MemoryStore()

    @property
    def engine(self) -> Engine:
        return self.h.engine

    # -- sending -------------------------------------------------------
    def send(self, event: Event, expect: str | None = None) -> None:
        """Send an event; `expect` is the EngineError code the contract gives, or None."""
        self.clean = False
        self.step_start = len(self.h.effects)
        before = _fingerprint(self.engine)
        error: EngineError | None = None
        try:
            self.h.send(event)
        except EngineError as exc:
            error = exc
        if error is None:
            assert expect is None, f"{event} accepted; the contract refuses it with {expect}"
        else:
            assert expect is not None, f"{event} refused: {error.code}: {error.message}"
            assert error.code == expect, f"{event} refused with {error.code}, expected {expect}"
            assert _fingerprint(self.engine) == before, f"refused {event} changed the engine"
        self._tick_if_due()
        self.clean = True

    def _tick_if_due(self) -> None:
        """Like the daemon: when `next_due()` says a timer is due now, send a Tick."""
        due = self.engine.next_due()
        if due is not None and due <= self.h.clock:
            self.h.send(Tick())

    def advance_clock(self, seconds: float) -> None:
        self.clean = False
        self.step_start = len(self.h.effects)
        self.h.advance(seconds)
        self._tick_if_due()
        self.clean = True

    @staticmethod
    def pick(items: Iterable[str], index: int) -> str | None:
        ordered = sorted(items, key=_natural)
        return ordered[index % len(ordered)] if ordered else None

    # -- agents --------------------------------------------------------
    @initialize(
        profiles=st.lists(st.tuples(skill_levels, languages, capacities), min_size=2, max_size=4)
    )
    def some_agents(
        self, profiles: list[tuple[dict[str, int], frozenset[str], dict[str, int]]]
    ) -> None:
        for agent_id, (skills, langs, capacity) in zip(AGENT_IDS, profiles, strict=False):
            self.upsert(agent_id, skills, langs, capacity)
            self.send(AgentStateChanged(agent_id, AgentState.AVAILABLE))

    @rule(
        agent_id=st.sampled_from(AGENT_IDS[:-1]),
        skills=skill_levels,
        langs=languages,
        capacity=capacities,
    )
    def upsert(
        self,
        agent_id: str,
        skills: Mapping[str, int],
        langs: frozenset[str],
        capacity: Mapping[str, int],
    ) -> None:
        profile = AgentProfile(
            id=agent_id,
            name=agent_id,
            skills=MappingProxyType(dict(skills)),
            languages=langs,
            capacity=MappingProxyType(dict(capacity)),
        )
        self.send(AgentUpserted(profile))
        assert self.engine.agents[agent_id].profile is profile
        self._mark_over_limit()

    @rule(
        agent_id=st.sampled_from(AGENT_IDS),
        state=st.sampled_from(
            [AgentState.AVAILABLE, AgentState.AVAILABLE, AgentState.AWAY, AgentState.OFFLINE]
        ),
    )
    def set_state(self, agent_id: str, state: AgentState) -> None:
        expect = None if agent_id in self.engine.agents else "not_found"
        self.send(AgentStateChanged(agent_id, state), expect)
        if expect is None:
            agent = self.engine.agents[agent_id]
            assert agent.state is state
            if state is AgentState.OFFLINE:
                assert not agent.offers, "an agent gone offline keeps offers"

    # -- contacts ------------------------------------------------------
    @rule(spec=contact_specs)
    def arrive(self, spec: ContactSpec) -> None:
        if spec.repeat is not None and self.contact_ids:
            contact_id = self.pick(self.contact_ids, spec.repeat)
            assert contact_id is not None
        else:
            self.created += 1
            contact_id = f"c{self.created}"
        contact = Contact(
            id=contact_id,
            channel=spec.channel,
            customer=spec.customer,
            subject=spec.subject,
            queue=spec.queue,
            skills=spec.skills,
            priority=spec.priority,
            thread_id=spec.thread,
        )
        known = self.engine.contact(contact_id)
        before = _fingerprint(self.engine) if known is not None else None
        expected = self._expected_queue(contact)
        conversation = self._open_conversation(contact) if known is None else None
        self.send(ContactArrived(contact))
        record = self.engine.contact(contact_id)
        assert record is not None
        if conversation is not None:
            assert record is conversation, f"{contact_id} did not join its open thread"
            assert contact_id not in self.engine.contacts, "a follow-up became a contact"
            kinds = [
                e.type for e in self.h.effects[self.step_start :] if isinstance(e, RouterEvent)
            ]
            assert "message" in kinds, kinds
            return
        if known is not None:
            assert record is known, "a repeated contact id replaced the contact"
            assert _fingerprint(self.engine) == before, "a repeated contact id changed the engine"
            assert len(self.h.effects) == self.step_start, "a repeated contact id had effects"
            return
        self.contact_ids.append(contact_id)
        if expected is None:
            assert record.state is ContactState.REJECTED, f"{contact} should be rejected"
            assert record.reason
        else:
            assert record.queue == expected, f"{contact} went to {record.queue}, not {expected}"
            assert record.state in (ContactState.QUEUED, ContactState.OFFERED)

    @rule(specs=st.lists(contact_specs, min_size=2, max_size=4))
    def arrive_several(self, specs: list[ContactSpec]) -> None:
        for spec in specs:
            self.arrive(spec)

    @rule(spec=contact_specs, count=st.integers(2, 4))
    def arrive_alike(self, spec: ContactSpec, count: int) -> None:
        """Contacts of equal priority waiting together: what FIFO is about."""
        for _ in range(count):
            self.arrive(replace(spec, repeat=None))

    def _open_conversation(self, contact: Contact) -> ContactRecord | None:
        """The open contact a follow-up in the same thread and channel joins (issue 3)."""
        if contact.thread_id is None or not self.engine.config.routing.join_open_threads:
            return None
        open_states = (ContactState.QUEUED, ContactState.OFFERED, ContactState.ASSIGNED)
        for record in self.engine.contacts.values():
            same = (record.channel, record.contact.thread_id) == (
                contact.channel,
                contact.thread_id,
            )
            if same and record.state in open_states:
                return record
        return None

    def _expected_queue(self, contact: Contact) -> str | None:
        """DESIGN rule 1 with the built-in `queue_match`: explicit queue, else the first fit;
        a queue that does not take the contact's channel rejects it."""
        queues = self.engine.config.queues
        if contact.queue is not None:
            named = self.engine.config.queue(contact.queue)
            return contact.queue if named and contact.channel in named.channels else None
        for queue in queues:
            if contact.channel in queue.channels and all(s in queue.skills for s in contact.skills):
                return queue.name
        return None

    @precondition(lambda self: bool(self.engine.offers) or bool(self.past_offers))
    @rule(
        index=picks,
        accept=st.sampled_from([True, True, False]),
        who=st.sampled_from(["right", "right", "anonymous", "other"]),
        stale=st.sampled_from([False, False, False, True]),
    )
    def answer(self, index: int, accept: bool, who: str, stale: bool) -> None:
        if stale and self.past_offers:
            offer_id = self.pick(self.past_offers, index)
            assert offer_id is not None
            if offer_id not in self.engine.offers:
                self.send(OfferAnswered(offer_id, accept), "conflict")
                return
        offer_id = self.pick(self.engine.offers, index)
        if offer_id is None:
            return
        record = self.engine.offers[offer_id]
        assert record.offer is not None
        owner = record.offer.agent_id
        self.past_offers.append(offer_id)
        if who == "other":
            other = next(a for a in AGENT_IDS if a != owner)
            self.send(OfferAnswered(offer_id, accept, other), "forbidden")
            return
        self.send(OfferAnswered(offer_id, accept, owner if who == "right" else None))
        assert offer_id not in self.engine.offers
        if accept:
            assert record.state is ContactState.ASSIGNED
            assert record.agent_id == owner
        else:
            assert record.state in (ContactState.QUEUED, ContactState.OFFERED)

    @precondition(lambda self: bool(self.engine.offers))
    @rule(index=picks)
    def accept(self, index: int) -> None:
        offer_id = self.pick(self.engine.offers, index)
        assert offer_id is not None
        record = self.engine.offers[offer_id]
        assert record.offer is not None
        owner = record.offer.agent_id
        self.past_offers.append(offer_id)
        self.send(OfferAnswered(offer_id, True, owner))
        assert record.state is ContactState.ASSIGNED
        assert record.agent_id == owner
        assert record.id in self.engine.agents[owner].contacts

    @precondition(lambda self: bool(self.contact_ids))
    @rule(
        index=picks,
        named=targets,
        csat=st.sampled_from([None, None, 1, 3, 5, 0, 6]),
        outcome=st.sampled_from(["resolved", "escalated"]),
    )
    def complete(self, index: int, named: str, csat: int | None, outcome: str) -> None:
        contact_id = self._pick_contact(index, named, ContactState.ASSIGNED)
        record = self.engine.contact(contact_id)
        expect: str | None
        if record is None:
            expect = "not_found"
        elif record.state is not ContactState.ASSIGNED:
            expect = "conflict"
        elif csat is not None and not 1 <= csat <= 5:
            expect = "bad_request"
        else:
            expect = None
        agent_id = record.agent_id if record else None
        self.send(ContactCompleted(contact_id, outcome, csat), expect)
        if expect is None:
            assert record is not None
            assert record.state in (ContactState.WRAPUP, ContactState.COMPLETED)
            assert (record.outcome, record.csat, record.agent_id) == (outcome, csat, agent_id)

    @precondition(lambda self: bool(self.contact_ids))
    @rule(index=picks, named=targets)
    def abandon(self, index: int, named: str) -> None:
        contact_id = self._pick_contact(index, named, "live")
        record = self.engine.contact(contact_id)
        state = record.state if record else None
        waiting = state in (ContactState.QUEUED, ContactState.OFFERED)
        expect = (
            "not_found"
            if record is None
            else None
            if waiting or state is ContactState.ASSIGNED
            else "conflict"
        )
        self.send(ContactAbandoned(contact_id), expect)
        if record is None:
            return
        if waiting:
            assert record.state is ContactState.ABANDONED
        elif state is ContactState.ASSIGNED:
            assert record.state in (ContactState.WRAPUP, ContactState.COMPLETED)
            assert record.outcome == "customer_left"

    @precondition(lambda self: bool(self.contact_ids))
    @rule(
        index=picks,
        named=targets,
        mode=st.sampled_from(["queue"] * 4 + ["agent"] * 4 + ["both", "neither"]),
        queue_name=st.sampled_from(QUEUE_NAMES),
        agent_name=st.sampled_from(AGENT_IDS),
    )
    def transfer(self, index: int, named: str, mode: str, queue_name: str, agent_name: str) -> None:
        queue = queue_name if mode in ("queue", "both") else None
        agent_id = agent_name if mode in ("agent", "both") else None
        contact_id = self._pick_contact(index, named, "live")
        record = self.engine.contact(contact_id)
        active = {q.name for q in self.engine.config.queues}
        expect: str | None
        if (queue is None) == (agent_id is None):
            expect = "bad_request"
        elif record is None:
            expect = "not_found"
        elif queue is not None and queue not in active:
            expect = "bad_request"
        elif queue is not None and record.channel not in _configured(self.engine, queue).channels:
            # the queue does not take the contact's channel (a channel a reload took off
            # stays on the queue only for the contacts already there)
            expect = "bad_request"
        elif agent_id is not None and agent_id not in self.engine.agents:
            expect = "not_found"
        elif record.state not in (ContactState.QUEUED, ContactState.OFFERED, ContactState.ASSIGNED):
            expect = "conflict"
        else:
            expect = None
        previous = record.queue if record else None
        self.send(ContactTransferred(contact_id, queue, agent_id), expect)
        if expect is None:
            assert record is not None
            assert record.queue == (queue or previous)
            assert record.state in (ContactState.QUEUED, ContactState.OFFERED)
            if agent_id is not None:
                assert record.target_agent == agent_id
                assert record.offer is None or record.offer.agent_id == agent_id

    def _pick_contact(self, index: int, named: str, prefer: ContactState | str) -> str:
        """Mostly a contact in the state the rule wants, sometimes any, rarely an unknown id."""
        if named == "unknown":
            return "c-unknown"
        if index % 4 == 0:
            pool = self.contact_ids
        elif prefer == "live":
            pool = list(self.engine.contacts)
        else:
            pool = [c for c, r in self.engine.contacts.items() if r.state is prefer]
        chosen = self.pick(pool or self.contact_ids, index // 4)
        assert chosen is not None
        return chosen

    # -- time and config -----------------------------------------------
    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 4.0, 5.0, 9.0, 12.0, 20.0, 31.0, 60.0]))
    def advance(self, seconds: float) -> None:
        self.advance_clock(seconds)

    @rule()
    def restart(self) -> None:
        """The process dies and a new one restores the engine from what the store was given."""
        self.clean = False
        # only what changed, as the daemon writes after every batch: a counter the engine
        # forgot to mark as moved comes back stale and fails the comparison below
        self.store.write(batch_of(self.engine, self.engine.take_changes()))
        old = self.engine
        loaded = self.store.load(old.config.routing.finished_contacts_kept)
        engine, effects = restore(old.config, self.h.plugins, engine_state(loaded), self.h.clock)
        differences = _differences(_durable_view(engine), _durable_view(old))
        assert not differences, "restored engine differs:\n" + "\n".join(differences)
        # Open threads: the restore may know more than the engine did. When two live
        # contacts share a thread (joining was off) and the newer one finished, the
        # engine forgot the thread; the restore points it at the older one again.
        assert old.open_threads.items() <= engine.open_threads.items()
        for (channel, thread), contact_id in engine.open_threads.items():
            record = engine.contacts[contact_id]
            assert (record.channel, record.contact.thread_id) == (channel, thread)
        open_before = set(old.offers)
        resent = [e for e in effects if isinstance(e, SendOffer) and e.offer.id in open_before]
        assert sorted(e.offer.id for e in resent) == sorted(open_before), (
            "an open offer not re-sent"
        )
        self.h.effects.extend(e for e in effects if e not in resent)
        self.h.engine = self.observer.engine = engine
        self.clean = True

    @invariant()
    def store_keeps_up(self) -> None:
        """Like the daemon: the engine's changes go to the store after every step."""
        self.store.write(batch_of(self.engine, self.engine.take_changes()))

    @rule(config=st.sampled_from(CONFIGS))
    def reload(self, config: EngineConfig) -> None:
        live = {(r.id, r.state, r.agent_id) for r in self.engine.contacts.values()}
        offers = set(self.engine.offers)
        self.send(ConfigReplaced(config))
        assert self.engine.config is config
        # nothing is dropped: every contact is still live, every offer and assignment kept
        for contact_id, state, agent_id in live:
            kept = self.engine.contacts.get(contact_id)
            assert kept is not None, f"reload dropped {contact_id}"
            if state in (ContactState.ASSIGNED, ContactState.WRAPUP):
                assert (kept.state, kept.agent_id) == (state, agent_id)
        assert offers <= set(self.engine.offers), "reload dropped an offer"
        self._mark_over_limit()

    def _mark_over_limit(self) -> None:
        """Agents an admin (or a reload) put above their limits while they hold contacts."""
        for agent in self.engine.agents.values():
            if _over_limit(self.engine, agent):
                self.over_limit.add(agent.id)

    # -- checks after every step -------------------------------------
    @invariant()
    def records_agree(self) -> None:
        self.clean = False
        engine = self.engine
        for agent_id in list(self.over_limit):
            if not _over_limit(engine, engine.agents[agent_id]):
                self.over_limit.discard(agent_id)
        check_invariants(engine, over_limit_ok=self.over_limit)
        for stats in engine.stats():
            assert stats.waiting == engine.counters[stats.name].waiting
            assert stats.longest_wait_seconds >= 0
        self.clean = True

    @invariant()
    def offers_were_legal(self) -> None:
        self.clean = False
        problems = self.observer.problems
        assert not problems, "\n".join(problems)
        due = self.observer.away_due
        assert not due, f"agents {sorted(due)} missed too many offers in a row but stay available"
        for agent in self.engine.agents.values():
            missed = self.observer.missed.get(agent.id, 0)
            assert agent.missed_offers == missed, (
                f"{agent.id}: missed_offers {agent.missed_offers}, the events show {missed}"
            )
        effects = self.h.effects[self.unchecked :]
        self.unchecked = len(self.h.effects)
        sent = [e.offer.id for e in effects if isinstance(e, SendOffer)]
        offered, self.observer.offered = self.observer.offered, []
        assert sent == offered, f"SendOffer effects {sent}, `offered` events {offered}"
        for effect in effects:
            if isinstance(effect, SendOffer):
                self._check_history(effect)
            elif isinstance(effect, RevokeOffer):
                assert effect.offer.id not in self.engine.offers, f"{effect} left the offer open"
                assert effect.reason in ("abandoned", "transferred", "agent offline"), effect
        self.clean = True

    def _check_history(self, effect: SendOffer) -> None:
        """An offer carries the customer's other recent contacts, newest first (DESIGN 9)."""
        record = self.engine.contact(effect.contact.id)
        assert record is not None
        key = record.customer
        history = effect.customer_history
        if key is None:
            assert history == (), f"{effect.offer.id}: history for a customer nobody knows"
            return
        limit = self.engine.config.routing.history_per_customer
        assert len(history) <= limit, f"{effect.offer.id}: {len(history)} history entries"
        ids = [entry.contact_id for entry in history]
        assert effect.contact.id not in ids, f"{effect.offer.id}: the contact is in its own history"
        assert len(set(ids)) == len(ids), f"{effect.offer.id}: history repeats {ids}"
        for entry in history:
            other = self.engine.contact(entry.contact_id)
            assert other is not None
            assert other.customer is not None
            same = self.engine.customers.find(other.customer) == self.engine.customers.find(key)
            assert same, f"{entry.contact_id} is another customer's"
        assert [e.at for e in history] == sorted((e.at for e in history), reverse=True)

    @invariant()
    def published_states_agree(self) -> None:
        self.clean = False
        engine = self.engine
        for contact_id in self.contact_ids:
            record = engine.contact(contact_id)
            track = self.observer.tracks.get(contact_id)
            assert record is not None
            assert track is not None, f"{contact_id}: no event published"
            assert track.state == str(record.state), (
                f"{contact_id}: events say {track.state}, the record {record.state};"
                f" history {track.history}"
            )
            assert track.terminals == (1 if record.state.is_terminal else 0), (
                f"{contact_id}: {track.terminals} terminal events; history {track.history}"
            )
        self.clean = True

    @invariant()
    def nobody_idles_while_work_waits(self) -> None:
        self.clean = False
        idle = _idle_matches(self.engine)
        assert not idle, "work waits while an agent idles:\n" + "\n".join(idle)
        self.clean = True

    def teardown(self) -> None:
        """Finish everything that is live: each contact must end in exactly one terminal state."""
        if not self.clean:
            return  # a check already failed: report that, not a drain failure
        for _ in range(5):
            for contact_id, record in sorted(self.engine.contacts.items()):
                if record.state in (ContactState.QUEUED, ContactState.OFFERED):
                    self.send(ContactAbandoned(contact_id))
                elif record.state is ContactState.ASSIGNED:
                    self.send(ContactCompleted(contact_id))
            self.advance_clock(1000.0)
            self.records_agree()
            self.offers_were_legal()
        assert not self.engine.contacts, f"never finished: {sorted(self.engine.contacts)}"
        assert not self.engine.offers
        for contact_id in self.contact_ids:
            track = self.observer.tracks[contact_id]
            assert track.terminals == 1, f"{contact_id}: history {track.history}"
            assert track.state in TERMINAL
        for agent in self.engine.agents.values():
            assert not agent.contacts
            assert not agent.offers
            assert not any(agent.load.values()), f"{agent.id} keeps load {agent.load}"
        self.published_states_agree()


def _durable_view(engine: Engine) -> Any:
    """Everything a restore must bring back, in a form two engines can be compared in."""
    now = engine.now
    # A retired queue, or a channel taken off a queue, that no contact is in any
    # more does nothing; a restore may drop it. Only what is in use is compared.
    in_use: dict[str, set[str]] = {}
    for r in engine.contacts.values():
        for name in r.queues():
            in_use.setdefault(name, set()).add(r.channel)
    channels = {
        name: set(active.channels if (active := engine.config.queue(name)) else ())
        | in_use.get(name, set())
        for name in engine.queues
    }
    relevant = {name for name, kept in channels.items() if kept}

    def counts(key: tuple[str, str, str | None]) -> bool:
        return key[1] in channels.get(key[0], ())

    contacts = {
        r.id: contact_document(r) for r in (*engine.contacts.values(), *engine.finished.values())
    }
    agents = {}
    # the order of place numbers among listed agents is what counts (a restore's
    # reload may renumber; an agent in no list has no place)
    in_lists = {
        agent_id for key, ids in engine.available._lists.items() if counts(key) for agent_id in ids
    }
    listed = [a for a in engine.agents.values() if a.id in in_lists]
    rank: dict[str, int | None] = {a.id: None for a in engine.agents.values()}
    rank.update({a.id: n for n, a in enumerate(sorted(listed, key=lambda a: a.placed))})
    for agent in engine.agents.values():
        document = agent_document(agent)
        document["placed"] = rank[agent.id]
        agents[agent.id] = (
            document,
            {c: n for c, n in agent.load.items() if n},
            sorted(agent.offers),
            sorted(agent.contacts),
            {
                q: level
                for q, level in agent.levels.items()
                if any(agent.profile.capacity.get(c, 0) > 0 for c in channels.get(q, ()))
            },
            agent.exclusive_held,
        )
    available = {
        key: list(ids) for key, ids in engine.available._lists.items() if counts(key) and ids
    }
    waiting = sorted(
        (str(key), str(requirement), entry[:3], entry[4].id)
        for key, buckets in engine.waiting._buckets.items()
        for requirement, heap in buckets.items()
        for entry in heap
        if entry[4].state is ContactState.QUEUED and entry[4].version == entry[3]
    )
    personal = sorted(
        (agent_id, entry[:3], entry[4].id)
        for agent_id, heap in engine.waiting._personal.items()
        for entry in heap
        if entry[4].state is ContactState.QUEUED and entry[4].version == entry[3]
    )
    timers = set()
    for due, _, _, key in engine.timers._heap:
        match key:
            case OfferExpiry(offer_id) if offer_id in engine.offers:
                timers.add((due, "expiry", offer_id))
            case WrapupEnd(contact_id) if (
                r := engine.contacts.get(contact_id)
            ) and r.state is ContactState.WRAPUP:
                timers.add((due, "wrapup", contact_id))
            case EscalationDue(contact_id, epoch, step) if (
                (r := engine.contacts.get(contact_id))
                and r.escalation_epoch == epoch
                and r.state in (ContactState.QUEUED, ContactState.OFFERED)
            ):
                timers.add((due, f"escalation {step}", contact_id))
            case ReofferDue(contact_id, agent_id) if (
                r := engine.contacts.get(contact_id)
            ) and r.declined_by.get(agent_id) == due > now:
                timers.add((due, f"reoffer {agent_id}", contact_id))
    customers = {
        r.id: (
            [h.contact_id for h in engine.customer_history(r)],
            engine.customers.last_agent(r.customer),
        )
        for r in engine.contacts.values()
    }
    figures = figures_document(engine)
    del figures["placements"]
    return {
        "contacts": contacts,
        # the order finished contacts leave memory in is the store's, not the engine's
        "finished": sorted(engine.finished),
        "agents": agents,
        "offers": sorted(engine.offers),
        "available": available,
        "waiting": waiting,
        "personal": personal,
        "timers": sorted(timers),
        "customers": customers,
        "joined": dict(engine.joined),
        "last agent by thread": dict(engine.last_agent_by_thread),
        "figures": figures,
        "counters": {name: counters_document(c) for name, c in engine.counters.items()},
        # a retired queue no contact is in any more does nothing; a restore may drop it
        "queues": {
            name: replace(queue, channels=tuple(sorted(channels[name])))
            for name, queue in engine.queues.items()
            if name in relevant
        },
    }


def _differences(restored: Any, original: Any, path: str = "") -> list[str]:
    """Where two durable views differ, as "path: restored != original" lines."""
    if isinstance(restored, dict) and isinstance(original, dict):
        found = []
        for key in sorted(restored.keys() | original.keys(), key=str):
            if key not in restored or key not in original:
                found.append(
                    f"{path}/{key}: only in the {'restored' if key in restored else 'original'}"
                )
            else:
                found += _differences(restored[key], original[key], f"{path}/{key}")
        return found
    return [] if restored == original else [f"{path}: {restored!r} != {original!r}"]


def _over_limit(engine: Engine, agent: AgentRecord) -> bool:
    exclusive = engine.config.routing.exclusive_channels
    load = {c: n for c, n in agent.load.items() if n}
    if any(n > agent.profile.capacity.get(c, 0) for c, n in load.items()):
        return True
    return any(c in exclusive for c in load) and sum(load.values()) > 1


def _idle_matches(engine: Engine) -> list[str]:
    """Queued contacts an available agent with room could take right now."""
    exclusive = engine.config.routing.exclusive_channels
    found: list[str] = []
    for record in engine.contacts.values():
        if record.state is not ContactState.QUEUED:
            continue
        for agent in engine.agents.values():
            if free_capacity(agent, record.channel, exclusive) <= 0:
                continue
            if record.declined_by.get(agent.id, -1.0) > engine.now:
                continue
            if record.target_agent is not None:
                if record.target_agent == agent.id:
                    found.append(f"{record.id} ({record.channel}) transferred to idle {agent.id}")
                continue
            for name in record.queues():
                queue = engine.queues[name]
                if not _serves(agent, queue):
                    continue
                level = requirement(engine, record, name)[0]
                if _lacks(agent, record, queue, level) is None:
                    found.append(
                        f"{record.id} ({record.channel}, {name}, level {level}) and {agent.id}"
                        f" (skills {dict(agent.profile.skills)},"
                        f" capacity {dict(agent.profile.capacity)}, load {agent.load})"
                    )
                    break
    return found


def _natural(text: str) -> tuple[str, int]:
    head = text.rstrip("0123456789")
    tail = text[len(head) :]
    return head, int(tail) if tail else -1


def _run(machine: type[RuleBasedStateMachine], **options: Any) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            **options,
        ),
    )


# Shrinking a failure can take minutes; the default 120 s timeout would swallow the report.
@pytest.mark.timeout(900)
def test_random_event_sequences_keep_the_invariants() -> None:
    _run(RouterMachine, max_examples=300, stateful_step_count=50)


@pytest.mark.timeout(900)
def test_compacting_the_customer_history_at_every_finish_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The directory and the threads' last agents, rebuilt from the kept contacts each
    time a contact finishes, are what the engine had built as it went (and what a
    restore builds: the machine's restart rule compares)."""
    monkeypatch.setattr(engine_core, "HISTORY_COMPACTION_FLOOR", 0)
    monkeypatch.setattr(engine_core, "HISTORY_COMPACTION_FACTOR", 0)
    _run(RouterMachine, max_examples=100, stateful_step_count=50)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_longer_random_event_sequences_keep_the_invariants() -> None:
    _run(RouterMachine, max_examples=600, stateful_step_count=80)


# --------------------------------------------------- engine bugs the machine found
# Each test states the behaviour DESIGN and CONTRACT ask for, in the fewest events
# that show a bug the machine found; all are fixed and stay as regression tests.

ONE_CHAT_QUEUE = QueueConfig(name="support", channels=("chat",), skills=("support",))


def test_reload_rearms_escalation_steps() -> None:
    """A reload once left the old steps' timers armed: the new config's step of the same
    index fired at the old time ('after 60s' taken after 10 s)."""
    slow_step = replace(
        ONE_CHAT_QUEUE,
        min_level=5,
        escalation=(EscalationStep(after_seconds=60.0, min_level=1),),
    )
    fast_step = replace(slow_step, escalation=(EscalationStep(after_seconds=10.0, min_level=1),))
    h = RouterHarness(EngineConfig(queues=(fast_step,)))
    h.add_agent("a1", skills={"support": 2}, capacity={"chat": 1})
    h.arrive(id="c1", channel="chat")
    h.advance(1)
    h.send(ConfigReplaced(EngineConfig(queues=(slow_step,))))
    h.advance(9)  # t = 10: the old step's time; the queue now says 60 s
    steps = [(e.at, e.details["rule"]) for e in h.events("escalated")]
    assert steps == [], f"escalated at {steps}, the queue's step is 'after 60s'"
    record = h.engine.contacts["c1"]
    assert str(record.state) == "queued"
    h.advance(50)
    assert [e.at for e in h.events("escalated")] == [60.0]
    assert str(record.state) == "offered"


def test_reload_arms_steps_added_to_a_queue() -> None:
    """Steps a reload added to a queue never reached the contacts already waiting in it."""
    stepped = replace(
        ONE_CHAT_QUEUE, min_level=5, escalation=(EscalationStep(after_seconds=10.0, min_level=1),)
    )
    h = RouterHarness(EngineConfig(queues=(replace(stepped, escalation=()),)))
    h.add_agent("a1", skills={"support": 2}, capacity={"chat": 1})
    h.arrive(id="c1", channel="chat")
    h.send(ConfigReplaced(EngineConfig(queues=(stepped,))))
    h.advance(30)
    assert [e.at for e in h.events("escalated")] == [10.0]


def test_agent_takes_every_direct_transfer_it_has_room_for() -> None:
    """`Matcher.route_agent` stopped after one offer when the agent was not in the
    availability index, so the rest of its direct transfers waited though it had room."""
    h = RouterHarness(EngineConfig(queues=(ONE_CHAT_QUEUE,)))
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 1})
    # a2 serves no queue (no skill), so it never sits in the availability index
    h.add_agent("a2", skills={}, capacity={"chat": 2}, state=AgentState.AWAY)
    h.arrive(id="c1", channel="chat")
    h.arrive(id="c2", channel="chat")
    h.send(ContactTransferred("c1", agent_id="a2"))
    h.send(ContactTransferred("c2", agent_id="a2"))
    h.send(AgentStateChanged("a2", AgentState.AVAILABLE))
    offered = {e.offer.contact_id for e in h.offers if e.offer.agent_id == "a2"}
    assert offered == {"c1", "c2"}, "a2 has room for both contacts transferred to it"


def test_agent_full_for_its_queues_still_takes_its_direct_transfers() -> None:
    """The same stop, for an agent that left the index because it is full for every queue
    it serves, though it still had room for a contact transferred to it."""
    chat = QueueConfig(name="sales", channels=("chat",), skills=("sales",))
    email = QueueConfig(name="support", channels=("email",), skills=("support",))
    h = RouterHarness(EngineConfig(queues=(chat, email)))
    # a1 serves sales only; its e-mail capacity is for what is sent to it directly
    h.add_agent("a1", skills={"sales": 5}, capacity={"chat": 1, "email": 1})
    h.send(AgentStateChanged("a1", AgentState.AWAY))
    h.arrive(id="c1", channel="chat")
    h.arrive(id="e1", channel="email")
    h.send(ContactTransferred("e1", agent_id="a1"))
    h.send(AgentStateChanged("a1", AgentState.AVAILABLE))  # takes c1: full for sales
    offered = {e.offer.contact_id for e in h.offers if e.offer.agent_id == "a1"}
    assert offered == {"c1", "e1"}, "a1 has room for the chat and for the e-mail sent to it"


def test_explicit_queue_that_does_not_take_the_channel_rejects_the_contact() -> None:
    """Such a contact used to wait, routed only when an agent freed up (never when it
    arrived): the outcome depended on the order of events."""
    letters = QueueConfig(name="letters", channels=("email",), skills=("support",))
    h = RouterHarness(EngineConfig(queues=(ONE_CHAT_QUEUE, letters)))
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 1, "email": 1})
    h.arrive(id="c1", channel="email", queue="support")
    record = h.engine.contact("c1")
    assert record is not None
    assert record.state is ContactState.REJECTED
    assert "does not take channel 'email'" in str(record.reason)
    # a transfer into such a queue is refused the same way, and changes nothing
    h.arrive(id="c2", channel="chat")
    with pytest.raises(EngineError, match="does not take channel 'chat'") as refused:
        h.send(ContactTransferred("c2", queue="letters"))
    assert refused.value.code == "bad_request"
    assert h.engine.contacts["c2"].queue == "support"


def test_escalation_adds_only_queues_that_take_the_channel() -> None:
    """A step once added a queue that does not take the contact's channel; agents of that
    queue then took the contact only when they freed up, never at once."""
    voice = QueueConfig(
        name="sales",
        channels=("voice",),
        skills=("sales",),
        escalation=(EscalationStep(after_seconds=10.0, add_queues=("support",)),),
    )
    h = RouterHarness(EngineConfig(queues=(voice, ONE_CHAT_QUEUE)))
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 1, "voice": 1})
    h.arrive(id="c1", channel="voice")
    h.advance(11)
    record = h.engine.contacts["c1"]
    assert "support" not in record.queues()
    h.send(AgentStateChanged("a1", AgentState.AWAY))
    h.send(AgentStateChanged("a1", AgentState.AVAILABLE))
    assert record.state is ContactState.QUEUED, "a1 does not serve sales"


def test_declined_contact_does_not_jump_older_contacts() -> None:
    """`Engine._decline` routed the declined contact before the agent that freed up chose:
    through sticky routing the contact went straight back to that agent, ahead of an older
    contact of equal priority (FIFO)."""
    queue = replace(ONE_CHAT_QUEUE, require_language=True)
    h = RouterHarness(
        EngineConfig(queues=(queue,), routing=RoutingSettings(reoffer_delay_seconds=0.0))
    )
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 1}, languages=["en"])
    h.arrive(id="c1", channel="chat", customer={"id": "k1", "language": "en"})
    h.send(OfferAnswered(h.offers[-1].offer.id, True))
    h.send(ContactCompleted("c1"))  # a1 is now k1's last agent
    h.advance(1)
    h.arrive(id="c2", channel="chat", customer={"id": "k2", "language": "fr"})  # a1: no French
    h.advance(1)
    h.arrive(id="c3", channel="chat", customer={"id": "k1", "language": "en"})  # to a1
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 1}, languages=["en", "fr"])
    h.send(OfferAnswered(h.offers[-1].offer.id, False))
    c2, c3 = h.engine.contacts["c2"], h.engine.contacts["c3"]
    assert c2.priority == c3.priority
    assert c2.arrived_at < c3.arrived_at
    assert h.offers[-1].offer.contact_id == "c2", "a1 is free: the older c2 goes first"


def test_transferred_contact_does_not_jump_older_contacts() -> None:
    """The same in `Engine._transfer`: the contact went straight back to the agent it left."""
    queue = replace(ONE_CHAT_QUEUE, require_language=True)
    h = RouterHarness(EngineConfig(queues=(queue,)))
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 1}, languages=["en"])
    h.arrive(id="c2", channel="chat", customer={"id": "k2", "language": "fr"})  # a1: no French
    h.advance(1)
    h.arrive(id="c3", channel="chat", customer={"id": "k1", "language": "en"})  # to a1
    h.send(OfferAnswered(h.offers[-1].offer.id, True))
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 1}, languages=["en", "fr"])
    h.send(ContactTransferred("c3", queue="support"))
    assert h.offers[-1].offer.contact_id == "c2", "a1 is free: the older c2 goes first"


def test_contacts_declined_together_come_back_in_queue_order() -> None:
    """Contacts whose reoffer delay ended at the same instant were routed in the order
    they had been declined, so a newer one took the agent's last slot ahead of an older
    one of equal priority."""
    h = RouterHarness(EngineConfig(queues=(ONE_CHAT_QUEUE,)))
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 2})
    h.arrive(id="c1", channel="chat")
    h.arrive(id="c2", channel="chat")
    offers = {effect.offer.contact_id: effect.offer.id for effect in h.offers}
    h.advance(1)
    h.send(OfferAnswered(offers["c2"], False))  # the newer one first
    h.send(OfferAnswered(offers["c1"], False))  # both may come back to a1 at t = 6
    h.advance(1)
    h.arrive(id="c3", channel="chat")  # takes one of a1's two slots
    h.advance(4)
    assert h.engine.contacts["c1"].state is ContactState.OFFERED, "c1 is older than c2"
    assert h.engine.contacts["c2"].state is ContactState.QUEUED


def test_offer_history_keeps_to_history_per_customer() -> None:
    """An offer for a contact older than the customer's last `history_per_customer`
    contacts carried one entry too many."""
    h = RouterHarness(
        EngineConfig(queues=(ONE_CHAT_QUEUE,), routing=RoutingSettings(history_per_customer=2))
    )
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 1}, state=AgentState.AWAY)
    for number in range(1, 5):
        h.arrive(id=f"c{number}", channel="chat", customer={"id": "k1"})
    h.send(AgentStateChanged("a1", AgentState.AVAILABLE))
    offer = h.offers[-1]
    assert offer.offer.contact_id == "c1"
    assert [entry.contact_id for entry in offer.customer_history] == ["c4", "c3"]


def test_reload_that_drops_a_channel_keeps_its_contacts_routed() -> None:
    billing = QueueConfig(name="billing", channels=("email", "whatsapp"), skills=("billing",))
    h = RouterHarness(EngineConfig(queues=(billing,)))
    h.add_agent("a1", skills={"billing": 5}, capacity={"email": 1, "whatsapp": 1})
    h.arrive(id="w1", channel="whatsapp")  # offered to a1
    h.add_agent("a2", skills={"billing": 5}, capacity={"email": 1, "whatsapp": 1})
    h.send(ConfigReplaced(EngineConfig(queues=(replace(billing, channels=("email",)),))))
    h.send(OfferAnswered(h.offers[-1].offer.id, False))
    # a2 is available with room on whatsapp and serves billing: it takes w1 as soon as it
    # is refreshed (away and back), so it should have been offered w1 at once.
    record = h.engine.contacts["w1"]
    assert record.state is ContactState.OFFERED, "w1 waits while a2 idles"


def test_reoffer_ending_with_another_timer_keeps_fifo() -> None:
    queue = replace(ONE_CHAT_QUEUE, offer_timeout_seconds=10.0)
    h = RouterHarness(
        EngineConfig(queues=(queue,), routing=RoutingSettings(missed_offers_before_away=1))
    )
    h.add_agent("a1", skills={"support": 5}, capacity={"chat": 1})
    h.add_agent("a2", skills={"support": 5}, capacity={"chat": 1})
    h.arrive(id="c1", channel="chat")  # to a1, expires at 10
    h.arrive(id="c2", channel="chat")  # to a2, expires at 10
    assert [(e.offer.contact_id, e.offer.agent_id) for e in h.offers] == [
        ("c1", "a1"),
        ("c2", "a2"),
    ]
    h.advance(5)
    h.send(OfferAnswered(h.offers[0].offer.id, False))  # a1 may take c1 again at 10
    h.advance(5)  # a2 misses c2 and goes away; a1 is free and may take either
    assert h.engine.contacts["c1"].state is ContactState.OFFERED, "c1 is older than c2"
    assert h.engine.contacts["c2"].state is ContactState.QUEUED
