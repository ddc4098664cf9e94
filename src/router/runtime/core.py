"""The single writer: every event reaches the engine through one inbox, one at a time.

HTTP handlers, the MQTT bridge, the SMTP server and the timer all `await
core.submit(event)`. One task (`run`) takes events from the inbox in order,
hands each to the engine at the wall-clock time it is applied, fans the
effects out to the listeners (MQTT, metrics, web pages) and answers the
submitter with them. The engine itself never awaits, so no lock is needed.

Events are taken in batches, and nobody hears yes before the batch is
durable: the writer applies every event of a batch, takes the records the
engine changed, and commits them to the store in one transaction (group
commit). A small batch's offers (and revocations) go to the senders (the MQTT
bridge, `add_sender`) as soon as the engine made them, and are written out at
once, before the commit: they travel during the store's write and its fsync,
which took 0.13 ms and 0.25-0.3 ms here (`benchmarks/e2e.py`: HTTP p50 0.48 to
0.38-0.45 ms, session 20; 0.97 to 0.71 ms when session 17 let them travel
during the fsync). Then come the other effects, to the senders and then to the
other listeners (metrics, web pages), and only then does the writer sync the
store and answer the submitters. So an offer may reach its agent for a batch
the store never keeps: if the write fails, the batch is refused as below and
its offers are revoked (reason `not_kept`); if the daemon dies before the
commit, or the machine before the fsync, the contact's sender never heard yes
and sends it again, and an accept of the lost offer hears 409 (gone). Offer ids
restart past any such offer (`OFFER_IDS_SKIPPED`). A batch with a new contact
in it is synced at once, as a gateway (or a carrier's webhook, with a caller
on the line) waits on it; the submitters of other batches (agents' answers and
completions, admins' changes, timers) wait up to `SYNC_HOLD_SECONDS` for a
sync that covers them, so that a contact's three commits (arrival, accept,
complete) stop the loop in an fsync once rather than three times. When the
store cannot write, the batch is refused (`StoreUnavailable`, HTTP 503), the
engine is rebuilt from what the store holds, and new events are refused until
a probe write succeeds again.

The commit runs on the loop's own thread. In a thread of its own it had to
take the GIL back from the busy loop after each SQLite call (about ten per
commit), and each take can wait out the interpreter's 5 ms switch interval:
`benchmarks/e2e.py` at 300 contacts/s with 10,000 agents measured the commit
cycle at 2.4 ms median (0.4-0.8 ms of it hand-offs) against 0.65-1.4 ms
inline, and offer latency p50 6-9 ms against 1.7-3.0 ms. Session 15 moved
only the fsync off the loop, twice (the `COMMIT` alone in the thread, with a
0.1 ms switch interval; and SQLite "normal" with a helper process syncing
the WAL): both raised the p50 again, as each wake-up of another thread or
process waits for a busy core (`benchmarks/RESULTS.md`, session 15). Events
that arrive during a commit wait in the sockets and make the next batch. Loading the
store, the write after a restore and probing a failed store still run in a
thread: they are long (a probe may wait out another process's lock), and
`/healthz` answers meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from router.config import RouterConfig, load_config
from router.engine import (
    ConfigReplaced,
    ContactArrived,
    Effect,
    Engine,
    EngineError,
    Event,
    RevokeOffer,
    SendOffer,
    Tick,
)
from router.engine.records import ContactRecord
from router.engine.restore import restore
from router.model import Contact, ModelError, RouterEvent
from router.plugins import RouterPlugins
from router.runtime.collector import freeze_batch
from router.store import Batch, Store, StoreError, batch_of, engine_state
from router.store.codec import contact_record, loads

T = TypeVar("T")

log = logging.getLogger("router.core")

#: a listener gets every effect, after the engine applied the event; it must not block
EffectListener = Callable[[Effect], None]
#: a sender's (`add_sender`) word that a batch's effects have all reached it, before the
#: store syncs it: write them out now, not at the end of the loop turn, so they travel
#: meanwhile
FlushListener = Callable[[], None]
#: a decision-time observer: (event type name, seconds the engine took)
TimingListener = Callable[[str, float], None]
#: told the named documents the store kept beside the engine, once restored (token rotations)
RestoreListener = Callable[[Mapping[str, bytes]], None]

#: a batch of at most this many events has its offers written out before the commit;
#: a larger one means the loop is behind, and then they go at the end of the loop turn,
#: after the sync: sent before it, they woke the broker and the clients, which took the
#: cores while the loop waited on the disk, and the loop then waited for a core (the HTTP
#: routing peak fell 8 %, 5,460-5,690 against 6,050-6,260 contacts/s; session 17)
EARLY_FLUSH_EVENTS = 4

#: how long the submitters of a batch without a new contact (agents' answers and
#: completions, admins' changes, timers) may wait to share the next new contact's sync:
#: one fsync per contact instead of one per event, each 0.25-0.3 ms with the loop stopped
SYNC_HOLD_SECONDS = 0.005

#: a restored engine's offer ids start this far past the stored count: offers go out
#: before their batch is committed, so after a crash (or a power cut, or a failed write)
#: an agent may hold an offer of a batch the store lost, whose id must not come back
#: for another contact. What can be unsynced at once (a batch, or `SYNC_HOLD_SECONDS`
#: of them) holds far fewer offers.
OFFER_IDS_SKIPPED = 1_000_000

#: how often a failed store is tried again
STORE_PROBE_SECONDS = 1.0


class Overloaded(Exception):
    """Too many events wait for the engine; the caller should retry after `retry_after`."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the router is overloaded; retry after {retry_after:g} s")
        self.retry_after = retry_after


