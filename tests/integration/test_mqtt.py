"""The MQTT bridge against a real Mosquitto started from config/mosquitto.conf.

A separate aiomqtt client plays the gateway and the agent desktop; `Observer`
collects what the router publishes, with its own persistent session so that
nothing published while it reconnects is missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest
import pytest_asyncio
from servers import ROOT, Mosquitto

from router.config import load_config_and_plugins
from router.engine import AgentStateChanged, AgentUpserted, Effect, Event
from router.model import AgentProfile, AgentState, Contact, Customer
from router.runtime import mqtt as mqtt_module
from router.runtime.core import Overloaded, RouterCore
from router.runtime.http_common import Health
from router.runtime.mqtt import DEADLETTER_PAYLOAD_BYTES, MqttBridge
from router.store import Store
from router.store.sqlite import SqliteStore

ENV = {
    "ROUTER_ADMIN_TOKEN": "admin-token",
    "META_APP_SECRET": "meta-secret",
    "META_VERIFY_TOKEN": "meta-verify",
    "TWILIO_AUTH_TOKEN": "twilio-token",
}
#: an upper bound for waits on the broker, never a timing assertion
PATIENCE = 20.0


def make_core(
    url: str, core_class: type[RouterCore] = RouterCore, store: Store | None = None
) -> RouterCore:
    config, plugins = load_config_and_plugins(ROOT / "config" / "router.toml", env=ENV)
    return core_class(replace(config, mqtt=replace(config.mqtt, url=url)), plugins, store=store)


async def eventually(check: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    """Wait until `check()` holds; fail with `what` if it never does."""
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


@dataclass
class Router:
    """A running core and MQTT bridge; the bridge can be stopped and started again."""

    core: RouterCore
    health: Health
    bridge: MqttBridge
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(self) -> None:
        if "core" not in self.tasks:
            self.tasks["core"] = asyncio.create_task(self.core.run(), name="core")
        assert "bridge" not in self.tasks
        self.tasks["bridge"] = asyncio.create_task(self.bridge.run(), name="bridge")

    async def stop_bridge(self) -> None:
        task = self.tasks.pop("bridge")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        for name in ("bridge", "core"):
            task = self.tasks.pop(name, None)
            if task is not None:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

    async def connected(self) -> None:
        await eventually(lambda: self.bridge.connected, "the bridge connects")

    async def add_agent(self, agent_id: str, *, available: bool = True) -> None:
        profile = AgentProfile(
            id=agent_id, name=agent_id.title(), skills={"support": 5}, capacity={"chat": 2}
        )
        await self.core.submit(AgentUpserted(profile))
        if available:
            await self.core.submit(AgentStateChanged(agent_id, AgentState.AVAILABLE))


async def start_router(
    broker: Mosquitto,
    core_class: type[RouterCore] = RouterCore,
    store: Store | None = None,
    *,
    lean: bool = True,
) -> Router:
    """A new router process, as far as MQTT can tell: same client id, fresh core."""
    core = make_core(broker.url, core_class, store)
    health = Health()
    # a short backoff cap keeps the restart tests short; the default is 30 s
    bridge = MqttBridge(core, health, client_id="router-test", max_backoff=0.5, lean=lean)
    running = Router(core, health, bridge)
    running.start()
    try:
        await running.connected()
    except BaseException:
        await running.close()
        raise
    return running


@pytest_asyncio.fixture(params=[True, False], ids=["lean", "stock"])
async def router(request: pytest.FixtureRequest, mosquitto: Mosquitto) -> AsyncIterator[Router]:
    """The bridge on both of its client's paths (`runtime/mqtt_paho.py`)."""
    running = await start_router(mosquitto, lean=request.param)
    try:
        yield running
    finally:
        await running.close()


