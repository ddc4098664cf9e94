"""paho under aiomqtt: the client the MQTT bridge (`runtime/mqtt.py`) talks through.

The bridge publishes many QoS 1 messages per contact (the offer, an event per
state change) and acknowledges each inbound one by hand. aiomqtt 2.5's
`publish` is a coroutine with an `asyncio.Event`, a wait and a pending-call
check that walks every call in flight; paho's `publish` builds a message and
an info object holding a `threading.Condition`, and on the PUBACK a
`ReasonCode` and MQTT 5 `Properties` (on MQTT 3.1.1 too), then walks every
message it holds (`_update_inflight`). Under benchmarks/e2e.py that was about
a third of the daemon's CPU. So this client offers `send` (publish without
waiting) and `on_confirmed` (the PUBACK arrived), in one of two ways, chosen
for each client when it is made:

- stock: paho's public `publish` and `on_publish`; any paho that aiomqtt takes;
- lean (`LEAN_PAHO_VERSIONS`, MQTT 3.1.1, checked when the client is made): the
  PUBLISH is built here and kept beside paho, and what a loop turn sent leaves
  in one write (paho sends each packet on its own: one TCP segment each, with
  nodelay), straight to the socket when paho has nothing queued itself; paho's
  queue (a dict per packet and a write callback per message: a third of a
  send's cost) only takes what the socket did not. Reads are buffered (paho
  reads a packet's header a byte at a time: a syscall each). The PUBACKs of
  `send` and inbound QoS 0 or 1 PUBLISHes are taken whole from the read buffer without paho's
  reader (`_take_packets`), or, when paho has read one itself (the first bytes
  of a packet came in alone), in its `_packet_handle` before it decodes them.

Every paho internal the lean path uses is named in `_PAHO_INTERNALS`; a paho
that changed them gets the stock path, and says so in the log.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

log = logging.getLogger("router.mqtt")

#: paho-mqtt releases whose internals the lean path was read against and tested with
LEAN_PAHO_VERSIONS = ("2.2.",)
_PAHO_VERSION = version("paho-mqtt")
#: what the lean path uses of paho's client beyond its public interface
_PAHO_INTERNALS = (
    "_packet_queue",
    "_sock_send",
    "_mid_generate",
    "_packet_handle",
    "_in_packet",
    "_out_packet",
    "_sock_recv",
    "_sock",
    "_protocol",
    "_manual_ack",
    "_last_bytes_received",
)
#: PUBLISH at QoS 1, neither DUP nor RETAIN
_PUBLISH_QOS1 = 0x32
_PUBACK = 0x40
_MAX_REMAINING_LENGTH = 268_435_455
#: bytes taken from the socket at once
_READ_SIZE = 65536
#: bytes of queued packets joined into one write (more waits for the next one)
_WRITE_SIZE = 65536


def lean_path_problem(inner: mqtt.Client) -> str | None:
    """Why the lean path cannot drive this paho client; None when it can."""
    if not _PAHO_VERSION.startswith(LEAN_PAHO_VERSIONS):
        return f"paho-mqtt {_PAHO_VERSION} is not a release it was checked against"
    missing = [name for name in _PAHO_INTERNALS if not hasattr(inner, name)]
    if missing:
        return f"paho-mqtt {_PAHO_VERSION} lacks {', '.join(missing)}"
    if inner._protocol != mqtt.MQTTv311:
        return "it speaks MQTT 3.1.1 only"
    return None


def _ignore(mid: int) -> None:
    pass


@dataclass(frozen=True, slots=True)
class Delivery:
    """An inbound message, with the DUP flag aiomqtt's `Message` drops."""

    topic: str
    payload: bytes
    qos: int
    #: its packet id: what `ack` answers, and what a redelivery repeats
    mid: int
    retain: bool = False
    #: the broker delivers it again: it may have been applied before
    dup: bool = False


