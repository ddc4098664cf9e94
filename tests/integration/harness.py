"""Fault-test harness: the real `router run` as a process, load over HTTP and MQTT, agents.

Issue 4 ("lose nothing") is tested from outside, the way an operator breaks
things: the daemon killed with SIGKILL, the broker restarted, the store made
unwritable. The pieces for that live here, so each test reads as a scenario:

- `RouterProcess`: `router run` in a subprocess, on a config and a store that
  outlive it; `kill9()`, `terminate()`, then `start()` again on the same files.
- `HttpLoad` and `MqttLoad`: contacts with explicit ids, retried until they
  are acknowledged (HTTP 202, broker PUBACK), recording what was acknowledged
  and every refusal on the way.
- `AgentDesks`: agents registered over HTTP, offered work over MQTT, accepting
  and completing it over HTTP, retrying across restarts. Every hold is kept as
  a time interval, so "never above capacity" is judged afterwards, without a
  race between an answer lost in a crash and the next offer.
- `CapacityWatch`: the daemon's own view of each agent's load, sampled.
- `StartupReads`: reads sent while the daemon starts; it may say "not yet"
  (503), never "no such thing" about what it acknowledged before.

Only public interfaces are used (CONTRACT.md): HTTP, MQTT, files on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import orjson
from servers import ADMIN, ROOT, SECRETS, Mosquitto, free_port

#: an upper bound for any single wait (start-up, recovery, retries); never a timing assertion
PATIENCE = 60.0
#: pause between retries of a request that found the daemon down or refusing
RETRY_PAUSE = 0.1
#: the daemon is down or did not answer: worth retrying
UNREACHABLE = (aiohttp.ClientError, TimeoutError)


def write_config(directory: Path, broker: Mosquitto, *, store_dir: Path | None = None) -> Path:
    """config/router.toml on free ports, `broker`, and a store under `store_dir`.

    Two changes to the support queue keep the scenarios about faults: no
    wrap-up (a completed contact frees the agent at once, so the load drains
    quickly) and an offer timeout longer than any outage here (an offer open
    at a crash is still open after the restart, and no agent is sent away for
    missed offers).
    """
    store = (store_dir or directory / "var") / "router.db"
    replacements = [
        ("port = 8080", f"port = {free_port()}"),
        ("port = 2525", f"port = {free_port()}"),
        ('url = "mqtt://127.0.0.1:1883"', f'url = "{broker.url}"'),
        ('path = "var/router.db"', f'path = "{store}"'),
        ("wrapup_seconds = 30 ", "wrapup_seconds = 0 "),
        ("offer_timeout_seconds = 20 ", "offer_timeout_seconds = 300 "),
    ]
    text = (ROOT / "config" / "router.toml").read_text()
    for old, new in replacements:  # the first occurrence: [http], [smtp], the support queue
        assert old in text, f"config/router.toml no longer has {old!r}"
        text = text.replace(old, new, 1)
    config = directory / "router.toml"
    config.write_text(text)
    return config


def http_port(config: Path) -> int:
    """The `[http] port` of a config written by `write_config`."""
    for line in config.read_text().splitlines():
        if line.startswith("port = "):
            return int(line.split("=")[1].split("#")[0])
    raise AssertionError(f"no [http] port in {config}")


def chat_contact(contact_id: str, body_bytes: int = 0) -> dict[str, Any]:
    """A normalized chat contact for the support queue; one customer per contact,
    so that no two contacts join one conversation."""
    return {
        "id": contact_id,
        "channel": "chat",
        "customer": {"id": f"cust-{contact_id}", "name": f"Customer {contact_id}"},
        "subject": "Where is my order?",
        "body": "x" * body_bytes or "It has not arrived.",
        "queue": "support",
    }


# ------------------------------------------------------------------ the daemon
class RouterProcess:
    """`router run --config CONFIG` as a child process; started again on the same files."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.base = f"http://127.0.0.1:{http_port(config)}"
        self.log = log
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        assert not self.running, "the router is already running"
        self.starts += 1
        with self.log.open("ab") as output:  # one log across restarts; the child keeps its copy
            output.write(f"=== harness: start {self.starts} ===\n".encode())
            output.flush()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "router.cli", "run", "--config", str(self.config)],
                cwd=self.config.parent,
                env={**os.environ, **SECRETS},
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """Until /healthz answers 200 with MQTT (and the store, when reported) ok."""
        deadline = time.monotonic() + PATIENCE
        last: object = None
        while time.monotonic() < deadline:
            assert self.running, f"the router exited:\n{self.log_tail()}"
            try:
                async with http.get(self.base + "/healthz") as response:
                    last = await response.json() if response.status == 200 else response.status
            except (*UNREACHABLE, ValueError) as exc:
                last = exc
            if isinstance(last, dict) and _ready(last):
                return last
            await asyncio.sleep(0.05)
        raise AssertionError(f"the router did not become ready ({last!r}):\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL: no drain, no flush; whatever was not on disk is gone."""
        assert self._process is not None
        assert self.running, f"the router exited before the kill:\n{self.log_tail()}"
        self._process.send_signal(signal.SIGKILL)
        self._process.wait()

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM: drain and stop; the exit code."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self._process.wait, timeout)

    def close(self) -> None:
        if self._process is not None and self.running:
            self._process.kill()
            self._process.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_text()[-chars:]


def _ready(health: Mapping[str, Any]) -> bool:
    # The engine too: MQTT may connect before the restore is done (the daemon answers
    # /healthz from the start, with the engine "starting").
    parts = health.get("parts", {})
    return bool(
        parts.get("mqtt") == "ok"
        and parts.get("store", "ok") == "ok"
        and parts.get("engine", "ok") == "ok"
    )


# ------------------------------------------------------------------ HTTP
@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]
    #: when the request that got this answer was sent (monotonic clock)
    sent_at: float


