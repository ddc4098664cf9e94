"""What the engine changed since its host last asked: the records a store must write again.

The engine marks a contact when it publishes an event about it (every change
to a contact publishes one), and an agent whenever something the store keeps
of it moves: state, profile, idle time, missed offers, outcomes, its place in
the availability lists. The host takes the changes after each batch of
events (`Engine.take_changes`) and writes those records whole, so several
changes to one record in a batch cost one write.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Changes:
    #: ids of contacts (live or finished) to write again
    contacts: set[str] = field(default_factory=set)
    #: ids of agents to write again
    agents: set[str] = field(default_factory=set)
    #: follow-up message id → the contact it joined (new aliases only)
    joined: dict[str, str] = field(default_factory=dict)
    #: the queue settings changed (a reload): the store keeps them for contacts in retired queues
    queues: bool = False
    #: names of queues whose kept counters (arrived, answered, handled, ...) moved
    counters: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.contacts or self.agents or self.joined or self.queues or self.counters)
