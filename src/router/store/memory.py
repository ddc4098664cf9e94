"""A store in a dict: nothing durable. The reference the tests restore engines from."""

from __future__ import annotations

from router.store.base import Batch, Loaded


class MemoryStore:
    def __init__(self) -> None:
        self.figures: bytes | None = None
        self.queues: bytes | None = None
        self.counters: dict[str, bytes] = {}
        #: id → (write number, live, document): the write number orders finished contacts
        self.contacts: dict[str, tuple[int, bool, bytes]] = {}
        self.agents: dict[str, bytes] = {}
        self.joined: dict[str, str] = {}
        self.meta: dict[str, bytes] = {}
        self.writes = 0

    def load(self, finished_limit: int) -> Loaded:
        rows = sorted(self.contacts.values(), key=lambda row: row[0])
        finished = [row for row in rows if not row[1]][-finished_limit:] if finished_limit else []
        kept = [row for row in rows if row[1]] + finished
        return Loaded(
            figures=self.figures,
            queues=self.queues,
            counters=list(self.counters.values()),
            contacts=[document for _, _, document in kept],
            agents=list(self.agents.values()),
            joined=dict(self.joined),
            meta=dict(self.meta),
        )

    def write(self, batch: Batch) -> None:
        self.writes += 1
        for contact in batch.contacts:
            self.contacts[contact.id] = (self.writes, contact.live, contact.document)
        self.agents.update(batch.agents)
        self.joined.update(batch.joined)
        self.figures = batch.figures
        self.counters.update(batch.counters)
        self.meta.update(batch.meta)
        if batch.queues is not None:
            self.queues = batch.queues

    def find_contact(self, contact_id: str) -> bytes | None:
        row = self.contacts.get(contact_id)
        return row[2] if row else None

    def sync(self) -> None:
        pass

    def probe(self) -> None:
        pass

    def close(self) -> None:
        pass
