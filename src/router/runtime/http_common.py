"""What every HTTP handler shares: app keys, JSON in and out, errors, callers.

Every error leaves as CONTRACT 3's body `{"error": {"code", "message"}}`:
handlers raise `ApiError` (or let `EngineError`, `ModelError`, `Overloaded`
through) and `error_middleware` writes the answer. A 500 means a bug in the
router, never bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from router.engine import EngineError
from router.model import ModelError
from router.runtime.auth import Caller, Tokens
from router.runtime.core import NotRunning, Overloaded, RouterCore, StoreUnavailable

log = logging.getLogger("router.http")


@dataclass(slots=True)
class Health:
    """Each part of the daemon and how it is: "ok", "disabled", or what is wrong."""

    parts: dict[str, str] = field(default_factory=dict)

    def set(self, part: str, status: str) -> None:
        self.parts[part] = status

    @property
    def degraded(self) -> list[str]:
        return sorted(p for p, s in self.parts.items() if s not in ("ok", "disabled"))


CORE = web.AppKey("core", RouterCore)
TOKENS = web.AppKey("tokens", Tokens)
HEALTH = web.AppKey("health", Health)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ENGINE_STATUS = {"not_found": 404, "conflict": 409, "forbidden": 403, "bad_request": 400}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    response = json_response({"error": {"code": code, "message": message}}, status)
    response.headers.update(headers or {})
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.code, error.message, error.headers)
    except EngineError as error:
        if error.code == "plugin_error":
            log.error("refused %s %s: %s", request.method, request.path, error.message)
            return error_response(500, error.code, error.message)
        return error_response(_ENGINE_STATUS.get(error.code, 400), error.code, error.message)
    except ModelError as error:
        return error_response(400, "bad_request", str(error))
    except Overloaded as error:
        retry = {"Retry-After": str(max(1, round(error.retry_after)))}
        return error_response(503, "overloaded", str(error), retry)
    except NotRunning as error:
        return error_response(503, "unavailable", str(error), {"Retry-After": "1"})
    except StoreUnavailable as error:
        retry = {"Retry-After": str(max(1, round(error.retry_after)))}
        return error_response(503, "store_unavailable", str(error), retry)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = (
            exc.reason if exc.text is None or exc.text.startswith(str(exc.status)) else exc.text
        )
        if exc.status == 413:
            limit = request.app[CORE].config.limits.max_request_bytes
            message = f"request body too large (limit {limit} bytes)"
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return error_response(exc.status, code, message, headers)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 400 when it is not, 413 when it is too large."""
    body = await request.read()
    if not body:
        raise ApiError(400, "bad_request", "the request needs a JSON body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad_request", f"the body is not valid JSON: {exc}") from None


async def read_object(request: web.Request) -> dict[str, Any]:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return data


def caller(request: web.Request) -> Caller:
    """Who sent the request; 401 without a token the router knows."""
    if not request.app[CORE].started.is_set():
        # contacts, agents and tokens come back with the store: until then every
        # answer would be "no such thing", which is wrong; "not yet" is right
        raise NotRunning("the router is starting (restoring from the store); retry shortly")
    found = request.app[TOKENS].identify(request.headers.get("Authorization"))
    if found is None:
        message = (
            "missing bearer token"
            if "Authorization" not in request.headers
            else "unknown or malformed bearer token"
        )
        raise ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})
    return found


def require_admin(request: web.Request) -> Caller:
    found = caller(request)
    if not found.admin:
        raise ApiError(403, "forbidden", "this needs the admin token")
    return found


def require_self(request: web.Request, agent_id: str) -> Caller:
    """The admin, or the agent `agent_id` itself."""
    found = caller(request)
    if not found.may_act_as(agent_id):
        raise ApiError(403, "forbidden", "an agent token may act only as its own agent")
    return found
