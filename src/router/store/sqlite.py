"""The embedded store: one SQLite file in WAL mode, one transaction per batch of events.

Tables hold documents (`router.store.codec`), one row per contact, agent,
follow-up alias and queue's counters, and a few named documents in `meta` (the
engine's running counts, its queue settings, token rotations). A commit
rewrites only the counters of the queues that moved: as one document of 50
queues they were 6 KB, a third of an arrival's encoding and write. Finished contacts stay for
`retention_days` after they finished (lookups, idempotency, customer
history), then are deleted; on start only live contacts and the newest
finished ones are read, so restart time follows what is live, not the
history (no separate snapshot is needed: the rows are the snapshot). A Bloom
filter of every stored contact id (`router.store.idfilter`), built in a thread
after opening, answers most lookups of a new contact's id without a read.

A write is in two steps. `write` commits the batch: from then on it survives a
crash of the process (the WAL is in the OS's hands). `sync` puts it on the disk:
with `synchronous = "full"` (the default) it survives a power cut too. The core
sends a batch's offers between the two steps and answers its senders only after
the second (`router.runtime.core`), so the fsync, 0.25-0.3 ms here, is no longer
on an offer's path. SQLite itself runs at "normal" then (its WAL synced only
before checkpoints), and `sync` does the fdatasync of the WAL that "full" would
have done inside the commit: the same bytes on the disk at the same point
before anyone hears yes. "normal" survives a crash of the process but not of
the machine, and `sync` does nothing; "off" leaves it all to the OS.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from router.store.base import Batch, Loaded, StoreError
from router.store.idfilter import IdFilter

log = logging.getLogger("router.store")

#: 2: each queue's counters in `counters`, no longer inside the figures document. A
#: store of version 1 is read (its counters from the figures) and marked 2; a router
#: that knows only 1 then refuses it rather than lose the counters.
SCHEMA_VERSION = 2
SYNCHRONOUS = ("full", "normal", "off")
#: how long a write waits for another connection's lock before it fails
BUSY_TIMEOUT_MS = 2000
#: finished contacts are pruned once every this many writes
_PRUNE_EVERY = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    id TEXT PRIMARY KEY,
    live INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    written_at REAL NOT NULL,
    document BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_by_live ON contacts (live, rev);
CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, document BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS joined (
    id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, rev INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS joined_by_rev ON joined (rev);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, document BLOB NOT NULL);
"""


