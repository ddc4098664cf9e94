"""`GET /v1/stream`: who may watch what, and a slow browser never holds the router up."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from inprocess import ADMIN, Server

from router.web import stream
from router.web.hub import Hub
from router.web.stream import HUB

pytestmark = pytest.mark.asyncio

SUPPORT = {"skills": {"support": 5}, "capacity": {"chat": 2}}


async def _open(server: Server, first: dict[str, Any]) -> aiohttp.ClientWebSocketResponse:
    ws = await server.http.ws_connect(server.base + "/v1/stream")
    await ws.send_json(first)
    return ws


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of type `kind` (others are skipped)."""
    async with asyncio.timeout(5):
        while True:
            message: dict[str, Any] = await ws.receive_json()
            if message["type"] == kind:
                return message


async def _closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    async with asyncio.timeout(5):
        while True:
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return ws.close_code


@pytest.mark.parametrize(
    ("first", "code"),
    [
        ({"token": "nobody", "view": "wallboard"}, stream.UNAUTHORIZED),
        ({"token": f"{ADMIN}x", "view": "agent", "agent_id": "a1"}, stream.UNAUTHORIZED),
        ({"view": "wallboard"}, stream.BAD_REQUEST),
        ({"token": ADMIN, "view": "desk"}, stream.BAD_REQUEST),
        ({"token": ADMIN, "view": "agent"}, stream.BAD_REQUEST),
    ],
)
async def test_a_bad_first_message_is_refused(
    server: Server, first: dict[str, Any], code: int
) -> None:
    ws = await _open(server, first)
    assert await _closed_with(ws) == code


async def test_a_socket_that_sends_no_token_is_closed(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "AUTH_SECONDS", 0.2)
    ws = await server.http.ws_connect(server.base + "/v1/stream")
    assert await _closed_with(ws) == stream.TIMEOUT


async def test_a_token_in_the_url_is_no_sign_in(server: Server) -> None:
    ws = await server.http.ws_connect(f"{server.base}/v1/stream?token={ADMIN}")
    await ws.send_str("hello")
    assert await _closed_with(ws) == stream.BAD_REQUEST


async def test_an_agent_sees_only_its_own_offers(server: Server) -> None:
    ada = await server.agent("ada", name="Ada", **SUPPORT)
    bob = await server.agent("bob", name="Bob", **SUPPORT)
    ws_ada = await _open(server, {"token": ada, "view": "agent"})
    ws_bob = await _open(server, {"token": bob, "view": "agent"})
    hello = await _next(ws_ada, "hello")
    assert (hello["role"], hello["agent_id"]) == ("agent", "ada")
    assert (await _next(ws_ada, "agent"))["agent"]["offers"] == []
    assert (await _next(ws_bob, "agent"))["agent"]["id"] == "bob"
    _, text = await server.call("GET", "/metrics", token=None)
    assert "router_web_streams 2.0" in text

    offered = {}
    for n in range(2):
        status, body = await server.call(
            "POST",
            "/v1/contacts",
            json={"id": f"c{n}", "channel": "chat", "customer": {"name": f"Cust {n}"}},
        )
        assert status == 202, body
        _, seen = await server.call("GET", f"/v1/contacts/c{n}")
        offered[seen["offer"]["agent_id"]] = seen
    assert set(offered) == {"ada", "bob"}  # one each: the longest idle first

    for ws, me, other in ((ws_ada, "ada", "bob"), (ws_bob, "bob", "ada")):
        offer = await _next(ws, "offer")
        assert offer["offer_id"] == offered[me]["offer"]["offer_id"]
        assert offer["contact"]["customer"]["name"].startswith("Cust")
        snapshot = await _next(ws, "agent")
        assert [o["offer_id"] for o in snapshot["agent"]["offers"]] == [offer["offer_id"]]
        assert offered[other]["offer"]["offer_id"] not in str(snapshot)

    # accepting through the API shows as a contact on the agent's own stream only
    offer_id = offered["ada"]["offer"]["offer_id"]
    status, _ = await server.call("POST", f"/v1/offers/{offer_id}/accept", token=ada)
    assert status == 200
    snapshot = await _next(ws_ada, "agent")
    assert [c["id"] for c in snapshot["agent"]["contacts"]] == [offered["ada"]["id"]]
    await ws_ada.close()
    await ws_bob.close()


async def test_an_agent_may_not_watch_another_but_the_admin_may(server: Server) -> None:
    ada = await server.agent("ada", name="Ada", **SUPPORT)
    await server.agent("bob", name="Bob", **SUPPORT)
    ws = await _open(server, {"token": ada, "view": "agent", "agent_id": "bob"})
    assert await _closed_with(ws) == stream.FORBIDDEN
    ws = await _open(server, {"token": ADMIN, "view": "agent", "agent_id": "bob"})
    assert (await _next(ws, "hello"))["role"] == "admin"
    assert (await _next(ws, "agent"))["agent"]["name"] == "Bob"
    await ws.close()


