"""The MQTT side of the daemon (CONTRACT 5): gateways and agents in, offers and events out.

What shapes this module:

- Nothing is acknowledged before the engine applied it and the store kept it
  (`core.submit` returns only then). aiomqtt 2.5 lets paho
  send the PUBACK of a QoS 1 message as soon as aiomqtt queued it in memory, so
  a crash (or aiomqtt's overflow) loses it silently. Paho's manual acks are
  switched on instead, and a message is acknowledged after `core.submit`
  returned, or after it went to the dead-letter topic. A message applied but
  not yet acknowledged when the connection drops comes back after the
  reconnect: contacts are idempotent on their id (one published without an id
  gets one from its delivery, which the redelivery repeats: `delivery_id`); an
  answer for an offer already answered is dead-lettered, which is noise, not harm.
- A persistent session (MQTT 3.1.1, clean session false, a stable client id),
  so what gateways publish while the router is down waits in the broker.
- Many messages in flight both ways, in order. Inbound, one task per message
  is started in arrival order and its first step is `core.submit`, which
  enqueues before it awaits: the engine sees arrival order while hundreds of
  messages wait for it. When the core says "not now" (Overloaded, or not yet
  accepting), the message waits and retries, never dropped, and later ones
  line up behind it. Outbound, awaiting each QoS 1 publish in turn costs a
  broker round trip per message, so up to `max_inflight` are in flight; a
  message is handed to paho in the loop turn it was made in (no task per
  message), and its PUBACK removes it from the outbox.
- The outbox is the truth, not paho: effects are appended to it (listeners
  must not block), removed only once the broker confirmed them, and put back
  at the front when a connection drops, for the next one (at-least-once).
  Each connection gets a fresh client, so paho never resends on its own.
- Every aiomqtt and paho detail lives here and in `mqtt_paho` (the client, with
  its lean path through paho's internals): aiomqtt 3 drops paho and speaks
  MQTT 5 only; moving to it should touch these two modules alone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import socket
import ssl
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import aiomqtt
import orjson

from router.engine import (
    AgentStateChanged,
    Effect,
    EngineError,
    Event,
    OfferAnswered,
    RevokeOffer,
    SendOffer,
)
from router.model import AgentState, Contact
from router.runtime.core import (
    NotRunning,
    Overloaded,
    RouterCore,
    StoreUnavailable,
    new_contact_id,
)
from router.runtime.http_common import Health
from router.runtime.mqtt_paho import Client, Delivery
from router.runtime.views import offer_message

log = logging.getLogger("router.mqtt")

#: bytes of an oversize payload kept in its dead letter
DEADLETTER_PAYLOAD_BYTES = 4096
#: how long a message waits before it tries a full (or not yet accepting) core again;
#: Overloaded's retry_after is whole seconds for HTTP clients, too coarse in-process
_CORE_RETRY_SECONDS = 0.05
_AGENT_STATES = ", ".join(repr(str(state)) for state in AgentState)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is, read from `[mqtt] url` (`mqtt://` or `mqtts://`, user:pass@ allowed)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError("an MQTT url starts with mqtt:// or mqtts://")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port
        except ValueError as exc:  # the url is not echoed: it may carry a password
            raise ValueError("the port of the MQTT url is not a number from 0 to 65535") from exc
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=tls,
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


class _Outgoing(NamedTuple):
    # a tuple: one is made for every message, and a frozen dataclass's `__init__` sets
    # each field through `object.__setattr__` (three times the cost)
    seq: int  # outbox order, kept when unconfirmed messages are put back
    topic: str
    payload: bytes


class _Unreadable(Exception):
    """An inbound message that cannot become an engine event; the text says why."""


#: what an inbound message turns into before it is submitted
_Work = Contact | Event


class MqttBridge:
    """Connects the core to the broker and keeps it connected until cancelled."""

    def __init__(
        self,
        core: RouterCore,
        health: Health,
        *,
        client_id: str | None = None,
        max_handlers: int = 256,
        max_inflight: int = 1000,
        outbox_limit: int = 100_000,
        min_backoff: float = 0.2,
        max_backoff: float = 30.0,
        keepalive: int = 30,
        lean: bool = True,
    ) -> None:
        url = core.config.mqtt.url
        if url is None:
            raise ValueError("MqttBridge needs [mqtt] url; the daemon runs without MQTT otherwise")
        self.core = core
        self.health = health
        self.address = BrokerAddress.parse(url)
        self.prefix = core.config.mqtt.prefix
        self.client_id = client_id or f"router-{self.prefix}"
        self.max_payload = core.config.limits.max_mqtt_payload_bytes
        self.max_handlers = max_handlers
        self.max_inflight = max_inflight
        self.outbox_limit = outbox_limit
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.keepalive = keepalive
        #: the lean path of `mqtt_paho.Client` where paho allows it; False: stock paho
        self.lean = lean
        self.subscriptions = (
            f"{self.prefix}/contacts/in/+",
            f"{self.prefix}/agents/+/answers",
            f"{self.prefix}/agents/+/state",
        )
        self._outbox: deque[_Outgoing] = deque()
        #: taken from the outbox, sent, not yet confirmed by the broker, by packet id;
        #: in outbox order
        self._unconfirmed: dict[int, _Outgoing] = {}
        #: the connection messages are sent on, while there is one
        self._sender: Client | None = None
        #: told why sending failed, which ends the session
        self._send_failed: asyncio.Future[BaseException] | None = None
        self._seq = 0
        self._dropping = False
        #: held by the message that waits for room in the core; later ones line up behind
        self._waiting_room = asyncio.Lock()
        #: messages in the waiting room or in line for it
        self._in_line = 0
        self._connected = False
        #: whether the last session got as far as subscribing (then the backoff starts over)
        self._session_was_up = False
        self._received = 0
        self._deadlettered = 0
        self._published = 0
        self._dropped = 0
        core.add_sender(self._on_effect, self._flush)

    # ------------------------------------------------------------ figures
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def outbox_size(self) -> int:
        """Messages not yet confirmed by the broker, in flight ones included."""
        return len(self._outbox) + len(self._unconfirmed)

    @property
    def in_flight(self) -> int:
        """Messages sent to the broker and not yet confirmed by it."""
        return len(self._unconfirmed)

    @property
    def received(self) -> int:
        return self._received

    @property
    def deadlettered(self) -> int:
        return self._deadlettered

    @property
    def published(self) -> int:
        return self._published

    @property
    def dropped(self) -> int:
        return self._dropped

    # ------------------------------------------------------------ the connection
    async def run(self) -> None:
        """Connect, subscribe, carry messages both ways, and reconnect, until cancelled."""
        delay = self.min_backoff
        last_reason: str | None = None
        self.health.set("mqtt", "disconnected: not connected yet")
        try:
            while True:
                try:
                    await self._session()
                except aiomqtt.MqttError as exc:
                    reason = _reason(exc)
                except Exception as exc:  # never let the bridge die: log it, back off, retry
                    log.exception("MQTT session with %s failed", self.address)
                    reason = _reason(exc)
                self._mark_disconnected(reason)
                if self._session_was_up:
                    delay = self.min_backoff
                    log.warning(
                        "MQTT connection to %s lost: %s; reconnecting", self.address, reason
                    )
                elif reason != last_reason:  # a broker down for an hour is one line, not 200
                    log.warning(
                        "cannot connect to MQTT broker %s: %s; retrying", self.address, reason
                    )
                last_reason = reason
                # full jitter: routers restarted together do not reconnect together
                await asyncio.sleep(random.uniform(0, delay))
                delay = min(delay * 2, self.max_backoff)
        finally:
            self._mark_disconnected("stopped")

    async def flushed(self) -> None:
        """Wait until the broker confirmed everything in the outbox (bound it with a timeout)."""
        while self.outbox_size:
            await asyncio.sleep(0.01)

    async def _session(self) -> None:
        """One connection, from connect to loss; raises `MqttError` with the reason."""
        self._session_was_up = False
        client = self._new_client()
        async with client:
            granted = await client.subscribe([(topic, 1) for topic in self.subscriptions])
            if any(_refused(code) for code in granted):
                raise aiomqtt.MqttError(f"the broker refused a subscription: {list(granted)}")
            self._session_was_up = True
            self._connected = True
            self.health.set("mqtt", "ok")
            log.info(
                "MQTT connected to %s as %r (%s)",
                self.address,
                self.client_id,
                "lean path" if client.lean else f"stock path: {client.lean_problem}",
            )
            failed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
            consume = asyncio.create_task(self._consume(client), name="mqtt-consume")
            self._start_sending(client, failed)
            try:
                waiters: list[asyncio.Future[Any]] = [consume, failed]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                error = _first_error([consume], failed)
                # health says so before the clean-up below yields to anyone
                self._mark_disconnected(_reason(error))
            finally:
                self._connected = False
                self._stop_sending()
                await _cancel_and_wait([consume])
            raise error

    def _mark_disconnected(self, reason: str) -> None:
        self._connected = False
        self.health.set("mqtt", f"disconnected: {reason}")

    def _new_client(self) -> Client:
        client = Client(
            self.address.host,
            self.address.port,
            username=self.address.username,
            password=self.address.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=False,
            keepalive=self.keepalive,
            max_inflight_messages=self.max_inflight,
            tls_context=ssl.create_default_context() if self.address.tls else None,
            # paho leaves Nagle on: small PUBLISH and PUBACK packets then wait for
            # delayed ACKs (tens of ms each), the same reason the broker sets nodelay
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            lean=self.lean,
        )
        # acknowledge after the engine applied a message, not when aiomqtt queued it
        client._client.manual_ack_set(True)
        return client

    # ------------------------------------------------------------ inbound
    async def _consume(self, client: Client) -> None:
        """Start a task for each inbound message as it is read, until the connection is lost.

        Past `max_handlers` at once, messages wait in `held`, in order and not
        acknowledged: the broker sends no more than its in-flight window
        (`max_inflight_messages`) of those.
        """
        handlers: set[asyncio.Task[None]] = set()
        held: deque[Delivery] = deque()

        def start(message: Delivery) -> None:
            self._received += 1
            task = self._start_handling(client, message)
            if task is not None:
                handlers.add(task)
                task.add_done_callback(finished)

        def finished(task: asyncio.Task[None]) -> None:
            handlers.discard(task)
            while held and len(handlers) < self.max_handlers:
                start(held.popleft())

        def delivered(message: Delivery) -> None:
            if held or len(handlers) >= self.max_handlers:
                held.append(message)
            else:
                start(message)

        client.deliver_to(delivered)
        try:
            raise await client.disconnected()
        finally:
            client.deliver_to(None)
            # not acknowledged: the broker delivers them again on the next connection
            await _cancel_and_wait(list(handlers))

    def _start_handling(self, client: Client, message: Delivery) -> asyncio.Task[None] | None:
        """Read a message and start its task; None when it was dead-lettered instead."""
        topic, payload = message.topic, message.payload
        delivery = delivery_id(topic, message.mid, payload)
        try:
            work = self._read(topic, payload, retained=message.retain, delivery=delivery)
            if isinstance(work, Contact) and work.id == delivery and not message.dup:
                work = self._first_delivery(work)
        except _Unreadable as exc:
            self._dead_letter(topic, payload, str(exc))
            _ack(client, message)
            return None
        except StoreUnavailable:
            # whether the id is taken cannot be told now: keep it, which at worst takes a
            # repeat of an earlier identical message with the same packet id for that one
            pass
        return asyncio.create_task(
            self._apply(client, message, work), name=f"mqtt-in {message.mid}"
        )

    def _first_delivery(self, contact: Contact) -> Contact:
        """A contact without an id of its own, delivered for the first time.

        Its id comes from the delivery (`delivery_id`), so that a redelivery after a
        crash between the store's commit and the PUBACK finds the contact it made.
        A first delivery whose id is taken is a new message that repeats an earlier
        one byte for byte under a reused packet id: it gets an id of its own.
        """
        if self.core.knows_contact(contact.id):
            return contact._replace(id=new_contact_id())
        return contact

    def _read(self, topic: str, payload: bytes, *, retained: bool, delivery: str) -> _Work:
        if len(payload) > self.max_payload:
            raise _Unreadable(
                f"payload of {len(payload)} bytes is larger than the limit of "
                f"{self.max_payload} bytes ([limits] max_mqtt_payload_bytes)"
            )
        if retained:
            raise _Unreadable(
                "retained message: it would come back on every reconnect; publish with retain false"
            )
        match topic.removeprefix(f"{self.prefix}/").split("/"):
            case ["contacts", "in", ""]:
                raise _Unreadable("the topic names no channel")
            case ["agents", "", _]:
                raise _Unreadable("the topic names no agent")
            case ["contacts", "in", channel]:
                return self._read_contact(channel, _json_object(payload), delivery)
            case ["agents", agent_id, "answers"]:
                return _read_answer(agent_id, _json_object(payload))
            case ["agents", agent_id, "state"]:
                return _read_state(agent_id, _json_object(payload))
        raise _Unreadable("no handler for this topic")

    def _read_contact(self, channel: str, body: Mapping[str, Any], delivery: str) -> Contact:
        try:
            return self.core.parse_contact(channel, body, contact_id=delivery)
        except ValueError as exc:  # ModelError, or a plugin's own complaint
            raise _Unreadable(str(exc)) from None
        except Exception as exc:  # a plugin failed on this payload: its problem is logged
            log.exception("channel plugin for %r failed on a message", channel)
            raise _Unreadable(f"the {channel} channel plugin failed: {exc}") from None

    async def _apply(
        self,
        client: Client,
        message: Delivery,
        work: _Work,
    ) -> None:
        try:
            while True:
                try:
                    await self._submit_in_order(work)
                    break
                except StoreUnavailable:
                    # applied, then refused because the store could not keep it: it
                    # was never acknowledged, so it lines up again until it is kept
                    continue
        except EngineError as error:
            reason: str | None = f"{error.code}: {error.message}"
        except Exception as exc:  # a refusal the engine raised otherwise: the same answer
            reason = str(exc) or type(exc).__name__
        else:
            reason = None
        if reason is not None:
            self._dead_letter(message.topic, message.payload, reason)
        _ack(client, message)

    async def _submit_in_order(self, work: _Work) -> None:
        """Submit, keeping arrival order even when the core asks to wait (backpressure).

        Normally the first step of `submit` enqueues (nothing is awaited before it),
        so tasks started in arrival order reach the engine in that order. A message
        the core refuses for now (Overloaded, or NotRunning while starting) takes
        the waiting room at once, before any later message runs, and holds it
        only until it is enqueued: later messages line up behind it, in order.
        """
        if not self._in_line:
            try:
                await self._submit(work)
            except (Overloaded, NotRunning, StoreUnavailable):
                pass  # into the waiting room: taken without a pause, ahead of later messages
            else:
                return
        # counted, not `locked()`: between a release and the next waiter taking the
        # room it looks free, and a newcomer must not slip in ahead of that waiter
        self._in_line += 1
        try:
            async with self._waiting_room:
                attempt = await self._enqueue_when_room(work)
        finally:
            self._in_line -= 1
        await attempt  # outside the room: applied in order with the others, many at a time

    async def _enqueue_when_room(self, work: _Work) -> asyncio.Task[None]:
        """A task whose submission is in the core's inbox (or failed for good)."""
        while True:
            attempt = asyncio.create_task(self._submit(work))
            try:
                await asyncio.sleep(0)  # the task's first step runs: enqueued, or refused
            except asyncio.CancelledError:
                attempt.cancel()
                raise
            if not attempt.done() or attempt.cancelled():
                return attempt
            error = attempt.exception()
            if isinstance(error, Overloaded):
                pause = min(error.retry_after, _CORE_RETRY_SECONDS)
            elif isinstance(error, StoreUnavailable):
                pause = error.retry_after  # the store is probed about this often
            elif isinstance(error, NotRunning):
                # starting, or stopping: then the bridge is cancelled soon, and the
                # message, never acknowledged, comes back on the next run
                pause = _CORE_RETRY_SECONDS
            else:
                return attempt  # applied or refused by the engine: awaiting it tells which
            await asyncio.sleep(pause)

    async def _submit(self, work: _Work) -> None:
        if isinstance(work, Contact):
            await self.core.submit_contact(work)
        else:
            await self.core.submit(work)

    def _dead_letter(self, topic: str, raw: bytes, reason: str) -> None:
        self._deadlettered += 1
        log.warning("dead letter from %r: %s", topic, " ".join(reason.split()))
        letter: dict[str, Any] = {"topic": topic, "error": reason}
        if len(raw) > self.max_payload:
            raw = raw[:DEADLETTER_PAYLOAD_BYTES]
            letter["truncated"] = True
        text = _utf8_prefix(raw, truncated=letter.get("truncated", False))
        if text is None:
            letter["payload"] = base64.b64encode(raw).decode("ascii")
            letter["payload_encoding"] = "base64"
        else:
            letter["payload"] = text
        self._enqueue(f"{self.prefix}/deadletter", letter)

    # ------------------------------------------------------------ outbound
    def _on_effect(self, effect: Effect) -> None:
        """The core's listener: append to the outbox, never block."""
        if isinstance(effect, SendOffer):
            topic = f"{self.prefix}/agents/{effect.offer.agent_id}/offers"
            self._enqueue(topic, offer_message(effect))
        elif isinstance(effect, RevokeOffer):
            topic = f"{self.prefix}/agents/{effect.offer.agent_id}/offers"
            body = {
                "offer_id": effect.offer.id,
                "contact_id": effect.offer.contact_id,
                "revoked": True,
                "reason": effect.reason,
            }
            self._enqueue(topic, body)
        else:
            self._enqueue(f"{self.prefix}/events", effect.to_json())

    def _flush(self) -> None:
        if self._sender is not None:
            self._sender.flush()

    def _enqueue(self, topic: str, body: Mapping[str, Any]) -> None:
        self._seq += 1
        self._outbox.append(_Outgoing(self._seq, topic, orjson.dumps(body, default=_json_default)))
        self._trim_outbox()
        self._send_what_fits()

    def _trim_outbox(self) -> None:
        """Over the limit, the oldest messages go; one log line per burst."""
        excess = len(self._outbox) - self.outbox_limit
        if excess <= 0:
            if self._dropping and len(self._outbox) < self.outbox_limit // 2:
                self._dropping = False
            return
        for _ in range(excess):
            self._outbox.popleft()
        self._dropped += excess
        if not self._dropping:
            self._dropping = True
            log.error(
                "MQTT outbox full (%d messages, broker %s): dropping the oldest "
                "(%d dropped so far)",
                self.outbox_limit,
                "connected" if self._connected else "unreachable",
                self._dropped,
            )

    def _start_sending(self, client: Client, failed: asyncio.Future[BaseException]) -> None:
        self._sender = client
        self._send_failed = failed
        client.on_confirmed = self._confirmed
        self._send_what_fits()

    def _stop_sending(self) -> None:
        """The connection is gone: what the broker did not confirm goes out first on the next."""
        self._sender = None
        self._outbox.extendleft(reversed(self._unconfirmed.values()))
        self._unconfirmed.clear()
        self._trim_outbox()

    def _send_what_fits(self) -> None:
        """Hand paho the outbox's head while fewer than `max_inflight` wait for the broker.

        Called wherever the outbox grows or the window opens, so a message leaves in
        the loop turn it was made in: no task, no wake-up, per message.
        """
        client = self._sender
        if client is None:
            return
        while self._outbox and len(self._unconfirmed) < self.max_inflight:
            item = self._outbox[0]
            try:
                mid = client.send(item.topic, item.payload)
            except aiomqtt.MqttError as exc:  # the connection is gone: kept for the next one
                if self._send_failed is not None and not self._send_failed.done():
                    self._send_failed.set_result(exc)
                self._sender = None
                return
            except ValueError:  # a message MQTT refuses outright: retrying would not help
                log.exception("MQTT publish to %r refused; message dropped", item.topic)
                self._outbox.popleft()
                self._dropped += 1
                continue
            self._outbox.popleft()
            # in send order, which is outbox order: put back as it is when the connection drops
            self._unconfirmed[mid] = item

    def _confirmed(self, mid: int) -> None:
        """The broker has a message (PUBACK): it leaves the outbox for good."""
        if self._unconfirmed.pop(mid, None) is not None:
            self._published += 1
            self._send_what_fits()


