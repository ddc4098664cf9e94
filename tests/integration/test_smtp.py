"""The SMTP channel over real SMTP: smtplib against the router's aiosmtpd server.

Each test runs a core built from config/router.toml with the SMTP server on a
free port, and an available agent taking e-mail with the `support` skill.
smtplib blocks, so it runs in a thread. What is checked is what a sending
mail server relies on: 250 only for a contact that exists, 552 for too much,
554 for a message refused for good, 451 (try again) whenever the router could
not apply it, and no second contact for a retried message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import smtplib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from servers import free_port

from router import hookimpl
from router.config import MqttConfig, SmtpConfig, load_config
from router.engine import AgentStateChanged, AgentUpserted, Effect, SendOffer
from router.model import AgentProfile, AgentState, Contact, ContactState, ModelError
from router.plugins import load_plugins
from router.runtime.core import RouterCore
from router.runtime.http_common import Health
from router.runtime.smtp import start_smtp, stop_smtp
from router_plugins.channels.email import contact_id_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "ROUTER_ADMIN_TOKEN": "admin-token-for-tests",
    "META_APP_SECRET": "meta-app-secret-for-tests",
    "META_VERIFY_TOKEN": "meta-verify-token-for-tests",
    "TWILIO_AUTH_TOKEN": "twilio-auth-token-for-tests",
}
#: small, so the oversize test sends little; the example config's own limit is 10 MB
MAX_EMAIL_BYTES = 20_000
HOST = "127.0.0.1"


class Gatekeeper:
    """A channel plugin, asked before the built-ins, that refuses or fails on cue."""

    @hookimpl(tryfirst=True)
    def router_parse_contact(self, channel: str, payload: Mapping[str, Any]) -> Contact | None:
        mime = payload.get("mime")
        if channel == "email" and isinstance(mime, bytes):
            if b"Subject: refuse me" in mime:
                raise ModelError("subject: we do not take these")
            if b"Subject: crash me" in mime:
                raise RuntimeError("a bug in a plugin")
        return None


@dataclass(slots=True)
class Router:
    core: RouterCore
    writer: asyncio.Task[None]
    port: int
    health: Health
    offers: list[SendOffer] = field(default_factory=list)

    def known_contacts(self) -> int:
        return len(self.core.engine.contacts) + len(self.core.engine.finished)

    async def send(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        """smtplib's `send_message`, as any mail client sends; raises smtplib's errors."""

        def send() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP(HOST, self.port, timeout=10) as client:
                return client.send_message(message)

        return await asyncio.to_thread(send)

    async def data(self, message: EmailMessage) -> tuple[int, str]:
        """One transaction step by step, announcing no SIZE: the reply to DATA."""
        wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))

        def send() -> tuple[int, str]:
            with smtplib.SMTP(HOST, self.port, timeout=10) as client:
                client.ehlo()
                assert client.mail("grace@customer.example")[0] == 250
                assert client.rcpt("support@example.com")[0] == 250
                code, reply = client.data(wire)
                return code, reply.decode()

        return await asyncio.to_thread(send)


@contextlib.asynccontextmanager
async def running_router() -> AsyncIterator[Router]:
    plugins = load_plugins(entry_points_enabled=False, extra=[("gatekeeper", Gatekeeper())])
    config = load_config(ROOT / "config" / "router.toml", env=ENV, plugins=plugins)
    plugins.configure(config.plugins.options)
    config = dataclasses.replace(
        config,
        smtp=SmtpConfig(host=HOST, port=free_port(HOST)),
        mqtt=MqttConfig(url=None),
        limits=dataclasses.replace(config.limits, max_email_bytes=MAX_EMAIL_BYTES),
    )
    core = RouterCore(config, plugins)
    writer = asyncio.create_task(core.run(), name="router-core")
    await asyncio.sleep(0)  # let the writer start accepting events
    try:
        health = Health()
        server = await start_smtp(core, health)
        try:
            router = Router(core, writer, config.smtp.port, health)

            def keep_offers(effect: Effect) -> None:
                if isinstance(effect, SendOffer):
                    router.offers.append(effect)

            core.add_listener(keep_offers)
            profile = AgentProfile(id="ada", skills={"support": 5}, capacity={"email": 5})
            await core.submit(AgentUpserted(profile))
            await core.submit(AgentStateChanged("ada", AgentState.AVAILABLE))
            yield router
        finally:
            await stop_smtp(server)
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


def question(body: str = "My order #42 did not arrive.", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Grace Hopper <Grace@Customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "Where is my order?"
    msg["Message-ID"] = "<q1@customer.example>"
    for name, value in headers.items():
        del msg[name]
        msg[name] = value
    msg.set_content(body)
    return msg


@pytest.mark.asyncio
async def test_an_email_becomes_a_contact_offered_to_the_agent() -> None:
    async with running_router() as router:
        assert router.health.parts["smtp"] == "ok"
        refused = await router.send(question())
        assert refused == {}
        contact_id = contact_id_for("<q1@customer.example>")
        record = router.core.engine.contact(contact_id)
        assert record is not None
        assert record.state is ContactState.OFFERED
        assert record.queue == "support"
        assert record.contact.channel == "email"
        assert record.contact.customer.email == "grace@customer.example"
        assert record.contact.body == "My order #42 did not arrive."
        assert [o.offer.agent_id for o in router.offers] == ["ada"]
        assert router.offers[0].contact.id == contact_id

        reply = question(
            "Any news?",
            Subject="Re: Where is my order?",
            **{"Message-ID": "<q2@customer.example>", "In-Reply-To": "<q1@customer.example>"},
        )
        assert await router.send(reply) == {}
        follow_up = router.core.engine.contact(contact_id_for("<q2@customer.example>"))
        assert follow_up is not None
        assert follow_up.contact.thread_id == record.contact.thread_id == "<q1@customer.example>"


@pytest.mark.asyncio
async def test_the_reply_names_the_contact_and_a_retry_creates_nothing_new() -> None:
    async with running_router() as router:
        first = await router.data(question())
        known = router.known_contacts()
        again = await router.data(question())  # a sender that never saw our 250 sends it again
        contact_id = contact_id_for("<q1@customer.example>")
        assert first == again == (250, f"2.0.0 OK: queued as {contact_id}")
        assert await router.send(question()) == {}
        assert router.known_contacts() == known == 1
        assert len(router.offers) == 1


@pytest.mark.asyncio
async def test_an_oversize_message_gets_552_and_creates_nothing() -> None:
    async with running_router() as router:
        big = question(("x" * 70 + "\n") * 400)
        assert len(big.as_bytes()) > MAX_EMAIL_BYTES
        # smtplib announces the size (SIZE=): refused at MAIL FROM
        with pytest.raises(smtplib.SMTPSenderRefused) as announced:
            await router.send(big)
        assert announced.value.smtp_code == 552
        # a client that does not announce it is refused after DATA
        assert await router.data(big) == (552, "Error: Too much mail data")
        assert router.known_contacts() == 0
        assert router.offers == []
        # and the session is still usable for a message of a fitting size
        assert await router.send(question()) == {}
        assert router.known_contacts() == 1


@pytest.mark.asyncio
async def test_a_refused_message_is_554_and_a_failing_one_451() -> None:
    async with running_router() as router:
        refused = await router.data(question(Subject="refuse me"))
        assert refused == (554, "5.6.0 Message refused: subject: we do not take these")
        with pytest.raises(smtplib.SMTPDataError) as failed:
            await router.send(question(Subject="crash me"))
        assert failed.value.smtp_code == 451
        assert router.known_contacts() == 0
        # the server stays up for the next message
        assert await router.send(question()) == {}
        assert router.known_contacts() == 1


@pytest.mark.asyncio
async def test_while_the_core_is_not_running_the_answer_is_try_again() -> None:
    async with running_router() as router:
        router.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await router.writer
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            await router.send(question())
        assert deferred.value.smtp_code == 451
        reason = deferred.value.smtp_error
        assert isinstance(reason, bytes)
        assert reason.startswith(b"4.3.0 Message not accepted: ")
        assert router.known_contacts() == 0
        assert router.core.engine.contact(contact_id_for("<q1@customer.example>")) is None


@pytest.mark.asyncio
async def test_stop_ends_idle_sessions() -> None:
    async with running_router() as router:
        reader, writer = await asyncio.open_connection(HOST, router.port)
        greeting = await reader.readline()
        assert greeting.startswith(b"220 ")
        assert b"omnirouter" in greeting
        server_stopped = asyncio.Event()

        async def wait_for_close() -> bytes:
            data = await reader.read()  # returns b"" once the server closes the session
            server_stopped.set()
            return data

        closed = asyncio.create_task(wait_for_close())
        # leaving the block stops the server, which must end this idle session
    assert await closed == b""
    assert server_stopped.is_set()
    writer.close()
    await writer.wait_closed()
