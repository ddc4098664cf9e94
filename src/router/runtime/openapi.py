"""`GET /v1/openapi.json`: the OpenAPI 3 document of every HTTP route.

Written by hand, next to nothing else, and checked against the app's routes by
`tests/runtime/test_openapi.py`: a route without its entry here (or an entry
without its route) fails the build.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router import __version__
from router.runtime.http_common import json_response

routes = web.RouteTableDef()

_ERROR = {"$ref": "#/components/schemas/Error"}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_NO_AUTH: list[dict[str, list[str]]] = []


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {
        400: "Bad input",
        401: "No or unknown bearer token",
        403: "Wrong role, another agent's resource, or a bad signature",
        404: "Not found",
        409: "Conflict (e.g. the offer is already taken)",
        413: "Body too large",
        503: "Overloaded, starting, stopping or the store cannot write; retry after Retry-After",
    }
    return {str(s): {"description": names[s], **_json(_ERROR)} for s in statuses}


_COMMON = (400, 401, 403, 413, 503)


def _op(
    summary: str,
    ok: tuple[int, str, dict[str, Any] | None],
    *,
    body: dict[str, Any] | None = None,
    errors: tuple[int, ...] = _COMMON,
    security: list[dict[str, list[str]]] = _BEARER,
    params: tuple[str, ...] = (),
    content: str = "application/json",
) -> dict[str, Any]:
    status, description, schema = ok
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = {content: {"schema": schema}}
    operation: dict[str, Any] = {
        "summary": summary,
        "security": security,
        "responses": {str(status): answer, **_errors(*errors)},
    }
    if params:
        operation["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ]
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
    return operation


def _form(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": _NO_AUTH,
        "parameters": [
            {
                "name": "X-Twilio-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                }
            },
        },
        "responses": {
            "200": {
                "description": "TwiML",
                "content": {"text/xml": {"schema": {"type": "string"}}},
            },
            **_errors(400, 403, 413, 503),
        },
    }


def _page(summary: str) -> dict[str, Any]:
    return _op(
        summary,
        (200, "An HTML page", {"type": "string"}),
        errors=(),
        security=_NO_AUTH,
        content="text/html",
    )


_ANY_OBJECT: dict[str, Any] = {"type": "object"}
_STATE_BODY = {
    "type": "object",
    "required": ["state"],
    "properties": {"state": {"type": "string", "enum": ["available", "away", "offline"]}},
}
_ANSWER = {
    "type": "object",
    "properties": {
        "offer_id": {"type": "string"},
        "contact_id": {"type": "string"},
        "accepted": {"type": "boolean"},
        "state": {"type": "string"},
        "agent_id": {"type": ["string", "null"]},
    },
}
_CONTACT_STATE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "state": {"type": "string"},
        "queue": {"type": ["string", "null"]},
        "agent_id": {"type": ["string", "null"]},
    },
}

PATHS: dict[str, dict[str, Any]] = {
    "/v1/agents": {"get": _op("List agents (admin)", (200, "Agents", _ANY_OBJECT))},
    "/v1/agents/{agent_id}": {
        "put": _op(
            "Create or update an agent (admin); the answer carries its token",
            (200, "The agent's id and bearer token", _ref("AgentToken")),
            body=_ref("AgentProfile"),
            params=("agent_id",),
        ),
        "get": _op(
            "An agent with state, load, offers and contacts (admin or the agent)",
            (200, "The agent", _ref("Agent")),
            errors=(*_COMMON, 404),
            params=("agent_id",),
        ),
    },
    "/v1/agents/{agent_id}/state": {
        "post": _op(
            "Set an agent available, away or offline (admin or the agent)",
            (200, "The agent", _ref("Agent")),
            body=_STATE_BODY,
            errors=(*_COMMON, 404),
            params=("agent_id",),
        )
    },
    "/v1/agents/{agent_id}/token": {
        "post": _op(
            "Issue the agent a new token; the old one stops working (admin)",
            (200, "The agent's id and new token", _ref("AgentToken")),
            errors=(*_COMMON, 404),
            params=("agent_id",),
        )
    },
    "/v1/contacts": {
        "post": _op(
            "Take in a normalized contact (admin); idempotent on id",
            (202, "Accepted: its id and state", _CONTACT_STATE),
            body=_ref("Contact"),
        )
    },
    "/v1/contacts/{contact_id}": {
        "get": _op(
            "A contact with its events (admin, or an agent it was offered to)",
            (200, "The contact", _ANY_OBJECT),
            errors=(*_COMMON, 404),
            params=("contact_id",),
        )
    },
    "/v1/contacts/{contact_id}/complete": {
        "post": _op(
            "The agent finished the contact; wrap-up follows (admin or its agent)",
            (200, "The contact's state", _CONTACT_STATE),
            body={
                "type": "object",
                "properties": {
                    "outcome": {"type": "string", "default": "resolved"},
                    "csat": {"type": "integer", "minimum": 1, "maximum": 5},
                },
            },
            errors=(*_COMMON, 404, 409),
            params=("contact_id",),
        )
    },
    "/v1/contacts/{contact_id}/abandon": {
        "post": _op(
            "The customer left (admin or its agent)",
            (200, "The contact's state", _CONTACT_STATE),
            errors=(*_COMMON, 404, 409),
            params=("contact_id",),
        )
    },
    "/v1/contacts/{contact_id}/transfer": {
        "post": _op(
            "Move the contact to a queue or to one agent (admin or its agent)",
            (200, "The contact's state", _CONTACT_STATE),
            body={
                "type": "object",
                "properties": {"queue": {"type": "string"}, "agent_id": {"type": "string"}},
            },
            errors=(*_COMMON, 404, 409),
            params=("contact_id",),
        )
    },
    "/v1/offers/{offer_id}/accept": {
        "post": _op(
            "Accept an offer (its agent, or admin)",
            (200, "Accepted", _ANSWER),
            errors=(*_COMMON, 409),
            params=("offer_id",),
        )
    },
    "/v1/offers/{offer_id}/reject": {
        "post": _op(
            "Reject an offer; the contact goes back with its arrival time",
            (200, "Rejected", _ANSWER),
            errors=(*_COMMON, 409),
            params=("offer_id",),
        )
    },
    "/v1/stats": {"get": _op("Figures per queue and agents", (200, "Stats", _ref("Stats")))},
    "/v1/admin/reload": {
        "post": _op(
            "Re-read the config file; an invalid one is refused and the old stays",
            (200, "Reloaded", _ANY_OBJECT),
        )
    },
    "/v1/openapi.json": {
        "get": _op("This document", (200, "OpenAPI 3", _ANY_OBJECT), errors=(), security=_NO_AUTH)
    },
    "/healthz": {
        "get": _op(
            "Liveness, and which parts are degraded",
            (200, "Health", _ANY_OBJECT),
            errors=(),
            security=_NO_AUTH,
        )
    },
    "/metrics": {
        "get": _op(
            "Prometheus text format",
            (200, "Metrics", {"type": "string"}),
            errors=(),
            security=_NO_AUTH,
            content="text/plain",
        )
    },
    "/v1/channels/chat": {
        "post": _op(
            "A web chat contact (the site's token or admin); channel is chat",
            (202, "Accepted", _CONTACT_STATE),
            body=_ref("Contact"),
        )
    },
    "/v1/channels/meta/webhook": {
        "get": {
            "summary": "Meta's verify handshake",
            "security": _NO_AUTH,
            "parameters": [
                {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
                for n in ("hub.mode", "hub.verify_token", "hub.challenge")
            ],
            "responses": {
                "200": {
                    "description": "The challenge",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **_errors(403),
            },
        },
        "post": _op(
            "WhatsApp Cloud API and Messenger events, signed with X-Hub-Signature-256",
            (200, "What was taken in and what was ignored", _ANY_OBJECT),
            body=_ANY_OBJECT,
            errors=(400, 403, 413, 503),
            security=_NO_AUTH,
        ),
    },
    "/v1/channels/twilio/voice": {"post": _form("A Twilio voice call or status callback")},
    "/v1/channels/twilio/sms": {"post": _form("A Twilio SMS")},
    # CONTRACT 7: the pages and their live channel (docs/operations.md, "Web pages")
    "/v1/stream": {
        "get": {
            "summary": "The pages' live channel: a WebSocket (see the description)",
            "description": (
                "Upgrade to a WebSocket, then send the token as the first message, "
                '{"token": TOKEN, "view": "wallboard" | "agent", "agent_id": ID (admin only)}, '
                "within 10 s. The router answers hello, then stats ticks once a second "
                "(wallboard; any known token) or agent snapshots, offer and revoked messages "
                "(agent; an agent token watches only itself). Refusals close the socket: "
                "4400 bad first message, 4401 unknown token, 4403 another agent's desk, "
                "4408 no token in time, 4429 the browser read too slowly, 1013 starting, "
                "1001 stopping. The token travels in the socket, never in the URL."
            ),
            "security": _NO_AUTH,
            "responses": {"101": {"description": "Switching to the WebSocket protocol"}},
        }
    },
    "/wallboard": {"get": _page("The supervisors' wallboard (sign in with a token)")},
    "/agent": {"get": _page("The agent desktop (sign in with the agent's token)")},
    "/web/{name}": {
        "get": _op(
            "A script, style sheet or icon of the pages (served by the router itself)",
            (200, "The asset", {"type": "string"}),
            errors=(404,),
            security=_NO_AUTH,
            params=("name",),
            content="text/javascript",
        )
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Omnichannel router",
        "version": __version__,
        "description": (
            "CONTRACT v1: agents, contacts, offers, stats, channel webhooks, web pages."
        ),
    },
    "servers": [{"url": "/"}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "AgentProfile": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "skills": {
                        "type": "object",
                        "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 10},
                    },
                    "languages": {"type": "array", "items": {"type": "string"}},
                    "capacity": {
                        "type": "object",
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "AgentToken": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "token": {"type": "string"}},
            },
            "Agent": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "state": {"type": "string"},
                    "load": {"type": "object"},
                    "offers": {"type": "array", "items": _ANY_OBJECT},
                    "contacts": {"type": "array", "items": _ANY_OBJECT},
                },
            },
            "Contact": {
                "type": "object",
                "required": ["channel"],
                "properties": {
                    "id": {"type": "string"},
                    "channel": {"type": "string"},
                    "customer": {"type": "object"},
                    "subject": {"type": "string"},
                    "body": {"type": "string"},
                    "queue": {"type": "string"},
                    "skills": {"type": "array", "items": {"type": "string"}},
                    "priority": {"type": "integer"},
                    "thread_id": {"type": "string"},
                    "attributes": {"type": "object"},
                },
            },
            "Stats": {
                "type": "object",
                "properties": {
                    "queues": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                name: {"type": "number"}
                                for name in (
                                    "waiting",
                                    "longest_wait_seconds",
                                    "service_level",
                                    "asa_seconds",
                                    "handled",
                                    "abandoned",
                                    "agents_available",
                                )
                            }
                            | {"name": {"type": "string"}},
                        },
                    },
                    "agents": {"type": "object"},
                },
            },
        },
    },
}


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(DOCUMENT)