class Api:
    """The daemon's REST API; `call` raises `UNREACHABLE` errors, `until_answered` retries them."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        #: every 503 seen, by path: the store or the core refused for now
        self.refusals: list[tuple[str, Answer]] = []

    async def call(self, method: str, path: str, *, token: str = ADMIN, json: Any = None) -> Answer:
        sent_at = time.monotonic()
        headers = {"Authorization": f"Bearer {token}"}
        # generous: a store waiting on a lock answers only after its busy timeout
        timeout = aiohttp.ClientTimeout(total=20)
        async with self.session.request(
            method, self.base + path, headers=headers, json=json, timeout=timeout
        ) as response:
            if response.content_type == "application/json":
                body = await response.json()
            else:
                body = await response.text()
            return Answer(response.status, body, dict(response.headers), sent_at)

    async def until_answered(
        self, method: str, path: str, *, token: str = ADMIN, json: Any = None
    ) -> Answer:
        """The first answer that is not 503, retrying while the daemon is down or refusing."""
        deadline = time.monotonic() + PATIENCE * 2
        while time.monotonic() < deadline:
            try:
                answer = await self.call(method, path, token=token, json=json)
            except UNREACHABLE:
                await asyncio.sleep(RETRY_PAUSE)
                continue
            if answer.status != 503:
                return answer
            self.refusals.append((path, answer))
            await asyncio.sleep(RETRY_PAUSE)
        raise AssertionError(f"{method} {path} was never answered")

    async def contact(self, contact_id: str) -> dict[str, Any]:
        answer = await self.until_answered("GET", f"/v1/contacts/{contact_id}")
        assert answer.status == 200, (contact_id, answer)
        return dict(answer.body)


class StartupReads:
    """Reads sent as fast as possible while the router starts: what it answers before ready.

    A restarting router may say "not yet" (503, or no connection), never "no
    such thing" about what it acknowledged before (404 for a contact, 401 for
    an agent's token). Use as `async with` around the start.
    """

    def __init__(self, api: Api, reads: Sequence[tuple[str, str]]) -> None:
        self.api = api
        self.reads = reads  # (path, token)
        self.answers: Counter[int] = Counter()
        self.wrong: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StartupReads:
        if self.reads:
            self._task = asyncio.create_task(self._run(), name="startup reads")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            for path, token in self.reads:
                try:
                    answer = await self.api.call("GET", path, token=token)
                except UNREACHABLE:
                    await asyncio.sleep(0.002)
                    continue
                self.answers[answer.status] += 1
                if answer.status not in (200, 503):
                    self.wrong.append(f"GET {path}: {answer.status} {answer.body}")


async def paced(
    items: Sequence[str], rate: float, concurrency: int, send: Callable[[str], Awaitable[None]]
) -> None:
    """`send(item)` for each item, about `rate` a second, at most `concurrency` at a time.

    A send that waits (the daemon is down) holds its slot, so the pace stalls
    with the daemon and picks up after it, as a gateway's would.
    """
    slots = asyncio.Semaphore(concurrency)
    started = time.monotonic()

    async def one(item: str) -> None:
        try:
            await send(item)
        finally:
            slots.release()

    async with asyncio.TaskGroup() as group:
        for index, item in enumerate(items):
            await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            await slots.acquire()
            group.create_task(one(item), name=f"send {item}")


class HttpLoad:
    """`POST /v1/contacts`, each retried until 202; what was acknowledged, and the 503s.

    Every `repeat_every`-th contact is posted once more after its 202, as a
    gateway that never heard the answer would: the same id, nothing new.
    """

    def __init__(
        self, api: Api, *, rate: float = 50.0, concurrency: int = 4, repeat_every: int = 10
    ) -> None:
        self.api = api
        self.rate = rate
        self.concurrency = concurrency
        self.repeat_every = repeat_every
        self.acknowledged: set[str] = set()
        #: contacts acknowledged twice (posted again after the first 202)
        self.repeated: set[str] = set()
        #: contacts refused with 503 before they were taken: the 503 answers
        self.refused: dict[str, list[Answer]] = {}
        self.body_bytes = 0

    async def send(self, ids: Sequence[str], *, rate: float | None = None) -> None:
        await paced(ids, rate or self.rate, self.concurrency, self._one)

    async def _one(self, contact_id: str) -> None:
        await self.post(contact_id)
        self.acknowledged.add(contact_id)
        if self.repeat_every and len(self.acknowledged) % self.repeat_every == 0:
            await self.post(contact_id)
            self.repeated.add(contact_id)

    async def post(self, contact_id: str) -> Answer:
        """POST until 202 (retrying while down or refusing); the 202 answer."""
        deadline = time.monotonic() + PATIENCE * 2
        payload = chat_contact(contact_id, self.body_bytes)
        while time.monotonic() < deadline:
            try:
                answer = await self.api.call("POST", "/v1/contacts", json=payload)
            except UNREACHABLE:
                await asyncio.sleep(RETRY_PAUSE)
                continue
            if answer.status == 503:
                self.refused.setdefault(contact_id, []).append(answer)
                await asyncio.sleep(RETRY_PAUSE)
                continue
            assert answer.status == 202, (contact_id, answer)
            assert answer.body["id"] == contact_id, answer
            return answer
        raise AssertionError(f"contact {contact_id} was never acknowledged over HTTP")


class MqttLoad:
    """Publishes contacts on `router/contacts/in/chat`, QoS 1, each retried until PUBACK.

    A gateway's connection (clean session): on a lost connection the messages
    not yet acknowledged are published again on a new one. Every
    `repeat_every`-th contact is published twice. Use as `async with`.
    """

    def __init__(
        self,
        broker: Mosquitto,
        *,
        client_id: str = "faults-gateway",
        rate: float = 50.0,
        concurrency: int = 20,
        repeat_every: int = 10,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.rate = rate
        self.concurrency = concurrency
        self.repeat_every = repeat_every
        self.topic = "router/contacts/in/chat"
        self.acknowledged: set[str] = set()
        self.repeated: set[str] = set()
        self.body_bytes = 0
        self._client: aiomqtt.Client | None = None
        self._connecting = asyncio.Lock()

    async def __aenter__(self) -> MqttLoad:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._drop(self._client)

    async def send(self, ids: Sequence[str], *, rate: float | None = None) -> None:
        await paced(ids, rate or self.rate, self.concurrency, self._one)

    async def _one(self, contact_id: str) -> None:
        await self.publish(contact_id)
        self.acknowledged.add(contact_id)
        if self.repeat_every and len(self.acknowledged) % self.repeat_every == 0:
            await self.publish(contact_id)
            self.repeated.add(contact_id)

    async def publish(self, contact_id: str) -> None:
        """Publish until the broker acknowledged it (PUBACK)."""
        payload = orjson.dumps(chat_contact(contact_id, self.body_bytes))
        deadline = time.monotonic() + PATIENCE * 2
        while time.monotonic() < deadline:
            client = None
            try:
                client = await self._connected()
                await client.publish(self.topic, payload, qos=1, timeout=5)
            except aiomqtt.MqttError:
                if client is not None:
                    await self._drop(client)
                await asyncio.sleep(RETRY_PAUSE * 2)
                continue
            return
        raise AssertionError(f"contact {contact_id} was never acknowledged by the broker")

    async def _connected(self) -> aiomqtt.Client:
        async with self._connecting:
            if self._client is None:
                client = aiomqtt.Client(
                    self.broker.host,
                    self.broker.port,
                    identifier=self.client_id,
                    clean_session=True,
                    max_inflight_messages=self.concurrency,
                )
                client.pending_calls_threshold = self.concurrency + 16
                await client.__aenter__()
                self._client = client
            return self._client

    async def _drop(self, client: aiomqtt.Client) -> None:
        if self._client is client:
            self._client = None
            with contextlib.suppress(Exception):  # the connection is gone already
                await client.__aexit__(None, None, None)


# ------------------------------------------------------------------ agents
@dataclass(slots=True)
class Hold:
    """One contact held by one agent, from (at the latest) `start` to (at the earliest) `end`.

    Bounds chosen so that an overlap found between holds really happened: the
    start is when the agent learnt it holds the contact (the accept answered),
    the end when the completion that took effect was sent.
    """

    agent_id: str
    contact_id: str
    start: float
    end: float = float("inf")


@dataclass(slots=True)
class DeskAgent:
    id: str
    token: str
    capacity: int


@dataclass(slots=True)
class DeskRecord:
    """What the simulated agents saw and did; the tests judge it."""

    holds: list[Hold] = field(default_factory=list)
    #: completions answered 2xx, by contact
    completions: Counter[str] = field(default_factory=Counter)
    #: completions whose answer was lost (crash) but that took effect: the contact
    #: is completed, by this agent, and the retry got 409
    completed_unanswered: set[str] = field(default_factory=set)
    #: who completed each contact
    completed_by: dict[str, str] = field(default_factory=dict)
    #: offer id → contact id, for every offer seen
    offers: dict[str, str] = field(default_factory=dict)
    #: offer id → when each copy of it arrived (monotonic clock)
    deliveries: dict[str, list[float]] = field(default_factory=dict)
    #: contacts in the order their first offer arrived
    offered_order: list[str] = field(default_factory=list)
    #: offer messages seen more than once (re-sent after a restart): allowed, counted
    repeated_offers: int = 0
    #: an offer id seen for two different contacts: ids reused after a restart
    reused_offer_ids: list[tuple[str, str, str]] = field(default_factory=list)
    #: answers the contract does not allow here
    anomalies: list[str] = field(default_factory=list)

    def finished(self) -> set[str]:
        return set(self.completed_by)


class AgentDesks:
    """N agents with chat capacity; offers over MQTT, answers over HTTP. Use as `async with`.

    The MQTT session is persistent (one client for all desks), so offers
    published while the broker restarts wait for it. Each offer is worked once
    (deduplicated by offer id): accept, hold briefly, complete; every call is
    retried while the daemon is down or refusing, across restarts. `pause()`
    leaves new offers open (unanswered) until `resume()`.
    """

    def __init__(
        self,
        api: Api,
        broker: Mosquitto,
        *,
        count: int = 8,
        capacity: int = 2,
        hold_seconds: tuple[float, float] = (0.02, 0.08),
        client_id: str = "faults-desks",
    ) -> None:
        self.api = api
        self.broker = broker
        self.count = count
        self.capacity = capacity
        self.hold_seconds = hold_seconds
        self.client_id = client_id
        self.agents: dict[str, DeskAgent] = {}
        self.record = DeskRecord()
        #: contact → agent, held now
        self.holding: dict[str, str] = {}
        #: offers received while paused, not yet answered
        self.unanswered: set[str] = set()
        self._answering = asyncio.Event()
        self._answering.set()
        self.connected = asyncio.Event()
        #: connections to the broker lost and made again
        self.reconnects = 0
        self._listener: asyncio.Task[None] | None = None
        self._work: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> AgentDesks:
        self._listener = asyncio.create_task(self._listen(), name="desks")
        async with asyncio.timeout(PATIENCE):
            await self.connected.wait()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        tasks = [*self._work, *([self._listener] if self._listener else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def register(self) -> None:
        """PUT each agent (skills for the support queue), then make it available."""
        for index in range(self.count):
            agent_id = f"agent-{index:02d}"
            profile = {
                "name": f"Agent {index}",
                "skills": {"support": 5},
                "languages": ["en"],
                "capacity": {"chat": self.capacity},
            }
            answer = await self.api.until_answered("PUT", f"/v1/agents/{agent_id}", json=profile)
            assert answer.status == 200, answer
            self.agents[agent_id] = DeskAgent(agent_id, answer.body["token"], self.capacity)
        for agent in self.agents.values():
            answer = await self.api.until_answered(
                "POST",
                f"/v1/agents/{agent.id}/state",
                token=agent.token,
                json={"state": "available"},
            )
            assert answer.status == 200, answer

    async def _listen(self) -> None:
        while True:
            client = aiomqtt.Client(
                self.broker.host,
                self.broker.port,
                identifier=self.client_id,
                clean_session=False,
                max_inflight_messages=1000,
            )
            try:
                async with client:
                    await client.subscribe("router/agents/+/offers", qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        agent_id = message.topic.value.split("/")[2]
                        assert isinstance(message.payload, bytes)
                        self._on_offer(agent_id, orjson.loads(message.payload))
            except aiomqtt.MqttError:
                self.reconnects += self.connected.is_set()
                self.connected.clear()
                await asyncio.sleep(RETRY_PAUSE)

    def _on_offer(self, agent_id: str, body: Mapping[str, Any]) -> None:
        if body.get("revoked") or agent_id not in self.agents:
            return
        offer_id, contact_id = body["offer_id"], body["contact"]["id"]
        self.record.deliveries.setdefault(offer_id, []).append(time.monotonic())
        seen = self.record.offers.get(offer_id)
        if seen is not None:
            if seen == contact_id:
                self.record.repeated_offers += 1  # re-sent after a restart: worked once
            else:
                self.record.reused_offer_ids.append((offer_id, seen, contact_id))
            return
        self.record.offers[offer_id] = contact_id
        self.record.offered_order.append(contact_id)
        task = asyncio.create_task(
            self._work_on(self.agents[agent_id], offer_id, contact_id), name=f"offer {offer_id}"
        )
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    def pause(self) -> None:
        """Leave new offers unanswered; contacts already held are still completed."""
        self._answering.clear()

    def resume(self) -> None:
        self._answering.set()

    async def _work_on(self, agent: DeskAgent, offer_id: str, contact_id: str) -> None:
        if not self._answering.is_set():
            self.unanswered.add(offer_id)
            await self._answering.wait()
            self.unanswered.discard(offer_id)
        start = await self._accept(agent, offer_id, contact_id)
        if start is None:
            return
        hold = Hold(agent.id, contact_id, start)
        self.record.holds.append(hold)
        self.holding[contact_id] = agent.id
        await asyncio.sleep(random.uniform(*self.hold_seconds))
        end = await self._complete(agent, contact_id)
        if end is not None:
            hold.end = end
            del self.holding[contact_id]

    async def _accept(self, agent: DeskAgent, offer_id: str, contact_id: str) -> float | None:
        """When the agent knew it holds the contact; None when the offer was not its to take."""
        answer = await self.api.until_answered(
            "POST", f"/v1/offers/{offer_id}/accept", token=agent.token
        )
        if answer.status == 200:
            return time.monotonic()
        if answer.status != 409:
            self.record.anomalies.append(f"accept {offer_id} by {agent.id}: {answer}")
            return None
        # Gone: expired, revoked, or taken by this very agent (the accept took
        # effect, its answer was lost in a crash, the retry found it taken). Or never
        # kept: offers leave before their batch is written, and a crash or a failed
        # write in between loses the batch; its sender was never told yes, and sends
        # the contact again (or has not yet: 404).
        answer = await self.api.until_answered("GET", f"/v1/contacts/{contact_id}")
        if answer.status == 404:
            return None
        assert answer.status == 200, (contact_id, answer)
        record = answer.body
        mine = record["state"] == "assigned" and record["agent_id"] == agent.id
        if not mine or contact_id in self.holding:
            return None
        return time.monotonic()

    async def _complete(self, agent: DeskAgent, contact_id: str) -> float | None:
        """When the completion that took effect was sent; None when it did not."""
        first_sent = time.monotonic()
        answer = await self.api.until_answered(
            "POST",
            f"/v1/contacts/{contact_id}/complete",
            token=agent.token,
            json={"outcome": "resolved", "csat": 5},
        )
        if answer.status == 200:
            self.record.completions[contact_id] += 1
            self.record.completed_by[contact_id] = agent.id
            return answer.sent_at
        record = await self.api.contact(contact_id) if answer.status == 409 else {}
        if record.get("state") == "completed" and record.get("agent_id") == agent.id:
            self.record.completed_unanswered.add(contact_id)
            self.record.completed_by[contact_id] = agent.id
            return first_sent  # an earlier attempt took effect: the earliest possible
        self.record.anomalies.append(f"complete {contact_id} by {agent.id}: {answer} {record}")
        return None

    async def wait_finished(self, ids: Iterable[str], *, timeout: float = PATIENCE) -> None:
        """Until every contact in `ids` was completed by some agent; else fail with details."""
        wanted = set(ids)
        try:
            async with asyncio.timeout(timeout):
                while not wanted <= self.record.finished():
                    assert not self.record.anomalies, self.record.anomalies[:10]
                    await asyncio.sleep(0.05)
        except TimeoutError:
            missing = sorted(wanted - self.record.finished())
            states = [await self.describe(c) for c in missing[:10]]
            raise AssertionError(
                f"{len(missing)} of {len(wanted)} contacts never completed; first ones:\n"
                + "\n".join(states)
                + f"\nanomalies: {self.record.anomalies[:10]}"
            ) from None

    async def describe(self, contact_id: str) -> str:
        """One line: the contact as the router reports it, for failure messages."""
        try:
            answer = await self.api.call("GET", f"/v1/contacts/{contact_id}")
        except UNREACHABLE as exc:
            return f"{contact_id}: daemon unreachable ({exc!r})"
        if answer.status != 200:
            return f"{contact_id}: {answer.status} {answer.body}"
        body = answer.body
        events = [e["type"] for e in body["history"]]
        return f"{contact_id}: {body['state']} agent={body['agent_id']} events={events}"

    def most_held(self) -> dict[str, int]:
        """Per agent, the most contacts held at one time (from the hold intervals)."""
        result = dict.fromkeys(self.agents, 0)
        by_agent: dict[str, list[tuple[float, int]]] = {}
        for hold in self.record.holds:
            marks = by_agent.setdefault(hold.agent_id, [])
            marks += [(hold.start, 1), (hold.end, -1)]
        for agent_id, marks in by_agent.items():
            held = 0
            for _, step in sorted(marks):  # at a tie the release (-1) sorts first
                held += step
                result[agent_id] = max(result[agent_id], held)
        return result


class CapacityWatch:
    """Samples `GET /v1/agents`: any agent holding or offered more than its capacity."""

    def __init__(self, api: Api, interval: float = 0.2) -> None:
        self.api = api
        self.interval = interval
        self.samples = 0
        self.violations: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CapacityWatch:
        self._task = asyncio.create_task(self._run(), name="capacity watch")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(*UNREACHABLE):
                answer = await self.api.call("GET", "/v1/agents")
                if answer.status == 200:
                    self.check(answer.body["agents"])
            await asyncio.sleep(self.interval)

    def check(self, agents: Iterable[Mapping[str, Any]]) -> None:
        self.samples += 1
        for agent in agents:
            capacity = agent["capacity"].get("chat", 0)
            taken = len(agent["contacts"]) + len(agent["offers"])
            if agent["load"].get("chat", 0) > capacity or taken > capacity:
                self.violations.append(dict(agent))


def events_of(record: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    return [event for event in record["history"] if event["type"] == kind]
