"""The single writer: every event reaches the engine through one inbox, one at a time.

HTTP handlers, the MQTT bridge, the SMTP server and the timer all `await
core.submit(event)`. One task (`run`) takes events from the inbox in order,
hands each to the engine at the wall-clock time it is applied, answers the
submitter with the effects, and fans the effects out to the listeners (MQTT,
metrics, web pages). The engine itself never awaits, so no lock is needed.

Events are taken in batches: the store (issue 4) writes a whole batch before
any of it is acknowledged, one commit for many events.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router.config import RouterConfig, load_config
from router.engine import (
    ConfigReplaced,
    ContactArrived,
    Effect,
    Engine,
    EngineError,
    Event,
    Tick,
)
from router.engine.records import ContactRecord
from router.model import Contact, ModelError
from router.plugins import RouterPlugins

log = logging.getLogger("router.core")

#: a listener gets every effect, after the engine applied the event; it must not block
EffectListener = Callable[[Effect], None]
#: a decision-time observer: (event type name, seconds the engine took)
TimingListener = Callable[[str, float], None]


class Overloaded(Exception):
    """Too many events wait for the engine; the caller should retry after `retry_after`."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the router is overloaded; retry after {retry_after:g} s")
        self.retry_after = retry_after


class NotRunning(Exception):
    """The core is stopping (or not started); nothing was applied."""


@dataclass(slots=True)
class _Submission:
    event: Event
    done: asyncio.Future[list[Effect]]


class RouterCore:
    def __init__(
        self,
        config: RouterConfig,
        plugins: RouterPlugins,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.engine = Engine(config.engine, plugins)
        self.clock = clock
        self.started_at = clock()
        self._inbox: asyncio.Queue[_Submission] = asyncio.Queue()
        self._listeners: list[EffectListener] = []
        self._timing: list[TimingListener] = []
        self._accepting = False

    # ------------------------------------------------------------ listeners
    def add_listener(self, listener: EffectListener) -> None:
        self._listeners.append(listener)

    def add_timing_listener(self, listener: TimingListener) -> None:
        self._timing.append(listener)

    # ------------------------------------------------------------ input
    @property
    def pending(self) -> int:
        return self._inbox.qsize()

    async def submit(self, event: Event) -> list[Effect]:
        """Apply `event` in order with every other; its effects, or `EngineError`."""
        if not self._accepting:
            raise NotRunning("the router is not accepting events (starting or stopping)")
        if self._inbox.qsize() >= self.config.limits.max_pending_events:
            raise Overloaded(retry_after=1.0)
        done: asyncio.Future[list[Effect]] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Submission(event, done))
        return await done

    def parse_contact(
        self, channel: str, payload: Mapping[str, Any], *, contact_id: str | None = None
    ) -> Contact:
        """A channel's decoded payload as a normalized contact; `ModelError` when unreadable."""
        contact = self.plugins.parse_contact(channel, payload, contact_id or new_contact_id())
        if contact is None:
            raise ModelError(f"no channel plugin reads payloads of channel {channel!r}")
        return contact

    async def submit_contact(self, contact: Contact) -> ContactRecord:
        """Route a contact (idempotent on its id); the engine's record of it afterwards."""
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
        """Apply events and fire timers until cancelled; then refuse what is still waiting."""
        self._accepting = True
        try:
            while True:
                batch = await self._next_batch()
                for item in batch:
                    self._apply(item)
                if not batch:
                    self._apply_tick()
        finally:
            self._accepting = False
            while not self._inbox.empty():
                item = self._inbox.get_nowait()
                if not item.done.done():
                    item.done.set_exception(NotRunning("the router stopped before this event"))

    def stop_accepting(self) -> None:
        """Refuse new events (draining); those already in the inbox are still applied."""
        self._accepting = False

    async def drained(self) -> None:
        """Wait until the inbox is empty."""
        while not self._inbox.empty():
            await asyncio.sleep(0.01)

    async def _next_batch(self) -> list[_Submission]:
        """Every waiting submission, or [] when the next timer is due first."""
        if self._inbox.empty():
            due = self.engine.next_due()
            timeout = None if due is None else max(0.0, due - self.clock())
            try:
                async with asyncio.timeout(timeout):
                    first = await self._inbox.get()
            except TimeoutError:
                return []
            batch = [first]
        else:
            batch = []
        while not self._inbox.empty():
            batch.append(self._inbox.get_nowait())
        return batch

    def _apply(self, item: _Submission) -> None:
        if item.done.cancelled():
            # The submitter went away before the event was applied: it was never
            # acknowledged, so applying it now would be a change nobody asked for
            # any more. (With the store, a journaled event is applied regardless.)
            return
        try:
            effects = self._handle(item.event)
        except EngineError as error:
            self._dispatch(error.effects)
            item.done.set_exception(error)
            return
        except Exception as exc:  # a plugin raised: refuse the event, keep the daemon up
            log.exception("event %s failed in the engine", type(item.event).__name__)
            item.done.set_exception(EngineError("plugin_error", f"a plugin failed: {exc}"))
            return
        self._dispatch(effects)
        item.done.set_result(effects)

    def _apply_tick(self) -> None:
        try:
            self._dispatch(self._handle(Tick()))
        except Exception:
            log.exception("firing timers failed in the engine")

    def _handle(self, event: Event) -> list[Effect]:
        started = time.perf_counter()
        try:
            return self.engine.handle(event, self.clock())
        finally:
            elapsed = time.perf_counter() - started
            for listener in self._timing:
                listener(type(event).__name__, elapsed)

    def _dispatch(self, effects: Sequence[Effect]) -> None:
        for effect in effects:
            for listener in self._listeners:
                try:
                    listener(effect)
                except Exception:  # one broken listener must not stop the others
                    log.exception("effect listener %r failed", listener)


def new_contact_id() -> str:
    return f"c-{uuid.uuid4().hex}"
