"""Waiting contacts, ordered for "an agent frees up: which contact next?".

One heap per (queue, channel, requirement), where the requirement is the
proficiency level, the language (when the queue requires one) and any skills
the contact asks beyond the queue's. An agent looks only at the heads of the
buckets it meets, so picking a contact costs O(buckets), not O(waiting).

The order key is `priority - arrived_at / aging_seconds` (higher first), then
arrival, then arrival sequence: with one aging rate for every queue, that order
never changes as time passes, so heads stay valid without re-sorting
(DESIGN "Priority with aging"). Removal is lazy: an entry whose version no
longer matches its contact's is skipped when it surfaces.
"""

from __future__ import annotations

# by name: compiled, `heapq.heappush(...)` looks the function up on the module at every call
from heapq import heapify, heappop, heappush

from router.engine.records import ContactRecord
from router.model import ContactState

#: (minimum level, language or None, extra skills)
Requirement = tuple[int, str | None, frozenset[str]]
#: (-static priority, arrived_at, seq, version, contact)
Entry = tuple[float, float, int, int, ContactRecord]

#: how many valid entries an agent may pass over (contacts it just declined)
MAX_SKIPPED = 16


def is_live(entry: Entry) -> bool:
    record = entry[4]
    return record.state is ContactState.QUEUED and record.version == entry[3]


class WaitingContacts:
    def __init__(self, aging_seconds: float) -> None:
        self._aging = aging_seconds
        self._buckets: dict[tuple[str, str], dict[Requirement, list[Entry]]] = {}
        self._personal: dict[str, list[Entry]] = {}
        self._entries = 0

    def entry(self, record: ContactRecord) -> Entry:
        static = record.priority - record.arrived_at / self._aging
        return (-static, record.arrived_at, record.seq, record.version, record)

    def push(self, record: ContactRecord, queue: str, requirement: Requirement) -> None:
        bucket = self._buckets.setdefault((queue, record.channel), {})
        heappush(bucket.setdefault(requirement, []), self.entry(record))
        self._entries += 1

    def push_personal(self, record: ContactRecord, agent_id: str) -> None:
        heappush(self._personal.setdefault(agent_id, []), self.entry(record))
        self._entries += 1

    def buckets(self, queue: str, channel: str) -> list[tuple[Requirement, list[Entry]]]:
        """The queue's heaps for the channel, by requirement (a copy: heads may drop them)."""
        bucket = self._buckets.get((queue, channel))
        return list(bucket.items()) if bucket else []

    def personal(self, agent_id: str) -> list[Entry] | None:
        return self._personal.get(agent_id)

    def head(
        self, heap: list[Entry], agent_id: str | None = None, now: float = 0.0
    ) -> Entry | None:
        """The best live entry, skipping those `agent_id` declined and may not take again
        yet at `now`; stale entries met on the way are dropped."""
        skipped: list[Entry] = []
        found: Entry | None = None
        while heap:
            entry = heap[0]
            if not is_live(entry):
                heappop(heap)
                self._entries -= 1
                continue
            if agent_id is not None and entry[4].declined(agent_id, now):
                if len(skipped) < MAX_SKIPPED:
                    skipped.append(heappop(heap))
                    continue
                break  # passed over as many as it may: nothing for this agent here
            found = entry
            break
        for entry in skipped:
            heappush(heap, entry)
        return found

    def prune(self) -> None:
        """Drop stale entries and empty buckets once they outnumber the live ones."""
        for key, bucket in list(self._buckets.items()):
            for requirement, heap in list(bucket.items()):
                live = [e for e in heap if is_live(e)]
                if live:
                    heapify(live)
                    bucket[requirement] = live
                else:
                    del bucket[requirement]
            if not bucket:
                del self._buckets[key]
        for agent_id, heap in list(self._personal.items()):
            live = [e for e in heap if is_live(e)]
            if live:
                heapify(live)
                self._personal[agent_id] = live
            else:
                del self._personal[agent_id]
        self._entries = sum(len(h) for b in self._buckets.values() for h in b.values()) + sum(
            len(h) for h in self._personal.values()
        )

    @property
    def entries(self) -> int:
        return self._entries
