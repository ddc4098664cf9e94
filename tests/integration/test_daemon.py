"""`router run` end to end, as a new user meets it (issue 3's "done when").

The real command in a subprocess, on the example config with free ports, a
real Mosquitto, real SMTP, real HTTP: agents registered; a chat, an e-mail, a
WhatsApp message and a phone call each offered to the right agent, accepted,
completed and counted in /v1/stats; reload by SIGHUP and by HTTP; SIGTERM
drains and exits 0.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import aiomqtt
import orjson
import pytest
import pytest_asyncio
from servers import ADMIN, SECRETS, Mosquitto, free_port

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

ROOT = Path(__file__).resolve().parents[2]


class Daemon:
    def __init__(self, config: Path, http_port: int, smtp_port: int, log: Path) -> None:
        self.config = config
        self.base = f"http://127.0.0.1:{http_port}"
        self.smtp_port = smtp_port
        self.log = log
        env = {**os.environ, **SECRETS}
        with log.open("wb") as output:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "router.cli", "run", "--config", str(config)],
                cwd=config.parent,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def write_config(tmp_path: Path, broker: Mosquitto, http_port: int, smtp_port: int) -> Path:
    text = (ROOT / "config" / "router.toml").read_text()
    text = text.replace("port = 8080", f"port = {http_port}", 1)
    text = text.replace("port = 2525", f"port = {smtp_port}", 1)
    text = text.replace('url = "mqtt://127.0.0.1:1883"', f'url = "{broker.url}"', 1)
    text = text.replace('path = "var/router.db"', f'path = "{tmp_path / "var" / "router.db"}"', 1)
    config = tmp_path / "router.toml"
    config.write_text(text)
    return config


@pytest.fixture
def daemon(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Daemon]:
    http_port, smtp_port = free_port(), free_port()
    config = write_config(tmp_path, mosquitto, http_port, smtp_port)
    running = Daemon(config, http_port, smtp_port, tmp_path / "daemon.log")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
        print(f"--- daemon log ---\n{running.log_text()[-5000:]}")


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    daemon: Daemon,
    method: str,
    path: str,
    *,
    token: str | None = ADMIN,
    **kwargs: Any,
) -> tuple[int, Any]:
    headers = dict(kwargs.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, daemon.base + path, headers=headers, **kwargs) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def wait_ready(http: aiohttp.ClientSession, daemon: Daemon) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert daemon.process.poll() is None, daemon.log_text()
        try:
            status, health = await call(http, daemon, "GET", "/healthz", token=None)
            parts = health["parts"] if status == 200 else {}
            # the engine too: MQTT may connect before the restore from the store is done
            if parts.get("mqtt") == "ok" and parts.get("engine") == "ok":
                return dict(health)
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"the daemon did not become ready:\n{daemon.log_text()}")


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's public algorithm, written here independently of the router's."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def meta_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Offers:
    """Every offer the router publishes over MQTT, by agent."""

    def __init__(self) -> None:
        self.by_agent: dict[str, list[dict[str, Any]]] = {}
        self.arrived = asyncio.Condition()

    async def listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            agent_id = str(message.topic).split("/")[2]
            body = orjson.loads(bytes(message.payload))  # type: ignore[arg-type]
            async with self.arrived:
                self.by_agent.setdefault(agent_id, []).append(body)
                self.arrived.notify_all()

    async def next_for(self, agent_id: str, contact_id: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for offer in self.by_agent.get(agent_id, []):
                if offer.get("contact", {}).get("id") == contact_id:
                    return offer
            return None

        async with asyncio.timeout(10), self.arrived:
            await self.arrived.wait_for(lambda: found() is not None)
        offer = found()
        assert offer is not None
        return offer


async def test_a_new_user_routes_every_channel_end_to_end(
    daemon: Daemon, mosquitto: Mosquitto, http: aiohttp.ClientSession
) -> None:
    health = await wait_ready(http, daemon)
    assert health["status"] == "ok", health

    # Register two agents: one for written channels, one for calls.
    status, body = await call(
        http,
        daemon,
        "PUT",
        "/v1/agents/writer",
        json={
            "name": "Wren",
            "skills": {"support": 6},
            "languages": ["en"],
            "capacity": {"chat": 2, "email": 3, "whatsapp": 2},
        },
    )
    assert status == 200, body
    writer = body["token"]
    status, body = await call(
        http,
        daemon,
        "PUT",
        "/v1/agents/caller",
        json={"name": "Cal", "skills": {"support": 6}, "capacity": {"voice": 1}},
    )
    caller = body["token"]

    offers = Offers()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="e2e-desk") as mqtt:
        await mqtt.subscribe("router/agents/+/offers", qos=1)
        listener = asyncio.create_task(offers.listen(mqtt))
        try:
            for agent, token in (("writer", writer), ("caller", caller)):
                status, _ = await call(
                    http,
                    daemon,
                    "POST",
                    f"/v1/agents/{agent}/state",
                    token=token,
                    json={"state": "available"},
                )
                assert status == 200

            # 1. web chat, through the site's channel endpoint
            status, chat = await call(
                http,
                daemon,
                "POST",
                "/v1/channels/chat",
                token=SECRETS["CHAT_SITE_TOKEN"],
                json={
                    "customer": {
                        "name": "Grace",
                        "email": "grace@example.com",
                        "phone": "+1 555 0100",
                    },
                    "body": "Where is my order?",
                },
            )
            assert status == 202, chat
            offer = await offers.next_for("writer", chat["id"])
            await accept_and_complete(http, daemon, writer, offer["offer_id"], chat["id"])

            # 2. e-mail over real SMTP; accepted over MQTT this time
            message = EmailMessage()
            message["From"] = "Grace <grace@example.com>"
            message["To"] = "support@example.com"
            message["Subject"] = "Order 1234"
            message["Message-ID"] = "<order-1234@example.com>"
            message.set_content("Still nothing.")
            await asyncio.to_thread(send_mail, daemon.smtp_port, message)
            status, agent = await call(http, daemon, "GET", "/v1/agents/writer", token=writer)
            email_offer = (
                next(
                    o
                    for o in offers.by_agent.get("writer", [])
                    if o["contact"]["channel"] == "email"
                )
                if any(
                    o["contact"]["channel"] == "email" for o in offers.by_agent.get("writer", [])
                )
                else None
            )
            if email_offer is None:
                [pending] = agent["offers"]
                email_id = pending["contact_id"]
                email_offer = await offers.next_for("writer", email_id)
            email_id = email_offer["contact"]["id"]
            assert email_offer["contact"]["subject"] == "Order 1234"
            await mqtt.publish(
                "router/agents/writer/answers",
                orjson.dumps({"offer_id": email_offer["offer_id"], "accept": True}),
                qos=1,
            )
            await wait_state(http, daemon, email_id, "assigned")
            status, done = await call(
                http, daemon, "POST", f"/v1/contacts/{email_id}/complete", token=writer, json={}
            )
            assert status == 200, done

            # 3. WhatsApp, through a signed Meta webhook; the customer is Grace again
            document = whatsapp_document("wamid.E2E1", "15550100", "Grace", "any news?")
            raw = orjson.dumps(document)
            status, answer = await call(
                http,
                daemon,
                "POST",
                "/v1/channels/meta/webhook",
                token=None,
                data=raw,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": meta_signature(SECRETS["META_APP_SECRET"], raw),
                },
            )
            assert status == 200, answer
            [created] = answer["contacts"]
            wa_offer = await offers.next_for("writer", created["id"])
            # one customer across channels: the chat and the e-mail come with the offer
            history = {entry["channel"] for entry in wa_offer["customer_history"]}
            assert history == {"chat", "email"}, wa_offer["customer_history"]
            await accept_and_complete(http, daemon, writer, wa_offer["offer_id"], created["id"])

            # 4. a phone call, through a signed Twilio voice webhook
            url = daemon.base + "/v1/channels/twilio/voice"
            form = {
                "CallSid": "CA0123456789abcdef0123456789abcdef",
                "From": "+15550199",
                "To": "+15550000",
                "CallStatus": "ringing",
                "Direction": "inbound",
            }
            status, twiml = await call(
                http,
                daemon,
                "POST",
                "/v1/channels/twilio/voice",
                token=None,
                data=urlencode(form),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": twilio_signature(SECRETS["TWILIO_AUTH_TOKEN"], url, form),
                },
            )
            assert status == 200, twiml
            enqueue = ET.fromstring(twiml).find("Enqueue")
            assert enqueue is not None, twiml
            call_id = (enqueue.text or "").strip()
            call_offer = await offers.next_for("caller", call_id)
            assert call_offer["contact"]["channel"] == "voice"
            await accept_and_complete(http, daemon, caller, call_offer["offer_id"], call_id)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    # every one counted
    status, stats = await call(http, daemon, "GET", "/v1/stats")
    support = next(q for q in stats["queues"] if q["name"] == "support")
    assert support["handled"] == 4, stats
    assert support["abandoned"] == 0
    status, metrics = await call(http, daemon, "GET", "/metrics", token=None)
    for channel in ("chat", "email", "whatsapp", "voice"):
        assert re.search(rf'router_contacts_total{{channel="{channel}"}} 1\.0', metrics), channel

    # bad input, each answered as the contract says
    status, body = await call(http, daemon, "POST", "/v1/channels/chat", token=None, json={})
    assert status == 401
    status, body = await call(
        http,
        daemon,
        "POST",
        "/v1/channels/meta/webhook",
        token=None,
        data=raw,
        headers={"X-Hub-Signature-256": meta_signature("wrong", raw)},
    )
    assert status == 403
    assert body["error"]["code"] == "forbidden"

    await check_reloads(http, daemon)

    daemon.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(daemon.process.wait, 20) == 0
    assert "stopped" in daemon.log_text()


async def accept_and_complete(
    http: aiohttp.ClientSession, daemon: Daemon, token: str, offer_id: str, contact_id: str
) -> None:
    status, answer = await call(http, daemon, "POST", f"/v1/offers/{offer_id}/accept", token=token)
    assert (status, answer["state"]) == (200, "assigned"), answer
    status, done = await call(
        http,
        daemon,
        "POST",
        f"/v1/contacts/{contact_id}/complete",
        token=token,
        json={"outcome": "resolved", "csat": 5},
    )
    assert status == 200, done
    assert done["state"] in ("wrapup", "completed")


async def wait_state(
    http: aiohttp.ClientSession, daemon: Daemon, contact_id: str, state: str
) -> None:
    async with asyncio.timeout(10):
        while True:
            status, body = await call(http, daemon, "GET", f"/v1/contacts/{contact_id}")
            if status == 200 and body["state"] == state:
                return
            await asyncio.sleep(0.05)


def send_mail(port: int, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


def whatsapp_document(message_id: str, wa_id: str, name: str, text: str) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550000",
                                "phone_number_id": "PN1",
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": message_id,
                                    "timestamp": "1732280000",
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


async def check_reloads(http: aiohttp.ClientSession, daemon: Daemon) -> None:
    good = daemon.config.read_text()
    # an invalid config is refused with check-config's messages; the old one stays
    daemon.config.write_text(good.replace("sla_seconds = 20", 'sla_seconds = "soon"', 1))
    status, body = await call(http, daemon, "POST", "/v1/admin/reload")
    assert status == 400, body
    assert re.search(r"router\.toml:\d+: .*sla_seconds", body["error"]["message"]), body
    # a valid one with a new queue, by SIGHUP
    daemon.config.write_text(
        good + '\n[[queues]]\nname = "vip_line"\nchannels = ["voice"]\nskills = ["vip"]\n'
    )
    daemon.process.send_signal(signal.SIGHUP)
    async with asyncio.timeout(10):
        while True:
            _, stats = await call(http, daemon, "GET", "/v1/stats")
            if any(q["name"] == "vip_line" for q in stats["queues"]):
                break
            await asyncio.sleep(0.05)
    daemon.config.write_text(good)
    status, body = await call(http, daemon, "POST", "/v1/admin/reload")
    assert (status, body["reloaded"]) == (200, True)