class Observer:
    """Collects every message on `topics` through a persistent session; reconnects itself."""

    def __init__(self, broker: Mosquitto, topics: Iterable[str], client_id: str) -> None:
        self.broker = broker
        self.topics = tuple(topics)
        self.client_id = client_id
        self.messages: list[tuple[str, Any]] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Observer:
        self._task = asyncio.create_task(self._run(), name=f"observer {self.client_id}")
        async with asyncio.timeout(PATIENCE):
            await self.connected.wait()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            client = aiomqtt.Client(
                self.broker.host,
                self.broker.port,
                identifier=self.client_id,
                clean_session=False,
            )
            try:
                async with client:
                    await client.subscribe([(topic, 1) for topic in self.topics])
                    self.connected.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        self.messages.append((message.topic.value, orjson.loads(message.payload)))
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.05)

    def on(self, topic: str) -> list[Any]:
        return [body for t, body in self.messages if t == topic]

    def events(
        self, kind: str | None = None, contact_id: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            e
            for e in self.on("router/events")
            if kind in (None, e["type"]) and contact_id in (None, e["contact_id"])
        ]

    async def wait(self, check: Callable[[], bool], what: str) -> None:
        await eventually(check, f"{what}; seen: {self.messages[-10:]}")


class Gateway:
    """Publishes as a gateway or an agent desktop would: QoS 1, persistent session."""

    def __init__(self, broker: Mosquitto, client_id: str = "gateway") -> None:
        self.client = aiomqtt.Client(
            broker.host,
            broker.port,
            identifier=client_id,
            clean_session=False,
            max_inflight_messages=1000,
        )
        self.client.pending_calls_threshold = 1000  # bursts are the point here

    async def __aenter__(self) -> Gateway:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.client.__aexit__(*exc_info)

    async def send(self, topic: str, payload: Any) -> None:
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        await self.client.publish(topic, raw, qos=1)


def chat(contact_id: str, name: str = "Ada") -> dict[str, Any]:
    return {
        "id": contact_id,
        "customer": {"id": f"cust-{name.lower()}", "name": name},
        "subject": "Where is my order?",
        "queue": "support",
    }


def contact(contact_id: str) -> Contact:
    return Contact(id=contact_id, channel="chat", customer=Customer(name="Bo"), queue="support")


# ---------------------------------------------------------------- 1. routing
@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_contact_from_a_gateway_is_offered_answered_and_assigned(
    mosquitto: Mosquitto, router: Router
) -> None:
    await router.add_agent("ann", available=False)
    topics = ["router/events", "router/agents/ann/offers"]
    async with Observer(mosquitto, topics, "desk") as seen, Gateway(mosquitto) as gateway:
        # the agent says it is available over MQTT
        await gateway.send("router/agents/ann/state", {"state": "available"})
        agent = router.core.engine.agent("ann")
        assert agent is not None
        await eventually(lambda: agent.state is AgentState.AVAILABLE, "ann becomes available")

        await gateway.send("router/contacts/in/chat", chat("c-1"))
        await seen.wait(lambda: len(seen.on("router/agents/ann/offers")) == 1, "an offer")
        offer = seen.on("router/agents/ann/offers")[0]
        record = router.core.engine.contact("c-1")
        assert record is not None
        assert record.offer is not None
        assert offer["offer_id"] == record.offer.id
        assert offer["queue"] == "support"
        assert offer["expires_at"] == record.offer.expires_at
        assert offer["contact"]["id"] == "c-1"
        assert offer["contact"]["channel"] == "chat"
        assert offer["contact"]["customer"]["name"] == "Ada"
        assert offer["contact"]["subject"] == "Where is my order?"
        assert isinstance(offer["customer_history"], list)
        await seen.wait(lambda: len(seen.events(contact_id="c-1")) >= 2, "queued and offered")
        first, second = seen.events(contact_id="c-1")[:2]
        assert (first["type"], first["contact_id"]) == ("queued", "c-1")
        assert (second["type"], second["contact_id"], second["agent_id"]) == (
            "offered",
            "c-1",
            "ann",
        )

        await gateway.send(
            "router/agents/ann/answers", {"offer_id": offer["offer_id"], "accept": True}
        )
        await seen.wait(lambda: len(seen.events("assigned")) == 1, "an assigned event")
        assigned = seen.events("assigned")[0]
        assert (assigned["contact_id"], assigned["agent_id"]) == ("c-1", "ann")
        assert assigned["queue"] == "support"
        assert str(router.core.engine.contact("c-1").state) == "assigned"  # type: ignore[union-attr]

        await gateway.send("router/agents/ann/state", {"state": "away"})
        await eventually(lambda: agent.state is AgentState.AWAY, "ann goes away")
    assert router.bridge.received == 4
    assert router.bridge.deadlettered == 0
    assert router.health.parts["mqtt"] == "ok"


