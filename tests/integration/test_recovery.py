"""Issue 4, "lose nothing": fault tests with real processes.

The real `router run`, a real Mosquitto, contacts over HTTP and MQTT, and
simulated agents working every offer (harness.py). Then something breaks:

- the daemon is killed with SIGKILL under load, three times: once with every
  agent's capacity taken by open offers and contacts waiting behind them,
  while more contacts are published to the broker; then twice while the
  backlog is worked off, with answers in flight;
- the broker is stopped and started again under load;
- the store cannot write: its write lock held by another process, or its
  disk full.

Afterwards every contact that was acknowledged (HTTP 202, PUBACK) was
assigned once and completed once, no agent ever held more than its capacity,
and /v1/stats counts each contact once. Offers may be seen twice (an offer
open at a crash is sent again), so the checks count assignments and
completions, not offers. While it restarts, the router may say "not yet"
(503), never "no such contact" about one it acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from harness import (
    ADMIN,
    PATIENCE,
    UNREACHABLE,
    AgentDesks,
    Api,
    CapacityWatch,
    HttpLoad,
    MqttLoad,
    RouterProcess,
    StartupReads,
    chat_contact,
    events_of,
    write_config,
)
from servers import Mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CAPACITY = 2


@dataclass
class Scene:
    """A running router with agents at work, and the means to load it."""

    broker: Mosquitto
    router: RouterProcess
    api: Api
    http_load: HttpLoad
    mqtt_load: MqttLoad
    desks: AgentDesks
    watch: CapacityWatch

    load: asyncio.Future[Any] | None = None
    #: every contact the load will send
    planned: frozenset[str] = frozenset()

    def acknowledged(self) -> set[str]:
        return self.http_load.acknowledged | self.mqtt_load.acknowledged

    def start_load(self, *, http: int, mqtt: int) -> asyncio.Future[Any]:
        """Contacts `http-NNNN` over HTTP and `mqtt-NNNN` over MQTT, side by side."""
        self.planned = frozenset(ids("http", http) + ids("mqtt", mqtt))
        self.load = asyncio.gather(
            self.http_load.send(ids("http", http)), self.mqtt_load.send(ids("mqtt", mqtt))
        )
        return self.load

    async def restart(self) -> None:
        """Start the router again; while it starts, it never denies what it acknowledged."""
        # acknowledged over HTTP: surely in the store (MQTT ones may still wait in the broker)
        known = sorted(self.http_load.acknowledged)[:3]
        reads = [(f"/v1/contacts/{c}", ADMIN) for c in known]
        reads += [(f"/v1/agents/{a.id}", a.token) for a in list(self.desks.agents.values())[:1]]
        self.router.start()
        async with StartupReads(self.api, reads) as startup:
            await self.router.wait_ready(self.api.session)
        assert not startup.wrong, (
            f"while starting ({dict(startup.answers)} answers), the router denied what it "
            f"had acknowledged: {startup.wrong[:5]}"
        )

    def check_harness(self) -> None:
        """Fail at once when a sender or an agent met an answer the contract does not allow."""
        load = self.load
        if load is not None and load.done() and not load.cancelled() and load.exception():
            raise AssertionError("the load failed") from load.exception()
        assert not self.desks.record.anomalies, self.desks.record.anomalies[:10]

    async def until(
        self,
        check: Callable[[], bool],
        what: str,
        *,
        explain: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        """Until `check()` holds; on timeout fail with `what` (and `explain()`)."""
        try:
            async with asyncio.timeout(PATIENCE):
                while not check():
                    self.check_harness()
                    await asyncio.sleep(0.02)
        except TimeoutError:
            details = await explain() if explain else ""
            raise AssertionError(f"never happened: {what}\n{details}") from None


@contextlib.asynccontextmanager
async def running_scene(
    tmp_path: Path, broker: Mosquitto, *, store_dir: Path | None = None
) -> AsyncIterator[Scene]:
    config = write_config(tmp_path, broker, store_dir=store_dir)
    router = RouterProcess(config, tmp_path / "router.log")
    router.start()
    try:
        async with aiohttp.ClientSession() as session:
            await router.wait_ready(session)
            api = Api(session, router.base)
            async with (
                AgentDesks(api, broker, capacity=CAPACITY) as desks,
                MqttLoad(broker) as mqtt_load,
                CapacityWatch(api) as watch,
            ):
                await desks.register()
                scene = Scene(broker, router, api, HttpLoad(api), mqtt_load, desks, watch)
                try:
                    yield scene
                finally:  # a test that failed half-way leaves no sender behind
                    if scene.load is not None:
                        scene.load.cancel()
                        await asyncio.gather(scene.load, return_exceptions=True)
    finally:
        router.close()
        # shown by pytest only when the test failed
        print(f"--- router log ({router.log}) ---\n{router.log_tail()}")


async def assert_each_routed_once(scene: Scene, ids: set[str]) -> None:
    """Every contact in `ids` assigned once, completed once, within capacity; nothing else."""
    record = scene.desks.record
    print(  # shown when a test fails: what the run went through
        f"contacts {len(ids)}; holds {len(record.holds)}; most held {scene.desks.most_held()}; "
        f"offers {len(record.offers)} (+{record.repeated_offers} repeated); completions "
        f"answered {sum(record.completions.values())}, unanswered "
        f"{len(record.completed_unanswered)}; 503s {len(scene.api.refusals)} (agents) "
        f"{sum(map(len, scene.http_load.refused.values()))} (contacts); capacity samples "
        f"{scene.watch.samples}; desk reconnects {scene.desks.reconnects}"
    )
    assert not record.anomalies, record.anomalies[:10]
    assert not record.reused_offer_ids, f"offer ids reused: {record.reused_offer_ids[:10]}"
    twice = {c: n for c, n in record.completions.items() if n > 1}
    assert not twice, f"completed twice (2xx): {twice}"
    assert not record.completed_unanswered & set(record.completions)
    assert set(record.completed_by) == ids, (
        f"completed but never acknowledged: {sorted(set(record.completed_by) - ids)[:10]}; "
        f"acknowledged, never completed: {sorted(ids - set(record.completed_by))[:10]}"
    )

    # the router's own account of each contact
    records = await asyncio.gather(*(scene.api.contact(c) for c in sorted(ids)))
    for contact in records:
        assigned = events_of(contact, "assigned")
        completed = events_of(contact, "completed")
        what = (contact["id"], [e["type"] for e in contact["history"]])
        assert contact["state"] == "completed", what
        assert len(assigned) == 1, what
        assert len(completed) == 1, what
        agent_id = record.completed_by[contact["id"]]
        assert contact["agent_id"] == assigned[0]["agent_id"] == agent_id, (what, agent_id)

    # never above capacity: what the agents lived through, and what the router reported
    held = scene.desks.most_held()
    assert max(held.values()) <= CAPACITY, held
    assert scene.watch.samples > 0
    assert not scene.watch.violations, scene.watch.violations[:3]
    answer = await scene.api.until_answered("GET", "/v1/agents")
    for agent in answer.body["agents"]:
        assert (agent["state"], agent["load"], agent["offers"], agent["contacts"]) == (
            "available",
            {},
            [],
            [],
        ), agent

    # the figures count each contact once
    answer = await scene.api.until_answered("GET", "/v1/stats")
    stats = answer.body
    support = next(q for q in stats["queues"] if q["name"] == "support")
    counts = {k: support[k] for k in ("offered", "answered", "handled", "abandoned", "waiting")}
    total = len(ids)
    assert counts == {
        "offered": total,
        "answered": total,
        "handled": total,
        "abandoned": 0,
        "waiting": 0,
    }, stats
    assert not any(stats["contacts"].values()), stats["contacts"]


async def arrival_times(scene: Scene, contact_ids: list[str]) -> dict[str, float]:
    records = await asyncio.gather(*(scene.api.contact(c) for c in contact_ids))
    return {record["id"]: record["arrived_at"] for record in records}


@dataclass
class BeforeCrash:
    """What was acknowledged by the process that is about to be killed (or was)."""

    contacts: set[str]  # acknowledged over HTTP
    holding: dict[str, str]  # contact → the agent whose accept was answered 200
    arrived: dict[str, float]  # a few contacts' arrival times

    @classmethod
    def of(cls, scene: Scene, arrived: dict[str, float]) -> BeforeCrash:
        return cls(set(scene.http_load.acknowledged), dict(scene.desks.holding), arrived)


async def assert_restored(scene: Scene, before: BeforeCrash) -> None:
    """Right after a restart: the agents as they were (profile, state, token); every
    contact acknowledged over HTTP before the crash, with its original arrival time;
    every contact an agent held, still its own (or completed by it, the answer lost)."""
    for agent in scene.desks.agents.values():
        answer = await scene.api.until_answered("GET", f"/v1/agents/{agent.id}", token=agent.token)
        assert answer.status == 200, (agent.id, answer)
        assert answer.body["state"] == "available", answer.body
        assert answer.body["capacity"] == {"chat": CAPACITY}, answer.body
    lost = []
    for contact_id in sorted(before.contacts):
        answer = await scene.api.until_answered("GET", f"/v1/contacts/{contact_id}")
        if answer.status != 200:
            lost.append(contact_id)
    assert not lost, (
        f"{len(lost)} of {len(before.contacts)} acknowledged contacts lost: {lost[:10]}"
    )
    assert await arrival_times(scene, sorted(before.arrived)) == before.arrived
    for contact_id, agent_id in before.holding.items():
        record = await scene.api.contact(contact_id)
        assert record["state"] in ("assigned", "completed"), record
        assert record["agent_id"] == agent_id, record


async def finished_more(scene: Scene, count: int) -> None:
    """Until the agents completed `count` more contacts."""
    record = scene.desks.record
    finished = len(record.finished())

    async def explain() -> str:
        stuck = sorted(scene.acknowledged() - record.finished())
        unsent = sorted(scene.planned - scene.acknowledged())
        states = [await scene.desks.describe(c) for c in [*stuck[:10], *unsent[:10]]]
        return f"{len(stuck)} acknowledged wait, {len(unsent)} never acknowledged:\n" + "\n".join(
            states
        )

    await scene.until(
        lambda: len(record.finished()) >= finished + count,
        f"{count} more finished after {finished}",
        explain=explain,
    )


def ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{index:04d}" for index in range(count)]


# ------------------------------------------------------------------ kill -9
@pytest.mark.timeout(170)
async def test_kill_9_under_load_loses_no_contact_and_routes_each_once(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """kill -9 three times under HTTP and MQTT load: nothing acknowledged is lost, agents,
    open offers, assignments and the waiting order survive, each contact is assigned and
    completed once, no agent goes above capacity, repeated ids create nothing."""
    async with running_scene(tmp_path, mosquitto) as scene:
        desks, router = scene.desks, scene.router
        load = scene.start_load(http=200, mqtt=200)
        await scene.until(lambda: len(scene.acknowledged()) >= 120, "120 contacts acknowledged")
        assert desks.record.completions, "the agents are at work before the crash"

        # The agents stop answering: every free place becomes an open offer, and
        # contacts wait behind them. Then the crash.
        desks.pause()
        full = len(desks.agents) * CAPACITY
        await scene.until(lambda: len(desks.unanswered) >= full, "open offers fill every agent")
        taken = len(scene.http_load.acknowledged)
        await scene.until(lambda: len(scene.http_load.acknowledged) >= taken + 20, "a backlog")
        open_offers = set(desks.unanswered)
        arrived = await arrival_times(scene, sorted(scene.http_load.acknowledged)[-5:])
        router.kill9()
        crashed_at = time.monotonic()

        # published while the daemon is down: the broker keeps them for its session
        offline = ids("offline", 100)
        await scene.mqtt_load.send(offline, rate=500)
        assert set(offline) <= scene.mqtt_load.acknowledged
        assert not router.running
        before = BeforeCrash.of(scene, arrived)
        await scene.restart()
        await assert_restored(scene, before)

        # the open offers are back with their ids, and sent to their agents again
        answer = await scene.api.until_answered("GET", "/v1/agents")
        restored = {o["offer_id"] for agent in answer.body["agents"] for o in agent["offers"]}
        assert open_offers <= restored, (open_offers, restored)
        deliveries = desks.record.deliveries
        await scene.until(
            lambda: all(max(deliveries[o]) > crashed_at for o in open_offers),
            "every open offer sent again after the restart",
        )
        # the contacts waiting at the crash are offered in their order of arrival
        records = await asyncio.gather(*(scene.api.contact(c) for c in sorted(before.contacts)))
        backlog = {r["id"]: r["arrived_at"] for r in records if r["state"] == "queued"}
        assert len(backlog) >= 20, backlog
        desks.resume()
        await desks.wait_finished(backlog)
        offered = [backlog[c] for c in desks.record.offered_order if c in backlog]
        assert offered == sorted(offered), "waiting contacts were offered out of arrival order"

        # more crashes while the backlog is worked off: offers re-sent, answers lost
        for _ in range(2):
            # a slow machine may have got further: crash while work is left
            remaining = len(scene.planned) + len(offline) - len(desks.record.finished())
            await finished_more(scene, min(40, remaining // 3))
            router.kill9()
            before = BeforeCrash.of(scene, arrived)
            await scene.restart()
            await assert_restored(scene, before)

        await load
        acknowledged = scene.acknowledged()
        assert acknowledged == scene.planned | set(offline)
        assert scene.http_load.repeated, "some contacts were sent twice"
        assert scene.mqtt_load.repeated, "some contacts were sent twice"
        await desks.wait_finished(acknowledged, timeout=90)
        await assert_each_routed_once(scene, acknowledged)

        # a contact id seen before creates nothing new, also once it is completed
        for contact_id in sorted(acknowledged)[::25]:
            answer = await scene.http_load.post(contact_id)
            assert answer.body["state"] == "completed", answer

        # and a clean stop and start keeps it all
        assert await router.terminate() == 0
        await scene.restart()
        sample = await scene.api.contact("offline-0042")
        assert (sample["state"], len(events_of(sample, "completed"))) == ("completed", 1)
        await assert_each_routed_once(scene, acknowledged)


# ------------------------------------------------------------------ broker restart
@pytest.mark.timeout(120)
async def test_a_broker_restart_under_load_loses_no_contact(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The broker stopped and started under load: the router keeps taking HTTP contacts,
    reconnects, and every contact from either side is routed once."""
    async with running_scene(tmp_path, mosquitto) as scene:
        load = scene.start_load(http=150, mqtt=150)
        await scene.until(lambda: len(scene.acknowledged()) >= 100, "100 contacts acknowledged")

        await asyncio.to_thread(mosquitto.stop)
        await until_health(scene, lambda parts: parts["mqtt"] != "ok", "the router sees it")
        # the router keeps taking contacts over HTTP while its broker is away
        taken = len(scene.http_load.acknowledged)
        await scene.until(
            lambda: len(scene.http_load.acknowledged) >= taken + 20, "20 more over HTTP"
        )
        await asyncio.to_thread(mosquitto.start)
        await until_health(scene, lambda parts: parts["mqtt"] == "ok", "the router is back")

        await load
        acknowledged = scene.acknowledged()
        assert acknowledged == scene.planned
        await scene.desks.wait_finished(acknowledged, timeout=90)
        await assert_each_routed_once(scene, acknowledged)
        assert scene.desks.reconnects >= 1


