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
from pathlib import Path

import pytest
from inprocess import Server, example_config, serve_in_process

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