# ---------------------------------------------------------------- 2. dead letters
@pytest.mark.integration
@pytest.mark.asyncio
async def test_what_the_router_cannot_read_goes_to_the_deadletter_topic(
    mosquitto: Mosquitto, router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="router.mqtt")
    limit = router.core.config.limits.max_mqtt_payload_bytes
    oversize = b'{"subject": "' + b"x" * limit + b'"}'
    sent: list[tuple[str, bytes]] = [
        ("router/contacts/in/chat", b"this is { not json"),
        ("router/contacts/in/chat", b"[1, 2, 3]"),
        ("router/contacts/in/chat", b'{"priority": "high"}'),
        ("router/agents/ann/answers", b'{"offer_id": "o-none", "accept": true}'),
        ("router/agents/ann/answers", b'{"offer_id": "o-none"}'),
        ("router/agents/ann/state", b'{"state": "sleeping"}'),
        ("router/contacts/in/chat", b"\xff\xfe\x00binary"),
        ("router/contacts/in/chat", oversize),
    ]
    async with Observer(mosquitto, ["router/deadletter", "router/events"], "ops") as seen:
        async with Gateway(mosquitto) as gateway:
            for topic, payload in sent:
                await gateway.send(topic, payload)
            await seen.wait(lambda: len(seen.on("router/deadletter")) == len(sent), "dead letters")
            letters = seen.on("router/deadletter")
            assert [letter["topic"] for letter in letters] == [topic for topic, _ in sent]
            errors = [letter["error"] for letter in letters]
            assert "not JSON" in errors[0]
            assert "JSON object" in errors[1]
            assert "an array" in errors[1]
            assert "priority" in errors[2]
            assert "o-none" in errors[3] or "offer" in errors[3]
            assert "accept" in errors[4]
            assert "sleeping" in errors[5]
            assert "available" in errors[5]
            assert "not JSON" in errors[6]
            assert "larger than the limit" in errors[7]
            assert str(limit) in errors[7]
            # the payload is there to read: as text, base64 when binary, cut when oversize
            assert letters[0]["payload"] == "this is { not json"
            assert letters[2]["payload"] == '{"priority": "high"}'
            assert letters[6]["payload_encoding"] == "base64"
            assert letters[6]["payload"] == "//4AYmluYXJ5"
            assert letters[7]["truncated"] is True
            assert letters[7]["payload"] == oversize[:DEADLETTER_PAYLOAD_BYTES].decode()
            assert "truncated" not in letters[0]

            # the bridge keeps working afterwards
            await gateway.send("router/contacts/in/chat", chat("c-after"))
            await seen.wait(lambda: len(seen.events("queued")) == 1, "the next contact routed")
            assert seen.events("queued")[0]["contact_id"] == "c-after"

        warnings = [
            r for r in caplog.records if r.name == "router.mqtt" and r.levelname == "WARNING"
        ]
        assert len(warnings) == len(sent)
        assert all("\n" not in r.getMessage() for r in warnings)
        assert "router/agents/ann/answers" in warnings[3].getMessage()
        assert router.bridge.deadlettered == len(sent)

        # a retained contact is routed once, when it is published...
        async with Gateway(mosquitto) as gateway:
            await gateway.client.publish(
                "router/contacts/in/chat", orjson.dumps(chat("c-kept")), qos=1, retain=True
            )
        await seen.wait(lambda: len(seen.events("queued")) == 2, "the retained contact routed")

        # every message above was acknowledged: a new connection gets none of them again,
        # only the broker's replay of the retained one, which is refused
        await router.stop_bridge()
        assert router.health.parts["mqtt"] == "disconnected: stopped"
        router.start()
        await router.connected()
        async with Gateway(mosquitto) as gateway:
            await gateway.send("router/contacts/in/chat", chat("c-probe"))
        await seen.wait(lambda: len(seen.events("queued")) == 3, "the probe contact routed")
        await seen.wait(lambda: len(seen.on("router/deadletter")) == len(sent) + 1, "the replay")
    replay = seen.on("router/deadletter")[-1]
    assert "retained" in replay["error"]
    assert orjson.loads(replay["payload"])["id"] == "c-kept"
    assert router.bridge.deadlettered == len(sent) + 1
    assert router.bridge.received == len(sent) + 4


