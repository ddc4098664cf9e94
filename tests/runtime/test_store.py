"""The core with a real SQLite store, over real HTTP: durable before yes, refused when it cannot be.

A second `serve_in_process` on the same file is a restart. The store is made
unable to write for real, by holding SQLite's write lock from another
connection, as another process (a backup tool, an admin's sqlite3 shell) would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inprocess import Server, example_config, serve_in_process

from router.engine import Effect, RevokeOffer, SendOffer
from router.runtime import core as core_module
from router.runtime.core import EARLY_FLUSH_EVENTS, OFFER_IDS_SKIPPED
from router.store import Batch, StoreError
from router.store.sqlite import SqliteStore

pytestmark = pytest.mark.asyncio


def _contact(contact_id: str) -> dict[str, object]:
    return {"id": contact_id, "channel": "chat", "body": "hello", "queue": "support"}


async def _post(server: Server, contact_id: str) -> tuple[int, object]:
    return await server.call("POST", "/v1/contacts", json=_contact(contact_id))


async def test_a_restart_brings_back_contacts_agents_offers_and_tokens(tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    async for server in serve_in_process(store=SqliteStore(path)):
        token = await server.agent("a1", skills={"support": 5}, capacity={"chat": 1})
        assert (await _post(server, "c1"))[0] == 202  # offered to a1
        assert (await _post(server, "c2"))[0] == 202  # waits: a1 is full
        offer = server.core.engine.contact("c1")
        assert offer is not None
        assert offer.offer is not None
        offer_id = offer.offer.id
        status, body = await server.call("POST", "/v1/agents/a1/token")
        assert status == 200, body
        rotated = body["token"]
        assert rotated != token
    async for server in serve_in_process(store=SqliteStore(path)):
        status, body = await server.call("GET", "/v1/contacts/c1", token=rotated)
        assert status == 200, body
        assert body["state"] == "offered"
        assert (await server.call("GET", "/v1/contacts/c1", token=token))[0] == 401
        status, body = await server.call("POST", f"/v1/offers/{offer_id}/accept", token=rotated)
        assert status == 200, body
        status, body = await server.call("GET", "/v1/contacts/c2")
        assert body["state"] == "queued"
        status, body = await server.call("GET", "/v1/agents")
        assert [a["state"] for a in body["agents"]] == ["available"]


async def test_a_locked_store_refuses_work_with_503_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    async for server in serve_in_process(store=SqliteStore(path)):
        assert (await _post(server, "before"))[0] == 202
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            status, body = await _post(server, "during")
            assert status == 503, body
            assert body["error"]["code"] == "store_unavailable"
            assert "locked" in body["error"]["message"]
            # nothing of the refused batch stays, in memory or on disk
            assert (await server.call("GET", "/v1/contacts/during"))[0] == 404
            status, health = await server.call("GET", "/healthz")
            assert health["status"] == "degraded"
            assert "store" in health["degraded"]
            started = time.monotonic()
            status, body = await _post(server, "refused at once")
            assert status == 503
            assert time.monotonic() - started < 1.0  # no busy wait per request while broken
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        deadline = time.monotonic() + 15
        while (status := (await _post(server, "during"))[0]) == 503:
            assert time.monotonic() < deadline, "the router never accepted work again"
            await asyncio.sleep(0.2)
        assert status == 202
        status, health = await server.call("GET", "/healthz")
        assert health["parts"]["store"] == "ok"
    async for server in serve_in_process(store=SqliteStore(path)):
        for contact_id in ("before", "during"):
            status, body = await server.call("GET", f"/v1/contacts/{contact_id}")
            assert (status, body["state"]) == (200, "queued")
        status, body = await server.call("GET", "/v1/stats")
        support = next(q for q in body["queues"] if q["name"] == "support")
        assert support["waiting"] == 2


async def test_a_contact_id_is_idempotent_after_memory_forgot_it(tmp_path: Path) -> None:
    config, _ = example_config()
    routing = dataclasses.replace(config.engine.routing, finished_contacts_kept=1)
    config = dataclasses.replace(config, engine=dataclasses.replace(config.engine, routing=routing))
    async for server in serve_in_process(store=SqliteStore(tmp_path / "r.db"), config=config):
        for contact_id in ("old", "newer", "newest"):
            assert (await _post(server, contact_id))[0] == 202
            status, body = await server.call("POST", f"/v1/contacts/{contact_id}/abandon")
            assert status == 200, body
        assert server.core.engine.contact("old") is None  # memory keeps one finished contact
        status, body = await _post(server, "old")
        assert (status, body["state"]) == (202, "abandoned")
        assert server.core.engine.contact("old") is None  # nothing new was created


class _RecordingStore(SqliteStore):
    """A real SQLite store that notes when the core writes and syncs it."""

    def __init__(self, path: Path, seen: list[str]) -> None:
        super().__init__(path)
        self.seen = seen
        self.failing_writes = 0
        self.failing_syncs = 0

    def write(self, batch: Batch) -> None:
        if self.failing_writes:
            self.failing_writes -= 1
            raise StoreError("database or disk is full")
        super().write(batch)
        self.seen.append("write")

    def sync(self) -> None:
        if self.failing_syncs:
            self.failing_syncs -= 1
            raise StoreError("the disk said EIO")
        super().sync()
        self.seen.append("sync")


async def _recorded(tmp_path: Path) -> AsyncIterator[tuple[Server, list[str]]]:
    """A router on a `_RecordingStore`, and what it noted, from a clean slate."""
    seen: list[str] = []
    async for server in serve_in_process(store=_RecordingStore(tmp_path / "r.db", seen)):
        seen.clear()  # the start's own writes
        yield server, seen


async def _until_written(seen: list[str]) -> None:
    while "write" not in seen:
        await asyncio.sleep(0.001)


async def test_offers_go_out_before_the_commit_and_senders_hear_yes_after_the_sync(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    async for server in serve_in_process(store=_RecordingStore(tmp_path / "r.db", seen)):
        await server.agent("a1", skills={"support": 5}, capacity={"chat": 1})
        server.core.add_listener(lambda effect: seen.append(f"observed {type(effect).__name__}"))
        server.core.add_sender(
            lambda effect: seen.append(type(effect).__name__), lambda: seen.append("flush")
        )
        seen.clear()
        assert (await _post(server, "c1"))[0] == 202
        # the offer travels during the write and the sync; the events follow the write
        offer = seen.index("SendOffer")
        assert offer < seen.index("flush") < seen.index("write") < seen.index("sync")
        assert seen.index("write") < seen.index("RouterEvent") < seen.index("sync")
        # the observers (metrics, web pages) come after the write, off the offer's path
        assert seen.index("write") < seen.index("observed SendOffer") < seen.index("sync")
        # that the sender hears yes only after the sync: the tests below, where it fails


async def test_a_large_batch_leaves_its_offers_to_the_end_of_the_loop_turn(
    tmp_path: Path,
) -> None:
    # many events in one batch: the loop is behind, and keeps its core through the sync
    seen: list[str] = []
    async for server in serve_in_process(store=_RecordingStore(tmp_path / "r.db", seen)):
        await server.agent("a1", skills={"support": 5}, capacity={"chat": 10})
        server.core.add_sender(lambda effect: None, lambda: seen.append("flush"))
        seen.clear()
        many = EARLY_FLUSH_EVENTS + 1
        contacts = (server.core.parse_contact("chat", _contact(f"c{n}")) for n in range(many))
        await asyncio.gather(*(server.core.submit_contact(c) for c in contacts))
        assert seen == ["write", "sync"]
        assert (await _post(server, "one more"))[0] == 202
        assert seen == ["write", "sync", "flush", "write", "sync"]


async def test_a_refused_write_revokes_the_offers_that_went_out_before_it(
    tmp_path: Path,
) -> None:
    store = _RecordingStore(tmp_path / "r.db", [])
    sent: list[Effect] = []
    async for server in serve_in_process(store=store):
        token = await server.agent("a1", skills={"support": 5}, capacity={"chat": 1})
        server.core.add_sender(sent.append, lambda: None)
        store.failing_writes = 1
        status, body = await _post(server, "c1")
        assert (status, body["error"]["code"]) == (503, "store_unavailable"), body
        offers = [e for e in sent if isinstance(e, SendOffer | RevokeOffer)]
        assert [type(e).__name__ for e in offers] == ["SendOffer", "RevokeOffer"]
        assert offers[1].offer == offers[0].offer
        assert offers[1].reason == "not_kept"
        # the rebuilt engine never made that offer: its accept finds it gone
        accept = f"/v1/offers/{offers[0].offer.id}/accept"
        deadline = time.monotonic() + 15
        while (answer := await server.call("POST", accept, token=token))[0] == 503:
            assert time.monotonic() < deadline, "the router never accepted work again"
            await asyncio.sleep(0.2)
        assert answer[0] == 409, answer
        # sent again, the contact is kept and offered under a new offer id
        assert (await _post(server, "c1"))[0] == 202
        record = server.core.engine.contact("c1")
        assert record is not None
        assert record.offer is not None
        assert record.offer.id != offers[0].offer.id


async def test_a_failed_sync_refuses_the_batch_and_its_retry_finds_the_contact_once(
    tmp_path: Path,
) -> None:
    store = _RecordingStore(tmp_path / "r.db", [])
    async for server in serve_in_process(store=store):
        store.failing_syncs = 1
        status, body = await _post(server, "c1")
        assert status == 503, body
        assert "EIO" in body["error"]["message"]
        deadline = time.monotonic() + 15
        while (status := (await _post(server, "c1"))[0]) == 503:
            assert time.monotonic() < deadline, "the router never accepted work again"
            await asyncio.sleep(0.2)
        assert status == 202
        # committed before the sync failed, so the rebuild kept it: the retry found it
        assert [c.id for c in server.core.engine.contacts.values()] == ["c1"]


async def test_offer_ids_after_a_restart_never_repeat_one_an_agent_may_hold(
    tmp_path: Path,
) -> None:
    # offers go out before their batch is synced: after a power cut the store may have
    # lost the last ones, so a restarted router numbers new offers far past what it kept
    path = tmp_path / "router.db"
    async for server in serve_in_process(store=SqliteStore(path)):
        await server.agent("a1", skills={"support": 5}, capacity={"chat": 5})
        assert (await _post(server, "c1"))[0] == 202
        before = server.core.engine.offer_seq
    async for server in serve_in_process(store=SqliteStore(path)):
        assert (await _post(server, "c2"))[0] == 202
        record = server.core.engine.contact("c2")
        assert record is not None
        assert record.offer is not None
        assert int(record.offer.id.removeprefix("of-")) > before + OFFER_IDS_SKIPPED


async def test_agents_answers_wait_to_share_the_next_new_contacts_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one fsync per contact, not one per event: a batch with no new contact in it is
    # committed and sent out at once, and answered when a later sync covers it
    monkeypatch.setattr(core_module, "SYNC_HOLD_SECONDS", 3600.0)
    async for server, seen in _recorded(tmp_path):
        agent = asyncio.create_task(
            server.call("PUT", "/v1/agents/a1", json={"skills": {"support": 5}})
        )
        await _until_written(seen)
        await asyncio.sleep(0.1)
        assert not agent.done()  # committed, not yet synced: not yet answered
        assert "sync" not in seen
        assert (await _post(server, "c1"))[0] == 202
        assert (await agent)[0] == 200
        assert seen.count("write") == 2
        assert seen.count("sync") == 1  # the contact's sync covered the agent's change


async def test_a_held_answer_is_synced_and_sent_within_the_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core_module, "SYNC_HOLD_SECONDS", 0.05)
    async for server, seen in _recorded(tmp_path):
        status, body = await server.call("PUT", "/v1/agents/a1", json={"skills": {"x": 1}})
        assert status == 200, body
        assert seen == ["write", "sync"]  # nothing else came: the hold's timer synced it


async def test_a_held_answer_is_synced_when_the_router_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core_module, "SYNC_HOLD_SECONDS", 3600.0)
    async for server, seen in _recorded(tmp_path):
        agent = asyncio.create_task(server.core.keep("note", b"kept"))
        await _until_written(seen)
        server.core.stop_accepting()
        await server.core.drained()
        await agent
        assert seen == ["write", "sync"]