async def until_health(
    scene: Scene, check: Callable[[dict[str, str]], bool], what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + PATIENCE
    while True:
        report = await health(scene)
        if check(report["parts"]):
            return report
        assert time.monotonic() < deadline, f"never happened: {what}; last {report}"
        await asyncio.sleep(0.05)


async def health(scene: Scene) -> dict[str, Any]:
    """/healthz, whatever its status code (a degraded daemon may answer 503)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            answer = await scene.api.call("GET", "/healthz")
        except UNREACHABLE:
            assert time.monotonic() < deadline, "/healthz never answered"
            await asyncio.sleep(0.1)
            continue
        assert isinstance(answer.body, dict), answer
        return answer.body


# ------------------------------------------------------------------ the store cannot write
@dataclass
class Outage:
    """What was seen while the store could not write."""

    refused: list[str]  # probe contacts answered 503: none of them may exist afterwards
    taken: list[str]  # probe contacts answered 202: real contacts, routed like the others
    #: probes answered 202 after a 503, before the repair (the store wrote after all)
    taken_while_broken: list[str]
    health: dict[str, Any]


async def store_outage(
    scene: Scene,
    fault: Callable[[], Any],
    repair: Callable[[], Any],
    *,
    hold: float,
    probe_bytes: int = 0,
) -> Outage:
    """Break the store with `fault()`, watch the daemon refuse, `repair()` after `hold` s.

    Probe contacts (each id sent once, never retried) show what a sender meets:
    503 `store_unavailable` with Retry-After, and /healthz naming the store.
    """
    outage = Outage(refused=[], taken=[], taken_while_broken=[], health={})
    await asyncio.to_thread(fault)
    broken_at = time.monotonic()
    try:
        while not outage.refused or time.monotonic() < broken_at + hold:
            assert time.monotonic() < broken_at + PATIENCE, "the daemon never refused: 503"
            await probe(scene, outage, probe_bytes)
            if outage.refused and not outage.health:
                outage.health = await health(scene)  # while the daemon says it is broken
            await asyncio.sleep(0.2)
    finally:
        await asyncio.to_thread(repair)
    # accepting again without a restart; /healthz says the store is fine
    await until_accepting(scene, outage)
    return outage


async def probe(scene: Scene, outage: Outage, body_bytes: int) -> None:
    contact_id = f"probe-{len(outage.refused) + len(outage.taken):04d}"
    payload = chat_contact(contact_id, body_bytes)
    answer = await scene.api.call("POST", "/v1/contacts", json=payload)
    if answer.status == 202:
        outage.taken.append(contact_id)
        if outage.refused:
            outage.taken_while_broken.append(contact_id)
        return
    assert answer.status == 503, answer
    assert answer.body["error"]["code"] == "store_unavailable", answer.body
    assert answer.body["error"]["message"], answer.body
    assert "Retry-After" in answer.headers, answer.headers
    outage.refused.append(contact_id)


async def until_accepting(scene: Scene, outage: Outage) -> None:
    deadline = time.monotonic() + PATIENCE
    while True:
        contact_id = f"probe-{len(outage.refused) + len(outage.taken):04d}"
        answer = await scene.api.call("POST", "/v1/contacts", json=chat_contact(contact_id))
        if answer.status == 202:
            outage.taken.append(contact_id)
            break
        assert answer.status == 503, answer
        outage.refused.append(contact_id)
        assert time.monotonic() < deadline, "the daemon did not accept again after the repair"
        await asyncio.sleep(0.2)
    report = await health(scene)
    assert report["parts"].get("store") == "ok", report


async def check_outage(scene: Scene, outage: Outage) -> None:
    """While broken, /healthz named the store; nothing answered 503 was applied; the
    contacts refused on the way were retried, taken and then routed exactly once."""
    assert outage.health["parts"].get("store", "ok") != "ok", outage.health
    assert outage.health["status"] != "ok", outage.health
    for contact_id in outage.refused:
        answer = await scene.api.until_answered("GET", f"/v1/contacts/{contact_id}")
        assert answer.status == 404, (contact_id, answer)
    retried = set(scene.http_load.refused)
    assert retried, "the load met the outage: some contacts were refused, then retried"
    assert retried <= scene.http_load.acknowledged
    expected = scene.acknowledged() | set(outage.taken)
    await scene.desks.wait_finished(expected, timeout=90)
    await assert_each_routed_once(scene, expected)


@pytest.mark.timeout(120)
async def test_a_locked_store_refuses_new_work_then_recovers_without_loss(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Another process holds the store's write lock for 10 s under load: 503
    store_unavailable, /healthz says so, nothing refused is kept, and without a restart
    the router takes work again and routes everything acknowledged once."""
    lock: list[sqlite3.Connection] = []

    def take_write_lock() -> None:
        # another process holds SQLite's write lock: every write of the daemon's
        # times out on its busy timeout
        conn = sqlite3.connect(
            tmp_path / "var" / "router.db",
            isolation_level=None,
            timeout=30,
            check_same_thread=False,
        )
        conn.execute("BEGIN EXCLUSIVE")
        lock.append(conn)

    def release_write_lock() -> None:
        conn = lock.pop()
        conn.execute("ROLLBACK")
        conn.close()

    async with running_scene(tmp_path, mosquitto) as scene:
        scene.http_load.rate = scene.mqtt_load.rate = 15
        load = scene.start_load(http=200, mqtt=120)
        await scene.until(lambda: len(scene.acknowledged()) >= 40, "40 contacts acknowledged")
        outage = await store_outage(scene, take_write_lock, release_write_lock, hold=10)
        await load
        # nothing can be written while another process holds the write lock
        assert not outage.taken_while_broken, outage.taken_while_broken
        await check_outage(scene, outage)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on its own 8 MiB tmpfs, for a store that runs out of space."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the disk-full test: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill_disk(folder: Path) -> Path:
    """Write a file until the disk is full (ENOSPC); the file, to delete later."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as output:
        for size in (1 << 20, 1 << 12, 1 << 9):
            try:
                while True:
                    output.write(b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


@pytest.mark.timeout(120)
async def test_a_full_disk_refuses_new_work_then_recovers_without_loss(
    tmp_path: Path, mosquitto: Mosquitto, small_disk: Path
) -> None:
    """The store's disk fills up under load: as for the lock, with a real ENOSPC."""
    async with running_scene(tmp_path, mosquitto, store_dir=small_disk) as scene:
        # a few kilobytes per contact: the store needs new space soon after the disk fills
        scene.http_load.body_bytes = scene.mqtt_load.body_bytes = 4000
        scene.http_load.rate = scene.mqtt_load.rate = 15
        load = scene.start_load(http=200, mqtt=120)
        await scene.until(lambda: len(scene.acknowledged()) >= 40, "40 contacts acknowledged")
        outage = await store_outage(
            scene,
            lambda: fill_disk(small_disk),
            (small_disk / "filler").unlink,
            hold=3,
            # big probes: what the store still has room for (a WAL is reused) runs out soon
            probe_bytes=90_000,
        )
        await load
        await check_outage(scene, outage)
