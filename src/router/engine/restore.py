"""Rebuild an engine from the records a store kept.

The store keeps each contact's and agent's own fields (`router.store.codec`);
everything the engine derives from them is rebuilt here: the waiting heaps,
the availability lists in their order (longest idle first), each agent's load,
offers and contacts, the customer directory, open threads, and the timers
(offer expiries, wrap-up ends, escalation steps, reoffer delays) at their
original due times. A timer already due fires on the first `Tick` at restore
time, at its own due time, exactly as it would have had the process lived.

The restored engine starts with the queue settings the store kept (so a
contact waiting in a queue that a new config retired keeps being served);
`restore` then applies the config read at start as a reload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.engine.core import Engine
from router.engine.effects import Effect, SendOffer
from router.engine.events import ConfigReplaced, Tick
from router.engine.records import AgentRecord, ContactRecord
from router.engine.stats import QueueCounters
from router.engine.timers import OfferExpiry, ReofferDue, WrapupEnd
from router.model import ContactState, EngineConfig, QueueConfig
from router.plugins import RouterPlugins

_WAITING = (ContactState.QUEUED, ContactState.OFFERED)


@dataclass(slots=True)
class EngineState:
    """What a store loaded: records and figures, nothing derived."""

    #: the queue settings the engine ran with (retired queues included); None: a new store
    queues: tuple[QueueConfig, ...] | None = None
    #: live contacts and the newest finished ones, in any order
    contacts: list[ContactRecord] = field(default_factory=list)
    agents: list[AgentRecord] = field(default_factory=list)
    counters: list[QueueCounters] = field(default_factory=list)
    #: follow-up message id → the contact it joined
    joined: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    offer_seq: int = 0
    placements: int = 0


def restore(
    config: EngineConfig, plugins: RouterPlugins, state: EngineState, now: float
) -> tuple[Engine, list[Effect]]:
    """An engine in the state the store kept, at `now`; and the effects to carry out.

    The effects re-send every open offer (an agent may have missed it while the
    router was down; offers keep their ids, so a second copy is harmless), then
    whatever the timers due by `now` and the new config bring.
    """
    queues = state.queues if state.queues is not None else config.queues
    engine = Engine(EngineConfig(queues=queues, routing=config.routing), plugins)
    engine.now = now
    engine.seq = state.seq
    engine.offer_seq = state.offer_seq
    engine.available.placements = state.placements
    for counter in state.counters:
        engine.counters[counter.name] = counter
    for agent in state.agents:
        engine.agents[agent.id] = agent
    records = sorted(state.contacts, key=lambda r: r.seq)
    for record in records:
        _place_contact(engine, record)
    for alias, contact_id in state.joined.items():
        engine.joined[alias] = contact_id
    for agent in sorted(engine.agents.values(), key=lambda a: a.placed):
        placed = agent.placed
        engine.matcher.compute_levels(agent)
        engine.matcher.reindex(agent)  # to the back of its lists: in the order they had
        agent.placed = placed  # and the numbers they had, which later reloads sort by
    engine.available.placements = state.placements
    engine.take_changes()  # what rebuilding touched is what the store already has
    open_offers = list(engine.offers)
    effects: list[Effect] = []
    if config.queues != queues:
        effects += engine.handle(ConfigReplaced(config), now)
    effects += engine.handle(Tick(), now)
    resent: list[Effect] = []
    for offer_id in open_offers:
        still_open = engine.offers.get(offer_id)
        if still_open is not None and still_open.offer is not None:
            history = engine.customer_history(still_open)
            resent.append(SendOffer(still_open.offer, still_open.contact, history))
    # What the timers and the new config changed is in `engine.changes`: the host
    # writes it before carrying out these effects.
    return engine, resent + effects


def _place_contact(engine: Engine, record: ContactRecord) -> None:
    """Put one stored contact back where the engine keeps contacts in its state."""
    engine.remember_history(record)
    if record.state.is_terminal:
        engine.finished[record.id] = record
        return
    engine.contacts[record.id] = record
    thread = record.contact.thread_id
    if thread is not None:
        engine.open_threads[(record.channel, thread)] = record.id
    exclusive = engine.config.routing.exclusive_channels
    if record.state in _WAITING:
        assert record.queue is not None
        counters = engine.counters.setdefault(record.queue, QueueCounters(record.queue))
        counters.waiting += 1
        counters.track(record)
        engine.arm_escalations(record)
    for agent_id, until in record.declined_by.items():
        if until > engine.now:  # an entry whose delay ran out is kept, as the engine does
            engine.timers.arm(until, ReofferDue(record.id, agent_id))
    if record.state is ContactState.QUEUED:
        engine.matcher.push_waiting(record)
    elif record.state is ContactState.OFFERED:
        assert record.offer is not None
        agent = engine.agents[record.offer.agent_id]
        engine.offers[record.offer.id] = record
        agent.offers[record.offer.id] = record.offer
        agent.take(record.channel, exclusive)
        engine.timers.arm(record.offer.expires_at, OfferExpiry(record.offer.id))
    else:
        assert record.agent_id is not None
        agent = engine.agents[record.agent_id]
        agent.contacts.add(record.id)
        agent.take(record.channel, exclusive)
        if record.state is ContactState.WRAPUP:
            assert record.wrapup_until is not None
            engine.timers.arm(record.wrapup_until, WrapupEnd(record.id))