class Client(aiomqtt.Client):
    """aiomqtt's client, plus `send`/`on_confirmed` out and `deliver_to` in."""

    def __init__(self, *args: Any, lean: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: told every inbound message as it is read (`deliver_to`)
        self._receiver: Callable[[Delivery], None] | None = None
        self._undelivered: deque[Delivery] = deque()
        #: told the packet id of every message of `send` the broker confirmed
        self.on_confirmed: Callable[[int], None] = _ignore
        #: packet ids of `send`, not yet confirmed
        self._sent: set[int] = set()
        self._loop_thread = threading.get_ident()
        #: why the stock path drives this client; None: the lean one
        self.lean_problem = lean_path_problem(self._client) if lean else "switched off"
        self._read_buffer = b""
        self._read_at = 0
        self._flush_due = False
        #: PUBLISH packets of `send` not yet handed to the socket or to paho, in order
        self._unwritten: list[bytes] = []
        if self.lean_problem is None:
            inner = self._client
            self._stock_recv = inner._sock_recv
            self._stock_handle = inner._packet_handle
            inner._sock_recv = self._buffered_recv  # type: ignore[method-assign]
            inner._packet_handle = self._handle_packet  # type: ignore[method-assign]

    @property
    def lean(self) -> bool:
        return self.lean_problem is None

    # ------------------------------------------------------------ out
    def send(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 without waiting; the packet id `on_confirmed` is told later.

        `MqttCodeError` when there is no connection; `ValueError` for a topic or a
        payload MQTT does not allow.
        """
        if self.lean:
            mid = self._send_lean(topic.encode(), payload)
        else:
            info = self._client.publish(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
            mid = info.mid
        self._sent.add(mid)
        return mid

    def _send_lean(self, topic: bytes, payload: bytes) -> int:
        inner = self._client
        if inner._sock is None:
            raise aiomqtt.MqttCodeError(mqtt.MQTT_ERR_NO_CONN, "Could not publish message")
        if not topic or len(topic) > 65535 or b"+" in topic or b"#" in topic:
            raise ValueError(f"not a topic to publish on: {topic!r}")
        remaining = 4 + len(topic) + len(payload)  # topic length, topic, packet id, payload
        if remaining > _MAX_REMAINING_LENGTH:
            raise ValueError("payload too large for MQTT")
        mid = inner._mid_generate()
        header = bytes((_PUBLISH_QOS1, *_remaining_length(remaining)))
        packet = b"".join(
            (header, struct.pack("!H", len(topic)), topic, struct.pack("!H", mid), payload)
        )
        if threading.get_ident() != self._loop_thread:  # paho's queue takes it, thread-safely
            inner._packet_queue(_PUBLISH_QOS1, packet, mid, 1)
            return mid
        self._unwritten.append(packet)
        self._flush_soon()
        return mid

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any
    ) -> None:
        # the stock path's confirmations (the lean path's never reach paho's callback)
        if mid in self._sent:
            self._sent.discard(mid)
            self.on_confirmed(mid)
        else:
            super()._on_publish(client, userdata, mid, reason_code, properties)

    def _handle_packet(self) -> MQTTErrorCode:
        """paho's packet dispatch, except the PUBACK of a `send` and a QoS 0/1 PUBLISH."""
        packet = self._client._in_packet
        command, body = packet["command"], packet["packet"]
        # MQTT 3.1.1 PUBACK: the packet id and nothing else
        if command == _PUBACK and len(body) == 2:
            mid = body[0] << 8 | body[1]
            if mid in self._sent:
                self._sent.discard(mid)
                self.on_confirmed(mid)
                return mqtt.MQTT_ERR_SUCCESS
        elif command & 0xF0 == mqtt.PUBLISH and self._take_publish(command, body):
            return mqtt.MQTT_ERR_SUCCESS
        return self._stock_handle()

    def _take_publish(self, command: int, body: bytes | bytearray) -> bool:
        """Decode a PUBLISH and hand it on as paho would; False: left to paho.

        paho's own decoder builds MQTT 5 properties, formats a debug line and walks
        its topic filters (none here) for every message. QoS 2 (which needs paho's
        PUBREC/PUBREL state), or QoS 1 without manual acks, or anything malformed,
        stays with paho.
        """
        inner = self._client
        qos = (command >> 1) & 3
        if qos > 1 or (qos == 1 and not inner._manual_ack) or len(body) < 2:
            return False
        topic_end = 2 + (body[0] << 8 | body[1])
        payload_at = topic_end + 2 * qos  # QoS 1: the packet id comes first
        if payload_at > len(body):
            return False
        mid = body[topic_end] << 8 | body[topic_end + 1] if qos else 0
        message = mqtt.MQTTMessage(mid, bytes(body[2:topic_end]))
        message.payload = bytes(body[payload_at:])
        message.qos = qos
        message.dup = bool(command & 0x08)
        message.retain = bool(command & 0x01)
        message.timestamp = time.monotonic()  # paho's clock
        self._on_message(inner, None, message)
        return True

    def _on_socket_register_write(
        self, client: mqtt.Client, userdata: Any, sock: mqtt.SocketLike
    ) -> None:
        # aiomqtt registers a writer through call_soon_threadsafe (a self-pipe write),
        # which fires a loop turn later still; on the loop's own thread a flush at the
        # end of this turn does, once for everything the turn queued
        if not self.lean or threading.get_ident() != self._loop_thread:
            super()._on_socket_register_write(client, userdata, sock)
        else:
            self._flush_soon()

    def _flush_soon(self) -> None:
        """Flush at the end of this loop turn, once for everything the turn queued."""
        if not self._flush_due:
            self._flush_due = True
            self._loop.call_soon(self.flush)

    @property
    def unwritten(self) -> bool:
        """Whether some of what was sent is not on the socket yet."""
        return bool(self._unwritten) or self._client.want_write()

    def flush(self) -> None:
        """Write what `send` queued now rather than at the end of the loop turn."""
        if self._flush_due:
            self._flush()

    def _flush(self) -> None:
        self._flush_due = False
        inner = self._client
        sock = inner._sock
        if sock is None:
            # the connection is gone: the bridge sends what it did not confirm on the next
            self._unwritten.clear()
            return
        if self._unwritten and not self._write_unwritten():
            return
        if not inner._out_packet:
            return  # all on the socket
        _coalesce(inner)
        try:
            inner.loop_write()
        except Exception as exc:  # as aiomqtt's writer: a broken pipe is a lost connection
            self._lost(exc)
            return
        if inner.want_write() and inner._sock is not None:
            # the socket took part of it: the rest when it can take more (paho
            # unregisters, through aiomqtt, once all is written)
            self._loop.add_writer(sock.fileno(), self._flush)

    def _write_unwritten(self) -> bool:
        """Hand `send`'s packets to the socket in one write, or what it did not take to
        paho's queue, behind paho's own packets; False when the connection broke."""
        inner = self._client
        data = b"".join(self._unwritten)
        self._unwritten.clear()
        if not inner._out_packet:
            try:
                written = inner._sock_send(data)
            except BlockingIOError:
                written = 0
            except Exception as exc:  # as in `_flush`: the connection is lost
                self._lost(exc)
                return False
            if written >= len(data):
                return True
            data = data[written:]
        inner._out_packet.append(_joined([data]))
        return True

    # ------------------------------------------------------------ in
    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: mqtt.SocketLike) -> None:
        super()._on_socket_open(client, userdata, sock)
        if self.lean:
            # runs after aiomqtt's own add_reader (same queue), and replaces its reader
            self._loop.call_soon_threadsafe(self._loop.add_reader, sock.fileno(), self._on_readable)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: mqtt.SocketLike) -> None:
        self._read_buffer, self._read_at = b"", 0
        super()._on_socket_close(client, userdata, sock)

    def _on_readable(self) -> None:
        """Read until the socket has nothing more.

        Whole packets at the buffer's head that the lean path acts on (the PUBACK of
        a `send`, a QoS 0 or 1 PUBLISH) are taken here, without paho's reader (a dict
        of state, three reads and a lock per packet, a quarter of the bridge's
        reading); anything else, and a packet not yet whole, goes through paho's.
        """
        inner = self._client
        try:
            while True:
                if inner._in_packet["command"] == 0:  # paho is between packets
                    if self._read_at >= len(self._read_buffer) and not self._fill():
                        return
                    self._take_packets()
                    if self._read_at >= len(self._read_buffer):
                        continue  # all taken: read on
                if inner.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                    return
                if self._read_at >= len(self._read_buffer) and inner._in_packet["command"] != 0:
                    # paho waits for the rest of a packet, and has read the socket dry;
                    # TLS may hold bytes decrypted already, which the socket does not signal
                    pending = getattr(inner._sock, "pending", None)
                    if pending is None or pending() <= 0:
                        return
        except Exception as exc:  # as aiomqtt's reader: the connection is gone
            self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        """The connection is gone because of `exc`: `disconnected` says so, once."""
        if not self._disconnected.done():
            self._disconnected.set_exception(exc)

    def _fill(self) -> bool:
        """Read what waits into the used-up buffer; False when nothing does."""
        try:
            data = self._stock_recv(_READ_SIZE)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            # the end of the stream, or a failed read: paho's own read meets it again
            # and reports the lost connection as it always does
            self._client.loop_read()
            return False
        self._read_buffer, self._read_at = data, 0
        return True

    def _take_packets(self) -> None:
        """Act on the whole packets at the buffer's head that the lean path knows; stop
        at the first one paho must read, or one that has not fully arrived."""
        buffer, end = self._read_buffer, len(self._read_buffer)
        took = False
        while self._read_at + 2 <= end:
            at = self._read_at
            command = buffer[at]
            length, shift, cursor = 0, 0, at + 1
            while cursor < end and shift <= 21:  # the remaining length: 7 bits a byte, 4 at most
                byte = buffer[cursor]
                cursor += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            else:
                break  # not fully arrived, or malformed: paho's reader decides
            following = cursor + length
            if following > end:
                break
            body = buffer[cursor:following]
            if command == _PUBACK and length == 2:
                mid = body[0] << 8 | body[1]
                if mid not in self._sent:
                    break  # one that paho is waiting for
                self._sent.discard(mid)
                self._read_at = following
                self.on_confirmed(mid)
            elif command & 0xF0 == mqtt.PUBLISH:
                self._read_at = following  # before the receiver runs, which may read on
                if not self._take_publish(command, body):
                    self._read_at = at  # not taken (nothing was delivered): paho reads it
                    break
            else:
                break
            took = True
        if took:
            self._client._last_bytes_received = time.monotonic()  # paho's keepalive clock

    def _buffered_recv(self, bufsize: int) -> bytes:
        """paho's recv, served from a buffer filled `_READ_SIZE` bytes at a time."""
        if self._read_at >= len(self._read_buffer):
            data = self._stock_recv(_READ_SIZE)  # BlockingIOError when nothing waits
            if len(data) <= bufsize:
                self._read_buffer, self._read_at = b"", 0
                return data
            self._read_buffer, self._read_at = data, 0
        start = self._read_at
        self._read_at = min(start + bufsize, len(self._read_buffer))
        return self._read_buffer[start : self._read_at]

    def deliver_to(self, receiver: Callable[[Delivery], None] | None) -> None:
        """Hand every inbound message to `receiver` as it is read, those read before first.

        None: keep them until there is a receiver again. (aiomqtt's `messages`, a
        task and a wait per message, is not fed.)
        """
        self._receiver = receiver
        while receiver is not None and self._undelivered and self._receiver is receiver:
            receiver(self._undelivered.popleft())

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # the broker checks topics; handed on, it is dead-lettered
            topic = "(a topic that is not UTF-8)"
        payload = bytes(message.payload)  # bytes already on both paths: then no copy
        delivery = Delivery(topic, payload, message.qos, message.mid, message.retain, message.dup)
        if self._receiver is None:
            # a persistent session's messages come right after the connect, before
            # anyone could be told
            self._undelivered.append(delivery)
        else:
            self._receiver(delivery)

    async def disconnected(self) -> aiomqtt.MqttError:
        """Wait until the connection is lost; the error that says why."""
        try:
            await asyncio.shield(self._disconnected)
        except Exception as exc:
            error = aiomqtt.MqttError("the connection was lost")
            error.__cause__ = exc
            return error
        return aiomqtt.MqttError("disconnected")

    def ack(self, message: Delivery) -> None:
        """PUBACK now (aiomqtt issue 345): paho's manual ack, reached under aiomqtt."""
        self._client.ack(message.mid, message.qos)


