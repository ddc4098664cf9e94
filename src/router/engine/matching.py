"""Who gets what: eligibility, the two directions of matching, and offers.

- A contact becomes routable (arrives, is declined, escalates): gather a
  bounded set of eligible available agents, longest idle first, plus the
  customer's and the thread's last agent; score them all in one hook call per
  plugin; the strategy picks one (DESIGN rule 4).
- An agent gains free capacity: take the best waiting contact among the heads
  of the buckets it is eligible for (DESIGN rule 5), as long as it has room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from router.engine.effects import SendOffer
from router.engine.records import AgentRecord, ContactRecord
from router.engine.timers import OfferExpiry
from router.engine.waiting import Entry, Requirement
from router.model import ContactState, HistoryEntry, Offer, QueueConfig, lookup
from router.plugin_api import RoutingContext

if TYPE_CHECKING:
    from router.engine.core import Engine


_NO_SKILLS: frozenset[str] = frozenset()


class PluginContractError(Exception):
    """A plugin answered a hook in a form the hook does not allow."""


class Matcher:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------- requirements
    def requirement(self, record: ContactRecord, queue_name: str) -> Requirement:
        """What an agent must meet to take `record` through `queue_name`."""
        queue = self.engine.queues[queue_name]
        level = record.min_level if queue_name == record.queue else queue.min_level
        language = record.contact.customer.language if queue.require_language else None
        wanted = record.contact.skills
        extra = frozenset(s for s in wanted if s not in queue.skills) if wanted else _NO_SKILLS
        return level, language, extra

    @staticmethod
    def meets(agent: AgentRecord, level: int, requirement: Requirement) -> bool:
        min_level, language, extra = requirement
        if level < min_level:
            return False
        if language is not None and language not in agent.profile.languages:
            return False
        skills = agent.profile.skills
        return all(skills.get(skill, 0) >= min_level for skill in extra)

    def eligible(self, agent: AgentRecord, record: ContactRecord, queue_name: str) -> bool:
        level = agent.levels.get(queue_name)
        engine = self.engine
        return (
            level is not None
            and agent.free_on(record.channel, engine.config.routing.exclusive_channels) > 0
            and not record.declined(agent.id, engine.now)
            and self.meets(agent, level, self.requirement(record, queue_name))
        )

    def why_eligible(
        self, details: dict[str, Any], record: ContactRecord, agent: AgentRecord, via: str
    ) -> None:
        """Add how the agent came to take the contact to an event's `details`."""
        details["via_queue"] = via
        if record.escalations:
            details["escalations"] = [step.describe() for step in record.escalations]
        if record.target_agent == agent.id:
            details["direct_transfer"] = True

    # ---------------------------------------------------------- agent side
    def compute_levels(self, agent: AgentRecord) -> None:
        """The queues the agent serves (has every skill of, and a channel of), its level
        for each, and the availability lists it may sit in."""
        capacity = agent.profile.capacity
        agent.levels = {}
        agent.slots = []
        for name, queue in self.engine.queues.items():
            channels = [c for c in queue.channels if capacity.get(c, 0) > 0]
            if not channels:
                continue
            level = agent.profile.level_for(queue.skills)
            if level is None:
                continue
            agent.levels[name] = level
            for channel in channels:
                agent.slots.append(((name, channel, None), channel))
                if queue.require_language:
                    agent.slots.extend(
                        ((name, channel, lang), channel) for lang in sorted(agent.profile.languages)
                    )

    def refresh_agent(self, agent: AgentRecord) -> None:
        """Re-place the agent in the availability index, then fill its free capacity."""
        self.reindex(agent)
        self.route_agent(agent)

    def reindex(self, agent: AgentRecord) -> None:
        """Put the agent at the back of every list whose channel it has room on."""
        exclusive = self.engine.config.routing.exclusive_channels
        room: dict[str, bool] = {}
        keys = []
        for key, channel in agent.slots:
            has_room = room.get(channel)
            if has_room is None:
                has_room = room[channel] = agent.free_on(channel, exclusive) > 0
            if has_room:
                keys.append(key)
        self.engine.available.place(agent, keys)
        self.engine.changes.agents.add(agent.id)  # its place in the lists is kept

    def route_agent(self, agent: AgentRecord) -> None:
        """Offer the agent the best waiting contacts it may take, while it has room."""
        engine = self.engine
        exclusive = engine.config.routing.exclusive_channels
        while True:
            best: Entry | None = None
            best_via = ""
            for channel in agent.capacity():
                if agent.free_on(channel, exclusive) <= 0:
                    continue
                for head, via in self._heads_for(agent, channel):
                    if best is None or _earlier(head, best):
                        best, best_via = head, via
            if best is None:
                return
            self.offer(best[4], agent, best_via)
            # Out of the index means full for its queues, not necessarily full: a
            # direct transfer may still fit, so ask the capacity itself.
            for channel in agent.capacity():
                if agent.free_on(channel, exclusive) > 0:
                    break
            else:
                return

    def _heads_for(self, agent: AgentRecord, channel: str) -> list[tuple[Entry, str]]:
        engine = self.engine
        heads: list[tuple[Entry, str]] = []
        personal = engine.waiting.personal(agent.id)
        if personal:
            for entry in sorted(personal):
                record = entry[4]
                if (
                    record.channel == channel
                    and record.target_agent == agent.id
                    and (record.state is ContactState.QUEUED and record.version == entry[3])
                ):
                    heads.append((entry, record.queue or ""))
                    break
        for name, level in agent.levels.items():
            for requirement, heap in engine.waiting.buckets(name, channel):
                if self.meets(agent, level, requirement):
                    head = engine.waiting.head(heap, agent.id, engine.now)
                    if head is not None:
                        heads.append((head, name))
        return heads

    # -------------------------------------------------------- contact side
    def push_waiting(self, record: ContactRecord) -> None:
        """(Re)enter the contact into the waiting buckets of every queue that may serve it."""
        record.version += 1
        waiting = self.engine.waiting
        if record.target_agent is not None:
            waiting.push_personal(record, record.target_agent)
            return
        for name in record.queues():
            waiting.push(record, name, self.requirement(record, name))

    def route_contact(self, record: ContactRecord) -> None:
        """Offer the contact to the best eligible available agent, if there is one."""
        if record.state is not ContactState.QUEUED:
            return
        engine = self.engine
        if record.target_agent is not None:
            agent = engine.agents.get(record.target_agent)
            exclusive = engine.config.routing.exclusive_channels
            if (
                agent is not None
                and agent.free_on(record.channel, exclusive) > 0
                and not record.declined(agent.id, engine.now)
            ):
                self.offer(record, agent, record.queue or "")
            return
        candidates, via = self._candidates(record)
        if not candidates:
            return
        assert record.queue is not None
        queue = engine.queues[record.queue]
        history = engine.customer_history(record)
        context = RoutingContext(
            now=engine.now,
            customer_history=history,
            last_agent_for_customer=engine.customers.last_agent(record.customer),
            last_agent_for_thread=_get(engine.last_agent_by_thread, record.contact.thread_id),
        )
        totals = self._totals(record, queue, candidates, context)
        chosen = engine.plugins.select_agent(record, queue, candidates, totals, context)
        if chosen is None or not 0 <= chosen < len(candidates):
            raise PluginContractError(
                f"router_select_agent gave {chosen!r} for {len(candidates)} candidates"
            )
        agent = candidates[chosen]
        self.offer(record, agent, via[agent.id], history)

    def _candidates(self, record: ContactRecord) -> tuple[list[AgentRecord], dict[str, str]]:
        engine = self.engine
        limit = engine.config.routing.candidate_limit
        exclusive = engine.config.routing.exclusive_channels
        now = engine.now
        channel = record.channel
        candidates: list[AgentRecord] = []
        via: dict[str, str] = {}
        declined_by = record.declined_by  # most contacts were declined by nobody
        for name in record.queues():
            level, language, extra = self.requirement(record, name)
            agents = engine.available.agents((name, channel, language))
            if not agents:
                continue
            # Hot loop: longest idle first, the first `limit` that fit. The index holds
            # only available agents with room; capacity is checked again all the same,
            # so an offer beyond capacity is impossible, not merely unlikely.
            for agent in agents.values():
                if (
                    agent.levels[name] < level
                    or agent.id in via
                    or (declined_by and declined_by.get(agent.id, -1.0) > now)
                    or (extra and not all(agent.profile.skills.get(s, 0) >= level for s in extra))
                    or agent.free_on(channel, exclusive) <= 0
                ):
                    continue
                candidates.append(agent)
                via[agent.id] = name
                if len(candidates) >= limit:
                    break
            if len(candidates) >= limit:
                break
        # The customer's and the thread's last agent compete too, when eligible (sticky routing).
        for agent_id in (
            _get(engine.last_agent_by_thread, record.contact.thread_id),
            engine.customers.last_agent(record.customer),
        ):
            if agent_id is None or agent_id in via:
                continue
            last = engine.agents.get(agent_id)
            if last is None:
                continue
            for name in record.queues():
                if self.eligible(last, record, name):
                    candidates.append(last)
                    via[last.id] = name
                    break
        return candidates, via

    def _totals(
        self,
        record: ContactRecord,
        queue: QueueConfig,
        candidates: list[AgentRecord],
        context: RoutingContext,
    ) -> list[float]:
        engine = self.engine
        count = len(candidates)
        weights = engine.config.routing.weights
        columns: list[list[float]] = []
        for terms in engine.plugins.score_agents(record, queue, candidates, context):
            # as a dict (what plugins return): compiled, a Mapping's `items()` is a method
            # found by name, a dict's are read in place
            named = terms if isinstance(terms, dict) else dict(terms)
            for term, values in named.items():
                if len(values) != count:
                    raise PluginContractError(
                        f"scoring term {term!r} has {len(values)} values for {count} candidates"
                    )
                weight = lookup(weights, term, 1.0)
                if weight == 1.0:
                    columns.append(values if isinstance(values, list) else list(values))
                elif weight:
                    columns.append([weight * v for v in values])
        # Each total is the terms added one after the other in the plugins' order, from
        # 0.0 (the same floats as `sum` of them): compiled, a loop over plain lists adds
        # unboxed floats, where `map(sum, zip(...))` built a tuple per candidate.
        totals: list[float] = []
        for i in range(count):
            total = 0.0
            for column in columns:
                total += column[i]
            totals.append(total)
        return totals

    # --------------------------------------------------------------- offer
    def offer(
        self,
        record: ContactRecord,
        agent: AgentRecord,
        via: str,
        history: tuple[HistoryEntry, ...] | None = None,
    ) -> None:
        engine = self.engine
        timeout = engine.queues[via].offer_timeout_seconds if via in engine.queues else 20.0
        offer = Offer(
            id=engine.next_offer_id(),
            contact_id=record.id,
            agent_id=agent.id,
            queue=via,
            created_at=engine.now,
            expires_at=engine.now + timeout,
        )
        record.state = ContactState.OFFERED
        record.offer = offer
        record.version += 1
        agent.take(record.channel, engine.config.routing.exclusive_channels)
        agent.offers[offer.id] = offer
        agent.idle_since = engine.now
        engine.offers[offer.id] = record
        engine.timers.arm(offer.expires_at, OfferExpiry(offer.id))
        self.reindex(agent)
        if history is None:
            history = engine.customer_history(record)
        engine.send_offer(SendOffer(offer, record.contact, history))
        details: dict[str, Any] = {"offer_id": offer.id, "expires_at": offer.expires_at}
        self.why_eligible(details, record, agent, via)
        engine.publish("offered", record, agent=agent.id, details=details)


def _earlier(entry: Entry, other: Entry) -> bool:
    """`entry[:3] < other[:3]` (priority with aging, arrival, seq: the order waiting contacts
    are taken in), field by field: compiled, the slices would box every float again."""
    if entry[0] != other[0]:
        return entry[0] < other[0]
    if entry[1] != other[1]:
        return entry[1] < other[1]
    return entry[2] < other[2]


def _get(mapping: dict[str, str], key: str | None) -> str | None:
    return mapping.get(key) if key is not None else None
