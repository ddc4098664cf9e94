"""Prometheus metrics from a real RouterCore: counters from its effects, gauges from its engine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from router.config import load_config_and_plugins
from router.engine import (
    AgentStateChanged,
    AgentUpserted,
    ContactAbandoned,
    ContactArrived,
    ContactCompleted,
    ContactTransferred,
    Effect,
    OfferAnswered,
    SendOffer,
)
from router.model import AgentProfile, AgentState, Contact
from router.runtime.core import RouterCore
from router.runtime.metrics import CONTENT_TYPE, METRICS, RouterMetrics, handle_metrics

CONFIG = Path(__file__).resolve().parents[2] / "config" / "router.toml"
ENV = {
    "ROUTER_ADMIN_TOKEN": "admin-token",
    "META_APP_SECRET": "meta-secret",
    "META_VERIFY_TOKEN": "meta-verify",
    "TWILIO_AUTH_TOKEN": "twilio-token",
}
T0 = 1_732_280_000.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Clock:
    """The core's clock, moved by the test: waits are exact and no timer fires on its own."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(slots=True)
class Running:
    core: RouterCore
    metrics: RouterMetrics
    clock: Clock


@pytest_asyncio.fixture
async def running() -> AsyncIterator[Running]:
    config, plugins = load_config_and_plugins(CONFIG, env=ENV)
    clock = Clock(T0)
    core = RouterCore(config, plugins, clock=clock)
    metrics = RouterMetrics(core)
    task = asyncio.create_task(core.run(), name="router-core")
    await asyncio.sleep(0)  # run() starts accepting
    try:
        yield Running(core, metrics, clock)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def offer_of(effects: list[Effect], contact_id: str) -> str:
    (offer,) = [e for e in effects if isinstance(e, SendOffer) and e.contact.id == contact_id]
    return offer.offer.id


async def scenario(run: Running) -> None:
    """Three chats and a rejected SMS, with an accept, a reject, a wrap-up, an abandon
    and a transfer, at known times."""
    core, clock = run.core, run.clock
    await core.submit(
        AgentUpserted(AgentProfile("a1", skills={"support": 5}, capacity={"chat": 2}))
    )
    await core.submit(AgentUpserted(AgentProfile("a2", skills={"sales": 5}, capacity={"voice": 1})))
    await core.submit(AgentStateChanged("a1", AgentState.AVAILABLE))

    first = await core.submit(ContactArrived(Contact("c1", "chat", queue="support")))
    clock.now = T0 + 3
    second = await core.submit(ContactArrived(Contact("c2", "chat", queue="support")))
    clock.now = T0 + 4
    await core.submit(ContactArrived(Contact("c3", "chat", queue="support")))  # a1 is full
    await core.submit(ContactArrived(Contact("c4", "sms", queue="no-such-queue")))  # rejected

    clock.now = T0 + 7
    await core.submit(OfferAnswered(offer_of(first, "c1"), accept=True))  # waited 7 s
    rejected = await core.submit(OfferAnswered(offer_of(second, "c2"), accept=False))
    third = offer_of(rejected, "c3")  # a1 takes c3; c2 waits out its reoffer delay
    await core.submit(ContactCompleted("c1"))  # 30 s of wrap-up in `support`

    clock.now = T0 + 10
    await core.submit(ContactAbandoned("c3"))  # offered: the offer is revoked; waited 6 s
    await core.submit(ContactTransferred("c2", queue="sales"))  # a requeue, not an arrival
    assert run.core.engine.offer(third) is None
    clock.now = T0 + 11  # a second passes with nothing happening


