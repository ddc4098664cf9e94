"""Available agents with free capacity, ordered for "a contact arrives: which agents?".

One insertion-ordered dict per (queue, channel, language) and proficiency
level. An agent is moved to the back whenever its idle time restarts (it got
or finished a contact, or became available), so each dict runs from the
longest idle to the most recently busy. A decision takes the first few agents
that fit from the levels it accepts, merged by idle time: a bounded candidate
set whatever the number of agents (DESIGN "Making it fast").
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterator

from router.engine.records import AgentRecord

#: (queue, channel, language); language None holds every member
ListKey = tuple[str, str, str | None]
Slot = tuple[ListKey, int]


def _idle_since(agent: AgentRecord) -> float:
    return agent.idle_since


class AvailableAgents:
    def __init__(self) -> None:
        self._lists: dict[ListKey, dict[int, OrderedDict[str, AgentRecord]]] = {}
        self._slots: dict[str, list[Slot]] = {}

    def place(self, agent: AgentRecord, slots: list[Slot]) -> None:
        """Put the agent at the back of exactly these lists (and out of every other)."""
        self.remove(agent.id)
        for key, level in slots:
            levels = self._lists.setdefault(key, {})
            levels.setdefault(level, OrderedDict())[agent.id] = agent
        if slots:
            self._slots[agent.id] = slots

    def remove(self, agent_id: str) -> None:
        for key, level in self._slots.pop(agent_id, ()):
            levels = self._lists[key]
            agents = levels[level]
            del agents[agent_id]
            if not agents:
                del levels[level]
                if not levels:
                    del self._lists[key]

    def candidates(
        self, key: ListKey, min_level: int, accept: Callable[[AgentRecord], bool], limit: int
    ) -> Iterator[AgentRecord]:
        """Up to `limit` accepted agents at `min_level` or above, longest idle first."""
        levels = self._lists.get(key)
        if not levels or limit <= 0:
            return
        lists = [agents.values() for level, agents in levels.items() if level >= min_level]
        if not lists:
            return
        ordered = iter(lists[0]) if len(lists) == 1 else heapq.merge(*lists, key=_idle_since)
        taken = 0
        for agent in ordered:
            if accept(agent):
                yield agent
                taken += 1
                if taken >= limit:
                    return

    def slots(self, agent_id: str) -> list[Slot]:
        return self._slots.get(agent_id, [])