def _coalesce(inner: mqtt.Client) -> None:
    """Join paho's queued packets into writes of up to `_WRITE_SIZE` bytes.

    paho acts on two kinds of packet once written (a QoS 0 PUBLISH: on_publish; a
    DISCONNECT: closes): with one of those queued, everything is left as it is.
    """
    queue = inner._out_packet
    if len(queue) < 2:
        return
    if any(_acted_on(p["command"], p["qos"]) for p in queue):
        return
    chunks = [p["packet"][p["pos"] :] for p in queue]
    queue.clear()
    start, size = 0, 0
    for end, chunk in enumerate(chunks):
        if size and size + len(chunk) > _WRITE_SIZE:
            queue.append(_joined(chunks[start:end]))
            start, size = end, 0
        size += len(chunk)
    queue.append(_joined(chunks[start:]))


def _acted_on(command: int, qos: int) -> bool:
    kind = command & 0xF0
    return kind == mqtt.DISCONNECT or (kind == mqtt.PUBLISH and qos == 0)


def _joined(chunks: list[bytes | bytearray]) -> Any:
    data = b"".join(chunks)
    # command 0: none that paho acts on after the write
    return {
        "command": 0,
        "mid": 0,
        "qos": 1,
        "pos": 0,
        "to_process": len(data),
        "packet": data,
        "info": None,
    }


def _remaining_length(length: int) -> list[int]:
    """MQTT's variable-length integer: 7 bits a byte, the high bit says another follows."""
    if length < 16384:  # one or two bytes: nearly every message (up to 16 KB)
        return [length] if length < 128 else [length & 0x7F | 0x80, length >> 7]
    digits = []
    while True:
        length, digit = divmod(length, 128)
        if length:
            digits.append(digit | 0x80)
        else:
            digits.append(digit)
            return digits
