"""The inbound SMTP server: every accepted e-mail becomes an `email` contact (CONTRACT 3).

aiosmtpd's `SMTP` protocol runs directly in the daemon's event loop
(`loop.create_server`), not under aiosmtpd's `Controller`, which would run a
second loop in a thread: the daemon is one loop, and the handler awaits the
core like every other edge.

A message is acknowledged only after the engine applied it, so a 250 never
covers a contact that does not exist. The answers, and what the sender does:

- `250 2.0.0 OK: queued as <contact id>`: routed (or kept as `rejected` when
  no queue takes it); a redelivery of the same Message-ID finds the same id.
- `554 5.6.0 <reason>`: unreadable, or refused by the engine as bad input.
  Permanent: the sender's server bounces it to the sender.
- `451 4.3.0 <reason>`: overloaded, starting or stopping, or a failure of ours.
  Temporary: the sender's server retries later, and nothing is lost.
- `552`: larger than `[limits] max_email_bytes`; aiosmtpd refuses it at
  `MAIL FROM ... SIZE=` or while reading DATA, before any of it reaches us.

Reading a message (`core.parse_contact`, hence the channel plugins'
`router_parse_contact`) runs in one worker thread per server, not on the
loop: the stdlib's MIME parser needs about a second for a 10 MB message of
thousands of parts, and the loop also serves HTTP, MQTT and the engine. One
thread, so the server reads one message at a time and a flood of large ones
takes one core, not all; routing (`core.submit_contact`) is back on the loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import socket
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from router import __version__
from router.engine import EngineError
from router.model import ModelError
from router.runtime.core import NotRunning, Overloaded, RouterCore, StoreUnavailable
from router.runtime.http_common import Health

log = logging.getLogger("router.smtp")

CHANNEL = "email"
HEALTH_PART = "smtp"
#: idle time after which a session is closed: RFC 5321 4.5.3.2.7 asks servers for 5 minutes
SESSION_TIMEOUT_SECONDS = 300.0
#: reasons are cut to this, on one line of printable ASCII, so any client can show them
MAX_REASON_CHARS = 300
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


@dataclass(slots=True)
class _Listener:
    """What `stop_smtp` must end besides the server: sessions and the reader thread."""

    reader: ThreadPoolExecutor
    sessions: set[_Session] = field(default_factory=set)


#: each server `start_smtp` made → its listener (`asyncio.Server.close` only stops
#: listening: Python 3.11 leaves the connections open)
_LISTENERS: weakref.WeakKeyDictionary[asyncio.AbstractServer, _Listener] = (
    weakref.WeakKeyDictionary()
)


class InboundMail:
    """The aiosmtpd handler: `handle_DATA` turns each message into a routed contact."""

    def __init__(self, core: RouterCore, reader: ThreadPoolExecutor) -> None:
        self.core = core
        self.reader = reader

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        peer = session.peer
        raw = envelope.original_content if envelope.original_content is not None else b""
        payload: dict[str, Any] = {
            "mime": raw,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
        }
        read = functools.partial(self.core.parse_contact, CHANNEL, payload)
        try:
            contact = await asyncio.get_running_loop().run_in_executor(self.reader, read)
        except ModelError as error:
            log.info("refused a message from %s (peer %s): %s", envelope.mail_from, peer, error)
            return f"554 5.6.0 Message refused: {_reason(str(error))}"
        except Exception:
            log.exception("reading a message from %s (peer %s) failed", envelope.mail_from, peer)
            return "451 4.3.0 Message not accepted: internal error, try again later"
        try:
            record = await self.core.submit_contact(contact)
        except EngineError as error:
            if error.code == "bad_request":
                log.info("the router refused contact %s: %s", contact.id, error.message)
                return f"554 5.6.0 Message refused: {_reason(error.message)}"
            log.warning("the router failed on contact %s: %s", contact.id, error.message)
            return f"451 4.3.0 Message not accepted: {_reason(error.message)}"
        except (Overloaded, NotRunning, StoreUnavailable) as error:
            log.warning("deferred a message for contact %s: %s", contact.id, error)
            return f"451 4.3.0 Message not accepted: {_reason(str(error))}"
        except Exception:
            log.exception("routing contact %s failed", contact.id)
            return "451 4.3.0 Message not accepted: internal error, try again later"
        log.info("accepted a message from %s as contact %s", envelope.mail_from, contact.id)
        return f"250 2.0.0 OK: queued as {record.contact.id}"


class _Session(SMTP):
    """aiosmtpd's protocol, keeping a set of the sessions open on its server."""

    def __init__(self, handler: InboundMail, sessions: set[_Session], **options: Any) -> None:
        super().__init__(handler, **options)
        self._open_sessions = sessions

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._open_sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._open_sessions.discard(self)
        super().connection_lost(error)

    @property
    def client_task(self) -> asyncio.Task[None] | None:
        """The task reading this client's commands (aiosmtpd ends it when the connection goes)."""
        return self._handler_coroutine


async def start_smtp(core: RouterCore, health: Health) -> asyncio.Server:
    """Listen on `[smtp] host:port`; health "smtp" is "ok" once listening.

    A port that cannot be bound raises `OSError` and leaves the reason in
    health. Stop it with `stop_smtp` (or at least `close()` it).
    """
    loop = asyncio.get_running_loop()
    host, port = core.config.smtp.host, core.config.smtp.port
    listener = _Listener(ThreadPoolExecutor(1, thread_name_prefix="router-smtp-reader"))
    handler = InboundMail(core, listener.reader)
    # Looked up once: without it aiosmtpd asks DNS for the FQDN on every connection.
    hostname = socket.gethostname()

    def new_session() -> _Session:
        return _Session(
            handler,
            listener.sessions,
            # read per connection, so a reloaded limit applies to the next session
            data_size_limit=core.config.limits.max_email_bytes,
            enable_SMTPUTF8=True,
            hostname=hostname,
            ident=f"omnirouter {__version__}",
            timeout=SESSION_TIMEOUT_SECONDS,
            loop=loop,
        )

    try:
        server = await loop.create_server(new_session, host, port)
    except OSError as error:
        listener.reader.shutdown(wait=False)
        health.set(HEALTH_PART, f"cannot listen on {host}:{port}: {error.strerror or error}")
        raise
    _LISTENERS[server] = listener
    health.set(HEALTH_PART, "ok")
    log.info("SMTP listening on %s:%d", host, port)
    return server


async def stop_smtp(server: asyncio.AbstractServer) -> None:
    """Stop listening, end the open sessions and the reader thread.

    A message whose DATA is still being handled gets no 250: its sender
    retries, and the retry finds the contact if the engine had applied it.
    """
    server.close()
    listener = _LISTENERS.pop(server, None)
    if listener is not None:
        sessions = list(listener.sessions)
        tasks = [task for session in sessions if (task := session.client_task) is not None]
        for session in sessions:
            if session.transport is not None:
                session.transport.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        # a message still being read finishes in the thread; nobody waits for it
        listener.reader.shutdown(wait=False, cancel_futures=True)
    await server.wait_closed()


def _reason(text: str) -> str:
    """A reason fit for an SMTP reply: one line of printable ASCII, not too long."""
    line = _UNPRINTABLE.sub(" ", text).strip() or "no reason given"
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 3] + "..."