# ---------------------------------------------------------------- 3. no loss
@pytest.mark.integration
@pytest.mark.asyncio
async def test_nothing_is_lost_across_a_broker_restart(
    mosquitto: Mosquitto, router: Router
) -> None:
    async with Observer(mosquitto, ["router/events"], "ops") as seen:
        await router.core.submit_contact(contact("warm-up"))
        await seen.wait(lambda: len(seen.events("queued")) == 1, "the warm-up event")

        # a burst in flight when the broker goes down: sent, not yet confirmed (the
        # broker is frozen; stop() blocks the loop, so no PUBACK is read before the end)
        mosquitto.pause()
        before = [f"before-{i}" for i in range(300)]
        await asyncio.gather(*(router.core.submit_contact(contact(c)) for c in before))
        await eventually(lambda: router.bridge.in_flight == len(before), "the burst in flight")
        mosquitto.resume()
        mosquitto.stop()
        await eventually(lambda: not router.bridge.connected, "the bridge notices")
        assert "mqtt" in router.health.degraded
        assert router.health.parts["mqtt"].startswith("disconnected: ")

        # HTTP keeps taking contacts while the broker is away
        down = [f"down-{i}" for i in range(60)]
        for contact_id in down:
            await router.core.submit_contact(contact(contact_id))
        assert router.bridge.outbox_size >= len(down)
        in_outbox_at_restart = router.bridge.outbox_size

        mosquitto.start()
        # a gateway with its own persistent session publishes right after the restart,
        # whether or not the router is back yet: the broker keeps them for the router
        after = [f"after-{i}" for i in range(60)]
        async with Gateway(mosquitto) as gateway:
            for contact_id in after:
                await gateway.send("router/contacts/in/chat", chat(contact_id))

        expected = {"warm-up", *before, *down, *after}
        await seen.wait(
            lambda: {e["contact_id"] for e in seen.events("queued")} >= expected,
            "a queued event for every contact",
        )
        for contact_id in after:
            assert router.core.engine.contact(contact_id) is not None
        queued = [e["contact_id"] for e in seen.events("queued")]
        # at-least-once: a message in flight at the stop may come twice, none is missing
        assert set(queued) == expected
        # order kept for what waited in the outbox, in flight or not
        firsts = list(dict.fromkeys(queued))
        assert [c for c in firsts if c.startswith("before-")] == before
        assert [c for c in firsts if c.startswith("down-")] == down
    await eventually(lambda: router.bridge.outbox_size == 0, "the outbox drains")
    assert router.health.parts["mqtt"] == "ok"
    assert router.bridge.dropped == 0
    assert router.bridge.published >= in_outbox_at_restart