# Rows are rewritten in place (an upsert, SQLite 3.24+), never deleted and inserted
# again as INSERT OR REPLACE does: a replaced row gets a new rowid, so every index
# entry of it moves, and a document spilling into overflow pages (the 6 KB figures
# document of 50 queues) frees them and takes new ones, which rewrites the
# freelist and the database header too. A batch of one contact, one agent and the
# figures, all changed, was 15.4 WAL pages a commit replaced and 5.3 upserted:
# medians of 0.53 against 0.37 ms of CPU and 0.83 against 0.62 ms of wall time a
# commit, fsync included (benchmarks/RESULTS.md, session 16).
_UPSERT_CONTACT = (
    "INSERT INTO contacts VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
    " live = excluded.live, rev = excluded.rev, written_at = excluded.written_at,"
    " document = excluded.document"
)
_UPSERT_AGENT = (
    "INSERT INTO agents VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET document = excluded.document"
)
_UPSERT_JOINED = (
    "INSERT INTO joined VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
    " contact_id = excluded.contact_id, rev = excluded.rev"
)
_UPSERT_COUNTERS = (
    "INSERT INTO counters VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET"
    " document = excluded.document"
)
_UPSERT_META = (
    "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


class SqliteStore:
    def __init__(
        self, path: Path | str, *, synchronous: str = "full", retention_days: float = 30.0
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
        self.path = str(path)
        self.retention_seconds = retention_days * 86400.0
        if self.path == ":memory:":
            # two connections must see one database: a named, shared in-memory one
            self._target, self._uri = (
                f"file:router-{uuid.uuid4().hex}?mode=memory&cache=shared",
                True,
            )
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._target, self._uri = self.path, False
        try:
            self._db = self._connect()
            self._db.execute("PRAGMA journal_mode=WAL")
            # "full" is SQLite's "normal" plus `sync` (module docstring)
            sqlite_synchronous = "normal" if synchronous == "full" else synchronous
            self._db.execute(f"PRAGMA synchronous={sqlite_synchronous.upper()}")
            self._db.executescript(_SCHEMA)
            self._check_version()
            self._rev = self._db.execute("SELECT coalesce(max(rev), 0) FROM contacts").fetchone()[0]
            self._reader = self._connect()
            if self._uri:
                # shared-cache tables lock out readers while the writer writes, and
                # busy_timeout does not wait on those locks: read what is there instead
                self._reader.execute("PRAGMA read_uncommitted=1")
            # the WAL exists from the first read above until the last connection closes
            self._wal = (
                os.open(self.path + "-wal", os.O_RDONLY | os.O_CLOEXEC)
                if synchronous == "full" and not self._uri
                else None
            )
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
        self._writes = 0
        #: held while the writer's connection writes (`find_contact`), and while the
        #: id filter takes what was written as it was built
        self._writing = threading.Lock()
        #: every stored contact's id, once built; until then lookups read the store
        self._ids: IdFilter | None = None
        #: ids written while the filter is built, for it to take in when done
        self._ids_meanwhile: list[str] | None = None
        self._closing = False
        #: reading every id takes about a second a million: not on the way to ready
        self._indexer = threading.Thread(
            target=self._index_ids, name="router-store-ids", daemon=True
        )
        self._indexer.start()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._target, uri=self._uri, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return connection

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} was written by a newer router (schema {int(row[0])})"
            )
        if row is None or int(row[0]) < SCHEMA_VERSION:
            self._db.execute(_UPSERT_META, ("schema_version", str(SCHEMA_VERSION).encode()))

    # ------------------------------------------------------------ reading
    def load(self, finished_limit: int) -> Loaded:
        try:
            db = self._reader
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            live = db.execute("SELECT rev, document FROM contacts WHERE live = 1").fetchall()
            finished = db.execute(
                "SELECT rev, document FROM contacts WHERE live = 0 ORDER BY rev DESC LIMIT ?",
                (finished_limit,),
            ).fetchall()
            joined = db.execute(
                "SELECT id, contact_id FROM joined ORDER BY rev DESC LIMIT ?", (finished_limit,)
            ).fetchall()
            agents = [row[0] for row in db.execute("SELECT document FROM agents")]
            counters = [row[0] for row in db.execute("SELECT document FROM counters")]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from exc
        rows = live + finished
        for own in ("schema_version", "probe"):  # the store's own rows, nobody else's
            meta.pop(own, None)
        return Loaded(
            figures=meta.pop("figures", None),
            queues=meta.pop("queues", None),
            counters=counters,
            contacts=[document for _, document in rows],
            agents=agents,
            joined=dict(reversed(joined)),
            meta=meta,
        )

    def find_contact(self, contact_id: str) -> bytes | None:
        ids = self._ids
        if ids is not None and not ids.may_contain(contact_id):
            return None  # never written: most ids a gateway sends are new
        # Through the writer's connection when it is free: its page cache stays warm
        # across its own commits, while the reader's is dropped after every commit it
        # did not make, so each lookup read the index again from the OS (a new contact's
        # id at 300/s with 10,000 agents: 30 µs median in the daemon, 22 µs this way).
        # While a write in the store thread holds the writer's (a restore, a probe), it
        # reads through the reader's, and the loop does not wait.
        free = self._writing.acquire(blocking=False)
        try:
            row = (
                (self._db if free else self._reader)
                .execute("SELECT document FROM contacts WHERE id = ?", (contact_id,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from exc
        finally:
            if free:
                self._writing.release()
        return row[0] if row else None

    # ------------------------------------------------------------ writing
    def write(self, batch: Batch) -> None:
        with self._writing:
            self._write(batch)

    def _write(self, batch: Batch) -> None:
        db = self._db
        self._rev += 1
        rev, now = self._rev, time.time()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                _UPSERT_CONTACT,
                [(c.id, int(c.live), rev, now, c.document) for c in batch.contacts],
            )
            if batch.agents:
                db.executemany(_UPSERT_AGENT, batch.agents)
            if batch.counters:
                db.executemany(_UPSERT_COUNTERS, batch.counters)
            if batch.joined:
                db.executemany(
                    _UPSERT_JOINED,
                    [(alias, contact_id, rev) for alias, contact_id in batch.joined.items()],
                )
            meta = dict(batch.meta)
            meta["figures"] = batch.figures
            if batch.queues is not None:
                meta["queues"] = batch.queues
            db.executemany(_UPSERT_META, meta.items())
            self._writes += 1
            if self.retention_seconds > 0 and self._writes % _PRUNE_EVERY == 0:
                db.execute(
                    "DELETE FROM contacts WHERE live = 0 AND written_at < ?",
                    (now - self.retention_seconds,),
                )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreError(f"the store {self.path} cannot write: {exc}") from exc
        ids, meanwhile = self._ids, self._ids_meanwhile
        if ids is not None:
            for contact in batch.contacts:
                ids.add(contact.id)
        elif meanwhile is not None:
            meanwhile.extend(contact.id for contact in batch.contacts)

    # ------------------------------------------------------------ the id filter
    def _index_ids(self) -> None:
        try:
            ids = self._read_ids()
        except sqlite3.Error as exc:  # the lookups go on reading the store
            log.warning("cannot build the contact id filter of %s: %s", self.path, exc)
            with self._writing:
                self._ids_meanwhile = None
            return
        if ids is not None:
            self._take_ids(ids)

    def _read_ids(self) -> IdFilter | None:
        """A filter of every id stored now; None when the store closes meanwhile.

        From here until `_take_ids`, each write also lists the ids it wrote: the
        filter may miss those, which came after the snapshot its reads share."""
        with self._writing:
            self._ids_meanwhile = []
        connection = self._connect()
        if self._uri:  # as the reader's: shared-cache table locks do not wait
            connection.execute("PRAGMA read_uncommitted=1")
        try:
            ids = IdFilter(connection.execute("SELECT count(*) FROM contacts").fetchone()[0])
            for (contact_id,) in connection.execute("SELECT id FROM contacts"):
                if self._closing:
                    return None
                ids.add(contact_id)
            return ids
        finally:
            connection.close()

    def _take_ids(self, ids: IdFilter) -> None:
        """Add what was written while `ids` was read, then let lookups ask it first."""
        with self._writing:
            for contact_id in self._ids_meanwhile or ():
                ids.add(contact_id)
            self._ids_meanwhile = None
            self._ids = ids

    def sync(self) -> None:
        """Put what `write` committed on the disk (with "full"): it survives a power cut."""
        if self._wal is None:
            return
        try:
            os.fdatasync(self._wal)
        except OSError as exc:
            raise StoreError(f"the store {self.path} cannot sync its WAL: {exc}") from exc

    def probe(self) -> None:
        with self._writing:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(_UPSERT_META, ("probe", str(time.time()).encode()))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"the store {self.path} cannot write: {exc}") from exc
        self.sync()

    def _rollback(self) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction is gone with the error; nothing was written

    def close(self) -> None:
        self._closing = True
        self._indexer.join()
        if self._wal is not None:
            os.close(self._wal)
            self._wal = None
        self._reader.close()
        self._db.close()
