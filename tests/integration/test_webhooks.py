"""The channel webhooks over real HTTP: chat, Meta (WhatsApp, Messenger), Twilio voice and SMS.

Each test runs the aiohttp app (the REST routes and the webhook routes) on a
free port with a running core, and talks to it with aiohttp's client, signing
requests the way Meta and Twilio do. The signatures are computed here from
the providers' descriptions, not with the router's own functions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from router.config import load_config_and_plugins
from router.engine import AgentStateChanged, AgentUpserted, Effect, SendOffer
from router.model import AgentProfile, AgentState, ContactState
from router.runtime import api, webhooks
from router.runtime.auth import Tokens
from router.runtime.core import RouterCore
from router.runtime.http_common import CORE, HEALTH, TOKENS, Health, error_middleware

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "admin-token-for-tests"
APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "meta-verify-token-for-tests"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
SITE_TOKEN = "chat-site-token-for-tests"
PUBLIC_URL = "https://router.example.com"
ENV = {
    "ROUTER_ADMIN_TOKEN": ADMIN_TOKEN,
    "META_APP_SECRET": APP_SECRET,
    "META_VERIFY_TOKEN": VERIFY_TOKEN,
    "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    "CHAT_SITE_TOKEN": SITE_TOKEN,
}
CALL_SID = "CA" + "0123456789abcdef" * 2
MESSAGE_SID = "SM" + "fedcba9876543210" * 2
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
PSID = "6254181434597235"


# ------------------------------------------------------------- signing
def meta_signature(body: bytes, secret: str = APP_SECRET) -> str:
    """Meta: "sha256=" + hex HMAC-SHA256 of the raw body with the app secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_signature(url: str, params: Mapping[str, str], token: str = TWILIO_TOKEN) -> str:
    """Twilio: the URL, then each field sorted by name as name+value; HMAC-SHA1; base64."""
    text = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


# -------------------------------------------------------------- server
def write_config(tmp_path: Path, *, chat_token: bool = True, public_url: bool = True) -> Path:
    """config/router.toml, with a site token for chat and Twilio's public URL when asked."""
    text = (ROOT / "config" / "router.toml").read_text()
    for written, wanted, keep in (
        ('public_url = ""', f'public_url = "{PUBLIC_URL}"', public_url),
        ('token = "env:CHAT_SITE_TOKEN"', 'token = ""', not chat_token),
    ):
        assert written in text
        if keep:
            text = text.replace(written, wanted, 1)
    path = tmp_path / "router.toml"
    path.write_text(text)
    return path


