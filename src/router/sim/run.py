"""The discrete-event loop: the real engine on a virtual clock.

One heap holds every future event the simulator itself makes (arrivals,
answers, completions, patience running out, shifts starting and ending),
ordered by time and then by the order they were scheduled. Before taking the
next one, the loop asks the engine when its own next timer is due
(`Engine.next_due`: offer expiry, escalation, wrap-up end, re-offer) and sends
a `Tick` at that time if it comes first, so every engine timer fires at its
exact due time. The engine's effects drive the simulated side: a `SendOffer`
makes the agent answer, an `assigned` event starts the handle time, and the
published events feed the tallies.

Random streams (common random numbers): each arrival stream has one generator
for arrival times, one for handle times and one for patience, and each agent
group one for its answers, all seeded from the run's seed and the stream's
name. A contact's handle time and patience are drawn when it arrives, so two
configs run on one workload and seed see the very same contacts.

Abandonment: a contact abandons when its patience runs out while it is
`queued` or `offered` — not yet assigned, which is the moment CONTRACT 5 calls
answered (in Erlang A too, patience applies to the wait before service).
"""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

# by name: compiled, `heapq.heappush(...)` looks the function up on the module at every call
from heapq import heappop, heappush
from typing import Any, Final

from router.engine import (
    AgentStateChanged,
    AgentUpserted,
    ContactAbandoned,
    ContactArrived,
    ContactCompleted,
    Effect,
    Engine,
    EngineError,
    Event,
    OfferAnswered,
    SendOffer,
    Tick,
)
from router.model import AgentState, Contact, EngineConfig, RouterEvent
from router.plugins import RouterPlugins
from router.sim.agents import AnswerBehaviour, SimAgent, profiles
from router.sim.arrivals import PoissonArrivals
from router.sim.distributions import Distribution
from router.sim.tally import Clock, GroupTally, QueueTally, SimContact, Tallies, Waiting
from router.sim.workload_types import ArrivalStream, TracedContact, Workload

#: what the loop does at a heap entry's time, given its payload
Handler = Callable[[Any], None]
#: events after which an agent's load may have changed (offered, released, finished);
#: a withdrawn offer comes as a `RevokeOffer`. The busy check runs only for these.
#: `Final`: compiled, a tuple of literals that `in` tests by comparing strings.
_LOAD_CHANGES: Final = ("offered", "offer_rejected", "offer_expired", "completed")
#: the progress callback is called every this many events
PROGRESS_EVERY = 4096


class _Stream:
    """One arrival stream as the loop reads it, with its arrivals and generators.

    Its workload fields are copied once: compiled, a field of the workload's plain
    dataclasses is a lookup by name, and `_arrive` reads several per contact."""

    def __init__(
        self,
        stream: ArrivalStream,
        arrivals: PoissonArrivals,
        handle_rng: random.Random,
        patience_rng: random.Random,
    ) -> None:
        self.name = stream.name
        self.template = stream.template
        self.handle_time = stream.handle_time
        self.patience = stream.patience
        self.arrivals = arrivals
        self.handle_rng = handle_rng
        self.patience_rng = patience_rng
        #: arrivals so far (each contact's id counts them)
        self.count = 0


@dataclass(slots=True)
class Outcome:
    """The tallies of one finished run, for `report.build`."""

    workload: Workload
    seed: int
    clock: Clock
    queues: dict[str, QueueTally]
    groups: dict[str, GroupTally]
    waiting: Waiting
    arrived: int
    rejected: int
    unresolved: int
    wall_seconds: float
    ended_at: float


def stream_rng(seed: int, *parts: str) -> random.Random:
    """A generator of its own for one stream; a string seed is hashed (SHA-512), stably."""
    return random.Random(":".join((str(seed), *parts)))