def _first_error(
    tasks: Collection[asyncio.Task[None]], failed: asyncio.Future[BaseException]
) -> BaseException:
    """Why a session ended: a failed publish, or the task that stopped first."""
    if failed.done():
        return failed.result()
    for task in tasks:
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            return error
    return aiomqtt.MqttError("the message stream ended")


def _reason(error: BaseException) -> str:
    """One line: aiomqtt's message, with paho's cause ("The connection was lost.") after it."""
    text = str(error) or type(error).__name__
    cause = error.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return " ".join(text.split())


# ---------------------------------------------------------------- reading payloads
def _json_object(payload: bytes) -> Mapping[str, Any]:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _Unreadable(f"payload is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _Unreadable(f"payload must be a JSON object, not {_json_kind(body)}")
    return body


def _read_answer(agent_id: str, body: Mapping[str, Any]) -> OfferAnswered:
    offer_id = body.get("offer_id")
    accept = body.get("accept")
    if not isinstance(offer_id, str) or not offer_id:
        raise _Unreadable("'offer_id' must be a non-empty string")
    if not isinstance(accept, bool):
        raise _Unreadable("'accept' must be true or false")
    return OfferAnswered(offer_id, accept, agent_id=agent_id)


def _read_state(agent_id: str, body: Mapping[str, Any]) -> AgentStateChanged:
    state = body.get("state")
    try:
        return AgentStateChanged(agent_id, AgentState(str(state)))
    except ValueError:
        raise _Unreadable(f"'state' must be one of {_AGENT_STATES}, not {state!r}") from None


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _utf8_prefix(raw: bytes, *, truncated: bool) -> str | None:
    """The payload as text, or None when it is not UTF-8 (a cut may split one character)."""
    for cut in range(4 if truncated else 1):
        try:
            return raw[: len(raw) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _json_default(value: object) -> object:
    # the engine's values are frozen: mapping proxies, tuples, frozensets
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, frozenset | set):
        return sorted(value, key=str)
    return str(value)


def _refused(code: object) -> bool:
    # MQTT 3.1.1 answers 0x80 for a refused subscription; paho wraps it as a failing code
    failure = getattr(code, "is_failure", None)
    return bool(failure) if failure is not None else code == 0x80


def delivery_id(topic: str, mid: int, payload: bytes) -> str:
    """The id of a contact that came without one: the same for every delivery of a message.

    A redelivery carries the same packet id (`mid`) as the delivery it repeats
    (MQTT 3.1.1, 4.3.2), the same topic and the same bytes.
    """
    digest = hashlib.blake2b(payload, digest_size=12, person=b"router-mqtt")
    digest.update(b"\0%d\0%s" % (mid, topic.encode()))
    return f"mq-{digest.hexdigest()}"


def _ack(client: Client, message: Delivery) -> None:
    """The one place a message is acknowledged: after the store kept it, or its dead letter."""
    client.ack(message)


async def _cancel_and_wait(tasks: Collection[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
