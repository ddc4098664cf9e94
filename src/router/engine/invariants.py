"""Consistency checks over an engine's records, for tests (the engine's and plugin authors').

`check_invariants(engine)` reads every record and index the engine keeps and
raises `AssertionError` listing each broken rule (DESIGN "Invariants"):

- contacts: each id is in exactly one of `engine.contacts` (live) and
  `engine.finished` (terminal); a queued contact has no offer and no agent; an
  offered one has exactly one open offer, listed in `engine.offers` and in its
  agent's offers; an assigned or wrap-up contact has exactly one agent, which
  lists it; no agent holds a finished contact;
- agents: the load per channel (and `total_load`) equals the offers,
  assignments and wrap-ups held on that channel; it never exceeds the
  channel's capacity; while a contact on an exclusive channel (voice by
  default) is held nothing else is; `exclusive_held` counts them; `levels`
  are the queues the agent serves;
- indexes: an agent is in the available index exactly for the (queue,
  channel, language) lists where it is available with free capacity; a queued
  contact has a live entry in the waiting heap of every queue that may serve
  it, under its current requirement and priority (or in its target agent's
  personal heap), and no live entry is anywhere else; per queue, the
  `waiting` counter counts its queued and offered contacts;
- timers: none due before `engine.now` is left unfired; an open offer has not
  outlived its expiry and has its expiry timer armed; a contact in wrap-up
  has its wrap-up end armed.

Use it after each step of a test, e.g. with the `router_engine` fixture::

    from router.engine.invariants import check_invariants

    def test_my_rule(router_engine):
        router_engine.add_agent("a1")
        router_engine.arrive(channel="chat")
        check_invariants(router_engine.engine)

The checker reads the engine's private indexes on purpose: a contact missing
from them is stranded, and only they can show it. It works out eligibility
from the agents' profiles on its own rather than asking the matcher, so it
checks the matcher instead of repeating it.

Capacity may legitimately sit below the load: an admin may lower an agent's
capacity (or a reload may make a channel exclusive) while it holds contacts.
Pass such agents in `over_limit_ok`; everything else is still checked for
them. That no new offer reaches a channel while it is over is a property of
offers, not of a state: `tests/engine/test_stateful.py` checks it as each
offer is made.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection

from router.engine.core import Engine
from router.engine.records import AgentRecord, ContactRecord
from router.engine.timers import OfferExpiry, WrapupEnd
from router.engine.waiting import Requirement
from router.model import PROFICIENCY_MAX, AgentState, ContactState

__all__ = ["check_invariants", "free_capacity", "requirement"]

_HELD_STATES = (ContactState.ASSIGNED, ContactState.WRAPUP)


def check_invariants(engine: Engine, *, over_limit_ok: Collection[str] = ()) -> None:
    """Raise AssertionError naming every invariant the engine's state breaks.

    `over_limit_ok`: ids of agents allowed above their capacity or exclusive
    limits, because an admin lowered them while the agent held contacts.
    """
    problems: list[str] = []
    _check_contacts(engine, problems)
    _check_offers(engine, problems)
    _check_agents(engine, problems, frozenset(over_limit_ok))
    _check_available(engine, problems)
    _check_waiting(engine, problems)
    _check_counters(engine, problems)
    _check_timers(engine, problems)
    if problems:
        shown = problems[:40]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > 40 else ""
        raise AssertionError(
            f"engine invariants broken at now={engine.now:g} ({len(problems)}):\n  "
            + "\n  ".join(shown)
            + more
        )


# ------------------------------------------------------------------ helpers
def free_capacity(agent: AgentRecord, channel: str, exclusive_channels: Collection[str]) -> int:
    """The agent's free capacity on `channel`, worked out from its records alone.

    Zero unless available; an exclusive channel needs the agent otherwise idle,
    and while it holds an exclusive contact nothing else fits.
    """
    if agent.state is not AgentState.AVAILABLE:
        return 0
    held = {c: n for c, n in agent.load.items() if n}
    free = agent.profile.capacity.get(channel, 0) - held.get(channel, 0)
    if free <= 0:
        return 0
    if any(c in exclusive_channels for c in held):
        return 0
    if channel in exclusive_channels and held:
        return 0
    return free


def requirement(engine: Engine, record: ContactRecord, queue_name: str) -> Requirement:
    """What an agent must meet to take `record` through `queue_name` (level, language, skills)."""
    queue = engine.queues[queue_name]
    level = record.min_level if queue_name == record.queue else queue.min_level
    language = record.contact.customer.language if queue.require_language else None
    extra = frozenset(s for s in record.contact.skills if s not in queue.skills)
    return level, language, extra


def _holds(engine: Engine, agent: AgentRecord) -> list[ContactRecord]:
    """The contact records the agent holds: open offers, then assignments and wrap-ups."""
    held: list[ContactRecord] = []
    for offer_id in agent.offers:
        record = engine.offers.get(offer_id)
        if record is not None:
            held.append(record)
    for contact_id in agent.contacts:
        record = engine.contacts.get(contact_id)
        if record is not None:
            held.append(record)
    return held


# ----------------------------------------------------------------- contacts
def _check_contacts(engine: Engine, problems: list[str]) -> None:
    for key, record in engine.contacts.items():
        where = f"live contact {key}"
        if record.id != key:
            problems.append(f"{where} is filed under the wrong id (record says {record.id})")
        if key in engine.finished:
            problems.append(f"{where} is also in engine.finished")
        if record.state.is_terminal:
            problems.append(f"{where} is {record.state} but still live")
        for name in record.queues():
            if name not in engine.queues:
                problems.append(f"{where} is in unknown queue {name!r}")
        if record.queue is None:
            problems.append(f"{where} ({record.state}) has no queue")
        state = record.state
        if state is ContactState.QUEUED:
            if record.offer is not None:
                problems.append(f"{where} is queued but has offer {record.offer.id}")
            if record.agent_id is not None:
                problems.append(f"{where} is queued but has agent {record.agent_id}")
        elif state is ContactState.OFFERED:
            _check_offered(engine, record, problems)
        elif state in _HELD_STATES:
            if record.offer is not None:
                problems.append(f"{where} is {state} but still has offer {record.offer.id}")
            agent = engine.agents.get(record.agent_id) if record.agent_id else None
            if agent is None:
                problems.append(f"{where} is {state} but its agent {record.agent_id!r} is unknown")
            elif record.id not in agent.contacts:
                problems.append(f"{where} is {state} with agent {agent.id}, who does not list it")
    for key, record in engine.finished.items():
        where = f"finished contact {key}"
        if record.id != key:
            problems.append(f"{where} is filed under the wrong id (record says {record.id})")
        if not record.state.is_terminal:
            problems.append(f"{where} is {record.state}, not a terminal state")
        if record.offer is not None:
            problems.append(f"{where} still has offer {record.offer.id}")
    # a contact held by two agents, or by an agent although not assigned to it
    holders: dict[str, list[str]] = {}
    for agent in engine.agents.values():
        for contact_id in agent.contacts:
            holders.setdefault(contact_id, []).append(agent.id)
    for contact_id, agent_ids in holders.items():
        holder = engine.contacts.get(contact_id)
        if len(agent_ids) > 1:
            problems.append(f"contact {contact_id} is held by several agents: {sorted(agent_ids)}")
        if holder is None:
            problems.append(
                f"agent {agent_ids[0]} holds contact {contact_id}, which is not live"
                + (" (finished)" if contact_id in engine.finished else "")
            )
        elif holder.state not in _HELD_STATES or holder.agent_id not in agent_ids:
            problems.append(
                f"agent {agent_ids[0]} holds contact {contact_id}, which is {holder.state}"
                f" with agent {holder.agent_id!r}"
            )


def _check_offered(engine: Engine, record: ContactRecord, problems: list[str]) -> None:
    where = f"offered contact {record.id}"
    offer = record.offer
    if offer is None:
        problems.append(f"{where} has no offer")
        return
    if record.agent_id is not None:
        problems.append(f"{where} already has agent {record.agent_id}")
    if offer.contact_id != record.id:
        problems.append(f"{where} carries offer {offer.id} for contact {offer.contact_id}")
    if engine.offers.get(offer.id) is not record:
        problems.append(f"{where}: its offer {offer.id} is not in engine.offers")
    agent = engine.agents.get(offer.agent_id)
    if agent is None:
        problems.append(f"{where}: offer {offer.id} is for unknown agent {offer.agent_id}")
    elif agent.offers.get(offer.id) != offer:
        problems.append(f"{where}: agent {agent.id} does not list its offer {offer.id}")


# ------------------------------------------------------------------- offers
def _check_offers(engine: Engine, problems: list[str]) -> None:
    per_contact: Counter[str] = Counter()
    for offer_id, record in engine.offers.items():
        where = f"open offer {offer_id}"
        per_contact[record.id] += 1
        if record.offer is None or record.offer.id != offer_id:
            current = record.offer.id if record.offer else None
            problems.append(f"{where}: contact {record.id} carries offer {current!r} instead")
        if record.state is not ContactState.OFFERED:
            problems.append(f"{where}: contact {record.id} is {record.state}, not offered")
        if engine.contacts.get(record.id) is not record:
            problems.append(f"{where}: contact {record.id} is not live")
    for agent in engine.agents.values():
        for offer_id, offer in agent.offers.items():
            where = f"agent {agent.id}'s offer {offer_id}"
            if offer.id != offer_id or offer.agent_id != agent.id:
                problems.append(f"{where} is filed wrongly (offer {offer.id} for {offer.agent_id})")
            open_for = engine.offers.get(offer_id)
            if open_for is None:
                problems.append(f"{where} for contact {offer.contact_id} is not in engine.offers")
            elif open_for.offer != offer:
                problems.append(f"{where}: engine.offers holds a different offer for it")
    agents_per_contact: dict[str, set[str]] = {}
    for agent in engine.agents.values():
        for offer in agent.offers.values():
            agents_per_contact.setdefault(offer.contact_id, set()).add(agent.id)
    for contact_id, count in per_contact.items():
        if count > 1:
            problems.append(f"contact {contact_id} has {count} open offers")
    for contact_id, agent_ids in agents_per_contact.items():
        if len(agent_ids) > 1:
            problems.append(
                f"contact {contact_id} is offered to several agents: {sorted(agent_ids)}"
            )


# ------------------------------------------------------------------- agents
def _check_agents(engine: Engine, problems: list[str], over_limit_ok: frozenset[str]) -> None:
    exclusive = engine.config.routing.exclusive_channels
    for key, agent in engine.agents.items():
        where = f"agent {key}"
        if agent.id != key:
            problems.append(f"{where} is filed under the wrong id (profile says {agent.id})")
        held = _holds(engine, agent)
        expected = Counter(record.channel for record in held)
        load = {channel: n for channel, n in agent.load.items() if n}
        if load != dict(expected):
            problems.append(
                f"{where}: load {dict(sorted(load.items()))} but holds"
                f" {dict(sorted(expected.items()))} (offers + assigned + wrap-up)"
            )
        negative = {c: n for c, n in agent.load.items() if n < 0}
        if negative:
            problems.append(f"{where}: negative load {negative}")
        if agent.total_load != len(held):
            problems.append(f"{where}: total_load is {agent.total_load} but it holds {len(held)}")
        exclusive_held = sum(1 for record in held if record.channel in exclusive)
        if agent.exclusive_held != exclusive_held:
            problems.append(
                f"{where}: exclusive_held is {agent.exclusive_held} but it holds"
                f" {exclusive_held} contact(s) on exclusive channels {list(exclusive)}"
            )
        if agent.id not in over_limit_ok:
            for channel, count in sorted(expected.items()):
                capacity = agent.profile.capacity.get(channel, 0)
                if count > capacity:
                    problems.append(
                        f"{where}: holds {count} contact(s) on {channel}, capacity {capacity}"
                    )
            if exclusive_held and len(held) > 1:
                problems.append(
                    f"{where}: holds an exclusive-channel contact and {len(held) - 1} other(s):"
                    f" {sorted(r.id for r in held)}"
                )
        levels = _expected_levels(engine, agent)
        if agent.levels != levels:
            problems.append(f"{where}: levels {agent.levels} but its profile gives {levels}")


def _expected_levels(engine: Engine, agent: AgentRecord) -> dict[str, int]:
    levels: dict[str, int] = {}
    capacity = agent.profile.capacity
    for name, queue in engine.queues.items():
        if not any(capacity.get(c, 0) > 0 for c in queue.channels):
            continue
        own = [agent.profile.skills.get(skill) for skill in queue.skills]
        if any(level is None for level in own):
            continue
        levels[name] = min((level for level in own if level is not None), default=PROFICIENCY_MAX)
    return levels


# -------------------------------------------------------------- availability
def _check_available(engine: Engine, problems: list[str]) -> None:
    index = engine.available
    exclusive = engine.config.routing.exclusive_channels
    listed: set[tuple[str, tuple[str, str, str | None]]] = set()
    for key, agents in index._lists.items():
        for agent_id, agent in agents.items():
            listed.add((agent_id, key))
            if engine.agents.get(agent_id) is not agent:
                problems.append(f"available index {key}: {agent_id} is not the engine's agent")
    slotted: set[tuple[str, tuple[str, str, str | None]]] = set()
    for agent_id, keys in index._keys.items():
        for key in keys:
            slotted.add((agent_id, key))
    for agent_id, key in sorted(listed ^ slotted, key=repr):
        side = "listed without a slot" if (agent_id, key) in listed else "slot not listed"
        problems.append(f"available index: agent {agent_id} {key}: {side}")
    for agent in engine.agents.values():
        wanted: set[tuple[str, tuple[str, str, str | None]]] = set()
        for name in _expected_levels(engine, agent):
            queue = engine.queues[name]
            for channel in queue.channels:
                if free_capacity(agent, channel, exclusive) <= 0:
                    continue
                wanted.add((agent.id, (name, channel, None)))
                if queue.require_language:
                    for language in agent.profile.languages:
                        wanted.add((agent.id, (name, channel, language)))
        have = {slot for slot in slotted if slot[0] == agent.id}
        for _, key in sorted(have - wanted, key=repr):
            why = (
                f"it is {agent.state}"
                if agent.state is not AgentState.AVAILABLE
                else f"it has no free {key[1]} capacity or does not serve {key[0]} so"
            )
            problems.append(f"available index lists agent {agent.id} in {key}, but {why}")
        for _, key in sorted(wanted - have, key=repr):
            problems.append(
                f"agent {agent.id} is available with free {key[1]} capacity for queue {key[0]}"
                f" but missing from the available index {key}"
            )
    for agent_id in index._keys:
        if agent_id not in engine.agents:
            problems.append(f"available index holds unknown agent {agent_id}")


# ------------------------------------------------------------------ waiting
def _check_waiting(engine: Engine, problems: list[str]) -> None:
    waiting = engine.waiting
    aging = waiting._aging
    seen_queue: set[tuple[str, str]] = set()  # (contact id, queue)
    seen_personal: set[str] = set()
    for (queue, channel), bucket in waiting._buckets.items():
        for req, heap in bucket.items():
            for entry in heap:
                record = entry[4]
                if record.state is not ContactState.QUEUED or record.version != entry[3]:
                    continue  # stale: skipped lazily
                where = f"waiting entry of contact {record.id} in {queue}/{channel}"
                seen_queue.add((record.id, queue))
                if engine.contacts.get(record.id) is not record:
                    problems.append(f"{where}: the contact is not live")
                if record.target_agent is not None:
                    problems.append(f"{where}: the contact targets agent {record.target_agent}")
                if queue not in record.queues():
                    problems.append(f"{where}: not one of its queues {record.queues()}")
                elif req != requirement(engine, record, queue):
                    problems.append(
                        f"{where}: filed under requirement {req}, but it now needs"
                        f" {requirement(engine, record, queue)}"
                    )
                if record.channel != channel:
                    problems.append(f"{where}: the contact is on channel {record.channel}")
                _check_key(record, entry[0], aging, where, problems)
    for agent_id, heap in waiting._personal.items():
        for entry in heap:
            record = entry[4]
            if record.state is not ContactState.QUEUED or record.version != entry[3]:
                continue
            where = f"personal waiting entry of contact {record.id} for agent {agent_id}"
            seen_personal.add(record.id)
            if record.target_agent != agent_id:
                problems.append(f"{where}: the contact targets {record.target_agent!r}")
            if engine.contacts.get(record.id) is not record:
                problems.append(f"{where}: the contact is not live")
            _check_key(record, entry[0], aging, where, problems)
    for record in engine.contacts.values():
        if record.state is not ContactState.QUEUED:
            continue
        if record.target_agent is not None:
            if record.id not in seen_personal:
                problems.append(
                    f"queued contact {record.id} (for agent {record.target_agent}) is in no"
                    " personal waiting heap: nobody will ever take it"
                )
            continue
        for queue in record.queues():
            if queue in engine.queues and (record.id, queue) not in seen_queue:
                problems.append(
                    f"queued contact {record.id} has no live waiting entry in queue {queue}:"
                    " agents of that queue will never take it"
                )


def _check_key(
    record: ContactRecord, key: float, aging: float, where: str, problems: list[str]
) -> None:
    static = record.priority - record.arrived_at / aging
    if not math.isclose(-key, static, rel_tol=1e-9, abs_tol=1e-9):
        problems.append(
            f"{where}: ordered by priority {-key:g}, but its priority is now"
            f" {record.priority:g} (static {static:g})"
        )


# ----------------------------------------------------------------- counters
def _check_counters(engine: Engine, problems: list[str]) -> None:
    waiting: Counter[str] = Counter()
    for record in engine.contacts.values():
        if record.state in (ContactState.QUEUED, ContactState.OFFERED) and record.queue:
            waiting[record.queue] += 1
    for name, counters in engine.counters.items():
        if counters.waiting != waiting.get(name, 0):
            problems.append(
                f"queue {name}: waiting counter is {counters.waiting} but"
                f" {waiting.get(name, 0)} contact(s) are queued or offered in it"
            )


# ------------------------------------------------------------------- timers
def _check_timers(engine: Engine, problems: list[str]) -> None:
    armed: dict[object, list[float]] = {}
    for due, _, _, key in engine.timers._heap:
        armed.setdefault(key, []).append(due)
        # An event may arm a timer for `now` itself (a reload arms the steps already due):
        # `next_due()` reports it and the host's next Tick fires it. Overdue is earlier.
        if due < engine.now:
            problems.append(f"timer {key} due at {due:g} has not fired by now={engine.now:g}")
    for offer_id, record in engine.offers.items():
        offer = record.offer
        if offer is None:
            continue
        if offer.expires_at <= engine.now:
            problems.append(
                f"offer {offer_id} for contact {record.id} expired at {offer.expires_at:g}"
                f" but is still open at {engine.now:g}"
            )
        if offer.expires_at not in armed.get(OfferExpiry(offer_id), []):
            problems.append(f"offer {offer_id} has no expiry timer at {offer.expires_at:g}")
    for record in engine.contacts.values():
        if record.state is ContactState.WRAPUP and not armed.get(WrapupEnd(record.id)):
            problems.append(f"contact {record.id} is in wrap-up with no wrap-up end armed")
