"""The SQLite store against the in-memory reference store, and its failures, on real files.

The property test in `tests/engine/test_stateful.py` shows that what
`MemoryStore` keeps restores an engine exactly; here `SqliteStore` must give
back the very same documents as `MemoryStore` for the same writes, across
reopening the file, and fail loudly (StoreError) rather than quietly.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from router.engine import (
    AgentStateChanged,
    ContactArrived,
    ContactCompleted,
    Event,
    OfferAnswered,
    SendOffer,
)
from router.engine.invariants import check_invariants
from router.engine.restore import restore
from router.model import AgentState, Contact
from router.store import Batch, MemoryStore, StoreError, batch_of, engine_state
from router.store import sqlite as sqlite_module
from router.store.base import StoredContact
from router.store.sqlite import SqliteStore
from router.testing import RouterHarness


def _run_a_day(stores: list[MemoryStore | SqliteStore], contacts: int = 40) -> RouterHarness:
    """Agents take and finish contacts; after each event the changes go to every store."""
    h = RouterHarness()

    def send(event: Event) -> list[SendOffer]:
        effects = h.send(event)
        batch = batch_of(h.engine, h.engine.take_changes(), with_queues=True)
        for store in stores:
            store.write(batch)
        return [e for e in effects if isinstance(e, SendOffer)]

    for name in ("a1", "a2"):
        h.add_agent(name)
    h.engine.take_changes()
    send(AgentStateChanged("a1", AgentState.AVAILABLE))
    for number in range(contacts):
        h.clock += 1.0
        for offer in send(ContactArrived(Contact(id=f"c{number}", channel="chat"))):
            if number % 3:  # some are answered and finished, some stay
                send(OfferAnswered(offer.offer.id, accept=True))
                send(ContactCompleted(offer.contact.id))
    return h


def test_sqlite_gives_back_what_the_reference_store_does(tmp_path: Path) -> None:
    reference = MemoryStore()
    store = SqliteStore(tmp_path / "router.db")
    h = _run_a_day([reference, store])
    store.close()
    reopened = SqliteStore(tmp_path / "router.db")
    for limit in (0, 5, 1000):
        loaded, expected = reopened.load(limit), reference.load(limit)
        assert sorted(loaded.contacts) == sorted(expected.contacts)
        assert sorted(loaded.agents) == sorted(expected.agents)
        assert (loaded.figures, loaded.queues, loaded.joined, loaded.meta) == (
            expected.figures,
            expected.queues,
            expected.joined,
            expected.meta,
        )
        assert sorted(loaded.counters) == sorted(expected.counters)
    engine, _ = restore(h.engine.config, h.plugins, engine_state(reopened.load(1000)), h.clock)
    check_invariants(engine)
    assert sorted(engine.contacts) == sorted(h.engine.contacts)
    assert {a.id: a.state for a in engine.agents.values()} == {
        a.id: a.state for a in h.engine.agents.values()
    }


def test_finished_contacts_are_found_after_memory_forgot_them(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "router.db")
    _run_a_day([store])
    loaded = store.load(finished_limit=2)
    assert len(loaded.contacts) < 40
    assert store.find_contact("c1") is not None  # finished long ago: still known
    assert store.find_contact("never") is None


def test_rewritten_rows_are_updated_in_place(tmp_path: Path) -> None:
    """A rewrite keeps the row (its rowid) and the database's page count: no delete and
    insert (INSERT OR REPLACE), whose moved index entries and reallocated overflow pages
    made a commit three times the pages (module comment in `router.store.sqlite`)."""
    path = tmp_path / "router.db"
    store = SqliteStore(path)
    figures = b'{"counters": "' + b"x" * 6000 + b'"}'  # overflows a 4 KB page, as 50 queues do

    def write(number: int) -> None:
        store.write(
            Batch(
                contacts=[StoredContact("c1", number % 2 == 0, b'{"n": %d}' % number)],
                agents=[("a1", b'{"n": %d}' % number)],
                joined={"m1": f"c{number}"},
                figures=figures.replace(b"x", str(number % 10).encode(), 1),
            )
        )

    write(0)
    reader = sqlite3.connect(path)

    def layout() -> tuple[object, ...]:
        return (
            reader.execute("SELECT rowid FROM contacts WHERE id = 'c1'").fetchone(),
            reader.execute("SELECT rowid FROM agents WHERE id = 'a1'").fetchone(),
            reader.execute("SELECT rowid FROM joined WHERE id = 'm1'").fetchone(),
            reader.execute("SELECT rowid FROM meta WHERE key = 'figures'").fetchone(),
            reader.execute("PRAGMA page_count").fetchone(),
        )

    before = layout()
    for number in range(1, 20):
        write(number)
    assert layout() == before
    assert reader.execute("SELECT contact_id FROM joined").fetchall() == [("c19",)]
    loaded = store.load(10)
    assert loaded.contacts == [b'{"n": 19}']
    assert loaded.agents == [b'{"n": 19}']
    assert loaded.figures == figures.replace(b"x", b"9", 1)
    reader.close()


def test_a_held_lock_fails_the_write_and_the_probe_until_released(tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    store = SqliteStore(path)
    store.write(Batch(figures=b'{"seq": 1}'))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            store.write(Batch(figures=b'{"seq": 2}'))
        with pytest.raises(StoreError, match="cannot write"):
            store.probe()
        assert store.load(10).figures == b'{"seq": 1}'  # readers still read (WAL)
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.probe()
    store.write(Batch(figures=b'{"seq": 3}'))
    assert store.load(10).figures == b'{"seq": 3}'


def test_a_file_that_is_not_a_store_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(StoreError, match=r"router\.db"):
        SqliteStore(path)


def test_a_store_from_a_newer_router_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (b"99",))
    with pytest.raises(StoreError, match="newer router"):
        SqliteStore(path)


def test_finished_contacts_past_retention_are_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_PRUNE_EVERY", 1)
    store = SqliteStore(tmp_path / "router.db", retention_days=1e-12)
    h = _run_a_day([store], contacts=10)
    store.write(batch_of(h.engine, h.engine.take_changes()))
    kept = store.load(1000)
    assert len(kept.contacts) == len(h.engine.contacts)  # only the live ones are left


def test_memory_path_is_one_database_for_both_connections() -> None:
    store = SqliteStore(":memory:")
    _run_a_day([store], contacts=5)
    assert store.load(100).contacts
    assert store.find_contact("c1") is not None


def test_an_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(tmp_path / "router.db", synchronous="sometimes")


@pytest.mark.parametrize("synchronous", ["full", "normal", "off"])
def test_full_syncs_the_wal_in_sync_not_in_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synchronous: str
) -> None:
    # "full" is SQLite's "normal" (no fsync inside COMMIT) plus an fdatasync of the WAL
    # in `sync`: the same bytes on the disk before anyone hears yes, with the offers
    # sent in between. "normal" and "off" promise no power cut, so `sync` does nothing.
    path = tmp_path / "router.db"
    store = SqliteStore(path, synchronous=synchronous)
    levels = {"full": 1, "normal": 1, "off": 0}  # PRAGMA synchronous: 0 off, 1 normal
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == levels[synchronous]
    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(os.fstat(fd).st_ino))
    _run_a_day([store], contacts=3)
    assert synced == []  # `write` alone never syncs
    store.sync()
    wal = os.stat(f"{path}-wal").st_ino
    assert synced == ([wal] if synchronous == "full" else [])
    store.close()


def test_a_failed_sync_is_a_store_error_naming_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "router.db")

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(StoreError, match=r"router\.db cannot sync its WAL: .*Input/output"):
        store.sync()


def test_a_lookup_never_waits_for_a_write_in_another_thread(tmp_path: Path) -> None:
    # lookups go through the writer's connection (its cache stays warm), or through the
    # reader's while a write holds the writer's: either way they find the same, at once
    store = SqliteStore(tmp_path / "router.db")
    _run_a_day([store], contacts=5)
    found = store.find_contact("c1")
    assert found is not None
    assert store.find_contact("c-never") is None
    with store._writing:  # as a restore's write in the store thread holds it
        assert store.find_contact("c1") == found
        assert store.find_contact("c-never") is None
    _run_a_day([store], contacts=5)  # and writing afterwards still works
    store.close()


def test_a_batch_carries_the_counters_of_the_queues_that_moved_only() -> None:
    # one 6 KB document for 50 queues, rewritten on every commit, was a third of an
    # arrival's encoding and write: each queue's counters are written when they move
    h = RouterHarness()
    h.engine.take_changes()
    h.send(ContactArrived(Contact(id="c1", channel="chat", queue="support")))
    batch = batch_of(h.engine, h.engine.take_changes())
    assert [name for name, _ in batch.counters] == ["support"]
    assert b"counters" not in batch.figures
    assert batch_of(h.engine, h.engine.take_changes()).counters == []


def test_a_store_that_kept_the_counters_in_the_figures_is_read_and_upgraded(
    tmp_path: Path,
) -> None:
    # schema 1: no `counters` table, every queue's counters inside the figures document
    path = tmp_path / "router.db"
    old_figures = (
        b'{"seq": 3, "offer_seq": 2, "placements": 0, "counters": {"support": {"arrived": 7,'
        b' "answered": 5, "answered_in_sla": 4, "abandoned": 1, "handled": 5,'
        b' "answer_wait_sum": 12.5}}}'
    )
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
            "CREATE TABLE contacts (id TEXT PRIMARY KEY, live INTEGER NOT NULL,"
            " rev INTEGER NOT NULL, written_at REAL NOT NULL, document BLOB NOT NULL);"
            "CREATE TABLE agents (id TEXT PRIMARY KEY, document BLOB NOT NULL);"
            "CREATE TABLE joined (id TEXT PRIMARY KEY, contact_id TEXT NOT NULL,"
            " rev INTEGER NOT NULL);"
        )
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (b"1",))
        db.execute("INSERT INTO meta VALUES ('figures', ?)", (old_figures,))
    store = SqliteStore(path)
    version = store._db.execute("SELECT value FROM meta WHERE key = 'schema_version'")
    assert int(version.fetchone()[0]) == sqlite_module.SCHEMA_VERSION == 2
    h = RouterHarness()
    engine, _ = restore(h.engine.config, h.plugins, engine_state(store.load(100)), h.clock)
    support = engine.counters["support"]
    kept = (support.arrived, support.answered, support.abandoned, support.answer_wait_sum)
    assert kept == (7, 5, 1, 12.5)
    # the write after a restore puts every queue's counters in documents of their own,
    # and replaces the old figures: they are read back from there
    store.write(batch_of(engine, engine.take_changes(), with_queues=True))
    loaded = store.load(100)
    assert loaded.figures is not None
    assert b"counters" not in loaded.figures
    again, _ = restore(h.engine.config, h.plugins, engine_state(loaded), h.clock)
    assert again.counters["support"].arrived == 7
    store.close()


def _contact_batch(*ids: str) -> Batch:
    return Batch(contacts=[StoredContact(contact_id, True, b"{}") for contact_id in ids])


def test_the_id_filter_answers_new_ids_without_a_read_and_stored_ones_with_one(
    tmp_path: Path,
) -> None:
    first = SqliteStore(tmp_path / "r.db")
    first.write(_contact_batch(*(f"c{n}" for n in range(100))))
    first.close()
    store = SqliteStore(tmp_path / "r.db")
    store._indexer.join(10)  # built from what the file holds
    store.write(_contact_batch("written-since"))
    reads: list[str] = []
    for connection in (store._db, store._reader):
        connection.set_trace_callback(reads.append)
    assert store.find_contact("never-written") is None
    assert reads == []
    for contact_id in ("c0", "c99", "written-since"):
        assert store.find_contact(contact_id) == b"{}"
    assert len(reads) == 3
    store.close()


def test_ids_written_while_the_filter_is_built_are_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = SqliteStore(tmp_path / "r.db")
    first.write(_contact_batch("before"))
    first.close()
    stores: list[SqliteStore] = []

    class WrittenMeanwhile(sqlite_module.IdFilter):
        # the store writes a contact while the filter reads the ids: after the
        # snapshot the read sees, so only the list kept meanwhile has it
        def add(self, contact_id: str) -> None:
            if contact_id == "before":
                while not stores:
                    time.sleep(0.001)
                stores[0].write(_contact_batch("meanwhile"))
            super().add(contact_id)

    monkeypatch.setattr(sqlite_module, "IdFilter", WrittenMeanwhile)
    store = SqliteStore(tmp_path / "r.db")
    stores.append(store)
    store._indexer.join(10)
    assert store._ids is not None  # the filter answers from here on
    reads: list[str] = []
    store._db.set_trace_callback(reads.append)
    assert store.find_contact("meanwhile") == b"{}"
    assert store.find_contact("before") == b"{}"
    assert len(reads) == 2
    store.close()
