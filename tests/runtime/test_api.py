"""CONTRACT 3 over real HTTP: every endpoint, every error status, the JSON error body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from inprocess import ADMIN, Server, serve_in_process

from router.engine import ContactArrived
from router.model import Contact

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SUPPORT_CHAT = {"name": "Ada", "skills": {"support": 5}, "capacity": {"chat": 2, "email": 3}}


def assert_error(status: int, body: Any, expected_status: int, code: str | None = None) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str), body
    assert body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body


async def test_agent_lifecycle_and_token(server: Server) -> None:
    status, body = await server.call("PUT", "/v1/agents/a1", json=SUPPORT_CHAT)
    assert status == 200
    assert body["id"] == "a1"
    token = body["token"]
    # PUT again updates and keeps the token
    status, again = await server.call(
        "PUT", "/v1/agents/a1", json={**SUPPORT_CHAT, "languages": ["en", "FR"]}
    )
    assert (status, again["token"]) == (200, token)
    status, agent = await server.call("GET", "/v1/agents/a1", token=token)
    assert status == 200
    assert agent["state"] == "offline"
    assert agent["languages"] == ["en", "fr"]
    assert agent["capacity"] == {"chat": 2, "email": 3}
    status, agent = await server.call(
        "POST", "/v1/agents/a1/state", token=token, json={"state": "available"}
    )
    assert (status, agent["state"]) == (200, "available")
    # rotating the token retires the old one
    status, rotated = await server.call("POST", "/v1/agents/a1/token")
    assert status == 200
    assert rotated["token"] != token
    status, body = await server.call("GET", "/v1/agents/a1", token=token)
    assert_error(status, body, 401, "unauthorized")
    status, body = await server.call("GET", "/v1/agents/a1", token=rotated["token"])
    assert status == 200


async def test_a_chat_is_offered_accepted_completed_and_counted(server: Server) -> None:
    token = await server.agent("a1", **SUPPORT_CHAT)
    contact = {
        "id": "c1",
        "channel": "chat",
        "customer": {"name": "Grace", "email": "grace@example.com"},
        "body": "my order is late",
    }
    status, body = await server.call("POST", "/v1/contacts", json=contact)
    assert status == 202
    assert body["id"] == "c1"
    assert body["state"] == "offered"
    # idempotent on id: the same id again creates nothing new
    status, body = await server.call("POST", "/v1/contacts", json=contact)
    assert (status, body["id"], body["state"]) == (202, "c1", "offered")

    status, agent = await server.call("GET", "/v1/agents/a1", token=token)
    [offer] = agent["offers"]
    assert offer["contact_id"] == "c1"
    status, answer = await server.call(
        "POST", f"/v1/offers/{offer['offer_id']}/accept", token=token
    )
    assert (status, answer["state"], answer["agent_id"]) == (200, "assigned", "a1")
    # the offer is gone now: 409
    status, body = await server.call("POST", f"/v1/offers/{offer['offer_id']}/accept", token=token)
    assert_error(status, body, 409, "conflict")

    status, seen = await server.call("GET", "/v1/contacts/c1", token=token)
    assert status == 200
    assert (seen["state"], seen["queue"], seen["agent_id"]) == ("assigned", "support", "a1")
    assert [e["type"] for e in seen["history"]] == ["queued", "offered", "assigned"]

    status, done = await server.call(
        "POST", "/v1/contacts/c1/complete", token=token, json={"outcome": "resolved", "csat": 5}
    )
    assert (status, done["state"]) == (200, "wrapup")  # support has 30 s of wrap-up
    status, stats = await server.call("GET", "/v1/stats")
    support = next(q for q in stats["queues"] if q["name"] == "support")
    assert support["handled"] == 1
    assert support["waiting"] == 0
    assert support["service_level"] == 1.0
    assert set(support) >= {
        "name",
        "waiting",
        "longest_wait_seconds",
        "service_level",
        "asa_seconds",
        "handled",
        "abandoned",
        "agents_available",
    }
    assert stats["agents"]["total"] == 1


async def test_reject_returns_the_contact_and_abandon_counts(server: Server) -> None:
    token = await server.agent("a1", **SUPPORT_CHAT)
    await server.call("POST", "/v1/contacts", json={"id": "c1", "channel": "chat"})
    _, agent = await server.call("GET", "/v1/agents/a1", token=token)
    offer_id = agent["offers"][0]["offer_id"]
    status, answer = await server.call("POST", f"/v1/offers/{offer_id}/reject", token=token)
    assert (status, answer["state"]) == (200, "queued")
    status, body = await server.call("POST", "/v1/contacts/c1/abandon")
    assert (status, body["state"]) == (200, "abandoned")
    _, stats = await server.call("GET", "/v1/stats")
    support = next(q for q in stats["queues"] if q["name"] == "support")
    assert support["abandoned"] == 1
    # a finished contact cannot be abandoned again
    status, body = await server.call("POST", "/v1/contacts/c1/abandon")
    assert_error(status, body, 409, "conflict")


async def test_transfer_to_queue_and_to_agent(server: Server) -> None:
    token = await server.agent("a1", **SUPPORT_CHAT)
    await server.agent("a2", name="Bo", skills={"sales": 5}, capacity={"chat": 1})
    await server.call("POST", "/v1/contacts", json={"id": "c1", "channel": "chat"})
    _, agent = await server.call("GET", "/v1/agents/a1", token=token)
    await server.call("POST", f"/v1/offers/{agent['offers'][0]['offer_id']}/accept", token=token)
    status, body = await server.call(
        "POST", "/v1/contacts/c1/transfer", token=token, json={"queue": "sales"}
    )
    assert status == 200, body
    assert (body["queue"], body["state"]) == ("sales", "offered")
    for bad in ({}, {"queue": "sales", "agent_id": "a2"}, {"queue": 3}, {"queue": "nope"}):
        status, body = await server.call("POST", "/v1/contacts/c1/transfer", json=bad)
        assert_error(status, body, 400)


async def test_an_agent_acts_only_as_itself(server: Server) -> None:
    token1 = await server.agent("a1", **SUPPORT_CHAT)
    token2 = await server.agent("a2", name="Bo", skills={"sales": 5}, capacity={"chat": 1})
    await server.call("POST", "/v1/contacts", json={"id": "c1", "channel": "chat"})
    _, agent = await server.call("GET", "/v1/agents/a1", token=token1)
    offer_id = agent["offers"][0]["offer_id"]
    forbidden = [
        ("GET", "/v1/agents/a1", None),
        ("POST", "/v1/agents/a1/state", {"state": "away"}),
        ("POST", f"/v1/offers/{offer_id}/accept", None),
        ("GET", "/v1/contacts/c1", None),
        ("PUT", "/v1/agents/a2", SUPPORT_CHAT),  # admin only
        ("POST", "/v1/contacts", {"channel": "chat"}),  # admin (or a channel) only
        ("POST", "/v1/admin/reload", None),
        ("GET", "/v1/agents", None),
    ]
    for method, path, body in forbidden:
        status, answer = await server.call(method, path, token=token2, json=body)
        assert_error(status, answer, 403, "forbidden")
    await server.call("POST", f"/v1/offers/{offer_id}/accept", token=token1)
    for path, body in (
        ("/v1/contacts/c1/complete", {}),
        ("/v1/contacts/c1/transfer", {"queue": "sales"}),
        ("/v1/contacts/c1/abandon", None),
    ):
        status, answer = await server.call("POST", path, token=token2, json=body)
        assert_error(status, answer, 403, "forbidden")
    status, _ = await server.call("GET", "/v1/contacts/c1", token=token1)
    assert status == 200


async def test_tokens_are_required(server: Server) -> None:
    for method, path in (
        ("GET", "/v1/stats"),
        ("PUT", "/v1/agents/a1"),
        ("POST", "/v1/contacts"),
        ("GET", "/v1/agents/a1"),
    ):
        status, body = await server.call(method, path, token=None, json={})
        assert_error(status, body, 401, "unauthorized")
        status, body = await server.call(method, path, token="not-a-token", json={})
        assert_error(status, body, 401, "unauthorized")
    status, body = await server.call(
        "GET", "/v1/stats", token=None, headers={"Authorization": "Basic YTpi"}
    )
    assert_error(status, body, 401)
    # liveness, metrics and the API document need none
    for path in ("/healthz", "/metrics", "/v1/openapi.json"):
        status, _ = await server.call("GET", path, token=None)
        assert status == 200, path


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"skills": {"support": 11}}, "skills.support"),
        ({"skills": {"support": 0}}, "skills.support"),
        ({"skills": {"support": "5"}}, "skills.support"),
        ({"skills": ["support"]}, "skills"),
        ({"capacity": {"chat": -1}}, "capacity.chat"),
        ({"capacity": {"chat": True}}, "capacity.chat"),
        ({"languages": "en"}, "languages"),
        ({"name": 5}, "name"),
    ],
)
async def test_bad_agent_bodies_name_the_field(
    server: Server, body: dict[str, Any], field: str
) -> None:
    status, answer = await server.call("PUT", "/v1/agents/a1", json=body)
    assert_error(status, answer, 400, "bad_request")
    assert field in answer["error"]["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"channel": "chat", "priority": "high"}, "priority"),
        ({"channel": "chat", "customer": "grace"}, "customer"),
        ({"channel": "chat", "skills": "support"}, "skills"),
        ({"customer": {}}, "channel"),
        ({"channel": ""}, "channel"),
        ([1, 2], "object"),
    ],
)
async def test_bad_contacts_are_400_and_create_nothing(
    server: Server, body: Any, words: str
) -> None:
    status, answer = await server.call("POST", "/v1/contacts", json=body)
    assert_error(status, answer, 400, "bad_request")
    assert words in answer["error"]["message"]
    assert not server.core.engine.contacts


async def test_malformed_requests(server: Server) -> None:
    status, body = await server.call(
        "POST", "/v1/contacts", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(status, body, 400, "bad_request")
    status, body = await server.call("POST", "/v1/contacts", data=b"")
    assert_error(status, body, 400, "bad_request")
    status, body = await server.call("POST", "/v1/agents/a%2Fb/state", json={"state": "away"})
    assert_error(status, body, 400)
    status, body = await server.call("PUT", "/v1/agents/a1", json=SUPPORT_CHAT)
    status, body = await server.call("POST", "/v1/agents/a1/state", json={"state": "busy"})
    assert_error(status, body, 400, "bad_request")
    assert "available" in body["error"]["message"]
    status, body = await server.call("POST", "/v1/contacts/nope/complete", json={})
    assert_error(status, body, 404, "not_found")
    status, body = await server.call("GET", "/v1/agents/nobody")
    assert_error(status, body, 404, "not_found")
    status, body = await server.call("GET", "/v1/no-such-route")
    assert_error(status, body, 404, "not_found")
    status, body = await server.call("DELETE", "/v1/stats")
    assert_error(status, body, 405)
    status, body = await server.call("POST", "/v1/offers/of-999/accept")
    assert_error(status, body, 409, "conflict")
    status, body = await server.call("POST", "/v1/contacts", json={"channel": "chat", "id": "c1"})
    status, body = await server.call(
        "POST", "/v1/contacts/c1/complete", json={"csat": 9}
    )  # not assigned yet: the state is checked first
    assert status in (400, 409)
    assert set(body) == {"error"}


async def test_a_body_over_the_limit_is_413() -> None:
    async for server in serve_in_process(max_request_bytes=1000):
        status, body = await server.call(
            "POST", "/v1/contacts", json={"channel": "chat", "body": "x" * 2000}
        )
        assert_error(status, body, 413, "too_large")
        assert "1000" in body["error"]["message"]
        assert not server.core.engine.contacts


async def test_unroutable_contact_is_kept_as_rejected(server: Server) -> None:
    status, body = await server.call("POST", "/v1/contacts", json={"channel": "fax", "id": "f1"})
    assert (status, body["state"]) == (202, "rejected")
    assert "fax" in body["reason"]
    status, seen = await server.call("GET", "/v1/contacts/f1")
    assert seen["state"] == "rejected"


async def test_overload_is_503_with_retry_after() -> None:
    # A stalled writer: the core accepts events but nothing takes them from the inbox.
    async for server in serve_in_process(start_writer=False, max_pending_events=2):
        core = server.core
        core._accepting = True  # fault injection: accepting, never draining
        core.started.set()
        stuck = [
            asyncio.ensure_future(core.submit(ContactArrived(Contact(id=f"x{i}", channel="chat"))))
            for i in range(2)
        ]
        await asyncio.sleep(0)
        assert core.pending == 2
        async with server.http.post(
            server.base + "/v1/contacts",
            json={"channel": "chat"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        ) as response:
            assert response.status == 503
            assert int(response.headers["Retry-After"]) >= 1
            body = await response.json()
        assert body["error"]["code"] == "overloaded"
        assert core.pending == 2  # the refused request added nothing
        for future in stuck:
            future.cancel()


async def test_a_stopped_core_is_503(server: Server) -> None:
    server.core.stop_accepting()
    status, body = await server.call("POST", "/v1/contacts", json={"channel": "chat"})
    assert_error(status, body, 503, "unavailable")


async def test_openapi_document_lists_every_route(server: Server) -> None:
    status, document = await server.call("GET", "/v1/openapi.json", token=None)
    assert status == 200
    assert document["openapi"].startswith("3.")
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    app_routes = set()
    for route in _app_routes(server):
        app_routes.add(route)
    assert documented == app_routes


def _app_routes(server: Server) -> set[tuple[str, str]]:
    from router.runtime.app import build_app
    from router.runtime.auth import Tokens
    from router.runtime.http_common import Health
    from router.runtime.metrics import RouterMetrics

    app = build_app(
        server.core, Tokens(ADMIN, b"k" * 32), Health(), RouterMetrics(server.core, process=False)
    )
    found = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        for route in resource:
            if route.method != "HEAD":
                found.add((route.method, str(path)))
    return found


async def test_a_follow_up_joins_the_open_conversation(server: Server) -> None:
    await server.agent("a1", name="Ada", skills={"support": 5}, capacity={"whatsapp": 2})
    first = {"id": "w1", "channel": "whatsapp", "thread_id": "whatsapp:1555", "body": "hi"}
    status, body = await server.call("POST", "/v1/contacts", json=first)
    assert (status, body["id"]) == (202, "w1")
    second = {**first, "id": "w2", "body": "hello?"}
    status, body = await server.call("POST", "/v1/contacts", json=second)
    assert (status, body["id"], body["state"]) == (202, "w1", "offered")
    status, seen = await server.call("GET", "/v1/contacts/w1")
    [message] = [e for e in seen["history"] if e["type"] == "message"]
    assert (message["message_id"], message["body"]) == ("w2", "hello?")
