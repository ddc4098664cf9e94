"""End to end over MQTT: a contact published -> its offer delivered, against the bare transport.

Issue 6's first figures. Everything is real: Mosquitto from `config/mosquitto.conf` on a free
port, `router run` in a subprocess, aiomqtt clients in this process. Three targets, each with a
fresh broker:

- **bare**: a minimal relay process (`--relay`, below) that takes each contact from
  `router/contacts/in/chat` and republishes it at once as a stub offer on
  `router/agents/{id}/offers`, through the same broker, QoS 1 both ways. What the transport
  itself costs: every router figure is also given as a ratio to it.
- **router, A agents** (100 and 10,000; `--quick` 100 and 1,000): the daemon on a generated
  config of 50 queues (channel chat, one skill each, no wrap-up, no escalation), agents spread
  evenly over them (`PUT /v1/agents`, one skill at level 5, chat capacity 3, available). The
  agents' side is one MQTT client here: on each offer it publishes the accept on
  `router/agents/{id}/answers`, and when the contact's `assigned` event arrives on
  `router/events` it completes the contact over HTTP, so capacity frees up as in a centre.

Two measurements per target:

- **fixed rate**: contacts (explicit ids, one of 20,000 customers, a queue named) published at
  R per second (300) for D seconds (30; `--quick` 5), each publish started on its tick without
  waiting for the previous PUBACK; latency = offer received - publish started, both on this
  process's clock; p50 and p99.
- **peak**: N contacts (5,000; `--quick` 2,000) published by 64 concurrent publishers as fast
  as the broker takes them; rate = N / (first publish -> last offer received).

Before measuring, 200 warm-up contacts go through each target. The daemon's CPU time per
contact is read from /proc around each measurement.

Run:  .venv/bin/python benchmarks/e2e.py [--quick] [--json] [--rate R] [--agents 100,10000]

Prints figures, never asserts. The load generator, the agents' client, the broker and the
daemon share the machine (2 cores here): read the ratios, not the absolute numbers alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import orjson

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import restart  # noqa: E402 - needs the path above
from restart import POST_HEADERS, Broker, Daemon, free_port  # noqa: E402

QUEUES = 50
CUSTOMERS = 20_000
WARMUP = 200
PUBLISHERS = 64
#: publishes awaiting their PUBACK at once, at the fixed rate
MAX_IN_FLIGHT = 1000
#: how long the last offers may take to arrive after the last publish
DRAIN_S = 60.0
OFFERS = "router/agents/+/offers"
CONTACTS_IN = "router/contacts/in/chat"
EVENTS = "router/events"
MODES = {
    "full": {"agents": (100, 10_000), "seconds": 30.0, "peak": 5_000},
    "quick": {"agents": (100, 1_000), "seconds": 5.0, "peak": 2_000},
}


# ------------------------------------------------------------------ config and agents
def bench_config(
    workdir: Path, *, http_port: int, mqtt_url: str, synchronous: str = "full"
) -> Path:
    """A config of `QUEUES` chat queues, one skill each; offers wait 60 s, no wrap-up."""
    lines = [
        "[http]",
        'host = "127.0.0.1"',
        f"port = {http_port}",
        "[mqtt]",
        f'url = "{mqtt_url}"',
        'prefix = "router"',
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {free_port()}",
        "[store]",
        f'path = "{workdir / "router.db"}"',
        f'synchronous = "{synchronous}"',
        "[auth]",
        'admin_token = "env:ROUTER_ADMIN_TOKEN"',
    ]
    for q in range(QUEUES):
        lines += [
            "[[queues]]",
            f'name = "q{q:02d}"',
            'channels = ["chat"]',
            f'skills = ["s{q:02d}"]',
            "sla_seconds = 20",
            "offer_timeout_seconds = 60",
            "wrapup_seconds = 0",
        ]
    config = workdir / "router.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def agent_profile(index: int) -> bytes:
    return orjson.dumps(
        {
            "name": f"Agent {index}",
            "skills": {f"s{index % QUEUES:02d}": 5},
            "languages": ["en"],
            "capacity": {"chat": 3},
        }
    )


async def add_agents(session: aiohttp.ClientSession, base: str, count: int) -> None:
    """PUT every agent, then make it available; 64 requests at a time."""
    pending = iter(range(count))

    async def worker() -> None:
        for index in pending:
            agent = f"a{index}"
            async with session.put(
                f"{base}/v1/agents/{agent}", data=agent_profile(index), headers=POST_HEADERS
            ) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"PUT agent {agent}: {answer.status} {await answer.text()}")
            async with session.post(
                f"{base}/v1/agents/{agent}/state",
                data=b'{"state": "available"}',
                headers=POST_HEADERS,
            ) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"agent {agent} state: {answer.status}")

    async with asyncio.TaskGroup() as group:
        for _ in range(PUBLISHERS):
            group.create_task(worker())


def contact_body(run: str, index: int) -> bytes:
    customer = (index * 7919) % CUSTOMERS
    return orjson.dumps(
        {
            "id": f"{run}-{index:06d}",
            "channel": "chat",
            "queue": f"q{index % QUEUES:02d}",
            "customer": {"id": f"cu{customer}", "name": f"Customer {customer}"},
            "subject": "Where is my order?",
            "body": "Hello, my order has not arrived yet. Could you tell me where it is?",
        }
    )


def mqtt_client(broker: Broker, name: str) -> aiomqtt.Client:
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=f"{name}-{time.monotonic_ns()}",
        max_inflight_messages=MAX_IN_FLIGHT,
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    client.pending_calls_threshold = MAX_IN_FLIGHT + 16  # aiomqtt warns above 10
    return client


# ------------------------------------------------------------------ the agents' side
class Desks:
    """Every agent's desktop in one MQTT client: offers in, accepts out, completes over HTTP.

    Reading never waits for anything: an accept is published by a task of its own
    (awaiting its PUBACK in the reader would hold back the offers behind it, and
    count the desks' delay as the router's), and a contact is completed once its
    `assigned` event arrives on `router/events`, so no complete is sent too early.
    """

    def __init__(self, broker: Broker, base: str | None, session: aiohttp.ClientSession) -> None:
        self.client = mqtt_client(broker, "bench-desks")
        #: None for the bare relay: its stub offers are only timed
        self.base = base
        self.session = session
        #: contact id -> perf_counter_ns when its first offer arrived
        self.offered_at: dict[str, int] = {}
        self.completions: asyncio.Queue[str] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []
        self._answers: set[asyncio.Task[None]] = set()
        #: completes answered other than 200 (a contact not assigned, or gone)
        self.failures = 0

    async def __aenter__(self) -> Desks:
        await self.client.__aenter__()
        await self.client.subscribe(OFFERS, qos=1)
        if self.base is not None:
            await self.client.subscribe(EVENTS, qos=1)
        self.tasks.append(asyncio.create_task(self._read(), name="desks-read"))
        if self.base is not None:
            self.tasks += [
                asyncio.create_task(self._complete(), name=f"desks-complete-{i}") for i in range(16)
            ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in [*self.tasks, *self._answers]:
            task.cancel()
        await asyncio.gather(*self.tasks, *self._answers, return_exceptions=True)
        await self.client.__aexit__(None, None, None)

    async def _read(self) -> None:
        async for message in self.client.messages:
            now = time.perf_counter_ns()
            body = orjson.loads(message.payload)  # type: ignore[arg-type]
            if message.topic.value == EVENTS:
                if body.get("type") == "assigned" and body.get("contact_id") in self.offered_at:
                    self.completions.put_nowait(body["contact_id"])
                continue
            contact = body.get("contact")
            if not contact:
                continue  # a withdrawn offer
            contact_id = contact["id"]
            if contact_id in self.offered_at:
                continue
            self.offered_at[contact_id] = now
            if self.base is not None:
                agent = message.topic.value.split("/")[2]
                answer = orjson.dumps({"offer_id": body["offer_id"], "accept": True})
                task = asyncio.create_task(
                    self.client.publish(f"router/agents/{agent}/answers", answer, qos=1)
                )
                self._answers.add(task)
                task.add_done_callback(self._answers.discard)

    async def _complete(self) -> None:
        assert self.base is not None
        body = b'{"outcome": "resolved"}'
        while True:
            contact_id = await self.completions.get()
            url = f"{self.base}/v1/contacts/{contact_id}/complete"
            async with self.session.post(url, data=body, headers=POST_HEADERS) as answer:
                await answer.read()
                if answer.status != 200:
                    self.failures += 1

    async def wait_for(self, ids: Sequence[str], timeout: float = DRAIN_S) -> None:
        deadline = time.monotonic() + timeout
        while any(i not in self.offered_at for i in ids[-50:]) or not all(
            i in self.offered_at for i in ids
        ):
            if time.monotonic() > deadline:
                missing = sum(1 for i in ids if i not in self.offered_at)
                raise RuntimeError(f"{missing} of {len(ids)} offers never arrived")
            await asyncio.sleep(0.01)


# ------------------------------------------------------------------ load
async def publish_at_rate(
    client: aiomqtt.Client, bodies: Sequence[bytes], rate: float
) -> dict[int, int]:
    """Start one publish per tick of 1/rate s; index -> perf_counter_ns when it started."""
    started: dict[int, int] = {}
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()

    async def one(index: int) -> None:
        try:
            await client.publish(CONTACTS_IN, bodies[index], qos=1)
        finally:
            slots.release()

    origin = time.perf_counter()
    for index in range(len(bodies)):
        delay = origin + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        started[index] = time.perf_counter_ns()
        task = asyncio.create_task(one(index))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return started


async def publish_flat_out(client: aiomqtt.Client, bodies: Sequence[bytes]) -> int:
    """Every body by `PUBLISHERS` concurrent publishers; perf_counter_ns of the first."""
    pending = iter(bodies)

    async def publisher() -> None:
        for body in pending:
            await client.publish(CONTACTS_IN, body, qos=1)

    first = time.perf_counter_ns()
    async with asyncio.TaskGroup() as group:
        for _ in range(PUBLISHERS):
            group.create_task(publisher())
    return first


def ids_of(run: str, count: int) -> list[str]:
    return [f"{run}-{i:06d}" for i in range(count)]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass(slots=True)
class Figures:
    target: str
    agents: int | None
    rate: float
    contacts: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    #: offers received per second at the peak
    peak_per_s: float
    peak_contacts: int
    #: the daemon's CPU time per contact at the fixed rate (None for the relay)
    cpu_ms_per_contact: float | None = None
    complete_failures: int = 0


async def measure(
    target: str,
    *,
    broker: Broker,
    desks: Desks,
    params: Params,
    agents: int | None,
    cpu: Any,
) -> Figures:
    async with mqtt_client(broker, "bench-gateway") as gateway:
        warm = [contact_body(f"{target}-warm", i) for i in range(WARMUP)]
        await publish_flat_out(gateway, warm)
        await desks.wait_for(ids_of(f"{target}-warm", WARMUP))

        count = int(params.rate * params.seconds)
        bodies = [contact_body(f"{target}-rate", i) for i in range(count)]
        cpu_before = cpu()
        started = await publish_at_rate(gateway, bodies, params.rate)
        ids = ids_of(f"{target}-rate", count)
        await desks.wait_for(ids)
        cpu_used = cpu() - cpu_before if cpu_before is not None else None
        latencies = [(desks.offered_at[ids[i]] - started[i]) / 1e6 for i in range(count)]

        peak_bodies = [contact_body(f"{target}-peak", i) for i in range(params.peak)]
        first = await publish_flat_out(gateway, peak_bodies)
        peak_ids = ids_of(f"{target}-peak", params.peak)
        await desks.wait_for(peak_ids)
        last = max(desks.offered_at[i] for i in peak_ids)
    return Figures(
        target=target,
        agents=agents,
        rate=params.rate,
        contacts=count,
        p50_ms=statistics.median(latencies),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies),
        peak_per_s=params.peak / ((last - first) / 1e9),
        peak_contacts=params.peak,
        cpu_ms_per_contact=cpu_used / count * 1000 if cpu_used is not None else None,
        complete_failures=desks.failures,
    )


async def bare(params: Params, session: aiohttp.ClientSession) -> Figures:
    broker = Broker()
    broker.start()
    relay: subprocess.Popen[bytes] | None = None
    try:
        async with Desks(broker, None, session) as desks:
            relay = subprocess.Popen(
                [sys.executable, __file__, "--relay", broker.url],
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            assert relay.stdout is not None
            line = await asyncio.to_thread(relay.stdout.readline)
            if line.strip() != b"ready":
                raise RuntimeError(f"the relay did not start: {line!r}")
            return await measure(
                "bare", broker=broker, desks=desks, params=params, agents=None, cpu=lambda: None
            )
    finally:
        if relay is not None:
            relay.terminate()
            relay.wait(10)
        broker.close()


async def router(params: Params, session: aiohttp.ClientSession, agents: int) -> Figures:
    broker = Broker()
    broker.start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    http_port = free_port()
    config = bench_config(
        workdir, http_port=http_port, mqtt_url=broker.url, synchronous=params.synchronous
    )
    daemon = Daemon(config, http_port)
    daemon.start()
    try:
        ready = await restart.wait_ready(session, daemon, 0, 60.0, mqtt=True)
        if ready.ready_s is None:
            raise RuntimeError(f"the daemon never got ready:\n{daemon.log_tail()}")
        await add_agents(session, daemon.base, agents)
        async with Desks(broker, daemon.base, session) as desks:
            return await measure(
                f"router-{agents}",
                broker=broker,
                desks=desks,
                params=params,
                agents=agents,
                cpu=daemon.cpu_seconds,
            )
    finally:
        if daemon.running():
            daemon.terminate()
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------ the bare relay
async def relay(url: str) -> None:
    """Contact in -> stub offer out, as fast as the broker allows: the transport's own cost."""
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    broker = Broker.__new__(Broker)
    broker.host, broker.port = host, int(port)
    agents = [f"a{i}" for i in range(100)]
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()
    async with mqtt_client(broker, "bench-relay") as client:
        await client.subscribe(CONTACTS_IN, qos=1)
        print("ready", flush=True)
        count = 0

        async def forward(topic: str, offer: bytes) -> None:
            try:
                await client.publish(topic, offer, qos=1)
            finally:
                slots.release()

        async for message in client.messages:
            contact = orjson.loads(message.payload)  # type: ignore[arg-type]
            agent = agents[count % len(agents)]
            count += 1
            offer = orjson.dumps(
                {
                    "offer_id": f"of-{count}",
                    "contact": contact,
                    "queue": contact.get("queue"),
                    "expires_at": 0,
                    "customer_history": [],
                }
            )
            await slots.acquire()
            task = asyncio.create_task(forward(f"router/agents/{agent}/offers", offer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


# ------------------------------------------------------------------ report
@dataclass(slots=True)
class Params:
    mode: str
    agents: tuple[int, ...]
    rate: float
    seconds: float
    peak: int
    #: `[store] synchronous` of the daemon
    synchronous: str = "full"


@dataclass(slots=True)
class Report:
    params: Params
    machine: dict[str, Any]
    figures: list[Figures] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": "e2e-mqtt",
            "params": asdict(self.params),
            "machine": self.machine,
            "figures": [asdict(f) for f in self.figures],
        }


def render(report: Report) -> str:
    base = next((f for f in report.figures if f.target == "bare"), None)
    lines = [
        f"End to end over MQTT, {report.params.rate:g} contacts/s for {report.params.seconds:g} s"
        f" (peak: {report.params.peak} flat out)",
        f"{'target':<14} {'p50 ms':>8} {'x bare':>7} {'p99 ms':>8} {'max ms':>8}"
        f" {'peak /s':>9} {'of bare':>8} {'cpu ms':>7}",
    ]
    for f in report.figures:
        ratio = f"{f.p50_ms / base.p50_ms:.2f}" if base and f is not base else ""
        share = f"{f.peak_per_s / base.peak_per_s:.0%}" if base and f is not base else ""
        cpu = f"{f.cpu_ms_per_contact:.2f}" if f.cpu_ms_per_contact is not None else ""
        lines.append(
            f"{f.target:<14} {f.p50_ms:8.2f} {ratio:>7} {f.p99_ms:8.2f} {f.max_ms:8.1f}"
            f" {f.peak_per_s:9.0f} {share:>8} {cpu:>7}"
        )
    return "\n".join(lines)


async def run(params: Params) -> Report:
    report = Report(params=params, machine=restart.machine())
    async with restart.client_session() as session:
        report.figures.append(await bare(params, session))
        for agents in params.agents:
            report.figures.append(await router(params, session, agents))
    return report


def main(argv: Sequence[str] | None = None) -> Report | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer agents")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    parser.add_argument("--rate", type=float, default=300.0, help="contacts per second")
    parser.add_argument("--agents", default=None, help="agent counts, e.g. 100,10000")
    parser.add_argument("--seconds", type=float, default=None, help="length of the fixed rate")
    parser.add_argument("--peak", type=int, default=None, help="contacts of the peak run")
    parser.add_argument(
        "--synchronous", choices=("full", "normal", "off"), default="full", help="[store] setting"
    )
    parser.add_argument("--relay", metavar="URL", help=argparse.SUPPRESS)  # the bare relay
    args = parser.parse_args(argv)
    if args.relay:
        with (
            asyncio.Runner(loop_factory=restart.loop_factory()) as runner,
            contextlib.suppress(KeyboardInterrupt),
        ):
            runner.run(relay(args.relay))
        return None
    mode = MODES["quick" if args.quick else "full"]
    agents = tuple(int(a) for a in args.agents.split(",")) if args.agents else tuple(mode["agents"])
    params = Params(
        mode="quick" if args.quick else "full",
        agents=agents,
        rate=args.rate,
        seconds=args.seconds or float(mode["seconds"]),  # type: ignore[arg-type]
        peak=args.peak or int(mode["peak"]),  # type: ignore[call-overload]
        synchronous=args.synchronous,
    )
    with asyncio.Runner(loop_factory=restart.loop_factory()) as runner:
        report = runner.run(run(params))
    print(render(report))
    if args.json:
        print(json.dumps(report.to_json()))
    return report


if __name__ == "__main__":
    main()