@pytest.mark.asyncio
async def test_counters_histograms_and_gauges_follow_the_engine(running: Running) -> None:
    await scenario(running)
    samples = parse(running.metrics.render().decode())

    # arrivals by channel: every channel of the config is there from the start
    assert value(samples, "router_contacts_total", channel="chat") == 3
    assert value(samples, "router_contacts_total", channel="sms") == 1
    assert value(samples, "router_contacts_total", channel="voice") == 0

    offers = {
        r: value(samples, "router_offers_total", result=r)
        for r in ("sent", "accepted", "rejected", "expired", "revoked")
    }
    assert offers == {"sent": 3, "accepted": 1, "rejected": 1, "expired": 0, "revoked": 1}

    events = {
        dict(labels)["type"]: count
        for (name, labels), count in samples.items()
        if name == "router_events_total"
    }
    assert events == {
        "agent_updated": 2,
        "agent_state": 1,
        "queued": 4,  # three arrivals and the transfer's requeue
        "offered": 3,
        "rejected": 1,
        "assigned": 1,
        "offer_rejected": 1,
        "wrapup": 1,
        "abandoned": 1,
        "transferred": 1,
    }

    # c1 waited 7 s until answered; c3 left after 6 s
    assert value(samples, "router_wait_seconds_count", queue="support") == 1
    assert value(samples, "router_wait_seconds_sum", queue="support") == 7
    assert value(samples, "router_wait_seconds_bucket", queue="support", le="5.0") == 0
    assert value(samples, "router_wait_seconds_bucket", queue="support", le="10.0") == 1
    assert value(samples, "router_wait_seconds_count", queue="sales") == 0
    assert value(samples, "router_abandon_wait_seconds_count", queue="support") == 1
    assert value(samples, "router_abandon_wait_seconds_sum", queue="support") == 6

    # live contacts: c2 queued (in sales now), c1 in wrap-up; c3 and c4 are gone
    assert value(samples, "router_contacts", channel="chat", state="queued") == 1
    assert value(samples, "router_contacts", channel="chat", state="wrapup") == 1
    assert value(samples, "router_contacts", channel="chat", state="offered") == 0
    assert value(samples, "router_contacts", channel="sms", state="queued") == 0
    assert value(samples, "router_agents", state="available") == 1
    assert value(samples, "router_agents", state="offline") == 1
    assert value(samples, "router_agents", state="away") == 0

    assert value(samples, "router_queue_waiting", queue="sales") == 1
    assert value(samples, "router_queue_waiting", queue="support") == 0
    # c2 entered `sales` at T0+10; the clock says T0+11 though the engine saw no event since
    assert value(samples, "router_queue_longest_wait_seconds", queue="sales") == 1
    assert value(samples, "router_queue_longest_wait_seconds", queue="support") == 0
    assert value(samples, "router_queue_service_level", queue="support") == 0.5  # 1 of 2
    assert ("router_queue_service_level", frozenset({("queue", "sales")})) not in samples
    assert value(samples, "router_queue_asa_seconds", queue="support") == 7
    assert value(samples, "router_queue_sla_seconds", queue="sales") == 15
    assert value(samples, "router_queue_agents_available", queue="support") == 1
    assert value(samples, "router_queue_agents_available", queue="sales") == 0
    assert value(samples, "router_inbox_pending") == 0

    decisions = {
        dict(labels)["event"]: count
        for (name, labels), count in samples.items()
        if name == "router_decisions_seconds_count"
    }
    assert decisions == {
        "AgentUpserted": 2,
        "AgentStateChanged": 1,
        "ContactArrived": 4,
        "OfferAnswered": 2,
        "ContactCompleted": 1,
        "ContactAbandoned": 1,
        "ContactTransferred": 1,
    }
    assert value(samples, "router_decisions_seconds_sum", event="ContactArrived") > 0

    # the process figures are on our registry too; `_created` series are left out
    assert value(samples, "process_open_fds") > 0
    assert not [name for name, _ in samples if name.endswith("_created")]


@pytest.mark.asyncio
async def test_generate_latest_on_the_registry_reads_the_same(running: Running) -> None:
    await scenario(running)
    plain = parse(generate_latest(running.metrics.registry).decode())
    assert value(plain, "router_contacts_total", channel="chat") == 3
    assert value(plain, "router_contacts", channel="chat", state="queued") == 1


@pytest.mark.asyncio
async def test_gauge_callbacks_and_separate_registries(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = [5]
    running.metrics.add_gauge_callback(
        "router_mqtt_outbox", "Messages not yet published.", lambda: outbox[0]
    )
    with pytest.raises(ValueError, match="router_mqtt_outbox"):
        running.metrics.add_gauge_callback("router_mqtt_outbox", "again", lambda: 1.0)

    def broken() -> float:
        raise RuntimeError("the broker is gone")

    running.metrics.add_gauge_callback("router_broken", "Always fails.", broken)
    outbox[0] = 7
    with caplog.at_level(logging.ERROR, logger="router.metrics"):
        samples = parse(running.metrics.render().decode())
    assert value(samples, "router_mqtt_outbox") == 7
    assert ("router_broken", frozenset()) not in samples
    assert value(samples, "router_inbox_pending") == 0
    assert "metrics callback for router_broken failed" in caplog.text

    # a second daemon in the same process counts on its own
    config, plugins = load_config_and_plugins(CONFIG, env=ENV)
    other = RouterMetrics(RouterCore(config, plugins))
    await running.core.submit(ContactArrived(Contact("x1", "voice", queue="sales")))
    assert (
        value(parse(running.metrics.render().decode()), "router_contacts_total", channel="voice")
        == 1
    )
    assert value(parse(other.render().decode()), "router_contacts_total", channel="voice") == 0
    assert ("router_mqtt_outbox", frozenset()) not in parse(other.render().decode())


@pytest.mark.integration
@pytest.mark.asyncio
async def test_metrics_over_http(running: Running) -> None:
    await running.core.submit(ContactArrived(Contact("h1", "chat", queue="support")))
    app = web.Application()
    app[METRICS] = running.metrics
    app.router.add_get("/metrics", handle_metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{host}:{port}/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"] == CONTENT_TYPE
            assert response.content_type == "text/plain"
            assert "version=0.0.4" in response.headers["Content-Type"]
            text = await response.text()
    finally:
        await runner.cleanup()
    samples = parse(text)
    assert value(samples, "router_contacts_total", channel="chat") == 1
    assert value(samples, "router_contacts", channel="chat", state="queued") == 1
    assert value(samples, "router_queue_waiting", queue="support") == 1