class Simulation:
    def __init__(
        self,
        config: EngineConfig,
        plugins: RouterPlugins,
        workload: Workload,
        *,
        seed: int | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.workload = workload
        self.seed = workload.seed if seed is None else seed
        self.engine = Engine(config, plugins)
        self.progress = progress
        self.clock = Clock(workload.duration, workload.warmup, workload.interval)
        n = self.clock.intervals
        self.tallies = Tallies(
            self.clock,
            {q.name: QueueTally(q.name, q.sla_seconds, q.wrapup_seconds, n) for q in config.queues},
            {g.name: GroupTally(g.name, g.count, n) for g in workload.agents},
        )
        self.contacts: dict[str, SimContact] = {}
        self.agents: dict[str, SimAgent] = {}
        self.heap: list[tuple[float, int, Handler, Any]] = []
        self.seq = 0
        self.now = 0.0
        self.arrived = self.rejected = 0
        self._streams: list[_Stream] = []
        self._duration = workload.duration
        self._replay: list[tuple[TracedContact, Distribution | None, Distribution | None]] = []
        self._replay_rng = (
            stream_rng(self.seed, "replay", "handle"),
            stream_rng(self.seed, "replay", "patience"),
        )

    # -------------------------------------------------------------- set-up
    def _push(self, at: float, handler: Handler, payload: Any) -> None:
        # the sequence number orders events of one instant and keeps handlers uncompared
        self.seq += 1
        heappush(self.heap, (at, self.seq, handler, payload))

    def _setup(self) -> None:
        duration = self.workload.duration
        for i, stream in enumerate(self.workload.arrivals):
            arrivals = PoissonArrivals(
                stream.profile, stream_rng(self.seed, stream.name, "arrivals")
            )
            self._streams.append(
                _Stream(
                    stream,
                    arrivals,
                    stream_rng(self.seed, stream.name, "handle"),
                    stream_rng(self.seed, stream.name, "patience"),
                )
            )
            first = arrivals.next(duration)
            if first is not None:
                self._push(first, self._arrive, i)
        for replay in self.workload.replays:
            self._replay.extend(
                (c, replay.handle_time, replay.patience) for c in replay.contacts if c.at < duration
            )
        self._replay.sort(key=lambda item: item[0].at)
        if self._replay:
            self._push(self._replay[0][0].at, self._replayed, 0)
        for group in self.workload.agents:
            behaviour = AnswerBehaviour(group, stream_rng(self.seed, group.name, "answers"))
            tally = self.tallies.groups[group.name]
            for profile in profiles(group):
                agent = SimAgent(profile.id, behaviour, tally)
                self.agents[profile.id] = agent
                self._send(AgentUpserted(profile))
                shifts = group.shifts
                if not shifts:
                    agent.on_duty(0.0)
                    self._send(AgentStateChanged(profile.id, AgentState.AVAILABLE))
                for shift in shifts:
                    self._push(shift.start, self._shift_start, agent)
                    self._push(shift.end, self._shift_end, agent)

    # ---------------------------------------------------------------- loop
    def run(self) -> Outcome:
        started = time.perf_counter()
        self._setup()
        # A run makes millions of short-lived objects and makes no reference cycles
        # (`gc.collect()` right after runs of 20,000 contacts finds none): reference
        # counting frees them all, and the cyclic collector would only walk, again
        # and again, the agents, plugins and finished contacts that stay. It is off
        # for the length of the run; anything cyclic is collected after it.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._loop(started)
        finally:
            if was_enabled:
                gc.enable()

    def _loop(self, started: float) -> Outcome:
        engine = self.engine
        heap = self.heap
        pop = heappop
        duration = self.workload.duration
        stop = duration + self.workload.drain
        progress = self.progress
        events = 0
        while True:
            due = engine.next_due()
            at = heap[0][0] if heap else math.inf
            if due is not None and due < at:
                if due > stop:
                    break
                self.now = due
                self._send(Tick())
                continue
            if at > stop or (at > duration and not self.contacts):
                break
            _, _, handler, payload = pop(heap)
            self.now = at
            events += 1
            if not events % PROGRESS_EVERY:
                # Nothing is stored: forget what the engine marked for a store to
                # write, or its sets would hold the id of every contact of the run.
                engine.take_changes()
                if progress is not None:
                    progress(min(at, duration))  # the drain after it is not shown
            handler(payload)
        end = min(self.now, stop)
        for record in self.contacts.values():
            # still waiting when the run stopped: offered, never answered, and waited this long
            if not record.answered and record.counted and record.tally is not None:
                record.tally.longest_wait = max(record.tally.longest_wait, end - record.arrival)
        for agent in self.agents.values():
            agent.close(max(end, duration), self.clock)
        self.tallies.waiting.change(max(end, duration), 0)
        if progress is not None:
            progress(duration)
        return Outcome(
            workload=self.workload,
            seed=self.seed,
            clock=self.clock,
            queues=self.tallies.queues,
            groups=self.tallies.groups,
            waiting=self.tallies.waiting,
            arrived=self.arrived,
            rejected=self.rejected,
            unresolved=sum(1 for c in self.contacts.values() if not c.answered),
            wall_seconds=time.perf_counter() - started,
            ended_at=end,
        )

    # -------------------------------------------------------------- events
    def _arrive(self, index: int) -> None:
        stream = self._streams[index]
        stream.count += 1
        t = stream.template
        contact = Contact(
            f"{stream.name}-{stream.count}",
            t.channel,
            t.customer,
            t.subject,
            t.body,
            t.queue,
            t.skills,
            t.priority,
            t.thread_id,
            t.attributes,
        )
        patience = (
            stream.patience.sample(stream.patience_rng) if stream.patience is not None else math.inf
        )
        self._enter(contact, stream.handle_time.sample(stream.handle_rng), patience)
        following = stream.arrivals.next(self._duration)
        if following is not None:
            self._push(following, self._arrive, index)

    def _complete(self, contact_id: str) -> None:
        self._send(ContactCompleted(contact_id))

    def _patience(self, record: SimContact) -> None:
        if not record.answered and record.id in self.contacts:
            self._send(ContactAbandoned(record.id))

    def _answered_offer(self, answer: tuple[str, bool]) -> None:
        self._send(OfferAnswered(*answer))

    def _shift_start(self, agent: SimAgent) -> None:
        agent.on_duty(self.now)
        self._send(AgentStateChanged(agent.id, AgentState.AVAILABLE))

    def _shift_end(self, agent: SimAgent) -> None:
        agent.shift_over(self.now, self.clock)
        self._send(AgentStateChanged(agent.id, AgentState.AWAY))

    def _replayed(self, index: int) -> None:
        traced, handle_time, patience_time = self._replay[index]
        handle_rng, patience_rng = self._replay_rng
        handle = traced.handle
        if handle is None:
            assert handle_time is not None  # the workload reader refuses a trace without it
            handle = handle_time.sample(handle_rng)
        patience = traced.patience
        if patience is None:
            patience = patience_time.sample(patience_rng) if patience_time is not None else math.inf
        self._enter(traced.contact, handle, patience)
        if index + 1 < len(self._replay):
            self._push(self._replay[index + 1][0].at, self._replayed, index + 1)

    def _enter(self, contact: Contact, handle: float, patience: float) -> None:
        now = self.now
        clock = self.clock
        record = SimContact(contact.id, now, handle, clock.index(now), now >= clock.warmup)
        self.contacts[contact.id] = record
        self.arrived += 1
        if patience < math.inf:
            self._push(now + patience, self._patience, record)
        self._send(ContactArrived(contact))

    def _send(self, event: Event) -> None:
        try:
            effects = self.engine.handle(event, self.now)
        except EngineError as error:
            # a late answer to an offer that expired or was withdrawn: nothing changes
            effects = error.effects
        if effects:
            self._carry_out(effects)

    def _carry_out(self, effects: list[Effect]) -> None:
        # Compiled, `dict.pop` and `dict.fromkeys` are methods looked up by name, and a
        # module-level set a global looked up by name: indexing, `del`, a literal tuple
        # and a short list spare that for every event.
        touched: list[str] = []
        answers: list[SendOffer] = []
        contacts = self.contacts
        for effect in effects:
            if isinstance(effect, RouterEvent):
                kind = effect.type
                contact_id = effect.contact_id or ""
                if kind in _LOAD_CHANGES:
                    agent_id = effect.agent_id or ""
                    if agent_id not in touched:
                        touched.append(agent_id)
                if kind == "assigned":
                    record = contacts[contact_id]
                    self.tallies.answered(record, effect.at)
                    self._push(effect.at + record.handle, self._complete, record.id)
                elif kind == "queued":
                    self.tallies.queued(contacts[contact_id], effect.queue, effect.at)
                elif kind == "completed":
                    self.tallies.completed(contacts[contact_id])
                    del contacts[contact_id]
                elif kind == "abandoned":
                    self.tallies.abandoned(contacts[contact_id], effect.at)
                    del contacts[contact_id]
                elif kind == "rejected":
                    if contact_id in contacts:
                        del contacts[contact_id]
                    self.rejected += 1
            elif isinstance(effect, SendOffer):
                answers.append(effect)
            else:
                agent_id = effect.offer.agent_id  # a RevokeOffer
                if agent_id not in touched:
                    touched.append(agent_id)
        if touched:
            agents = self.engine.agents
            for agent_id in touched:
                record_ = agents.get(agent_id)
                sim = self.agents.get(agent_id)
                if record_ is not None and sim is not None:
                    sim.set_busy(record_.total_load > 0, self.now, self.clock)
        for offer in answers:
            self._answer(offer)

    def _answer(self, effect: SendOffer) -> None:
        agent = self.agents[effect.offer.agent_id]
        behaviour = agent.group
        if behaviour.instant:
            self._send(OfferAnswered(effect.offer.id, True))
            return
        delay, accept = behaviour.answer()
        if delay <= 0.0:
            self._send(OfferAnswered(effect.offer.id, accept))
        else:
            self._push(self.now + delay, self._answered_offer, (effect.offer.id, accept))
