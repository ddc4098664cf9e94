"""CONTRACT 3's REST API: agents, contacts, offers, stats, reload, health.

Handlers check who is calling, turn the body into an engine event, submit it
and render the result. Rules the engine owns (an offer already taken, a
contact not held by this agent) come back as `EngineError` and leave through
the error middleware with their status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from router.config import ConfigError, RouterConfig
from router.engine import (
    AgentStateChanged,
    AgentUpserted,
    ContactAbandoned,
    ContactCompleted,
    ContactTransferred,
    Event,
    OfferAnswered,
)
from router.engine.records import AgentRecord, ContactRecord
from router.model import PROFICIENCY_MAX, PROFICIENCY_MIN, AgentProfile, AgentState
from router.runtime.auth import ROTATIONS_KEY, Caller
from router.runtime.http_common import (
    CORE,
    HEALTH,
    TOKENS,
    ApiError,
    caller,
    json_response,
    read_object,
    require_admin,
    require_self,
)
from router.runtime.views import agent_json, contact_json, stats_json

#: ids end up in MQTT topics and URLs: no slashes, wildcards or spaces
_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")
MAX_CAPACITY = 100

routes = web.RouteTableDef()


def _path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not _ID.match(value):
        raise ApiError(
            400, "bad_request", f"{name} must be 1-200 letters, digits or . _ : @ - characters"
        )
    return value


# ------------------------------------------------------------------ agents
@routes.put("/v1/agents/{agent_id}")
async def put_agent(request: web.Request) -> web.Response:
    require_admin(request)
    agent_id = _path_id(request, "agent_id")
    profile = agent_profile_from_json(agent_id, await read_object(request))
    await request.app[CORE].submit(AgentUpserted(profile))
    return json_response({"id": agent_id, "token": request.app[TOKENS].token_for(agent_id)})


@routes.post("/v1/agents/{agent_id}/token")
async def rotate_token(request: web.Request) -> web.Response:
    require_admin(request)
    agent_id = _path_id(request, "agent_id")
    _agent(request, agent_id)
    tokens = request.app[TOKENS]
    # kept before it takes effect: a token handed out must survive a restart
    await request.app[CORE].keep(ROTATIONS_KEY, orjson.dumps(tokens.rotations_after(agent_id)))
    return json_response({"id": agent_id, "token": tokens.rotate(agent_id)})


@routes.get("/v1/agents")
async def list_agents(request: web.Request) -> web.Response:
    require_admin(request)
    engine = request.app[CORE].engine
    return json_response({"agents": [agent_json(engine, a) for a in engine.agents.values()]})


@routes.get("/v1/agents/{agent_id}")
async def get_agent(request: web.Request) -> web.Response:
    agent_id = _path_id(request, "agent_id")
    require_self(request, agent_id)
    engine = request.app[CORE].engine
    return json_response(agent_json(engine, _agent(request, agent_id)))


@routes.post("/v1/agents/{agent_id}/state")
async def set_agent_state(request: web.Request) -> web.Response:
    agent_id = _path_id(request, "agent_id")
    require_self(request, agent_id)
    body = await read_object(request)
    state = _agent_state(body.get("state"))
    core = request.app[CORE]
    await core.submit(AgentStateChanged(agent_id, state))
    return json_response(agent_json(core.engine, _agent(request, agent_id)))


def _agent(request: web.Request, agent_id: str) -> AgentRecord:
    agent = request.app[CORE].engine.agent(agent_id)
    if agent is None:
        raise ApiError(404, "not_found", f"no agent {agent_id}")
    return agent


def _agent_state(value: object) -> AgentState:
    try:
        return AgentState(str(value))
    except ValueError:
        choices = ", ".join(repr(str(s)) for s in AgentState)
        raise ApiError(400, "bad_request", f"state must be one of {choices}") from None


def agent_profile_from_json(agent_id: str, body: Mapping[str, Any]) -> AgentProfile:
    """CONTRACT 3 `PUT /v1/agents/{id}`; `ApiError` 400 naming the field."""
    name = body.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise ApiError(400, "bad_request", "name must be a string of at most 200 characters")
    skills = _int_map(body.get("skills", {}), "skills", PROFICIENCY_MIN, PROFICIENCY_MAX)
    capacity = _int_map(body.get("capacity", {}), "capacity", 0, MAX_CAPACITY)
    languages = body.get("languages") or []
    if not isinstance(languages, list) or not all(
        isinstance(x, str) and x.strip() for x in languages
    ):
        raise ApiError(400, "bad_request", "languages must be a list of language codes")
    return AgentProfile(
        id=agent_id,
        name=name,
        skills=skills,
        languages=frozenset(x.strip().lower() for x in languages),
        capacity=capacity,
    )


def _int_map(value: object, field: str, low: int, high: int) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ApiError(400, "bad_request", f"{field} must be an object of name → integer")
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            raise ApiError(
                400, "bad_request", f"{field}.{key} must be an integer from {low} to {high}"
            )
        if not key.strip():
            raise ApiError(400, "bad_request", f"{field} has an empty name")
    return dict(value)


# ---------------------------------------------------------------- contacts
@routes.post("/v1/contacts")
async def post_contact(request: web.Request) -> web.Response:
    require_admin(request)
    core = request.app[CORE]
    body = await read_object(request)
    channel = body.get("channel")
    if not isinstance(channel, str) or not channel:
        raise ApiError(400, "bad_request", "channel is required (voice, chat, email, ...)")
    record = await core.submit_contact(core.parse_contact(channel, body))
    return accepted(record)


def accepted(record: ContactRecord) -> web.Response:
    """202 for a contact taken in (CONTRACT 3), also when its id was seen before."""
    return json_response(
        {
            "id": record.id,
            "state": str(record.state),
            "queue": record.queue,
            "reason": record.reason,
        },
        status=202,
    )


@routes.get("/v1/contacts/{contact_id}")
async def get_contact(request: web.Request) -> web.Response:
    who = caller(request)
    core = request.app[CORE]
    record = _contact(request)
    involved = {record.agent_id, record.offer.agent_id if record.offer else None}
    involved.update(event.agent_id for event in record.events)
    if not who.admin and who.agent_id not in involved:
        raise ApiError(403, "forbidden", "an agent may read only contacts offered to it")
    return json_response(contact_json(core.engine, record))


@routes.post("/v1/contacts/{contact_id}/complete")
async def complete(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_object(request) if request.can_read_body else {}
    outcome = body.get("outcome", "resolved")
    if not isinstance(outcome, str) or not outcome.strip() or len(outcome) > 100:
        raise ApiError(400, "bad_request", "outcome must be a non-empty string")
    csat = body.get("csat")
    if csat is not None and (isinstance(csat, bool) or not isinstance(csat, int)):
        raise ApiError(400, "bad_request", "csat must be an integer from 1 to 5")
    contact_id = _contact(request).id
    event = ContactCompleted(contact_id, outcome.strip(), csat, by_agent=_acting(who))
    return await _submit_and_show(request, event, contact_id)


@routes.post("/v1/contacts/{contact_id}/abandon")
async def abandon(request: web.Request) -> web.Response:
    who = caller(request)
    contact_id = _contact(request).id
    return await _submit_and_show(
        request, ContactAbandoned(contact_id, by_agent=_acting(who)), contact_id
    )


@routes.post("/v1/contacts/{contact_id}/transfer")
async def transfer(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_object(request)
    queue, agent_id = body.get("queue"), body.get("agent_id")
    if (queue is None) == (agent_id is None):
        raise ApiError(400, "bad_request", 'give exactly one of "queue" or "agent_id"')
    if not isinstance(queue or agent_id, str) or not (queue or agent_id):
        raise ApiError(400, "bad_request", "queue or agent_id must be a non-empty string")
    contact_id = _contact(request).id
    event = ContactTransferred(contact_id, queue, agent_id, by_agent=_acting(who))
    return await _submit_and_show(request, event, contact_id)


def _acting(who: Caller) -> str | None:
    """The agent a request acts for; None for the admin (who may act on any contact)."""
    return None if who.admin else who.agent_id


def _contact(request: web.Request) -> ContactRecord:
    contact_id = request.match_info["contact_id"]
    record = request.app[CORE].engine.contact(contact_id)
    if record is None:
        raise ApiError(404, "not_found", f"no contact {contact_id}")
    return record


async def _submit_and_show(request: web.Request, event: Event, contact_id: str) -> web.Response:
    core = request.app[CORE]
    await core.submit(event)
    record = core.engine.contact(contact_id)
    assert record is not None
    return json_response(
        {
            "id": record.id,
            "state": str(record.state),
            "queue": record.queue,
            "agent_id": record.agent_id,
        }
    )


# ------------------------------------------------------------------ offers
@routes.post("/v1/offers/{offer_id}/accept")
async def accept_offer(request: web.Request) -> web.Response:
    return await _answer(request, accept=True)


@routes.post("/v1/offers/{offer_id}/reject")
async def reject_offer(request: web.Request) -> web.Response:
    return await _answer(request, accept=False)


async def _answer(request: web.Request, *, accept: bool) -> web.Response:
    who = caller(request)
    core = request.app[CORE]
    offer_id = request.match_info["offer_id"]
    offer = core.engine.offer(offer_id)
    contact_id = offer.contact_id if offer else None
    await core.submit(OfferAnswered(offer_id, accept, agent_id=_acting(who)))
    assert contact_id is not None  # a gone offer was refused with 409 above
    record = core.engine.contact(contact_id)
    assert record is not None
    return json_response(
        {
            "offer_id": offer_id,
            "contact_id": contact_id,
            "accepted": accept,
            "state": str(record.state),
            "agent_id": record.agent_id,
        }
    )


# ------------------------------------------------------------ stats, admin
@routes.get("/v1/stats")
async def stats(request: web.Request) -> web.Response:
    caller(request)  # supervisors and agents alike may read the figures
    return json_response(stats_json(request.app[CORE].engine))


async def reload_config(app: web.Application) -> RouterConfig:
    """CONTRACT 6, for SIGHUP and `POST /v1/admin/reload` alike: re-read and apply the
    config, admin token included; `ConfigError` leaves the old one in force."""
    config = await app[CORE].reload()
    app[TOKENS].set_admin(config.auth.admin_token)
    return config


@routes.post("/v1/admin/reload")
async def reload(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        config = await reload_config(request.app)
    except ConfigError as error:
        lines = [str(problem) for problem in error.problems]
        raise ApiError(400, "invalid_config", "\n".join(lines)) from None
    return json_response(
        {"reloaded": True, "source": str(config.source), "queues": [q.name for q in config.queues]}
    )


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    health = request.app[HEALTH]
    core = request.app[CORE]
    health.set("engine", "ok" if core.started.is_set() else "starting: restoring from the store")
    if core.store is not None:
        health.set("store", core.store_problem or "ok")
    return json_response(
        {
            "status": "degraded" if health.degraded else "ok",
            "degraded": health.degraded,
            "parts": health.parts,
            "pending_events": core.pending,
            "uptime_seconds": round(core.clock() - core.started_at, 3),
        }
    )
