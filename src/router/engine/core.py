"""The routing engine: pure, synchronous, in memory.

`Engine.handle(event, now)` first fires the timers due at `now`, then applies
the event, and returns the effects to carry out. No I/O, no clock, no asyncio:
the daemon and the simulator run this very class, only their clocks and
effect handlers differ. Given the same events at the same times, it produces
the same effects (so a journal of events rebuilds it).

Matching runs in two directions (see `matching.py`): a contact that becomes
routable looks for the best of a bounded set of available agents; an agent
that gains free capacity takes the best waiting contact it is eligible for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from router.engine.available import AvailableAgents
from router.engine.changes import Changes
from router.engine.customers import CustomerDirectory
from router.engine.effects import Effect, EngineError, RevokeOffer, SendOffer
from router.engine.events import (
    AgentStateChanged,
    AgentUpserted,
    ConfigReplaced,
    ContactAbandoned,
    ContactArrived,
    ContactCompleted,
    ContactTransferred,
    Event,
    OfferAnswered,
)
from router.engine.matching import Matcher
from router.engine.records import AgentRecord, ContactRecord
from router.engine.stats import QueueCounters, QueueStats
from router.engine.timers import EscalationDue, OfferExpiry, ReofferDue, TimerKey, Timers, WrapupEnd
from router.engine.waiting import WaitingContacts
from router.model import (
    AgentProfile,
    AgentState,
    Contact,
    ContactState,
    EngineConfig,
    HistoryEntry,
    Offer,
    QueueConfig,
    RouterEvent,
)
from router.plugin_api import OutcomeStats
from router.plugins import RouterPlugins

_OPEN_FOR_TRANSFER = (ContactState.QUEUED, ContactState.OFFERED, ContactState.ASSIGNED)
#: the customer directory and the threads' last agents are rebuilt from the contacts kept
#: once they hold this many entries per kept contact, and at least the floor (`_compact_history`).
#: A kept contact needs about 3 (its identities, its thread); a rebuild takes ~14 us per kept
#: contact (0.7 s at the default 50,000 finished kept), so it should be rare.
HISTORY_COMPACTION_FACTOR = 10
HISTORY_COMPACTION_FLOOR = 10_000


def _by_seq(record: ContactRecord) -> int:
    return record.seq


class Engine:
    def __init__(self, config: EngineConfig, plugins: RouterPlugins) -> None:
        self.plugins = plugins
        self.config = config
        self.now = 0.0
        self.queues: dict[str, QueueConfig] = {q.name: q for q in config.queues}
        #: the queues a new contact may enter, with the channels they take for new
        #: contacts (retired queues and channels only finish the contacts they hold)
        self._active_queues = {q.name: frozenset(q.channels) for q in config.queues}
        self.contacts: dict[str, ContactRecord] = {}
        self.finished: OrderedDict[str, ContactRecord] = OrderedDict()
        self.agents: dict[str, AgentRecord] = {}
        self.offers: dict[str, ContactRecord] = {}
        self.counters: dict[str, QueueCounters] = {
            q.name: QueueCounters(q.name) for q in config.queues
        }
        self.timers = Timers()
        self.waiting = WaitingContacts(config.routing.aging_seconds)
        self.available = AvailableAgents()
        self.matcher = Matcher(self)
        self.customers = CustomerDirectory(config.routing.history_per_customer)
        #: (channel, thread id) → the contact id that thread's follow-ups join while it is open
        self.open_threads: dict[tuple[str, str], str] = {}
        #: the id of a contact that joined another (a follow-up message) → that contact's id
        self.joined: OrderedDict[str, str] = OrderedDict()
        self.last_agent_by_thread: dict[str, str] = {}
        #: the arrival seq of the contact each thread's last agent took (the newest wins)
        self._thread_agent_seq: dict[str, int] = {}
        self.seq = 0
        self.offer_seq = 0
        self._effects: list[Effect] = []
        #: what changed since the host last took it (see `take_changes`)
        self.changes = Changes(counters=set(self.counters))

    # ------------------------------------------------------------------ API
    def handle(self, event: Event, now: float) -> list[Effect]:
        """Fire the timers due at `now`, apply `event`, return the effects.

        A refused event raises `EngineError` after changing nothing; effects of
        timers fired before it are on the error's `effects` and must still be
        carried out.
        """
        self._effects = []
        self._fire_timers(max(self.now, now))
        try:
            self._apply(event)
        except EngineError as error:
            error.effects = self._effects
            self._effects = []
            raise
        if self.waiting.entries > 1024 + 4 * len(self.contacts):
            self.waiting.prune()
        effects, self._effects = self._effects, []
        return effects

    def take_changes(self) -> Changes:
        """The records changed since the last call, for the store to write; then forget them."""
        changes, self.changes = self.changes, Changes()
        return changes

    def next_due(self) -> float | None:
        """When the engine next needs a `Tick`; None when no timer is armed."""
        return self.timers.next_due()

    def contact(self, contact_id: str) -> ContactRecord | None:
        """The contact by its id, or by the id of a follow-up message that joined it."""
        found = self.contacts.get(contact_id) or self.finished.get(contact_id)
        if found is None and (joined := self.joined.get(contact_id)) is not None:
            return self.contacts.get(joined) or self.finished.get(joined)
        return found

    def agent(self, agent_id: str) -> AgentRecord | None:
        return self.agents.get(agent_id)

    def offer(self, offer_id: str) -> Offer | None:
        record = self.offers.get(offer_id)
        return record.offer if record else None

    def stats(self) -> list[QueueStats]:
        available = {a.id for a in self.agents.values() if a.state is AgentState.AVAILABLE}
        members: dict[str, int] = dict.fromkeys(self.counters, 0)
        for agent_id in available:
            for queue in self.agents[agent_id].levels:
                if queue in members:
                    members[queue] += 1
        return [
            QueueStats(
                name=c.name,
                waiting=c.waiting,
                longest_wait_seconds=c.longest_wait(self.now),
                service_level=c.service_level,
                asa_seconds=c.asa_seconds,
                arrived=c.arrived,
                answered=c.answered,
                handled=c.handled,
                abandoned=c.abandoned,
                agents_available=members[c.name],
                sla_seconds=self.queues[c.name].sla_seconds,
            )
            for c in self.counters.values()
            if c.name in self.queues
        ]

    def customer_history(self, record: ContactRecord) -> tuple[HistoryEntry, ...]:
        """The customer's recent contacts on every channel, newest first, this one left out."""
        if record.customer is None:
            return ()
        entries: list[HistoryEntry] = []
        limit = self.config.routing.history_per_customer
        for contact_id in self.customers.recent(record.customer):
            other = self.contact(contact_id)
            if other is None or other is record:
                continue
            if len(entries) >= limit:
                break
            entries.append(
                HistoryEntry(
                    contact_id=contact_id,
                    channel=other.channel,
                    queue=other.queue,
                    subject=other.contact.subject,
                    state=other.state,
                    at=other.arrived_at,
                    agent_id=other.agent_id,
                    outcome=other.outcome,
                )
            )
        return tuple(entries)

    # ------------------------------------------------------------ dispatch
    def _apply(self, event: Event) -> None:
        # isinstance, not `match`: compiled, a class pattern reads each field by name
        # (a dict lookup), where an attribute of a narrowed event is a plain load.
        if isinstance(event, ContactArrived):
            self._arrive(event.contact)
        elif isinstance(event, OfferAnswered):
            self._answer(event.offer_id, event.accept, event.agent_id)
        elif isinstance(event, ContactCompleted):
            record = self._require_contact(event.contact_id, event.by_agent)
            self._complete(record, event.outcome, event.csat)
        elif isinstance(event, AgentUpserted):
            self._upsert_agent(event.agent)
        elif isinstance(event, AgentStateChanged):
            self._set_agent_state(self._require_agent(event.agent_id), event.state, reason=None)
        elif isinstance(event, ContactAbandoned):
            self._abandon(self._require_contact(event.contact_id, event.by_agent))
        elif isinstance(event, ContactTransferred):
            if event.by_agent is not None:
                self._require_contact(event.contact_id, event.by_agent)
            self._transfer(event.contact_id, event.queue, event.agent_id)
        elif isinstance(event, ConfigReplaced):
            self._replace_config(event.config)
        # a Tick only fires the timers, which `handle` did

    def _fire_timers(self, until: float) -> None:
        """Fire every timer due by `until`, each at its own due time."""
        while (due := self.timers.pop_due(until)) is not None:
            self.now = max(self.now, due[0])
            self._fire(due[1])
        self.now = until

    def _fire(self, key: TimerKey) -> None:
        # isinstance, not `match`, as in `_apply`: an attribute of a narrowed key is a
        # plain load where a class pattern looks each field up by name.
        if isinstance(key, OfferExpiry):
            record = self.offers.get(key.offer_id)
            if record is not None and record.offer is not None:
                self._decline(record, timed_out=True)
        elif isinstance(key, WrapupEnd):
            record = self.contacts.get(key.contact_id)
            if record is not None and record.state is ContactState.WRAPUP:
                self._finish(record, ContactState.COMPLETED)
        elif isinstance(key, EscalationDue):
            record = self.contacts.get(key.contact_id)
            if record is not None and record.escalation_epoch == key.epoch:
                self._escalate(record, key.step)
        else:
            # ReofferDue. Only this agent's view changed: it takes the best contact it may
            # now, which keeps priority and FIFO order among contacts declined together.
            agent = self.agents.get(key.agent_id)
            if agent is not None:
                self.matcher.route_agent(agent)

    # ------------------------------------------------------------ contacts
    def _arrive(self, contact: Contact) -> None:
        if contact.id in self.contacts or contact.id in self.finished or contact.id in self.joined:
            return  # idempotent: a contact id seen before creates nothing
        thread = self._open_thread(contact)
        if thread is not None:
            self._join(thread, contact)
            return
        self.seq += 1
        record = ContactRecord(contact=contact, seq=self.seq, arrived_at=self.now)
        self.contacts[contact.id] = record
        self.remember_customer(record)
        queue, reason = self._choose_queue(contact)
        if queue is None:
            record.reason = reason
            self.publish("rejected", record, details={"reason": reason})
            self._retire(record, ContactState.REJECTED)
            return
        self._enter_queue(record, queue)
        if contact.thread_id is not None:
            self.open_threads[(contact.channel, contact.thread_id)] = contact.id
        self.matcher.route_contact(record)

    def _open_thread(self, contact: Contact) -> ContactRecord | None:
        """The open contact (waiting, offered or assigned) this one's thread belongs to."""
        if contact.thread_id is None or not self.config.routing.join_open_threads:
            return None
        contact_id = self.open_threads.get((contact.channel, contact.thread_id))
        record = self.contacts.get(contact_id) if contact_id is not None else None
        if record is None or record.state not in _OPEN_FOR_TRANSFER:
            return None
        return record

    def _join(self, record: ContactRecord, follow_up: Contact) -> None:
        """A follow-up message joins its conversation's open contact: no new routing."""
        self.joined[follow_up.id] = record.id
        self.changes.joined[follow_up.id] = record.id
        while len(self.joined) > self.config.routing.finished_contacts_kept:
            self.joined.popitem(last=False)
        details: dict[str, Any] = {"message_id": follow_up.id, "body": follow_up.body}
        if follow_up.subject:
            details["subject"] = follow_up.subject
        if follow_up.attributes:
            details["attributes"] = dict(follow_up.attributes)
        agent = record.agent_id or (record.offer.agent_id if record.offer else None)
        self.publish("message", record, agent=agent, details=details)

    def _choose_queue(self, contact: Contact) -> tuple[str | None, str]:
        active = self._active_queues
        if contact.queue is not None:
            chosen, by = contact.queue, "the contact names"
        else:
            found = self.plugins.select_queue(contact, self.config.queues)
            if found is None:
                skills = f" and skills {list(contact.skills)}" if contact.skills else ""
                return None, f"no queue serves channel {contact.channel!r}{skills}"
            chosen, by = found, "a plugin chose"
        if chosen not in active:
            return None, f"{by} unknown queue {chosen!r}"
        if contact.channel not in active[chosen]:
            return None, f"{by} queue {chosen!r}, which does not take channel {contact.channel!r}"
        return chosen, ""

    def _enter_queue(self, record: ContactRecord, queue_name: str) -> None:
        queue = self.queues[queue_name]
        terms = self.plugins.priority_terms(record.contact, queue)
        record.queue = queue_name
        record.entered_queue_at = self.now
        record.generation += 1
        record.state = ContactState.QUEUED
        record.min_level = queue.min_level
        record.extra_queues = ()
        record.escalations = []
        record.answered_at = None
        # the terms added up from 0.0 first, as `sum` would: compiled, `sum` is looked up on
        # the builtins by name at every call
        boost = 0.0
        for value in terms.values():
            boost += value
        record.priority = record.contact.priority + queue.priority + boost
        self.counters[queue_name].entered(record)
        self.changes.counters.add(queue_name)
        self.arm_escalations(record)
        self.matcher.push_waiting(record)
        details: dict[str, Any] = {"priority": record.priority}
        if terms:
            details["priority_terms"] = terms
        if record.target_agent is not None:
            details["target_agent"] = record.target_agent
        self.publish("queued", record, details=details)

    def arm_escalations(self, record: ContactRecord) -> None:
        """Arm the queue's steps not yet taken, counted from entering the queue."""
        assert record.queue is not None
        record.escalation_epoch += 1
        steps = self.queues[record.queue].escalation
        for step in range(len(record.escalations), len(steps)):
            due = max(self.now, record.entered_queue_at + steps[step].after_seconds)
            self.timers.arm(due, EscalationDue(record.id, record.escalation_epoch, step))

    def _escalate(self, record: ContactRecord, step: int) -> None:
        if record.state not in (ContactState.QUEUED, ContactState.OFFERED) or record.queue is None:
            return
        steps = self.queues[record.queue].escalation
        if step >= len(steps):
            return
        escalation = steps[step]
        if escalation.min_level is not None:
            record.min_level = min(record.min_level, escalation.min_level)
        added = tuple(
            name
            for name in escalation.add_queues
            if name in self.queues
            and name not in record.queues()
            and record.channel in self._active_queues.get(name, ())  # takes the channel
        )
        record.extra_queues += added
        record.priority += escalation.priority_boost
        record.escalations.append(escalation)
        self.publish("escalated", record, details={"step": step + 1, "rule": escalation.describe()})
        if record.state is ContactState.QUEUED:
            self.matcher.push_waiting(record)
            self.matcher.route_contact(record)

    def _answer(self, offer_id: str, accept: bool, agent_id: str | None) -> None:
        record = self.offers.get(offer_id)
        if record is None or record.offer is None:
            raise EngineError(
                "conflict", f"offer {offer_id} is gone (answered, expired or withdrawn)"
            )
        offer = record.offer
        if agent_id is not None and agent_id != offer.agent_id:
            raise EngineError("forbidden", f"offer {offer_id} is not for agent {agent_id}")
        if not accept:
            self._decline(record, timed_out=False)
            return
        agent = self.agents[offer.agent_id]
        del self.offers[offer_id]
        del agent.offers[offer_id]
        # Its expiry, and the escalation steps not yet taken, would find it answered and
        # do nothing: drop them, so the host needs no tick for them. Steps fire in order
        # (sorted, armed in order), so those not taken are exactly the ones after the
        # taken ones, armed once each under the current epoch.
        self.timers.cancel(OfferExpiry(offer_id))
        assert record.queue is not None
        for step in range(len(record.escalations), len(self.queues[record.queue].escalation)):
            self.timers.cancel(EscalationDue(record.id, record.escalation_epoch, step))
        agent.contacts.add(record.id)
        agent.missed_offers = 0
        record.offer = None
        record.state = ContactState.ASSIGNED
        record.agent_id = agent.id
        record.answered_at = self.now
        assert record.queue is not None
        wait = self.now - record.entered_queue_at
        counters = self.counters[record.queue]
        counters.left()
        counters.answered_after(wait, self.queues[record.queue].sla_seconds)
        self.changes.counters.add(record.queue)
        if record.customer is not None:
            self.customers.set_last_agent(record.customer, record.seq, agent.id)
        if record.contact.thread_id is not None:
            self.remember_thread_agent(record.contact.thread_id, record.seq, agent.id)
        details: dict[str, Any] = {"offer_id": offer_id, "wait_seconds": wait}
        self.matcher.why_eligible(details, record, agent, offer.queue)
        self.publish("assigned", record, agent=agent.id, details=details)

    def _decline(self, record: ContactRecord, *, timed_out: bool) -> None:
        """A rejected or expired offer: the contact goes back with its original arrival time."""
        offer = record.offer
        assert offer is not None
        agent = self.agents[offer.agent_id]
        self._withdraw_offer(record, agent)
        delay = self.config.routing.reoffer_delay_seconds
        if delay > 0:
            record.declined_by[agent.id] = self.now + delay
            self.timers.arm(self.now + delay, ReofferDue(record.id, agent.id))
        if record.target_agent == agent.id:
            record.target_agent = None  # a direct transfer that failed goes back to its queue
        kind = "offer_expired" if timed_out else "offer_rejected"
        self.publish(kind, record, agent=agent.id, details={"offer_id": offer.id})
        self.matcher.push_waiting(record)
        # The freed agent chooses first, in priority and FIFO order among everything
        # waiting; only then does the declined contact look for another agent.
        limit = self.config.routing.missed_offers_before_away
        if timed_out:
            agent.missed_offers += 1
        if (
            timed_out
            and limit
            and agent.missed_offers >= limit
            and agent.state is AgentState.AVAILABLE
        ):
            self._set_agent_state(agent, AgentState.AWAY, reason="missed offers")
        else:
            self.matcher.refresh_agent(agent)
        self.matcher.route_contact(record)

    def _withdraw_offer(self, record: ContactRecord, agent: AgentRecord) -> None:
        """Take back an open offer: the agent's capacity is free again, the contact queued."""
        offer = record.offer
        assert offer is not None
        del self.offers[offer.id]
        del agent.offers[offer.id]
        agent.release(record.channel, self.config.routing.exclusive_channels)
        agent.idle_since = self.now
        self.changes.agents.add(agent.id)
        record.offer = None
        record.state = ContactState.QUEUED

    def _end_assignment(self, record: ContactRecord, agent: AgentRecord) -> None:
        """The agent no longer holds the contact: its capacity is free, its idle time restarts."""
        agent.contacts.discard(record.id)
        agent.release(record.channel, self.config.routing.exclusive_channels)
        agent.idle_since = self.now
        self.changes.agents.add(agent.id)

    def _complete(self, record: ContactRecord, outcome: str, csat: int | None) -> None:
        if record.state is not ContactState.ASSIGNED:
            raise EngineError("conflict", f"contact {record.id} is {record.state}, not assigned")
        if csat is not None and not 1 <= csat <= 5:
            raise EngineError("bad_request", "csat must be between 1 and 5")
        assert record.queue is not None
        assert record.agent_id is not None
        agent = self.agents[record.agent_id]
        # not `setdefault`, which would build (and drop) a record at every completion
        stats = agent.outcomes.get(record.queue)
        if stats is None:
            stats = agent.outcomes[record.queue] = OutcomeStats()
        stats.record(outcome, csat)
        record.outcome = outcome
        record.csat = csat
        self.counters[record.queue].handled += 1
        self.changes.counters.add(record.queue)
        wrapup = self.queues[record.queue].wrapup_seconds
        if wrapup > 0:
            record.state = ContactState.WRAPUP
            record.wrapup_until = self.now + wrapup
            self.timers.arm(record.wrapup_until, WrapupEnd(record.id))
            self.publish(
                "wrapup",
                record,
                agent=agent.id,
                details={"until": self.now + wrapup, "outcome": outcome},
            )
            return
        self._finish(record, ContactState.COMPLETED)

    def _finish(self, record: ContactRecord, state: ContactState) -> None:
        """End an assignment (after wrap-up): the agent's capacity is free again."""
        assert record.agent_id is not None
        agent = self.agents[record.agent_id]
        self._end_assignment(record, agent)
        details: dict[str, Any] = {"outcome": record.outcome}
        if record.csat is not None:
            details["csat"] = record.csat
        self.publish(str(state), record, agent=agent.id, details=details)
        self._retire(record, state)
        self.matcher.refresh_agent(agent)

    def _abandon(self, record: ContactRecord) -> None:
        if record.state is ContactState.ASSIGNED:
            # The customer hung up during the conversation: a normal end, then wrap-up.
            self._complete(record, "customer_left", None)
            return
        if record.state not in (ContactState.QUEUED, ContactState.OFFERED):
            raise EngineError(
                "conflict", f"contact {record.id} is {record.state}; it cannot be abandoned"
            )
        agent = None
        if record.offer is not None:
            agent = self.agents[record.offer.agent_id]
            self._effects.append(RevokeOffer(record.offer, "abandoned"))
            self._withdraw_offer(record, agent)
        assert record.queue is not None
        counters = self.counters[record.queue]
        counters.left()
        counters.abandoned += 1
        self.changes.counters.add(record.queue)
        self.publish(
            "abandoned", record, details={"waited_seconds": self.now - record.entered_queue_at}
        )
        self._retire(record, ContactState.ABANDONED)
        if agent is not None:
            self.matcher.refresh_agent(agent)

    def _transfer(self, contact_id: str, queue: str | None, agent_id: str | None) -> None:
        if (queue is None) == (agent_id is None):
            raise EngineError("bad_request", "a transfer names exactly one of queue or agent_id")
        record = self._require_contact(contact_id)
        if queue is not None and queue not in self._active_queues:
            raise EngineError("bad_request", f"unknown queue {queue!r}")
        if queue is not None and record.channel not in self._active_queues[queue]:
            raise EngineError(
                "bad_request", f"queue {queue!r} does not take channel {record.channel!r}"
            )
        if agent_id is not None:
            self._require_agent(agent_id)
        if record.state not in _OPEN_FOR_TRANSFER:
            raise EngineError(
                "conflict", f"contact {record.id} is {record.state}; it cannot be transferred"
            )
        assert record.queue is not None
        freed: AgentRecord | None = None
        if record.offer is not None:
            freed = self.agents[record.offer.agent_id]
            self._effects.append(RevokeOffer(record.offer, "transferred"))
            self._withdraw_offer(record, freed)
        if record.state is ContactState.ASSIGNED:
            assert record.agent_id is not None
            freed = self.agents[record.agent_id]
            self._end_assignment(record, freed)
            record.agent_id = None
        else:
            self.counters[record.queue].left()
        previous = record.queue
        record.version += 1
        record.target_agent = agent_id
        record.declined_by.clear()
        details = {"from_queue": previous, "to_queue": queue or previous}
        if agent_id is not None:
            details["to_agent"] = agent_id
        self.publish("transferred", record, agent=agent_id, details=details)
        self._enter_queue(record, queue or previous)
        if freed is not None:
            self.matcher.refresh_agent(freed)  # the freed agent chooses first (FIFO)
        self.matcher.route_contact(record)

    # -------------------------------------------------------------- agents
    def _upsert_agent(self, profile: AgentProfile) -> None:
        agent = self.agents.get(profile.id)
        if agent is None:
            agent = AgentRecord(profile=profile, idle_since=self.now)
            self.agents[profile.id] = agent
        else:
            agent.profile = profile
        self.matcher.compute_levels(agent)
        self._publish_agent("agent_updated", agent)
        self.matcher.refresh_agent(agent)

    def _set_agent_state(self, agent: AgentRecord, state: AgentState, reason: str | None) -> None:
        if agent.state is state:
            return
        agent.state = state
        if state is AgentState.AVAILABLE:
            agent.missed_offers = 0
            agent.idle_since = self.now
        details: dict[str, Any] = {"state": str(state)}
        if reason:
            details["reason"] = reason
        self._publish_agent("agent_state", agent, details)
        self.matcher.reindex(agent)  # out of the index before its offers are re-routed
        if state is AgentState.OFFLINE:
            for offer in list(agent.offers.values()):
                record = self.offers[offer.id]
                self._effects.append(RevokeOffer(offer, "agent offline"))
                self._withdraw_offer(record, agent)
                self.publish(
                    "offer_expired",
                    record,
                    agent=agent.id,
                    details={"offer_id": offer.id, "reason": "agent offline"},
                )
                self.matcher.push_waiting(record)
                self.matcher.route_contact(record)
        self.matcher.refresh_agent(agent)

    # -------------------------------------------------------------- config
    def _replace_config(self, config: EngineConfig) -> None:
        """Apply a reloaded config without stranding a contact: a queue that is gone keeps
        its old settings, and a channel taken off a queue stays on it, for the contacts
        already there; neither takes new contacts."""
        in_use: dict[str, set[str]] = {}
        for record in self.contacts.values():
            for name in record.queues():
                in_use.setdefault(name, set()).add(record.channel)
        queues = {}
        for queue in config.queues:
            kept = sorted(in_use.get(queue.name, set()) - set(queue.channels))
            queues[queue.name] = (
                replace(queue, channels=(*queue.channels, *kept)) if kept else queue
            )
        for name in in_use.keys() - queues.keys():
            queues[name] = self.queues[name]  # retired: serves its contacts, takes no new ones
        self.config = config
        self.queues = queues
        self.customers.history_limit = config.routing.history_per_customer
        self._active_queues = {q.name: frozenset(q.channels) for q in config.queues}
        for name in queues:
            if name not in self.counters:
                self.counters[name] = QueueCounters(name)
                self.changes.counters.add(name)  # kept, as every queue's, even at zero
        exclusive = config.routing.exclusive_channels
        self.waiting = WaitingContacts(config.routing.aging_seconds)
        placements = self.available.placements
        self.available = AvailableAgents()
        self.available.placements = placements
        self.changes.queues = True
        self.changes.contacts.update(self.contacts)
        for record in self.contacts.values():
            record.extra_queues = tuple(q for q in record.extra_queues if q in queues)
            if record.state in (ContactState.QUEUED, ContactState.OFFERED):
                self.arm_escalations(record)  # the new steps, from entering the queue
            if record.state is ContactState.QUEUED:
                self.matcher.push_waiting(record)
        for agent in self.agents.values():
            held = [self.contact(c) for c in agent.contacts] + [
                self.offers[o] for o in agent.offers
            ]
            agent.exclusive_held = sum(1 for r in held if r is not None and r.channel in exclusive)
            self.matcher.compute_levels(agent)
        self._publish_agent("config_replaced", None, {"queues": [q.name for q in config.queues]})
        # in their lists' order, so that a reload keeps who has been idle longest first
        for agent in sorted(self.agents.values(), key=lambda a: a.placed):
            self.matcher.refresh_agent(agent)

    # ------------------------------------------------------------- helpers
    def _require_contact(self, contact_id: str, by_agent: str | None = None) -> ContactRecord:
        """The contact; with `by_agent`, only when that agent holds it or has its offer."""
        record = self.contact(contact_id)
        if record is None:
            raise EngineError("not_found", f"no contact {contact_id}")
        if by_agent is not None and by_agent not in (
            record.agent_id,
            record.offer.agent_id if record.offer else None,
        ):
            raise EngineError("forbidden", f"contact {contact_id} is not with agent {by_agent}")
        return record

    def _require_agent(self, agent_id: str) -> AgentRecord:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise EngineError("not_found", f"no agent {agent_id}")
        return agent

    def remember_thread_agent(self, thread: str, seq: int, agent_id: str) -> None:
        """The thread's last agent: the one that took its newest contact (as for customers,
        so that a restore, which knows each contact's agent, rebuilds the same)."""
        if seq >= self._thread_agent_seq.get(thread, -1):
            self._thread_agent_seq[thread] = seq
            self.last_agent_by_thread[thread] = agent_id

    def next_offer_id(self) -> str:
        self.offer_seq += 1
        return f"of-{self.offer_seq}"

    def send_offer(self, effect: SendOffer) -> None:
        self._effects.append(effect)

    def remember_customer(self, record: ContactRecord) -> None:
        record.customer = self.customers.link(record.contact.customer.identities())
        if record.customer is not None:
            self.customers.remember(record.customer, record.seq, record.id)

    def remember_history(self, record: ContactRecord) -> None:
        """A kept contact into the customer directory, and the agent that last took it
        (even if it was transferred on since) as its customer's and thread's last agent.

        What a restore does for every contact it loads, and what compacting does again.
        """
        self.remember_customer(record)
        answered_by = record.answered_by()
        if answered_by is not None:
            if record.customer is not None:
                self.customers.set_last_agent(record.customer, record.seq, answered_by)
            if record.contact.thread_id is not None:
                self.remember_thread_agent(record.contact.thread_id, record.seq, answered_by)

    def _compact_history(self) -> None:
        """Rebuild the customer directory and the threads' last agents from the contacts
        kept in memory, once they hold many more entries than those contacts need.

        Both grow with every customer identity and thread ever seen, while the contacts
        they serve are bounded (`finished_contacts_kept`): without this a daemon's memory
        grows for as long as it runs. The rebuild keeps exactly what a restart would,
        and its cost, linear in the contacts kept, is paid once per that many arrivals.
        """
        kept = len(self.contacts) + len(self.finished)
        entries = len(self.customers) + len(self.last_agent_by_thread)
        if entries <= max(HISTORY_COMPACTION_FLOOR, HISTORY_COMPACTION_FACTOR * kept):
            return
        self.customers = CustomerDirectory(self.config.routing.history_per_customer)
        self.last_agent_by_thread = {}
        self._thread_agent_seq = {}
        for record in sorted((*self.contacts.values(), *self.finished.values()), key=_by_seq):
            self.remember_history(record)

    def _retire(self, record: ContactRecord, state: ContactState) -> None:
        thread = record.contact.thread_id
        if thread is not None and self.open_threads.get((record.channel, thread)) == record.id:
            del self.open_threads[(record.channel, thread)]
        record.state = state
        record.version += 1
        self.contacts.pop(record.id, None)
        self.finished[record.id] = record
        while len(self.finished) > self.config.routing.finished_contacts_kept:
            self.finished.popitem(last=False)
        self._compact_history()

    def publish(
        self,
        kind: str,
        record: ContactRecord,
        *,
        agent: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        event = RouterEvent(
            type=kind,
            at=self.now,
            contact_id=record.id,
            agent_id=agent,
            queue=record.queue,
            details=details or {},
        )
        record.events.append(event)
        self.changes.contacts.add(record.id)
        if agent is not None:
            self.changes.agents.add(agent)
        self._emit(event)

    def _publish_agent(
        self, kind: str, agent: AgentRecord | None, details: Mapping[str, Any] | None = None
    ) -> None:
        if agent is not None:
            self.changes.agents.add(agent.id)
        self._emit(
            RouterEvent(
                type=kind, at=self.now, agent_id=agent.id if agent else None, details=details or {}
            )
        )

    def _emit(self, event: RouterEvent) -> None:
        self._effects.append(event)
        self.plugins.event(event)
