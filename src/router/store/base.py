"""The store interface: what the runtime asks of any store (SQLite now; PostgreSQL, Redis later).

The runtime applies a batch of events to the engine, takes the engine's
changes, and hands them to `Store.write` as one `Batch` (group commit): the
records changed, written whole as JSON documents. Only when `write` returned
does anyone hear yes. On start, `Store.load` gives back what was written, and
`router.engine.restore` rebuilds the engine from it.

A store is synchronous and used from one thread at a time (the runtime runs
it in a thread of its own so that a commit never blocks the event loop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from router.engine import Engine
from router.engine.changes import Changes
from router.engine.restore import EngineState
from router.store import codec


class StoreError(Exception):
    """The store cannot do what was asked (disk full, locked, corrupt); the message says why."""


@dataclass(slots=True)
class StoredContact:
    id: str
    #: still waiting, offered, assigned or in wrap-up: loaded whole on every start
    live: bool
    document: bytes


@dataclass(slots=True)
class Batch:
    """One commit: every record a batch of events changed, as it is after the batch."""

    contacts: list[StoredContact] = field(default_factory=list)
    agents: list[tuple[str, bytes]] = field(default_factory=list)
    #: follow-up message id → the contact it joined
    joined: dict[str, str] = field(default_factory=dict)
    #: the engine's running counts (always written: they change with nearly every event)
    figures: bytes = b"{}"
    #: (queue name, document) of the queues whose counters moved
    counters: list[tuple[str, bytes]] = field(default_factory=list)
    #: the queue settings, when they changed (a reload, or the first write)
    queues: bytes | None = None
    #: other named documents the runtime keeps (token rotations)
    meta: dict[str, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class Loaded:
    """What a store gives back on start: documents, not yet decoded."""

    figures: bytes | None = None
    queues: bytes | None = None
    #: every queue's counters document written since the store had them
    counters: list[bytes] = field(default_factory=list)
    #: every live contact and the newest finished ones, in no particular order
    contacts: list[bytes] = field(default_factory=list)
    agents: list[bytes] = field(default_factory=list)
    joined: dict[str, str] = field(default_factory=dict)
    meta: dict[str, bytes] = field(default_factory=dict)


class Store(Protocol):
    def load(self, finished_limit: int) -> Loaded:
        """Everything live, and the `finished_limit` contacts that finished last."""
        ...

    def write(self, batch: Batch) -> None:
        """Commit the batch in one transaction; `StoreError` when it cannot.

        Once it returns the batch survives a crash of the process; `sync` makes it
        survive a power cut as well (as far as the store's setting promises)."""
        ...

    def sync(self) -> None:
        """Make every committed batch durable; `StoreError` when it cannot."""
        ...

    def find_contact(self, contact_id: str) -> bytes | None:
        """A contact's document by id, however long ago it finished."""
        ...

    def probe(self) -> None:
        """A small write, to see whether the store can write again; `StoreError` if not."""
        ...

    def close(self) -> None: ...


def batch_of(
    engine: Engine,
    changes: Changes,
    *,
    with_queues: bool = False,
    meta: dict[str, bytes] | None = None,
) -> Batch:
    """The changed records of `engine`, encoded for a store, with `meta` documents to keep."""
    contacts = []
    for contact_id in changes.contacts:
        record = engine.contacts.get(contact_id) or engine.finished.get(contact_id)
        if record is not None:  # a finished contact pushed out of memory was written before
            document = codec.dumps(codec.contact_document(record))
            contacts.append(StoredContact(contact_id, contact_id in engine.contacts, document))
    agents = [
        (agent_id, codec.dumps(codec.agent_document(engine.agents[agent_id])))
        for agent_id in changes.agents
        if agent_id in engine.agents
    ]
    queues = None
    if changes.queues or with_queues:
        queues = codec.dumps_list(codec.queues_document(engine.queues.values()))
    # every queue's with `with_queues` (after a restore): a store from before the counters
    # had documents of their own keeps them only in the figures, which this batch replaces
    moved = engine.counters.keys() if with_queues else changes.counters
    counters = [
        (name, codec.dumps(codec.counters_document(engine.counters[name]))) for name in moved
    ]
    return Batch(
        contacts=contacts,
        agents=agents,
        joined=dict(changes.joined),
        figures=codec.dumps(codec.figures_document(engine)),
        counters=counters,
        queues=queues,
        meta=meta or {},
    )


def engine_state(loaded: Loaded) -> EngineState:
    """The records `router.engine.restore` rebuilds an engine from."""
    return codec.engine_state(
        figures=codec.loads(loaded.figures) if loaded.figures else None,
        queues=codec.loads_list(loaded.queues) if loaded.queues else None,
        # generators: each document is decoded when its record is made, so the decoded
        # documents of 100,000 contacts are never all in memory at once
        contacts=(codec.loads(raw) for raw in loaded.contacts),
        agents=(codec.loads(raw) for raw in loaded.agents),
        joined=loaded.joined,
        counters=[codec.loads(raw) for raw in loaded.counters],
    )