async def test_a_revoked_offer_reaches_its_agent(server: Server) -> None:
    ada = await server.agent("ada", name="Ada", **SUPPORT)
    ws = await _open(server, {"token": ada, "view": "agent"})
    await _next(ws, "agent")
    await server.call("POST", "/v1/contacts", json={"id": "gone", "channel": "chat"})
    offer = await _next(ws, "offer")
    status, _ = await server.call("POST", "/v1/contacts/gone/abandon")
    assert status == 200
    revoked = await _next(ws, "revoked")
    assert (revoked["offer_id"], revoked["contact_id"]) == (offer["offer_id"], "gone")
    snapshot = await _next(ws, "agent")
    assert snapshot["agent"]["offers"] == []
    await ws.close()


async def _a_minute_with_room(before: float = 15.0, after: float = 3.0) -> None:
    """Wait, if need be, until the wall clock's minute is `after` seconds old (the history,
    sampled every second, has seen it turn) with `before` seconds left: the wallboard's
    figures of the minute under way start from zero when it turns."""
    into = time.time() % 60.0
    if into > 60.0 - before:
        await asyncio.sleep(60.0 - into + after)
    elif into < after:
        await asyncio.sleep(after - into)


async def test_the_wallboard_gets_figures_at_once_and_every_second(server: Server) -> None:
    await _a_minute_with_room()  # the checks below are of one minute's figures
    # an agent token may read the figures, as it may read GET /v1/stats
    ada = await server.agent("ada", name="Ada", skills={"support": 5}, capacity={"email": 1})
    ws = await _open(server, {"token": ada, "view": "wallboard"})
    assert (await _next(ws, "hello"))["view"] == "wallboard"
    first = await _next(ws, "stats")
    assert "history" in first  # the hour behind comes with the first figures
    support = next(q for q in first["stats"]["queues"] if q["name"] == "support")
    assert (support["waiting"], support["agents_available"], support["agents_idle"]) == (0, 1, 1)
    for n in range(2):
        await server.call("POST", "/v1/contacts", json={"id": f"m{n}", "channel": "email"})
    tick = await _next(ws, "stats")
    support = next(q for q in tick["stats"]["queues"] if q["name"] == "support")
    # an offered contact still waits (CONTRACT 3 counts it until answered)
    assert (support["waiting"], support["agents_busy"], support["agents_idle"]) == (2, 1, 0)
    assert tick["minute"]["support"]["offered"] == 2
    assert "history" not in tick  # sent again only when a minute is finished
    await ws.close()


async def test_a_browser_that_falls_behind_is_closed_not_waited_for(server: Server) -> None:
    ada = await server.agent("ada", name="Ada", **SUPPORT)
    ws = await _open(server, {"token": ada, "view": "agent"})
    await _next(ws, "agent")
    [subscriber] = _hub(server).subscribers_of("ada")
    # the core's listener pushes; a full queue must neither raise nor block it
    for _ in range(subscriber.queue.maxsize * 3):
        subscriber.push('{"type": "noise"}')
    assert subscriber.overflowed.is_set()
    assert await _closed_with(ws) == stream.TOO_SLOW
    await asyncio.sleep(0.05)
    assert _hub(server).subscribers == 0
    status, text = await server.call("GET", "/metrics", token=None)
    assert status == 200
    assert "router_web_slow_disconnects 1.0" in text
    assert "router_web_streams 0.0" in text


def _hub(server: Server) -> Hub:
    assert server.app is not None
    return server.app[HUB]


async def test_a_held_contact_the_customer_abandons_goes_to_wrapup(server: Server) -> None:
    ada = await server.agent("ada", name="Ada", **SUPPORT)
    ws = await _open(server, {"token": ada, "view": "agent"})
    await _next(ws, "agent")
    await server.call("POST", "/v1/contacts", json={"id": "held", "channel": "chat"})
    offer = await _next(ws, "offer")
    await server.call("POST", f"/v1/offers/{offer['offer_id']}/accept", token=ada)
    while [c["id"] for c in (await _next(ws, "agent"))["agent"]["contacts"]] != ["held"]:
        pass
    status, _ = await server.call("POST", "/v1/contacts/held/abandon")
    assert status == 200
    [contact] = (await _next(ws, "agent"))["agent"]["contacts"]
    # the agent still wraps it up: off the contacts to complete, on to the countdown
    assert (contact["id"], contact["state"]) == ("held", "wrapup")
    assert contact["wrapup_until"] > offer["expires_at"] - 20
    await ws.close()
    await asyncio.sleep(0.05)
    assert _hub(server)._watched == {}  # nothing kept for a desk nobody watches


async def test_a_restore_redraws_every_open_desk(server: Server) -> None:
    # what a store outage undid comes with no effect: the restore listener redraws
    ada = await server.agent("ada", name="Ada", **SUPPORT)
    ws = await _open(server, {"token": ada, "view": "agent"})
    await _next(ws, "agent")
    _hub(server).refresh()
    assert (await _next(ws, "agent"))["agent"]["state"] == "available"
    await ws.close()
