"""The wallboard and agent pages (CONTRACT 7): static assets, a live stream, a hub.

`setup(app)` is all the runtime calls: it adds the page routes and
`GET /v1/stream`, hangs a `Hub` on the core's effect listeners, runs the
named `web-stats` task for as long as the app runs, and adds the pages'
gauges to `/metrics`.
"""

from __future__ import annotations

from aiohttp import web

from router.runtime.http_common import CORE
from router.runtime.metrics import METRICS
from router.web import pages, stream
from router.web.hub import Hub


def setup(app: web.Application) -> Hub:
    hub = Hub(app[CORE])
    app[stream.HUB] = hub
    app[stream.SOCKETS] = set()
    app.add_routes(pages.routes)
    app.add_routes(stream.routes)
    app.cleanup_ctx.append(stream.stats_ticker)
    app.on_shutdown.append(stream.close_sockets)
    metrics = app[METRICS]
    metrics.add_gauge_callback(
        "router_web_streams",
        "Page streams open (wallboards and agent desks).",
        lambda: hub.subscribers,
    )
    metrics.add_gauge_callback(
        "router_web_queued_messages", "Messages waiting for their browsers.", lambda: hub.queued
    )
    metrics.add_gauge_callback(
        "router_web_slow_disconnects",
        "Page streams closed since start because their browser read too slowly.",
        lambda: hub.disconnected_slow,
    )
    return hub
