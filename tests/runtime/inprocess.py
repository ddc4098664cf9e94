"""An in-process router on a real TCP port: the HTTP app, the core, no MQTT, no SMTP.

Tests talk to it over real HTTP with aiohttp's client, as an outside caller would.
Test modules import the helpers as `from inprocess import ...` (this folder is put
on `sys.path` by `conftest.py`, as `--import-mode=importlib` does not).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from router.config import RouterConfig, load_config_and_plugins
from router.runtime.app import build_app
from router.runtime.auth import Tokens
from router.runtime.core import RouterCore
from router.runtime.http_common import Health
from router.runtime.metrics import RouterMetrics
from router.store import Store

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "admin-secret-token"
ENV = {
    "ROUTER_ADMIN_TOKEN": ADMIN,
    "META_APP_SECRET": "meta-secret",
    "META_VERIFY_TOKEN": "meta-verify",
    "TWILIO_AUTH_TOKEN": "twilio-secret",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    core: RouterCore
    base: str
    http: aiohttp.ClientSession
    #: the app under test, for tests that look at its parts (the pages' hub)
    app: web.Application | None = None

    async def call(
        self, method: str, path: str, *, token: str | None = ADMIN, json: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(
            method, self.base + path, json=json, headers=headers, **kw
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def agent(self, agent_id: str, **profile: Any) -> str:
        """Create an available agent; its token."""
        status, body = await self.call("PUT", f"/v1/agents/{agent_id}", json=profile)
        assert status == 200, body
        token: str = body["token"]
        status, body = await self.call(
            "POST", f"/v1/agents/{agent_id}/state", token=token, json={"state": "available"}
        )
        assert status == 200, body
        return token


def example_config(**limits: int) -> tuple[RouterConfig, Any]:
    config, plugins = load_config_and_plugins(ROOT / "config" / "router.toml", env=ENV)
    config = dataclasses.replace(
        config,
        mqtt=dataclasses.replace(config.mqtt, url=None),
        limits=dataclasses.replace(config.limits, **limits),
    )
    return config, plugins


async def serve_in_process(
    *,
    start_writer: bool = True,
    store: Store | None = None,
    config: RouterConfig | None = None,
    **limits: int,
) -> AsyncIterator[Server]:
    """A router on a free port; with `store`, restored from it and writing to it."""
    example, plugins = example_config(**limits)
    core = RouterCore(config or example, plugins, store=store)
    tokens = Tokens(ADMIN, b"k" * 32)
    core.add_restore_listener(lambda kept: tokens.restore(kept, core.engine.agents))
    app = build_app(core, tokens, Health(), RouterMetrics(core, process=False))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    engine = asyncio.create_task(core.run() if start_writer else asyncio.sleep(3600))
    await asyncio.sleep(0)
    if start_writer:
        await core.started.wait()
    try:
        async with aiohttp.ClientSession() as http:
            yield Server(core, f"http://127.0.0.1:{port}", http, app)
    finally:
        engine.cancel()
        await asyncio.gather(engine, return_exceptions=True)
        await runner.cleanup()