class NotRunning(Exception):
    """The core is stopping (or not started); nothing was applied."""


class StoreUnavailable(Exception):
    """The store cannot write; nothing was applied. Retry after `retry_after`."""

    def __init__(self, reason: str, retry_after: float = STORE_PROBE_SECONDS) -> None:
        super().__init__(f"{reason}; nothing was accepted, retry later")
        self.reason = reason
        self.retry_after = retry_after


@dataclass(slots=True)
class _Submission:
    #: None: no engine event, only `meta` to keep
    event: Event | None
    done: asyncio.Future[list[Effect]]
    meta: dict[str, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class _Outcome:
    item: _Submission | None
    effects: list[Effect]
    error: BaseException | None = None


class RouterCore:
    def __init__(
        self,
        config: RouterConfig,
        plugins: RouterPlugins,
        *,
        clock: Callable[[], float] = time.time,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.engine = Engine(config.engine, plugins)
        self.clock = clock
        self.started_at = clock()
        #: None: nothing is durable (tests, the simulator's daemon-free runs)
        self.store = store
        #: why the store cannot write, while it cannot; None when it can
        self.store_problem: str | None = None
        self._inbox: deque[_Submission] = deque()
        #: what the writer waits on while the inbox is empty: the next submission, or
        #: the engine's next timer, resolves it (`_next_batch`)
        self._wakeup: asyncio.Future[None] | None = None
        self._senders: list[EffectListener] = []
        self._flushers: list[FlushListener] = []
        self._listeners: list[EffectListener] = []
        self._timing: list[TimingListener] = []
        self._restored: list[RestoreListener] = []
        self._accepting = False
        #: set once restored from the store and accepting events
        self.started = asyncio.Event()
        #: a batch is being applied and written
        self._working = False
        #: committed and sent out; their submitters are answered once a sync covers them
        self._unsynced: list[_Outcome] = []
        #: when they are synced at the latest, if no new contact's batch syncs them first
        self._sync_by = 0.0
        # loading the store, the write after a restore and probing a failed store are long:
        # a thread of its own, so the loop answers meanwhile; commits are short and run on
        # the loop (module docstring)
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="router-store")

    # ------------------------------------------------------------ listeners
    def add_sender(self, listener: EffectListener, flush: FlushListener) -> None:
        """A listener that carries effects to their people (the MQTT bridge): it gets a
        batch's effects before the other listeners, then `flush`, so they travel while
        the rest of the fan-out runs (metrics, web pages: 14 µs a contact, session 17)."""
        self._senders.append(listener)
        self._flushers.append(flush)

    def add_listener(self, listener: EffectListener) -> None:
        """A listener that observes effects (metrics, web pages), after the senders."""
        self._listeners.append(listener)

    def add_timing_listener(self, listener: TimingListener) -> None:
        self._timing.append(listener)

    def add_restore_listener(self, listener: RestoreListener) -> None:
        self._restored.append(listener)

    # ------------------------------------------------------------ input
    @property
    def pending(self) -> int:
        return len(self._inbox)

    async def submit(self, event: Event) -> list[Effect]:
        """Apply `event` in order with every other, durably; its effects, or `EngineError`."""
        return await self._enqueue(_Submission(event, self._future()))

    async def keep(self, key: str, document: bytes) -> None:
        """Keep a named document in the store, in order with the events (token rotations)."""
        await self._enqueue(_Submission(None, self._future(), {key: document}))

    def _future(self) -> asyncio.Future[list[Effect]]:
        return asyncio.get_running_loop().create_future()

    async def _enqueue(self, submission: _Submission) -> list[Effect]:
        if not self._accepting:
            raise NotRunning("the router is not accepting events (starting or stopping)")
        if self.store_problem is not None:
            raise StoreUnavailable(self.store_problem)
        if len(self._inbox) >= self.config.limits.max_pending_events:
            raise Overloaded(retry_after=1.0)
        self._inbox.append(submission)
        _wake(self._wakeup)
        return await submission.done

    def parse_contact(
        self, channel: str, payload: Mapping[str, Any], *, contact_id: str | None = None
    ) -> Contact:
        """A channel's decoded payload as a normalized contact; `ModelError` when unreadable."""
        contact = self.plugins.parse_contact(channel, payload, contact_id or new_contact_id())
        if contact is None:
            raise ModelError(f"no channel plugin reads payloads of channel {channel!r}")
        return contact

    def knows_contact(self, contact_id: str) -> bool:
        """A contact of this id was accepted, in memory or, however long ago, in the store."""
        return self.engine.contact(contact_id) is not None or self._stored(contact_id) is not None

    def _stored(self, contact_id: str) -> bytes | None:
        if self.store is None:
            return None
        try:
            return self.store.find_contact(contact_id)
        except StoreError as error:
            raise StoreUnavailable(str(error)) from error

    async def submit_contact(self, contact: Contact) -> ContactRecord:
        """Route a contact (idempotent on its id); the engine's record of it afterwards."""
        if self.engine.contact(contact.id) is None:
            # finished so long ago that memory forgot it: the store still knows
            kept = self._stored(contact.id)
            if kept is not None:
                return contact_record(loads(kept))
        await self.submit(ContactArrived(contact))
        record = self.engine.contact(contact.id)
        assert record is not None  # an arrival always leaves a record (or finds the old one)
        return record

    async def reload(self) -> RouterConfig:
        """Re-read the config file; apply it, or raise `ConfigError` and keep the old one.

        Only the engine's part (queues, routing, plugin options) changes while
        running; listeners, ports and the store are read at start.
        """
        config = load_config(self.config.source, plugins=self.plugins)
        self.plugins.configure(config.plugins.options)
        await self.submit(ConfigReplaced(config.engine))
        self.config = config
        return config

    # ------------------------------------------------------------ the writer
    async def run(self) -> None:
        """Restore from the store, then apply events and fire timers until cancelled;
        then refuse what is still waiting."""
        try:
            if self.store is not None:
                await self._restore()
            self._accepting = True
            self.started.set()
            while True:
                if self.store_problem is not None:
                    await self._wait_for_store()
                    continue
                batch = await self._next_batch(self._sync_by if self._unsynced else None)
                self._working = True
                try:
                    if not batch and self._unsynced and self._sync_due():
                        await self._sync_and_answer()
                        due = self.engine.next_due()
                        if due is None or due > self.clock():
                            continue
                    outcomes = [self._apply(item) for item in batch]
                    if not batch:
                        outcomes.append(self._apply_tick())
                    await self._commit(outcomes)
                    freeze_batch()
                finally:
                    self._working = False
        finally:
            self._accepting = False
            if self._unsynced and self.store_problem is None:
                with contextlib.suppress(StoreError):  # then they hear NotRunning below
                    self._answer_synced()
            for outcome in self._unsynced:
                if outcome.item is not None and not outcome.item.done.done():
                    outcome.item.done.set_exception(
                        NotRunning("the router stopped before this event was stored")
                    )
            self._unsynced = []
            while self._inbox:
                item = self._inbox.popleft()
                if not item.done.done():
                    item.done.set_exception(NotRunning("the router stopped before this event"))
            self._store_thread.shutdown(wait=True)

    async def _restore(self) -> None:
        """Rebuild the engine from the store and write what the timers did while it was down."""
        store = self.store
        assert store is not None
        started = time.perf_counter()
        kept, effects = await self._rebuild()
        changes = self.engine.take_changes()
        # what the timers did while the router was down: possibly many contacts, and
        # nobody waits on it, so in the thread, with `/healthz` answering meanwhile
        batch = batch_of(self.engine, changes, with_queues=True)
        await self._in_store_thread(_write_durably, store, batch)
        for listener in self._restored:
            listener(kept)
        log.info(
            "restored %d live contacts and %d agents from the store in %.3f s",
            len(self.engine.contacts),
            len(self.engine.agents),
            time.perf_counter() - started,
            extra={"contacts": len(self.engine.contacts), "agents": len(self.engine.agents)},
        )
        self._dispatch(self._senders, effects)
        self._dispatch(self._listeners, effects)

    async def _rebuild(self) -> tuple[Mapping[str, bytes], list[Effect]]:
        """The engine as the store has it; the named documents kept beside it, and the
        restore's effects."""
        assert self.store is not None
        limit = self.config.engine.routing.finished_contacts_kept
        loaded = await self._in_store_thread(self.store.load, limit)
        kept = loaded.meta
        # From here to the end nothing awaits, so no request sees the engine in between.
        # The engine being replaced goes first, and its cycles are collected now: the
        # freeze below would otherwise keep them forever.
        self.engine = Engine(self.config.engine, self.plugins)
        gc.unfreeze()
        gc.collect()
        # The rebuild allocates millions of objects that all live on: with the collector
        # running, its passes walk them again and again (restart benchmark, 100,000
        # waiting: decoding took 4.4 s instead of 2.0 s). Frozen afterwards, later
        # collections skip them, and the objects of the daemon's start-up with them.
        gc.disable()
        try:
            state = engine_state(loaded)
            del loaded  # the documents (120 MB at 100,000 contacts) are records now
            self.engine, effects = restore(self.config.engine, self.plugins, state, self.clock())
            self.engine.offer_seq += OFFER_IDS_SKIPPED
        finally:
            gc.freeze()
            gc.enable()
        return kept, effects

    async def _commit(self, outcomes: list[_Outcome]) -> None:
        """Commit the batch and carry out its effects; then sync and answer its submitters,
        at once if a new contact's sender waits, else within `SYNC_HOLD_SECONDS`."""
        early = len(outcomes) <= EARLY_FLUSH_EVENTS
        sent: list[Effect] = []
        if early:
            # The offers (and revocations) first, written out at once: an agent and a
            # customer wait on them, and they travel during the store's write, the rest
            # of the fan-out and the fsync (module docstring).
            for outcome in outcomes:
                sent.extend(e for e in outcome.effects if not _event(e))
            if sent:
                self._dispatch(self._senders, sent)
                self._flush()
        store = self.store
        if store is not None:
            meta = {k: v for o in outcomes if o.item is not None for k, v in o.item.meta.items()}
            batch = batch_of(self.engine, self.engine.take_changes(), meta=meta)
            try:
                store.write(batch)
            except StoreError as error:
                self._withdraw(sent)
                await self._sync_and_answer()  # what was committed before keeps its yes
                await self._store_failed(str(error), outcomes)
                return
        if early:
            # The events follow, at the end of the loop turn, each topic in its order:
            # encoding and sending them first held the offer back 40 µs.
            for outcome in outcomes:
                self._dispatch(self._senders, [e for e in outcome.effects if _event(e)])
        else:
            for outcome in outcomes:
                self._dispatch(self._senders, outcome.effects)
        for outcome in outcomes:
            self._dispatch(self._listeners, outcome.effects)
        if not self._unsynced:
            self._sync_by = self.clock() + SYNC_HOLD_SECONDS
        self._unsynced.extend(outcomes)
        if store is None or any(_new_contact(outcome) for outcome in outcomes) or self._sync_due():
            await self._sync_and_answer()

    def _withdraw(self, sent: list[Effect]) -> None:
        """Revoke the offers of a batch the store refused: they went to the senders before
        the write, and the rebuilt engine never made them (an accept hears 409, gone). The
        observers (metrics, web pages) never heard of them: they come after the write."""
        revoked = [RevokeOffer(e.offer, "not_kept") for e in sent if isinstance(e, SendOffer)]
        if revoked:
            self._dispatch(self._senders, revoked)
            self._flush()

    def _sync_due(self) -> bool:
        return not self._accepting or self.clock() >= self._sync_by

    async def _sync_and_answer(self) -> None:
        """Sync every committed batch, then answer their submitters."""
        if not self._unsynced:
            return
        try:
            self._answer_synced()
        except StoreError as error:
            # the effects are out, and the rebuild reads the batches back (they were
            # committed): the engine goes on agreeing with what agents were sent,
            # while the submitters hear no and send again (ids make it idempotent)
            unsynced, self._unsynced = self._unsynced, []
            await self._store_failed(str(error), unsynced)

    def _answer_synced(self) -> None:
        if self.store is not None:
            self.store.sync()
        unsynced, self._unsynced = self._unsynced, []
        for outcome in unsynced:
            if outcome.item is None or outcome.item.done.done():
                continue
            if outcome.error is not None:
                outcome.item.done.set_exception(outcome.error)
            else:
                outcome.item.done.set_result(outcome.effects)

    async def _store_failed(self, problem: str, outcomes: list[_Outcome]) -> None:
        """Refuse the batch: nothing of it is kept, so nothing of it may be acknowledged.

        The engine applied the batch in memory: rebuilding it from the store
        undoes it (reading works while writing fails: a lock, a full disk). Of
        its effects only a small batch's offers went out, before the write, and
        `_withdraw` has revoked them; the rebuild after the store recovers sends
        what is still open.
        """
        log.error("the store cannot write; refusing new work until it can: %s", problem)
        self.store_problem = problem
        try:
            await self._rebuild()  # before anyone hears no, so that nobody reads the undone
        except StoreError:
            log.exception("the store cannot be read either; rebuilding once it recovers")
        for outcome in outcomes:
            if outcome.item is not None and not outcome.item.done.done():
                outcome.item.done.set_exception(StoreUnavailable(problem))

    async def _wait_for_store(self) -> None:
        """Refuse what waits; probe until the store writes again, then restore from it."""
        store = self.store
        assert store is not None
        while self._inbox:
            item = self._inbox.popleft()
            if not item.done.done():
                item.done.set_exception(StoreUnavailable(self.store_problem or "store failed"))
        await asyncio.sleep(STORE_PROBE_SECONDS)
        try:
            await self._in_store_thread(store.probe)  # may wait out a lock: not on the loop
            await self._restore()
        except StoreError as error:
            self.store_problem = str(error)
            return
        log.info("the store writes again; accepting new work")
        self.store_problem = None

    async def _in_store_thread(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._store_thread, call, *args)

    def stop_accepting(self) -> None:
        """Refuse new events (draining); those already in the inbox are still applied."""
        self._accepting = False
        _wake(self._wakeup)  # what waits for a sync is synced now

    async def drained(self) -> None:
        """Wait until the inbox is empty and the last batch is kept and answered."""
        while self._inbox or self._working or self._unsynced:
            await asyncio.sleep(0.01)

    async def _next_batch(self, sync_by: float | None) -> list[_Submission]:
        """Every waiting submission, or [] when the next timer is due first.

        One future and one timer handle per wait: `asyncio.Queue.get` under
        `asyncio.timeout` made a Timeout, a rescheduled handle and a getter future
        each time, and the writer waits once per batch (three times per contact
        at 300 contacts/s): 5 % of the daemon's CPU.
        """
        if not self._inbox:
            loop = asyncio.get_running_loop()
            wakeup = self._wakeup = loop.create_future()
            due = self.engine.next_due()
            if sync_by is not None and (due is None or sync_by < due):
                due = sync_by
            timer = None if due is None else loop.call_later(due - self.clock(), _wake, wakeup)
            try:
                await wakeup
            finally:
                self._wakeup = None
                if timer is not None:
                    timer.cancel()
            if not self._inbox:
                return []
        batch = list(self._inbox)
        self._inbox.clear()
        return batch

    def _apply(self, item: _Submission) -> _Outcome:
        if item.done.cancelled() or item.event is None:
            # A cancelled submitter went away before the event was applied: it was
            # never acknowledged, so applying it now would be a change nobody asked
            # for any more.
            return _Outcome(item, [])
        try:
            return _Outcome(item, self._handle(item.event))
        except EngineError as error:
            return _Outcome(item, error.effects, error)
        except Exception as exc:  # a plugin raised: refuse the event, keep the daemon up
            log.exception("event %s failed in the engine", type(item.event).__name__)
            return _Outcome(item, [], EngineError("plugin_error", f"a plugin failed: {exc}"))

    def _apply_tick(self) -> _Outcome:
        try:
            return _Outcome(None, self._handle(Tick()))
        except Exception:
            log.exception("firing timers failed in the engine")
            return _Outcome(None, [])

    def _handle(self, event: Event) -> list[Effect]:
        started = time.perf_counter()
        try:
            return self.engine.handle(event, self.clock())
        finally:
            elapsed = time.perf_counter() - started
            for listener in self._timing:
                listener(type(event).__name__, elapsed)

    def _flush(self) -> None:
        for flush in self._flushers:
            try:
                flush()
            except Exception:  # as in `_dispatch`: the batch goes on
                log.exception("flush listener %r failed", flush)

    @staticmethod
    def _dispatch(listeners: list[EffectListener], effects: Sequence[Effect]) -> None:
        for effect in effects:
            for listener in listeners:
                try:
                    listener(effect)
                except Exception:  # one broken listener must not stop the others
                    log.exception("effect listener %r failed", listener)


def _event(effect: Effect) -> bool:
    return isinstance(effect, RouterEvent)


def _new_contact(outcome: _Outcome) -> bool:
    """A new contact's sender waits on it: a gateway, or a carrier's webhook with a caller."""
    return outcome.item is not None and isinstance(outcome.item.event, ContactArrived)


def _write_durably(store: Store, batch: Batch) -> None:
    store.write(batch)
    store.sync()


def _wake(waiting: asyncio.Future[None] | None) -> None:
    if waiting is not None and not waiting.done():
        waiting.set_result(None)


class _RandomIds:
    """128 random bits as 32 hex digits, the form of a uuid4 without its UUID object.

    From the OS's random source as `secrets` has them, but read 256 ids at a time:
    a `getrandom` call for each was 3.5 % of the daemon's time at the HTTP routing
    peak (session 18).
    """

    POOL_BYTES = 4096

    def __init__(self) -> None:
        self._pool = b""
        self._at = self.POOL_BYTES

    def __call__(self) -> str:
        if self._at >= self.POOL_BYTES:
            self._pool, self._at = os.urandom(self.POOL_BYTES), 0
        start = self._at
        self._at = start + 16
        return f"c-{self._pool[start : start + 16].hex()}"


#: a new contact's id; one is made for every contact taken in, before the payload's
#: own id is read (the channel hook's `contact_id`)
new_contact_id = _RandomIds()