@pytest.mark.integration
@pytest.mark.asyncio
async def test_what_gateways_send_while_the_router_is_stopped_arrives_when_it_starts(
    mosquitto: Mosquitto, router: Router
) -> None:
    await router.stop_bridge()
    assert not router.bridge.connected
    waiting = [f"while-down-{i}" for i in range(30)]
    async with Gateway(mosquitto) as gateway:
        for contact_id in waiting:
            await gateway.send("router/contacts/in/chat", chat(contact_id))
    assert all(router.core.engine.contact(c) is None for c in waiting)

    router.start()
    await eventually(
        lambda: all(router.core.engine.contact(c) is not None for c in waiting),
        "every contact sent while the router was stopped is routed",
    )
    assert router.bridge.received == len(waiting)
    # and in the order the gateway sent them
    arrived = sorted(waiting, key=lambda c: router.core.engine.contact(c).arrived_at)  # type: ignore[union-attr]
    assert arrived == waiting


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_message_the_core_never_applied_is_not_acknowledged(
    mosquitto: Mosquitto, router: Router
) -> None:
    # the core stops (shutdown) while the bridge still receives
    core_task = router.tasks.pop("core")
    core_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await core_task
    async with Gateway(mosquitto) as gateway:
        await gateway.send("router/contacts/in/chat", chat("c-held"))
    await eventually(lambda: router.bridge.received == 1, "the bridge receives it")
    await router.close()
    assert router.core.engine.contact("c-held") is None
    assert router.bridge.deadlettered == 0

    # the next run of the router gets it from the broker
    second = await start_router(mosquitto)
    try:
        await eventually(
            lambda: second.core.engine.contact("c-held") is not None, "the next run routes it"
        )
        assert second.bridge.received == 1
    finally:
        await second.close()


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_redelivered_contact_without_an_id_is_not_routed_twice(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first run applies and keeps three contacts without ids (two of them the same
    # bytes), then dies before any PUBACK: the broker delivers all three again.
    withheld: list[int] = []
    real_ack = mqtt_module._ack
    monkeypatch.setattr(mqtt_module, "_ack", lambda client, message: withheld.append(message.mid))
    no_id = {"customer": {"id": "cust-ada", "name": "Ada"}, "body": "hi", "queue": "support"}
    other = {**no_id, "body": "my order is late"}
    first = await start_router(mosquitto, store=SqliteStore(tmp_path / "router.db"))
    try:
        async with Gateway(mosquitto) as gateway:
            for payload in (no_id, other, no_id):
                await gateway.send("router/contacts/in/chat", payload)
        await eventually(lambda: len(withheld) == 3, "the first run applies all three")
        kept = set(first.core.engine.contacts)
    finally:
        await first.close()
    assert len(kept) == 3  # a repeated message is a contact of its own
    assert all(contact_id.startswith("mq-") for contact_id in kept)

    acked: list[int] = []

    def record_ack(client: Any, message: aiomqtt.Message) -> None:
        acked.append(message.mid)
        real_ack(client, message)

    monkeypatch.setattr(mqtt_module, "_ack", record_ack)
    second = await start_router(mosquitto, store=SqliteStore(tmp_path / "router.db"))
    try:
        await eventually(lambda: len(acked) == 3, "the broker delivers them again, all handled")
        assert sorted(acked) == sorted(withheld)  # the same packet ids
        assert set(second.core.engine.contacts) == kept  # nothing new
        assert second.bridge.deadlettered == 0
        # a new message with the same bytes is still a new contact
        async with Gateway(mosquitto) as gateway:
            await gateway.send("router/contacts/in/chat", no_id)
        await eventually(lambda: len(second.core.engine.contacts) == 4, "a fourth contact")
    finally:
        await second.close()


class ThrottledCore(RouterCore):
    """Refuses every third submission as Overloaded, as a full inbox does (before any await)."""

    calls = 0
    refusals = 0

    async def submit(self, event: Event) -> list[Effect]:
        self.calls += 1
        if self.calls % 3 == 0:
            self.refusals += 1
            raise Overloaded(retry_after=1.0)
        return await super().submit(event)


@pytest.mark.integration
@pytest.mark.asyncio
async def test_an_overloaded_core_makes_the_bridge_wait_in_order_never_drop(
    mosquitto: Mosquitto,
) -> None:
    router = await start_router(mosquitto, core_class=ThrottledCore)
    try:
        async with Observer(mosquitto, ["router/events"], "ops") as seen:
            sent = [f"pressed-{i}" for i in range(200)]
            async with Gateway(mosquitto) as gateway:
                # all at once (paho keeps them in order), so they reach the router together
                await asyncio.gather(
                    *(gateway.send("router/contacts/in/chat", chat(c)) for c in sent)
                )
            await seen.wait(lambda: len(seen.events("queued")) == len(sent), "every contact")
            assert [e["contact_id"] for e in seen.events("queued")] == sent
        assert isinstance(router.core, ThrottledCore)
        assert router.core.refusals > 0
        assert router.bridge.deadlettered == 0
        assert router.bridge.received == len(sent)
    finally:
        await router.close()


@pytest.mark.integration
@pytest.mark.asyncio
async def test_messages_wait_in_order_for_a_core_that_does_not_accept_yet(
    mosquitto: Mosquitto, router: Router
) -> None:
    core_task = router.tasks.pop("core")
    core_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await core_task
    async with Observer(mosquitto, ["router/events"], "ops") as seen:
        sent = [f"early-{i}" for i in range(200)]
        async with Gateway(mosquitto) as gateway:
            await asyncio.gather(*(gateway.send("router/contacts/in/chat", chat(c)) for c in sent))
        await eventually(lambda: router.bridge.received == len(sent), "the bridge holds them all")
        assert router.core.engine.contact(sent[0]) is None

        router.tasks["core"] = asyncio.create_task(router.core.run(), name="core")
        await seen.wait(lambda: len(seen.events("queued")) == len(sent), "every contact")
        assert [e["contact_id"] for e in seen.events("queued")] == sent
    assert router.bridge.deadlettered == 0


# ---------------------------------------------------------------- 4. many in flight
@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_burst_of_contacts_publishes_every_event_in_order(
    mosquitto: Mosquitto, router: Router
) -> None:
    async with Observer(mosquitto, ["router/events"], "ops") as seen:
        ids = [f"burst-{i}" for i in range(500)]
        await asyncio.gather(*(router.core.submit_contact(contact(c)) for c in ids))
        await seen.wait(lambda: len(seen.events("queued")) >= len(ids), "500 queued events")
        assert [e["contact_id"] for e in seen.events("queued")] == ids
    async with asyncio.timeout(PATIENCE):
        await router.bridge.flushed()
    assert router.bridge.published >= len(ids)
    assert router.bridge.outbox_size == 0


# ---------------------------------------------------------------- the outbox bound
@pytest.mark.asyncio
async def test_a_full_outbox_drops_the_oldest_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # no broker at all: nothing leaves the outbox
    core = make_core("mqtt://127.0.0.1:9")
    bridge = MqttBridge(core, Health(), outbox_limit=10)
    effects: list[object] = []
    core.add_listener(effects.append)
    runner = asyncio.create_task(core.run())
    await asyncio.sleep(0)  # the writer starts accepting
    try:
        for i in range(25):
            await core.submit_contact(contact(f"c-{i}"))
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    assert len(effects) >= 25  # a queued event per contact, at least
    assert bridge.outbox_size == 10
    assert bridge.dropped == len(effects) - 10
    assert not bridge.connected
    errors = [r for r in caplog.records if r.name == "router.mqtt" and r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "dropping the oldest" in errors[0].getMessage()
