"""The aiohttp application: every route of CONTRACTs 3 and 7, one error format, one size limit."""

from __future__ import annotations

from aiohttp import web

from router.runtime import api, openapi, webhooks
from router.runtime.auth import Tokens
from router.runtime.core import RouterCore
from router.runtime.http_common import CORE, HEALTH, TOKENS, Health, error_middleware
from router.runtime.metrics import METRICS, RouterMetrics, handle_metrics
from router.web import setup as setup_pages


def build_app(
    core: RouterCore, tokens: Tokens, health: Health, metrics: RouterMetrics
) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=core.config.limits.max_request_bytes,
    )
    app[CORE] = core
    app[TOKENS] = tokens
    app[HEALTH] = health
    app[METRICS] = metrics
    app.add_routes(api.routes)
    app.add_routes(webhooks.routes)
    app.add_routes(openapi.routes)
    app.router.add_get("/metrics", handle_metrics)
    setup_pages(app)  # /wallboard, /agent, their assets and /v1/stream (CONTRACT 7)
    return app