@dataclass(slots=True)
class Server:
    core: RouterCore
    base: str
    session: aiohttp.ClientSession
    tokens: Tokens
    offers: list[SendOffer] = field(default_factory=list)

    def known_contacts(self) -> int:
        return len(self.core.engine.contacts) + len(self.core.engine.finished)

    def state(self, contact_id: str) -> ContactState | None:
        record = self.core.engine.contact(contact_id)
        return None if record is None else record.state

    def offered_to(self, contact_id: str) -> list[str]:
        return [o.offer.agent_id for o in self.offers if o.offer.contact_id == contact_id]

    async def add_agent(self, agent_id: str, capacity: dict[str, int]) -> None:
        profile = AgentProfile(id=agent_id, skills={"support": 5}, capacity=capacity)
        await self.core.submit(AgentUpserted(profile))
        await self.core.submit(AgentStateChanged(agent_id, AgentState.AVAILABLE))

    async def meta_post(
        self, body: bytes, signature: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        headers["X-Hub-Signature-256"] = meta_signature(body) if signature is None else signature
        async with self.session.post(
            f"{self.base}/v1/channels/meta/webhook", data=body, headers=headers
        ) as response:
            return response.status, await response.json()

    async def twilio_post(
        self, kind: str, fields: dict[str, str], *, signed_url: str | None = None
    ) -> tuple[int, str, str]:
        path = f"/v1/channels/twilio/{kind}"
        url = signed_url if signed_url is not None else PUBLIC_URL + path
        headers = {"X-Twilio-Signature": twilio_signature(url, fields)}
        async with self.session.post(self.base + path, data=fields, headers=headers) as response:
            return response.status, response.content_type, await response.text()


@contextlib.asynccontextmanager
async def running_server(config_path: Path, env: Mapping[str, str]) -> AsyncIterator[Server]:
    config, plugins = load_config_and_plugins(config_path, env=env)
    core = RouterCore(config, plugins)
    tokens = Tokens(config.auth.admin_token, key=b"k" * 32)
    app = web.Application(
        middlewares=[error_middleware], client_max_size=config.limits.max_request_bytes
    )
    app[CORE] = core
    app[TOKENS] = tokens
    app[HEALTH] = Health()
    app.add_routes(api.routes)
    app.add_routes(webhooks.routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    writer = asyncio.create_task(core.run(), name="router-core")
    await asyncio.sleep(0)  # let the writer start accepting events
    try:
        async with aiohttp.ClientSession() as session:
            server = Server(core, f"http://127.0.0.1:{port}", session, tokens)

            def keep_offers(effect: Effect) -> None:
                if isinstance(effect, SendOffer):
                    server.offers.append(effect)

            core.add_listener(keep_offers)
            yield server
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await runner.cleanup()


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running_server(write_config(tmp_path), ENV) as running:
        await running.add_agent("a1", {"chat": 3, "whatsapp": 3, "messenger": 3, "sms": 3})
        await running.add_agent("v1", {"voice": 1})
        yield running


# ---------------------------------------------------------------- chat
@pytest.mark.integration
@pytest.mark.asyncio
async def test_chat_with_the_site_token_is_offered(server: Server) -> None:
    contact = {"id": "chat-1", "customer": {"name": "Ada"}, "body": "Hello?"}
    headers = {"Authorization": f"Bearer {SITE_TOKEN}"}
    async with server.session.post(
        f"{server.base}/v1/channels/chat", json=contact, headers=headers
    ) as response:
        assert response.status == 202
        answer = await response.json()
    assert answer["id"] == "chat-1"
    assert answer["state"] == "offered"
    assert server.offered_to("chat-1") == ["a1"]
    record = server.core.engine.contact("chat-1")
    assert record is not None
    assert record.channel == "chat"


@pytest.mark.integration
@pytest.mark.asyncio
async def test_chat_needs_the_site_or_admin_token(server: Server) -> None:
    url = f"{server.base}/v1/channels/chat"
    contact = {"body": "hi"}
    async with server.session.post(url, json=contact) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    bad = {"Authorization": "Bearer not-the-token"}
    async with server.session.post(url, json=contact, headers=bad) as response:
        assert response.status == 401
    agent = {"Authorization": f"Bearer {server.tokens.token_for('a1')}"}
    async with server.session.post(url, json=contact, headers=agent) as response:
        assert response.status == 403
    assert server.known_contacts() == 0
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with server.session.post(
        url, json={"id": "chat-2", **contact}, headers=admin
    ) as response:
        assert response.status == 202
    assert server.state("chat-2") is ContactState.OFFERED


@pytest.mark.integration
@pytest.mark.asyncio
async def test_chat_refuses_another_channel_and_bad_bodies(server: Server) -> None:
    url = f"{server.base}/v1/channels/chat"
    headers = {"Authorization": f"Bearer {SITE_TOKEN}"}
    async with server.session.post(
        url, json={"channel": "voice", "body": "x"}, headers=headers
    ) as response:
        assert response.status == 400
        assert "chat" in (await response.json())["error"]["message"]
    async with server.session.post(url, json={"priority": "high"}, headers=headers) as response:
        assert response.status == 400
        assert "priority" in (await response.json())["error"]["message"]
    async with server.session.post(url, data=b"{not json", headers=headers) as response:
        assert response.status == 400
    assert server.known_contacts() == 0


# ---------------------------------------------------------------- meta
def whatsapp_webhook(message_id: str = WAMID, text: str = "Does it come in blue?") -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [
            {
                "from": "16505551234",
                "id": message_id,
                "timestamp": "1749416383",
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    return orjson.dumps(document)


def messenger_webhook(*items: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {"object": "page", "entry": [{"id": "1", "time": 1, "messaging": list(items)}]}
    )


def messenger_item(**event: Any) -> dict[str, Any]:
    return {"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1762902671000, **event}


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_whatsapp_message_is_offered_once_however_often_it_comes(server: Server) -> None:
    status, answer = await server.meta_post(whatsapp_webhook())
    assert status == 200
    assert answer["received"] == 1
    assert answer["errors"] == []
    [contact] = answer["contacts"]
    assert contact["id"].startswith("wa-wamid.")
    assert contact["state"] == "offered"
    assert server.offered_to(contact["id"]) == ["a1"]
    record = server.core.engine.contact(contact["id"])
    assert record is not None
    assert record.contact.body == "Does it come in blue?"
    assert record.contact.customer.phone == "+16505551234"
    # Meta delivers again (say our 200 was lost): same contact, nothing new
    status, again = await server.meta_post(whatsapp_webhook())
    assert status == 200
    assert again["contacts"] == [{"id": contact["id"], "state": "offered"}]
    assert server.known_contacts() == 1
    assert len(server.offered_to(contact["id"])) == 1


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_messenger_message_is_offered_and_receipts_are_ignored(server: Server) -> None:
    body = messenger_webhook(
        messenger_item(message={"mid": "m_hello", "text": "Is anyone there?"}),
        messenger_item(delivery={"mids": ["m_x"], "watermark": 1}),
        messenger_item(message={"mid": "m_echo", "text": "we said", "is_echo": True}),
    )
    status, answer = await server.meta_post(body)
    assert status == 200
    assert answer["received"] == 1
    assert answer["ignored"] == 2
    assert answer["contacts"] == [{"id": "fb-m_hello", "state": "offered"}]
    assert server.offered_to("fb-m_hello") == ["a1"]
    record = server.core.engine.contact("fb-m_hello")
    assert record is not None
    assert dict(record.contact.customer.handles) == {"messenger": PSID}


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_bad_meta_signature_creates_nothing(server: Server) -> None:
    body = whatsapp_webhook()
    status, answer = await server.meta_post(body, signature=meta_signature(body, "wrong"))
    assert status == 403
    assert answer["error"]["code"] == "forbidden"
    status, _ = await server.meta_post(body, signature=meta_signature(body + b" "))
    assert status == 403
    async with server.session.post(
        f"{server.base}/v1/channels/meta/webhook", data=body
    ) as response:
        assert response.status == 403
        assert "missing" in (await response.json())["error"]["message"]
    assert server.known_contacts() == 0
    assert server.offers == []


@pytest.mark.integration
@pytest.mark.asyncio
async def test_invalid_json_with_a_good_signature_is_400(server: Server) -> None:
    status, answer = await server.meta_post(b"{not json")
    assert status == 400
    assert "JSON" in answer["error"]["message"]
    assert server.known_contacts() == 0


@pytest.mark.integration
@pytest.mark.asyncio
async def test_unreadable_messages_are_reported_with_200(server: Server) -> None:
    body = messenger_webhook(
        messenger_item(message={"text": "no mid"}),
        {"recipient": {"id": "1"}, "message": {"mid": "m_nobody", "text": "no sender"}},
        messenger_item(message={"mid": "m_good", "text": "fine"}),
    )
    status, answer = await server.meta_post(body)
    assert status == 200
    assert answer["contacts"] == [{"id": "fb-m_good", "state": "offered"}]
    assert len(answer["errors"]) == 2
    assert any("sender.id" in error for error in answer["errors"])
    assert any("message.mid" in error for error in answer["errors"])
    assert server.known_contacts() == 1


@pytest.mark.integration
@pytest.mark.asyncio
async def test_whatsapp_statuses_only(server: Server) -> None:
    statuses = [
        {"id": "wamid.a", "status": "delivered", "recipient_id": "16505551234"},
        {"id": "wamid.b", "status": "failed", "errors": [{"code": 131047, "title": "x"}]},
    ]
    value = {"messaging_product": "whatsapp", "metadata": {}, "statuses": statuses}
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
    }
    status, answer = await server.meta_post(orjson.dumps(document))
    assert status == 200
    assert (answer["received"], answer["ignored"], answer["contacts"]) == (0, 2, [])
    assert server.known_contacts() == 0


@pytest.mark.integration
@pytest.mark.asyncio
async def test_meta_verify_handshake(server: Server) -> None:
    url = f"{server.base}/v1/channels/meta/webhook"
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    async with server.session.get(url, params=good) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text() == "1158201444"
    for bad in (
        {**good, "hub.verify_token": "guess"},
        {**good, "hub.mode": "unsubscribe"},
        {"hub.challenge": "1"},
    ):
        async with server.session.get(url, params=bad) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "forbidden"


# --------------------------------------------------------------- twilio
def call_fields(**extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "1" * 32,
        "CallSid": CALL_SID,
        "From": "+447700900123",
        "To": "+442079460000",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "CallerName": "Ada Lovelace",
        **extra,
    }


def parse_twiml(content_type: str, text: str) -> ET.Element:
    assert content_type == "text/xml"
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text)
    assert root.tag == "Response"
    return root


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_call_is_enqueued_offered_and_abandoned_when_the_caller_hangs_up(
    server: Server,
) -> None:
    status, content_type, text = await server.twilio_post("voice", call_fields())
    assert status == 200
    root = parse_twiml(content_type, text)
    assert [verb.tag for verb in root] == ["Say", "Enqueue"]
    assert "hold" in (root[0].text or "")
    contact_id = f"twilio-{CALL_SID}"
    assert root[1].text == contact_id
    assert server.offered_to(contact_id) == ["v1"]
    record = server.core.engine.contact(contact_id)
    assert record is not None
    assert record.contact.customer.name == "Ada Lovelace"

    # Twilio retries the webhook: the same queue again, no second contact
    status, content_type, text = await server.twilio_post("voice", call_fields())
    assert [v.text for v in parse_twiml(content_type, text)][1] == contact_id
    assert server.known_contacts() == 1

    # the caller hangs up while the offer is open: the status callback abandons it
    status, content_type, text = await server.twilio_post(
        "voice", call_fields(CallStatus="completed", CallDuration="12")
    )
    assert status == 200
    assert len(parse_twiml(content_type, text)) == 0
    assert server.state(contact_id) is ContactState.ABANDONED


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_status_callback_for_an_unknown_call_creates_nothing(server: Server) -> None:
    status, content_type, text = await server.twilio_post(
        "voice", call_fields(CallStatus="no-answer")
    )
    assert status == 200
    assert len(parse_twiml(content_type, text)) == 0
    assert server.known_contacts() == 0


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_bad_twilio_signature_creates_nothing(server: Server) -> None:
    fields = call_fields()
    path = "/v1/channels/twilio/voice"
    for headers in (
        {"X-Twilio-Signature": twilio_signature(PUBLIC_URL + path, fields, token="wrong")},
        # signed for the URL the router listens on, but Twilio calls the public one
        {"X-Twilio-Signature": twilio_signature(server.base + path, fields)},
        # a field changed after signing
        {"X-Twilio-Signature": twilio_signature(PUBLIC_URL + path, {**fields, "From": "+1"})},
        {},
    ):
        async with server.session.post(server.base + path, data=fields, headers=headers) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == "forbidden"
    assert server.known_contacts() == 0
    assert server.offers == []


@pytest.mark.integration
@pytest.mark.asyncio
async def test_an_sms_becomes_a_contact(server: Server) -> None:
    fields = {
        "MessageSid": MESSAGE_SID,
        "SmsSid": MESSAGE_SID,
        "AccountSid": "AC" + "1" * 32,
        "From": "+447700900123",
        "To": "+442079460000",
        "Body": "Where is my order? <b>&amp;</b>",
        "NumMedia": "0",
    }
    status, content_type, text = await server.twilio_post("sms", fields)
    assert status == 200
    assert len(parse_twiml(content_type, text)) == 0
    contact_id = f"twilio-{MESSAGE_SID}"
    record = server.core.engine.contact(contact_id)
    assert record is not None
    assert record.contact.body == "Where is my order? <b>&amp;</b>"
    assert record.contact.thread_id == "sms:+447700900123:+442079460000"
    assert server.offered_to(contact_id) == ["a1"]


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_signed_webhook_that_is_not_twilios_shape_is_400(server: Server) -> None:
    status, _, text = await server.twilio_post("voice", {"Foo": "bar"})
    assert status == 400
    assert "CallSid" in text
    status, _, text = await server.twilio_post("sms", {"MessageSid": "SM1"})
    assert status == 400
    assert "From is missing" in text
    assert server.known_contacts() == 0


@pytest.mark.integration
@pytest.mark.asyncio
async def test_without_public_url_the_request_url_is_signed(tmp_path: Path) -> None:
    config = write_config(tmp_path, public_url=False)
    async with running_server(config, ENV) as running:
        fields = {"MessageSid": MESSAGE_SID, "From": "+15005550006", "To": "+15005550001"}
        local = running.base + "/v1/channels/twilio/sms?source=test"
        async with running.session.post(
            local, data=fields, headers={"X-Twilio-Signature": twilio_signature(local, fields)}
        ) as response:
            assert response.status == 200
        assert running.state(f"twilio-{MESSAGE_SID}") is ContactState.QUEUED
        status, _, _ = await running.twilio_post("sms", fields)  # signed for PUBLIC_URL
        assert status == 403


@pytest.mark.integration
@pytest.mark.asyncio
async def test_unset_secrets_refuse_their_webhooks_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, chat_token=False)
    async with running_server(config, {"ROUTER_ADMIN_TOKEN": ADMIN_TOKEN}) as running:
        status, answer = await running.meta_post(whatsapp_webhook())
        assert status == 403
        assert "[channels.meta] app_secret" in answer["error"]["message"]
        async with running.session.get(
            f"{running.base}/v1/channels/meta/webhook",
            params={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"},
        ) as response:
            assert response.status == 403
            assert "[channels.meta] verify_token" in (await response.json())["error"]["message"]
        status, _, text = await running.twilio_post("voice", call_fields())
        assert status == 403
        assert "[channels.twilio] auth_token" in text
        headers = {"Authorization": f"Bearer {SITE_TOKEN}"}
        async with running.session.post(
            f"{running.base}/v1/channels/chat", json={"body": "x"}, headers=headers
        ) as response:
            assert response.status == 401
        assert running.known_contacts() == 0


# ---------------------------------------------------------------- TwiML
@pytest.mark.parametrize(
    "state", [ContactState.REJECTED, ContactState.ABANDONED, ContactState.COMPLETED]
)
def test_a_call_that_cannot_wait_is_told_so_and_hung_up(state: ContactState) -> None:
    root = parse_twiml("text/xml", webhooks.voice_answer("twilio-CA1", state))
    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert "cannot take your call" in (root[0].text or "")


def test_twiml_text_is_escaped() -> None:
    document = webhooks.twiml(("Say", "Tom & Jerry <say>"), ("Enqueue", "q-1"))
    root = parse_twiml("text/xml", document)
    assert root[0].text == "Tom & Jerry <say>"
    assert root[1].text == "q-1"
