"""`router run`: the daemon, one asyncio task group on uvloop.

Named tasks: `engine` (the core's single writer, which also fires timers),
`mqtt` (the bridge, reconnecting on its own), `collector` (keeps the garbage
collector's pauses short, `router.runtime.collector`) and the HTTP and SMTP
servers, which aiohttp and asyncio run on the loop. SIGTERM or SIGINT drains: the
listeners stop taking input, the events already taken are applied, the MQTT
outbox is flushed (bounded), then everything stops and the exit code is 0.
SIGHUP reloads the config (CONTRACT 6), like `POST /v1/admin/reload`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from router.compiled import is_compiled
from router.config import ConfigError, RouterConfig
from router.plugins import RouterPlugins
from router.runtime.api import reload_config
from router.runtime.app import build_app
from router.runtime.auth import Tokens, load_or_create_key
from router.runtime.collector import keep_heap_frozen
from router.runtime.core import RouterCore
from router.runtime.http_common import Health
from router.runtime.metrics import RouterMetrics
from router.runtime.mqtt import MqttBridge
from router.runtime.smtp import start_smtp, stop_smtp
from router.store import StoreError
from router.store.sqlite import SqliteStore

log = logging.getLogger("router.daemon")

#: how long a drain waits for the MQTT outbox to empty before giving up on it
DRAIN_SECONDS = 10.0


class StartupError(Exception):
    """The daemon cannot start as configured; the message says why and what to do."""


def check_startable(config: RouterConfig) -> None:
    """Refuse configurations that would expose the router unprotected."""
    if not _is_loopback(config.http.host) and not config.auth.admin_token:
        raise StartupError(
            f"refusing to listen on {config.http.host}:{config.http.port} without an admin "
            "token: set [auth] admin_token (or its env: variable), or bind 127.0.0.1"
        )


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


async def serve(
    config: RouterConfig,
    plugins: RouterPlugins,
    *,
    stop: asyncio.Event | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT when `stop` is None), then drain."""
    check_startable(config)
    loop = asyncio.get_running_loop()
    stop = stop or _stop_on_signals(loop)
    store = open_store(config)
    core = RouterCore(config, plugins, store=store)
    health = Health(parts={"engine": "ok", "store": "ok"})
    tokens = Tokens(config.auth.admin_token, load_or_create_key(_key_path(config)))
    core.add_restore_listener(lambda kept: tokens.restore(kept, core.engine.agents))
    metrics = RouterMetrics(core)
    app = build_app(core, tokens, health, metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    bridge = MqttBridge(core, health) if config.mqtt.url else None
    if bridge is None:
        health.set("mqtt", "disabled")
    with contextlib.suppress(NotImplementedError):  # no SIGHUP on Windows
        loop.add_signal_handler(signal.SIGHUP, lambda: _reload_in_background(app))
    # Listen first, so a taken port fails before anything runs. Requests in the
    # moment before the writer starts get 503 + Retry-After, like a stopping router.
    try:
        site = web.TCPSite(runner, config.http.host, config.http.port, reuse_address=True)
        await site.start()
        health.set("http", "ok")
        smtp = await start_smtp(core, health)
    except OSError as exc:
        await runner.cleanup()
        store.close()
        raise StartupError(f"cannot listen: {exc.strerror or exc}") from exc
    try:
        await _run_parts(
            core, bridge=bridge, site=site, smtp=smtp, runner=runner, stop=stop, ready=ready
        )
    except BaseExceptionGroup as group:
        failure = next((e for e in group.exceptions if isinstance(e, StoreError)), None)
        if failure is None:
            raise
        await runner.cleanup()
        raise StartupError(str(failure)) from failure
    finally:
        store.close()
    log.info("stopped")


async def _run_parts(
    core: RouterCore,
    *,
    bridge: MqttBridge | None,
    site: web.TCPSite,
    smtp: asyncio.Server,
    runner: web.AppRunner,
    stop: asyncio.Event,
    ready: Callable[[], None] | None,
) -> None:
    """The engine and MQTT tasks, until `stop`; then drain."""
    config = core.config
    async with asyncio.TaskGroup() as group:
        engine_task = group.create_task(core.run(), name="engine")
        mqtt_task = group.create_task(bridge.run(), name="mqtt") if bridge else None
        await core.started.wait()  # restored from the store (which also froze what it built)
        collector_task = group.create_task(keep_heap_frozen(), name="collector")
        log.info(
            "router ready",
            extra={
                "http": f"{config.http.host}:{config.http.port}",
                "smtp": f"{config.smtp.host}:{config.smtp.port}",
                "mqtt": "on" if bridge else "off",
                "queues": [q.name for q in config.queues],
                "engine": "compiled" if is_compiled() else "plain Python",
            },
        )
        if ready is not None:
            ready()
        await stop.wait()
        log.info("draining")
        await site.stop()
        await stop_smtp(smtp)
        core.stop_accepting()
        await core.drained()
        if bridge is not None and mqtt_task is not None:
            await _flush(bridge)
            mqtt_task.cancel()
        engine_task.cancel()
        collector_task.cancel()
        await runner.cleanup()


def open_store(config: RouterConfig) -> SqliteStore:
    """The store `[store]` names; `StartupError` saying why when it cannot be opened."""
    try:
        return SqliteStore(
            config.store.path,
            synchronous=config.store.synchronous,
            retention_days=config.store.retention_days,
        )
    except StoreError as error:
        raise StartupError(str(error)) from error


async def _flush(bridge: MqttBridge) -> None:
    """Give the broker the outbox before stopping; bounded, as the broker may be away."""
    if bridge.connected:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                await bridge.flushed()
    if bridge.outbox_size:
        log.warning("stopping with %d MQTT messages not yet published", bridge.outbox_size)


def _stop_on_signals(loop: asyncio.AbstractEventLoop) -> asyncio.Event:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


_reloads: set[asyncio.Task[None]] = set()


def _reload_in_background(app: web.Application) -> None:
    task = asyncio.get_running_loop().create_task(_reload(app), name="reload")
    _reloads.add(task)  # keep a reference until it is done
    task.add_done_callback(_reloads.discard)


async def _reload(app: web.Application) -> None:
    try:
        config = await reload_config(app)
    except ConfigError as error:
        log.error(
            "reload refused; the old config stays in force",
            extra={"problems": [str(p) for p in error.problems]},
        )
        return
    except Exception:
        log.exception("reload failed; the old config stays in force")
        return
    log.info("config reloaded", extra={"queues": [q.name for q in config.queues]})


def _key_path(config: RouterConfig) -> Path:
    """The router's secret key lives beside the store, in its own file."""
    return config.store.path.parent / "router.key"
