"""The web pages' share of the engine's effects: one bounded queue per browser.

The core calls every effect listener synchronously from its single writer,
once the batch is committed (`RouterCore.add_listener`, the same fan-out the
MQTT bridge and the metrics use). `Hub.on_effect` is that listener for the
pages: it only looks up who cares and appends ready-encoded messages to their
queues with `put_nowait`, so a browser never makes the core wait. A queue that
fills up means its browser reads slower than the router talks; the subscriber
is marked `overflowed` and its stream closes it (the page reconnects and gets
a fresh snapshot, so dropping messages loses nothing but time).

An agent's stream gets the effects that name it (offers, revocations) at
once, plus a fresh snapshot of the agent (state, offers, contacts) after any
batch that touched it. Snapshots are built once per agent per batch, from a
`call_soon` after the dispatch, whatever the number of effects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import orjson

from router.engine import Effect, RevokeOffer, SendOffer
from router.runtime.core import RouterCore
from router.runtime.views import offer_message
from router.web.history import History
from router.web.snapshots import agent_snapshot

log = logging.getLogger("router.web")

#: messages a browser may fall behind before it is disconnected
QUEUE_LIMIT = 256
#: queued in place of everything else when a browser fell behind: close its stream
OVERFLOW = ""


def encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


class Subscriber:
    """One open stream: who it is for, and what waits to be sent to it."""

    def __init__(self, agent_id: str | None, limit: int = QUEUE_LIMIT) -> None:
        #: None: a wallboard
        self.agent_id = agent_id
        self.queue: asyncio.Queue[str] = asyncio.Queue(limit)
        #: set when the queue was full: the stream closes, never blocks the core
        self.overflowed = asyncio.Event()
        #: the history version this wallboard last got (-1: none yet)
        self.history_version = -1

    def push(self, message: str) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # what waits is stale anyway (the page gets a new snapshot when it
            # reconnects): make room for the one message that tells the sender to close
            self.overflowed.set()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(OVERFLOW)


class Hub:
    def __init__(self, core: RouterCore, *, queue_limit: int = QUEUE_LIMIT) -> None:
        self.core = core
        self.queue_limit = queue_limit
        self.history = History()
        self.wallboards: set[Subscriber] = set()
        self._agents: dict[str, set[Subscriber]] = {}
        #: contact id → agent id, for contacts in a watched agent's last snapshot: an
        #: event on them (an abandon names no agent) means that agent's view changed
        self._watched: dict[str, str] = {}
        #: agent id → the contacts its last snapshot showed
        self._shown: dict[str, tuple[str, ...]] = {}
        self._dirty: set[str] = set()
        self._flush_pending = False
        #: streams closed because their browser read too slowly
        self.disconnected_slow = 0
        core.add_listener(self.on_effect)
        # a restore (at start, or once a failed store writes again) may undo what the
        # pages were shown without an effect to say so: every open desk is redrawn
        core.add_restore_listener(lambda _kept: self.refresh())

    # ---------------------------------------------------------- subscribers
    def subscribe(self, agent_id: str | None) -> Subscriber:
        subscriber = Subscriber(agent_id, self.queue_limit)
        if agent_id is None:
            self.wallboards.add(subscriber)
        else:
            self._agents.setdefault(agent_id, set()).add(subscriber)
            subscriber.push(self._agent_message(agent_id))
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber.overflowed.is_set():
            self.disconnected_slow += 1
        agent_id = subscriber.agent_id
        if agent_id is None:
            self.wallboards.discard(subscriber)
            return
        group = self._agents.get(agent_id)
        if group is not None:
            group.discard(subscriber)
            if not group:
                del self._agents[agent_id]
                for contact_id in self._shown.pop(agent_id, ()):
                    if self._watched.get(contact_id) == agent_id:
                        del self._watched[contact_id]

    def subscribers_of(self, agent_id: str) -> list[Subscriber]:
        return list(self._agents.get(agent_id, ()))

    @property
    def subscribers(self) -> int:
        return len(self.wallboards) + sum(len(g) for g in self._agents.values())

    @property
    def queued(self) -> int:
        """Messages waiting for their browsers, over every stream."""
        streams = [*self.wallboards, *(s for g in self._agents.values() for s in g)]
        return sum(s.queue.qsize() for s in streams)

    # ---------------------------------------------------------- the listener
    def on_effect(self, effect: Effect) -> None:
        """The core's listener: cheap, never awaits, never raises on a full queue."""
        if not self._agents:
            return
        if isinstance(effect, SendOffer):
            agent_id = effect.offer.agent_id
            if agent_id in self._agents:
                self._send(agent_id, {"type": "offer", **offer_message(effect)})
                self._touch(agent_id)
        elif isinstance(effect, RevokeOffer):
            agent_id = effect.offer.agent_id
            if agent_id in self._agents:
                revoked = {
                    "type": "revoked",
                    "offer_id": effect.offer.id,
                    "contact_id": effect.offer.contact_id,
                    "reason": effect.reason,
                }
                self._send(agent_id, revoked)
                self._touch(agent_id)
        else:
            event = effect
            if event.agent_id is not None and event.agent_id in self._agents:
                self._touch(event.agent_id)
            watcher = self._watched.get(event.contact_id or "")
            if watcher is not None:
                self._touch(watcher)

    def refresh(self) -> None:
        """A fresh snapshot for every open agent desk (wallboards tick anyway)."""
        for agent_id in self._agents:
            self._touch(agent_id)

    def _send(self, agent_id: str, message: dict[str, Any]) -> None:
        text = encode({**message, "now": self.core.clock()})
        for subscriber in self._agents.get(agent_id, ()):
            subscriber.push(text)

    def _touch(self, agent_id: str) -> None:
        self._dirty.add(agent_id)
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        dirty, self._dirty = self._dirty, set()
        for agent_id in dirty:
            group = self._agents.get(agent_id)
            if group:
                text = self._agent_message(agent_id)
                for subscriber in group:
                    subscriber.push(text)

    def _agent_message(self, agent_id: str) -> str:
        snapshot = agent_snapshot(self.core.engine, agent_id)
        # contacts that left the desk are no longer watched: a day's session stays small
        for contact_id in self._shown.get(agent_id, ()):
            if contact_id not in snapshot.contact_ids and self._watched.get(contact_id) == agent_id:
                del self._watched[contact_id]
        for contact_id in snapshot.contact_ids:
            self._watched[contact_id] = agent_id
        self._shown[agent_id] = snapshot.contact_ids
        return encode({"type": "agent", "now": self.core.clock(), "agent": snapshot.body})

    # ---------------------------------------------------------- wallboards
    def broadcast_stats(
        self, stats: dict[str, Any], to: Iterable[Subscriber] | None = None
    ) -> None:
        """One stats tick to every wallboard (or `to`); the history only to those behind."""
        targets = self.wallboards if to is None else to
        message = {"type": "stats", "now": self.core.clock(), "stats": stats}
        version = self.history.version
        plain: str | None = None
        full: str | None = None
        for subscriber in targets:
            if subscriber.history_version == version:
                if plain is None:
                    plain = encode({**message, "minute": self.history.current()})
                subscriber.push(plain)
                continue
            if full is None:
                full = encode(
                    {
                        **message,
                        "minute": self.history.current(),
                        "history": self.history.finished(),
                    }
                )
            subscriber.push(full)
            subscriber.history_version = version
