"""`GET /v1/stream`: the pages' live channel, a WebSocket.

Why a WebSocket and not server-sent events: a browser can set no
`Authorization` header on either, and with SSE the token would have to ride
in the URL, where access logs, proxies and the browser's history keep it.
Over a WebSocket the page sends the token as its first message instead, so
no URL ever carries it and no ticket endpoint is needed. (The pages act
through the REST API with `fetch` and a bearer header, so nothing else goes
up the socket.)

The first message, within `AUTH_SECONDS`:
`{"token": TOKEN, "view": "wallboard" | "agent", "agent_id": ID (admin only)}`.
Then the server sends `hello`, and `stats` ticks (wallboard) or `agent`
snapshots, `offer` and `revoked` messages (agent). Refusals close the socket
with a code the page shows: 4400 bad first message, 4401 unknown token, 4403
another agent, 4408 no token in time, 4429 the browser read too slowly, 1013
the router is starting, 1001 the router is stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from router.runtime.auth import Caller
from router.runtime.http_common import CORE, TOKENS
from router.web.hub import OVERFLOW, Hub, Subscriber, encode
from router.web.snapshots import wallboard_stats

log = logging.getLogger("router.web")

HUB = web.AppKey("web_hub", Hub)
SOCKETS = web.AppKey("web_sockets", set[web.WebSocketResponse])

#: how long a new socket may take to send its token
AUTH_SECONDS = 10.0
#: a send that takes longer than this means the browser stopped reading
SEND_SECONDS = 10.0
#: wallboard figures are sent this often (and the history sampled)
TICK_SECONDS = 1.0
#: a tick may take at most 1/TICK_BUDGET of the loop's time (it then ticks less often)
TICK_BUDGET = 20
#: ping/pong: a browser that vanished without closing is noticed within this
HEARTBEAT_SECONDS = 20.0

BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, TIMEOUT, TOO_SLOW = 4400, 4401, 4403, 4408, 4429
TRY_AGAIN, GOING_AWAY = 1013, 1001

routes = web.RouteTableDef()


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Viewer:
    view: str
    caller: Caller
    #: whose desk an agent stream shows; None for a wallboard
    agent_id: str | None


@routes.get("/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=8192)
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    try:
        try:
            viewer = await _sign_in(request, ws)
        except Refused as refused:
            await ws.close(code=refused.code, message=refused.reason.encode()[:120])
            return ws
        await _serve(request, ws, viewer)
    finally:
        sockets.discard(ws)
    return ws


async def _sign_in(request: web.Request, ws: web.WebSocketResponse) -> Viewer:
    try:
        async with asyncio.timeout(AUTH_SECONDS):
            message = await ws.receive()
    except TimeoutError:
        raise Refused(TIMEOUT, "send the token first") from None
    if message.type is not WSMsgType.TEXT:
        raise Refused(BAD_REQUEST, "the first message must be JSON text")
    try:
        body = orjson.loads(message.data)
    except orjson.JSONDecodeError:
        raise Refused(BAD_REQUEST, "the first message must be JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("token"), str):
        raise Refused(BAD_REQUEST, 'the first message must be {"token": ..., "view": ...}')
    if not request.app[CORE].started.is_set():
        raise Refused(TRY_AGAIN, "the router is starting; retry shortly")
    who = request.app[TOKENS].identify(f"Bearer {body['token']}")
    if who is None:
        raise Refused(UNAUTHORIZED, "unknown token")
    return _viewer(body, who)


def _viewer(body: dict[str, Any], who: Caller) -> Viewer:
    view = body.get("view")
    if view == "wallboard":
        # the figures of GET /v1/stats, which every known token may read
        return Viewer("wallboard", who, None)
    if view != "agent":
        raise Refused(BAD_REQUEST, 'view must be "wallboard" or "agent"')
    wanted = body.get("agent_id")
    if who.admin:
        if not isinstance(wanted, str) or not wanted:
            raise Refused(BAD_REQUEST, "the admin token needs an agent_id to watch")
        return Viewer("agent", who, wanted)
    if wanted not in (None, who.agent_id):
        raise Refused(FORBIDDEN, "an agent token may watch only its own agent")
    return Viewer("agent", who, who.agent_id)


async def _serve(request: web.Request, ws: web.WebSocketResponse, viewer: Viewer) -> None:
    hub = request.app[HUB]
    hello = {
        "type": "hello",
        "view": viewer.view,
        "role": "admin" if viewer.caller.admin else "agent",
        "agent_id": viewer.agent_id,
    }
    await ws.send_str(encode(hello))
    subscriber = hub.subscribe(viewer.agent_id)
    if viewer.agent_id is None:
        # the page shows figures at once, not after the next tick
        core = request.app[CORE]
        hub.broadcast_stats(wallboard_stats(core.engine, core.clock()), to=[subscriber])
    sender = asyncio.create_task(_send(ws, subscriber), name=f"web-stream-{viewer.view}")
    try:
        async for _ in ws:
            pass  # nothing is expected after the token; reading keeps ping/pong and close going
    finally:
        hub.unsubscribe(subscriber)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def _send(ws: web.WebSocketResponse, subscriber: Subscriber) -> None:
    while True:
        text = await subscriber.queue.get()
        if text == OVERFLOW:
            log.warning("closing a %s stream: the browser reads too slowly", _who(subscriber))
            await ws.close(code=TOO_SLOW, message=b"too slow; reconnect")
            return
        try:
            async with asyncio.timeout(SEND_SECONDS):
                await ws.send_str(text)
        except TimeoutError:
            log.warning(
                "closing a %s stream: a send took over %g s", _who(subscriber), SEND_SECONDS
            )
            await ws.close(code=TOO_SLOW, message=b"too slow; reconnect")
            return
        except ConnectionError:
            return


def _who(subscriber: Subscriber) -> str:
    return "wallboard" if subscriber.agent_id is None else f"agent {subscriber.agent_id}"


# ------------------------------------------------------------------ lifecycle
async def stats_ticker(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the named task that samples the history and feeds the wallboards."""
    task = asyncio.create_task(_tick(app), name="web-stats")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _tick(app: web.Application) -> None:
    core, hub = app[CORE], app[HUB]
    await core.started.wait()
    # the first sample is the baseline of the first minute: take it before any arrival
    hub.history.sample(core.clock(), core.engine.counters)
    interval = TICK_SECONDS
    while True:
        await asyncio.sleep(interval)
        try:
            now = core.clock()
            hub.history.sample(now, core.engine.counters)
            if hub.wallboards:
                started = time.perf_counter()
                hub.broadcast_stats(wallboard_stats(core.engine, now))
                # the figures count every agent, on the loop everything shares: with
                # tens of thousands of agents, tick less often rather than take over 5 %
                interval = max(TICK_SECONDS, (time.perf_counter() - started) * TICK_BUDGET)
        except Exception:  # a bug here must not end the wallboards' figures for good
            log.exception("the wallboard figures failed")


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: open streams would hold the drain up to aiohttp's shutdown timeout."""
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=GOING_AWAY, message=b"router stopping")
