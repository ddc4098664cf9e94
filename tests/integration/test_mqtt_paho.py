"""The bridge's MQTT client (`runtime/mqtt_paho.py`), both paths, against a real Mosquitto.

The lean path reaches into paho's internals; these tests pin what it relies on:
that the installed paho is one it accepts, that it falls back when paho is not,
and that on the wire it does what the stock path does: every message arrives,
whole and in order, every one is confirmed, inbound messages are read whole
however the bytes are cut, and a lost connection is noticed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
import pytest_asyncio
from servers import Mosquitto

from router.runtime import mqtt_paho
from router.runtime.mqtt_paho import Client, Delivery

#: an upper bound for waits on the broker, never a timing assertion
PATIENCE = 20.0


def test_the_installed_paho_takes_the_lean_path() -> None:
    # a paho upgrade that changes this fails here first, not in production silently slow
    inner = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    assert mqtt_paho.lean_path_problem(inner) is None


def test_another_paho_release_gets_the_stock_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mqtt_paho, "_PAHO_VERSION", "2.9.0")
    inner = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    problem = mqtt_paho.lean_path_problem(inner)
    assert problem is not None
    assert "2.9.0" in problem


def test_a_paho_without_an_internal_gets_the_stock_path() -> None:
    inner = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    del inner._out_packet
    problem = mqtt_paho.lean_path_problem(inner)
    assert problem is not None
    assert "_out_packet" in problem


def test_mqtt_5_gets_the_stock_path() -> None:
    inner = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    assert mqtt_paho.lean_path_problem(inner) == "it speaks MQTT 3.1.1 only"


@pytest.mark.parametrize("length", [0, 127, 128, 16_383, 16_384, 2_097_152, 268_435_455])
def test_the_remaining_length_is_mqtts_variable_length_integer(length: int) -> None:
    packet = bytearray()
    inner = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    assert bytes(mqtt_paho._remaining_length(length)) == inner._pack_remaining_length(
        packet, length
    )


# ---------------------------------------------------------------- on the wire
@pytest_asyncio.fixture(params=[True, False], ids=["lean", "stock"])
async def sender(request: pytest.FixtureRequest, mosquitto: Mosquitto) -> AsyncIterator[Client]:
    client = Client(
        mosquitto.host, mosquitto.port, identifier="sender", lean=request.param, keepalive=5
    )
    async with client:
        assert client.lean is request.param
        yield client


@pytest_asyncio.fixture
async def receiver(mosquitto: Mosquitto) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="receiver") as client:
        await client.subscribe("t/#", qos=1)
        yield client


async def receive(client: aiomqtt.Client, count: int) -> list[tuple[str, bytes]]:
    seen: list[tuple[str, bytes]] = []
    async with asyncio.timeout(PATIENCE):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            seen.append((message.topic.value, message.payload))
            if len(seen) == count:
                return seen
    raise AssertionError("the stream ended")


async def deliveries(client: Client, count: int) -> list[Delivery]:
    seen: list[Delivery] = []
    client.deliver_to(seen.append)
    async with asyncio.timeout(PATIENCE):
        while len(seen) < count:
            await asyncio.sleep(0.01)
    return seen


def confirmations(sender: Client) -> list[int]:
    """The packet ids the broker confirms to `sender` from now on, as they come."""
    confirmed: list[int] = []
    sender.on_confirmed = confirmed.append
    return confirmed


async def confirmed_all(confirmed: list[int], mids: list[int]) -> None:
    """Wait until the broker confirmed as many messages as were sent: exactly those."""
    async with asyncio.timeout(PATIENCE):
        while len(confirmed) < len(mids):
            await asyncio.sleep(0.01)
    assert sorted(confirmed) == sorted(mids)


def sent(count: int, size: int = 40) -> list[tuple[str, bytes]]:
    return [(f"t/{i % 7}", f"{i:08d}".encode() * (size // 8)) for i in range(count)]


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_burst_arrives_whole_in_order_and_is_confirmed(
    sender: Client, receiver: aiomqtt.Client
) -> None:
    confirmed = confirmations(sender)
    messages = sent(3000)
    mids = [sender.send(topic, payload) for topic, payload in messages]
    assert await receive(receiver, len(messages)) == messages
    await confirmed_all(confirmed, mids)


@pytest.mark.integration
@pytest.mark.asyncio
async def test_sends_from_another_thread_and_the_loop_arrive_whole_and_confirmed(
    sender: Client, receiver: aiomqtt.Client
) -> None:
    # the loop's sends bypass paho's queue; another thread's go through it
    confirmed = confirmations(sender)
    messages = sent(20)
    mids = await asyncio.to_thread(lambda: [sender.send(t, p) for t, p in messages[:10]])
    mids += [sender.send(t, p) for t, p in messages[10:]]
    assert sorted(await receive(receiver, 20)) == sorted(messages)
    await confirmed_all(confirmed, mids)


@pytest.mark.integration
@pytest.mark.asyncio
async def test_payloads_larger_than_a_write_or_the_socket_buffer_arrive_whole(
    sender: Client, receiver: aiomqtt.Client
) -> None:
    # 40 x 300 KB: far more than the socket takes at once, so writes end part way
    messages = sent(40, size=300_000)
    for topic, payload in messages:
        sender.send(topic, payload)
    assert await receive(receiver, len(messages)) == messages


@pytest.mark.integration
@pytest.mark.asyncio
async def test_inbound_messages_are_read_whole_however_the_bytes_are_cut(
    mosquitto: Mosquitto,
) -> None:
    # many small messages land in one read, and large ones span several
    messages = [*sent(2000), *sent(5, size=200_000), *sent(500)]
    async with (
        Client(mosquitto.host, mosquitto.port, identifier="reader") as reader,
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="writer") as writer,
    ):
        assert reader.lean
        await reader.subscribe("t/#", qos=1)
        await asyncio.gather(*(writer.publish(t, p, qos=1) for t, p in messages))
        seen = await deliveries(reader, len(messages))
    assert [(d.topic, d.payload) for d in seen] == messages
    assert {d.qos for d in seen} == {1}
    assert not any(d.dup or d.retain for d in seen)


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_topic_mqtt_forbids_is_refused_and_nothing_is_sent(
    sender: Client, receiver: aiomqtt.Client
) -> None:
    with pytest.raises(ValueError, match=r"(?i)topic"):
        sender.send("t/+/offers", b"{}")
    sender.send("t/ok", b"after")
    assert await receive(receiver, 1) == [("t/ok", b"after")]


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_lost_connection_is_noticed_and_sending_then_refused(
    mosquitto: Mosquitto,
) -> None:
    client = Client(mosquitto.host, mosquitto.port, identifier="sender")
    async with client:
        mosquitto.stop()
        async with asyncio.timeout(PATIENCE):
            error = await client.disconnected()
        assert isinstance(error, aiomqtt.MqttError)
        with pytest.raises(aiomqtt.MqttError):
            client.send("t/x", b"gone")


@pytest.mark.integration
@pytest.mark.asyncio
async def test_qos_0_and_retained_messages_are_read_with_their_flags(
    mosquitto: Mosquitto,
) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="writer") as writer:
        await writer.publish("t/kept", b"retained", qos=1, retain=True)
        await writer.publish("t/kept0", b"retained at 0", qos=0, retain=True)
    async with Client(mosquitto.host, mosquitto.port, identifier="reader") as reader:
        assert reader.lean
        await reader.subscribe("t/#", qos=1)
        seen = {d.topic: d for d in await deliveries(reader, 2)}
    assert seen["t/kept"].payload == b"retained"
    assert seen["t/kept"].qos == 1
    assert seen["t/kept"].retain
    assert seen["t/kept0"].payload == b"retained at 0"
    assert seen["t/kept0"].qos == 0
    assert seen["t/kept0"].retain


@pytest.mark.integration
@pytest.mark.asyncio
async def test_an_idle_lean_connection_is_kept_alive(
    mosquitto: Mosquitto, receiver: aiomqtt.Client
) -> None:
    # keepalive 1 s: paho pings, and the lean path leaves PINGRESP to paho
    client = Client(mosquitto.host, mosquitto.port, identifier="idle", keepalive=1)
    async with client:
        assert client.lean
        await asyncio.sleep(3.5)
        client.send("t/late", b"still here")
        assert await receive(receiver, 1) == [("t/late", b"still here")]
        assert not client._disconnected.done()


# ---------------------------------------------------------------- the lean reader
def _packet(command: int, body: bytes) -> bytes:
    return bytes((command, *mqtt_paho._remaining_length(len(body)))) + body


def _publish(topic: str, payload: bytes, *, qos: int, mid: int = 0, dup: bool = False) -> bytes:
    head = len(topic).to_bytes(2, "big") + topic.encode()
    if qos:
        head += mid.to_bytes(2, "big")
    return _packet(0x30 | qos << 1 | (0x08 if dup else 0), head + payload)


#: what a broker sends a lean client, in one stream: PUBACKs of its sends, PUBLISHes
#: at QoS 1 and 0 (one of 300 bytes, whose remaining length takes two bytes), a
#: PINGRESP that paho itself must read, and a PUBACK of a packet id nobody sent
_STREAM = [
    ("confirmed", 7, _packet(0x40, (7).to_bytes(2, "big"))),
    ("delivered", 1, _publish("a/b", b'{"n": 1}', qos=1, mid=1)),
    ("paho", None, _packet(0xD0, b"")),
    ("confirmed", 8, _packet(0x40, (8).to_bytes(2, "big"))),
    ("delivered", 2, _publish("a/long", b"x" * 300, qos=1, mid=2, dup=True)),
    ("delivered", 0, _publish("a/zero", b"at most once", qos=0)),
    ("paho", None, _packet(0x40, (99).to_bytes(2, "big"))),
    ("confirmed", 9, _packet(0x40, (9).to_bytes(2, "big"))),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("cut", ["whole", "every byte", "in threes"])
async def test_the_lean_reader_takes_packets_whole_however_the_stream_is_cut(cut: str) -> None:
    # A real socket pair instead of a broker: the test decides where the bytes are cut,
    # down to a packet's first byte arriving alone (paho then reads that packet).
    client = Client("127.0.0.1", 1, identifier="reader")
    assert client.lean
    inner = client._client
    inner.manual_ack_set(True)
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    inner._sock = ours
    client._sent.update({7, 8, 9})
    confirmed: list[int] = []
    client.on_confirmed = confirmed.append
    seen: list[Delivery] = []
    client.deliver_to(seen.append)
    read_by_paho: list[int] = []
    handle = inner._packet_handle

    def counted() -> mqtt.MQTTErrorCode:
        read_by_paho.append(inner._in_packet["command"])
        return handle()

    inner._packet_handle = counted  # type: ignore[method-assign]
    stream = b"".join(packet for _, _, packet in _STREAM)
    size = {"whole": len(stream), "every byte": 1, "in threes": 3}[cut]
    try:
        for start in range(0, len(stream), size):
            theirs.sendall(stream[start : start + size])
            client._on_readable()
        assert not client._disconnected.done()
        assert confirmed == [mid for kind, mid, _ in _STREAM if kind == "confirmed"]
        assert [(d.topic, d.payload, d.qos, d.mid, d.dup) for d in seen] == [
            ("a/b", b'{"n": 1}', 1, 1, False),
            ("a/long", b"x" * 300, 1, 2, True),
            ("a/zero", b"at most once", 0, 0, False),
        ]
        assert client._read_at == len(client._read_buffer)  # nothing left behind
        assert inner._in_packet["command"] == 0
        if cut == "whole":  # only what paho must read went through its reader
            assert read_by_paho == [0xD0, 0x40]
    finally:
        inner._sock = None
        ours.close()
        theirs.close()


@pytest.mark.asyncio
async def test_the_lean_reader_notices_the_end_of_the_stream() -> None:
    client = Client("127.0.0.1", 1, identifier="reader")
    inner = client._client
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    inner._sock = ours
    lost: list[object] = []
    inner.on_disconnect = lambda *args: lost.append(args)
    try:
        theirs.sendall(_packet(0x40, (5).to_bytes(2, "big"))[:3])  # a packet cut short
        theirs.close()
        client._on_readable()
        assert inner._sock is None  # paho closed it: the connection is lost
    finally:
        ours.close()


@pytest.mark.integration
@pytest.mark.asyncio
async def test_flush_writes_what_was_sent_within_the_same_loop_turn(
    mosquitto: Mosquitto, receiver: aiomqtt.Client
) -> None:
    # the core flushes a batch's offers before it syncs the store: they must be on the
    # socket when `flush` returns, not at the end of the loop turn
    async with Client(mosquitto.host, mosquitto.port, identifier="flusher", lean=True) as client:
        client.send("t/flush", b"offer")
        assert client.unwritten  # kept for the end of the turn
        client.flush()
        assert not client.unwritten
        client.flush()  # nothing left: nothing happens
        assert await receive(receiver, 1) == [("t/flush", b"offer")]
