"""Available agents with free capacity, ordered for "a contact arrives: which agents?".

One insertion-ordered dict per (queue, channel, language). An agent is moved
to the back whenever its idle time restarts (it got or finished a contact, or
became available), so each dict runs from the longest idle to the most
recently busy. A decision takes the first few agents that fit — at the
contact's level, not declined, with room — so it scores a bounded candidate
set whatever the number of agents (DESIGN "Making it fast").

One dict for every level (rather than one per level, merged) keeps the
common case fast; the price is a longer scan when a high `min_level` meets
many available agents below it.

Plain dicts, not `OrderedDict`s: a dict keeps insertion order too, and moving
an agent to the back is deleting and inserting it again. Iterating an
`OrderedDict`'s values looks each key up again (compiled, about 400
instructions per agent scanned); a dict's are read in place.
"""

from __future__ import annotations

from router.engine.records import AgentRecord

#: (queue, channel, language); language None holds every member
ListKey = tuple[str, str, str | None]


class AvailableAgents:
    def __init__(self) -> None:
        self._lists: dict[ListKey, dict[str, AgentRecord]] = {}
        self._keys: dict[str, list[ListKey]] = {}
        #: placements so far; each placed agent records the count as `placed`
        self.placements = 0

    def place(self, agent: AgentRecord, keys: list[ListKey]) -> None:
        """Put the agent at the back of exactly these lists, and out of every other."""
        agent_id = agent.id
        old = self._keys.get(agent_id)
        if old and old != keys:
            for key in old:
                if key not in keys:  # a short list: one key per queue, channel and language
                    self._drop(key, agent_id)
        lists = self._lists
        for key in keys:
            agents = lists.get(key)
            if agents is None:
                agents = lists[key] = {}
            if agent_id in agents:
                del agents[agent_id]  # to the back
            agents[agent_id] = agent
        if keys:
            self._keys[agent_id] = keys
            self.placements += 1
            agent.placed = self.placements
        elif agent_id in self._keys:  # not `pop`: compiled, a method found by name
            del self._keys[agent_id]

    def remove(self, agent_id: str) -> None:
        for key in self._keys.pop(agent_id, ()):
            self._drop(key, agent_id)

    def _drop(self, key: ListKey, agent_id: str) -> None:
        # An emptied list is kept: a small team empties its list whenever its last free
        # agent takes a contact, and building a new dict for the next one cost
        # more than the rest of the move. The keys are bounded by the config (queues x
        # channels x languages), and a reload builds a new index.
        del self._lists[key][agent_id]

    def agents(self, key: ListKey) -> dict[str, AgentRecord] | None:
        """The list for a key, longest idle first; read it, never change it while reading."""
        return self._lists.get(key)

    def is_placed(self, agent_id: str) -> bool:
        return agent_id in self._keys
