"""Routing-decision cost against the number of agents (issue 2).

Two kinds of decision, both timed around the public `Engine.handle(event, now)`
with the real built-in plugins, one `time.perf_counter_ns` pair per call (and
the thread's CPU time around it, which leaves out time the machine gave to
other processes):

(a) arrive -- "a contact arrives, an agent is chosen": every agent available,
    contacts arrive on random queues and channels from random customers. Each
    offer is accepted and the oldest assignments are completed so that the
    agents keep free capacity. Only the `ContactArrived` calls are timed.
(b) free -- "an agent frees up, a contact is chosen": 100,000 contacts wait
    while the agents are busy (full) or away. A random busy agent completes a
    chat or e-mail contact; the timed `ContactCompleted` call makes it pick the
    best waiting contact it may take. A new contact arrives after each decision
    (untimed) so that the queues stay at their size.

The workload: 50 queues (one skill each, 3 channel mixes, some requiring the
customer's language, minimum levels 1-5), agents with 4-10 skills at levels
1-10, capacity {"chat": 3, "voice": 1, "email": 5}, one to three languages;
20,000 customers (5 % vip, some complaints). Half the contacts name their
queue, the others give the queue's skill and go through queue selection.

Run:  .venv/bin/python benchmarks/decision_cost.py [--quick | --smoke] [--json] [--no-gc]

`--quick` (CI, under a minute) measures fewer decisions and skips 50,000 agents;
`--smoke` is the tiny run of tests/benchmarks. Prints figures, never asserts.
Setup objects and garbage are collected and frozen (`gc.collect(); gc.freeze()`)
before measuring; the collector stays on while measuring (unless `--no-gc`, a
diagnostic), so the collections that the decisions' own allocations trigger count.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from router.compiled import is_compiled
from router.engine import (
    AgentStateChanged,
    AgentUpserted,
    ContactAbandoned,
    ContactArrived,
    ContactCompleted,
    Effect,
    Engine,
    Event,
    OfferAnswered,
    SendOffer,
)
from router.model import (
    AgentProfile,
    AgentState,
    Contact,
    Customer,
    EngineConfig,
    QueueConfig,
    RoutingSettings,
)
from router.plugins import RouterPlugins, load_plugins

QUEUES = 50
CUSTOMERS = 20_000
CAPACITY = MappingProxyType({"chat": 3, "voice": 1, "email": 5})
ALL_CHANNELS = ("chat", "voice", "email")
#: the channels of queue i are CHANNEL_MIXES[i % 5]
CHANNEL_MIXES = (ALL_CHANNELS, ALL_CHANNELS, ALL_CHANNELS, ("chat", "email"), ("voice", "chat"))
LANGUAGES = ("en", "fr", "de", "es", "nl")
LANGUAGE_WEIGHTS = (60, 15, 12, 8, 5)
SUBJECTS = (
    "Where is my order?",
    "Password reset",
    "Question about my invoice",
    "Change of address",
    "I want a refund",  # the complaint plugin's keyword
    "Upgrade my plan",
    "",
)
OUTCOMES = ("resolved", "resolved", "resolved", "unresolved")
#: simulated seconds between two decisions
STEP_SECONDS = 0.05
#: (a): open assignments kept per agent (capacity is 3 chat + 5 e-mail, or 1 voice)
LOAD_PER_AGENT = 0.75
#: (wall, CPU) nanoseconds of one timed `handle` call
Timing = tuple[int, int]
#: targets of issue 2
TARGET_P99_US = 200.0
TARGET_GROWTH = 1.5


@dataclass(frozen=True, slots=True)
class Params:
    mode: str
    agent_counts: tuple[int, ...]
    waiting: int
    arrive_decisions: int
    free_decisions: int
    warmup: int
    #: (b): agents busy with contacts (the others are away); capped to bound setup
    #: time and memory, the decision never looks at busy or away agents anyway
    busy_agents_max: int
    seed: int
    #: False only for the diagnostic `--no-gc`: shows the collector's share of the tail
    gc_enabled: bool = True


MODES: dict[str, Params] = {
    "full": Params("full", (100, 1_000, 10_000, 50_000), 100_000, 20_000, 10_000, 2_000, 2_000, 2),
    "quick": Params("quick", (100, 1_000, 10_000), 100_000, 3_000, 2_000, 500, 1_000, 2),
    "smoke": Params("smoke", (100,), 1_000, 200, 200, 50, 100, 2),
}


@dataclass(slots=True)
class Figures:
    """Timings of one kind of decision at one agent count, in microseconds."""

    decisions: int
    median_us: float
    p90_us: float
    p99_us: float
    max_us: float
    mean_us: float
    #: CPU time of the same calls (`time.thread_time_ns`, about 1.3 µs of it the clock
    #: itself): unlike wall time, it leaves out time the thread was not running
    cpu_median_us: float
    cpu_p99_us: float
    setup_s: float
    #: (a) share of arrivals that got an offer; (b) offers made per decision
    offers_per_decision: float
    #: garbage collections per generation while measuring
    gc_collections: list[int]
    #: 1-minute load average before and after measuring (other work on the machine)
    load_before: float
    load_after: float


@dataclass(slots=True)
class SizeResult:
    agents: int
    arrive: Figures
    free: Figures


@dataclass(slots=True)
class Report:
    params: Params
    machine: dict[str, Any]
    results: list[SizeResult] = field(default_factory=list)

    def growth(self) -> dict[str, float] | None:
        """Ratios 1,000 -> 10,000 agents of median and p99 (wall, then CPU time)."""
        by_agents = {r.agents: r for r in self.results}
        small, large = by_agents.get(1_000), by_agents.get(10_000)
        if small is None or large is None:
            return None
        ratios: dict[str, float] = {}
        for kind in ("arrive", "free"):
            before, after = getattr(small, kind), getattr(large, kind)
            for figure in ("median_us", "p99_us", "cpu_median_us", "cpu_p99_us"):
                name = f"{kind}_{figure.removesuffix('_us')}"
                ratios[name] = getattr(after, figure) / getattr(before, figure)
        return ratios

    def targets(self) -> dict[str, bool] | None:
        """Issue 2's targets on wall time, and the same on CPU time (for a busy machine)."""
        at_10k = next((r for r in self.results if r.agents == 10_000), None)
        growth = self.growth()
        if at_10k is None or growth is None:
            return None
        met: dict[str, bool] = {}
        for kind in ("arrive", "free"):
            figures: Figures = getattr(at_10k, kind)
            met[f"{kind}_p99_at_10k"] = figures.p99_us <= TARGET_P99_US
            met[f"{kind}_cpu_p99_at_10k"] = figures.cpu_p99_us <= TARGET_P99_US
        for name, ratio in growth.items():
            met[f"{name}_growth"] = ratio <= TARGET_GROWTH
        return met

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": "decision_cost",
            "params": asdict(self.params),
            "machine": self.machine,
            "results": [asdict(r) for r in self.results],
            "growth_1k_to_10k": self.growth(),
            "targets": self.targets(),
        }


# ---------------------------------------------------------------- workload
class Workload:
    """Queues, agents, customers and contacts, all drawn from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.queues = tuple(self._queue(i) for i in range(QUEUES))
        self.customers = tuple(self._customer(i) for i in range(CUSTOMERS))
        self._contacts = 0

    def _queue(self, i: int) -> QueueConfig:
        rng = self.rng
        channels = CHANNEL_MIXES[i % len(CHANNEL_MIXES)]
        return QueueConfig(
            name=f"q{i:02d}",
            channels=channels,
            skills=(f"s{i:02d}",),
            min_level=rng.choice((1, 1, 1, 2, 3, 5)),
            priority=rng.choice((0.0, 0.0, 1.0, 2.0)),
            sla_seconds=rng.choice((20.0, 30.0, 60.0)),
            offer_timeout_seconds=30.0,
            require_language=i % 6 == 5,
        )

    def _customer(self, i: int) -> Customer:
        rng = self.rng
        draw = rng.random()
        tier = "vip" if draw < 0.05 else "gold" if draw < 0.15 else "standard"
        language = None if rng.random() < 0.1 else self._language()
        return Customer(id=f"cu{i}", name=f"Customer {i}", tier=tier, language=language)

    def _language(self) -> str:
        return self.rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0]

    def agent(self, i: int) -> AgentProfile:
        rng = self.rng
        skills = rng.sample(range(QUEUES), rng.randint(4, 10))
        languages = {"en", self._language()}
        if rng.random() < 0.3:
            languages.add(self._language())
        return AgentProfile(
            id=f"ag{i}",
            name=f"Agent {i}",
            skills=MappingProxyType({f"s{s:02d}": rng.randint(1, 10) for s in skills}),
            languages=frozenset(languages),
            capacity=CAPACITY,
        )

    def contact(self) -> Contact:
        rng = self.rng
        self._contacts += 1
        queue = rng.choice(self.queues)
        channel = rng.choice(queue.channels)
        named = rng.random() < 0.5
        thread = f"th{rng.randrange(50_000)}" if channel == "email" and rng.random() < 0.3 else None
        return Contact(
            id=f"c{self._contacts}",
            channel=channel,
            customer=rng.choice(self.customers),
            subject=rng.choice(SUBJECTS),
            queue=queue.name if named else None,
            skills=() if named else queue.skills,
            thread_id=thread,
        )

    def completion(self, contact_id: str) -> ContactCompleted:
        rng = self.rng
        csat = rng.randint(1, 5) if rng.random() < 0.3 else None
        return ContactCompleted(contact_id, rng.choice(OUTCOMES), csat)


def build_engine(workload: Workload) -> Engine:
    plugins: RouterPlugins = load_plugins(entry_points_enabled=False)
    plugins.configure(plugins.default_options())
    # Every arrival here is a routing decision: a reply whose thread is still open
    # would join it as a message (cheap, and no offer for the driver to accept).
    routing = RoutingSettings(join_open_threads=False)
    return Engine(EngineConfig(queues=workload.queues, routing=routing), plugins)


class Driver:
    """Feeds one engine on a simulated clock; accepts every offer it sees (untimed)."""

    def __init__(self, engine: Engine, workload: Workload) -> None:
        self.engine = engine
        self.workload = workload
        self.now = 0.0
        #: (b) agent id -> its assigned contacts on chat or e-mail (voice ones are not kept)
        self.held: dict[str, list[str]] = {}
        #: (a) assigned contacts, oldest first
        self.assigned: deque[str] = deque()

    def send(self, event: Event) -> list[Effect]:
        return self.engine.handle(event, self.now)

    def timed(self, event: Event) -> tuple[Timing, list[Effect]]:
        """Handle `event` now; (wall ns, CPU ns) of the one `handle` call, and its effects."""
        cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        effects = self.engine.handle(event, self.now)
        wall = time.perf_counter_ns() - start
        return (wall, time.thread_time_ns() - cpu), effects

    def accept(self, effects: Sequence[Effect]) -> int:
        """Accept every offer among `effects`; returns how many there were."""
        offers = [e for e in effects if isinstance(e, SendOffer)]
        for effect in offers:
            offer = effect.offer
            self.send(OfferAnswered(offer.id, True))
            self.assigned.append(offer.contact_id)
            if effect.contact.channel != "voice":
                self.held.setdefault(offer.agent_id, []).append(offer.contact_id)
        return len(offers)

    def add_agents(self, count: int, available: int) -> None:
        """Create `count` agents; the first `available` become available, the others away."""
        for i in range(count):
            profile = self.workload.agent(i)
            self.send(AgentUpserted(profile))
            state = AgentState.AVAILABLE if i < available else AgentState.AWAY
            self.send(AgentStateChanged(profile.id, state))

    # -- (a) ------------------------------------------------------------
    def arrive_once(self, open_limit: int) -> tuple[Timing, bool]:
        """One arrival (timed), its offer accepted, old assignments completed (untimed)."""
        self.now += STEP_SECONDS
        contact = self.workload.contact()
        timing, effects = self.timed(ContactArrived(contact))
        offered = self.accept(effects) > 0
        if not offered:
            # Nobody eligible is free: leave no contact waiting, (a) measures routing only.
            self.send(ContactAbandoned(contact.id))
        while len(self.assigned) > open_limit:
            self.send(self.workload.completion(self.assigned.popleft()))
        return timing, offered

    # -- (b) ------------------------------------------------------------
    def fill(self, waiting: int) -> None:
        """Arrivals until `waiting` contacts wait; the busy agents get theirs first."""
        queued = 0
        while queued < waiting:
            self.now += 0.001
            if not self.accept(self.send(ContactArrived(self.workload.contact()))):
                queued += 1

    def free_once(self, busy: list[str]) -> tuple[Timing, int]:
        """A busy agent completes a chat or e-mail contact (timed) and takes another."""
        self.now += STEP_SECONDS
        rng = self.workload.rng
        while True:
            agent_id = rng.choice(busy)
            held = self.held.get(agent_id)
            if held:
                break
        contact_id = held.pop(rng.randrange(len(held)))
        timing, effects = self.timed(self.workload.completion(contact_id))
        offers = self.accept(effects)
        # Keep the queues at their size: one more contact waits (or is taken, untimed).
        self.accept(self.send(ContactArrived(self.workload.contact())))
        return timing, offers


# ---------------------------------------------------------------- measuring
class Measurement:
    """Collects the timings of one measured phase, with the GC and load around it."""

    def __init__(self, params: Params, setup_s: float) -> None:
        self.setup_s = setup_s
        self.wall: list[int] = []
        self.cpu: list[int] = []
        self.offers = 0
        gc.collect()
        gc.freeze()  # setup garbage and setup objects stay out of the collections measured
        if not params.gc_enabled:
            gc.disable()
        self._collections = [g["collections"] for g in gc.get_stats()]
        self._load = os.getloadavg()[0]

    def add(self, timing: Timing, offers: int) -> None:
        self.wall.append(timing[0])
        self.cpu.append(timing[1])
        self.offers += offers

    def finish(self) -> Figures:
        stats = gc.get_stats()
        collections = [g["collections"] - c for g, c in zip(stats, self._collections, strict=True)]
        load = os.getloadavg()[0]
        gc.enable()
        gc.unfreeze()
        wall = sorted(self.wall)
        cpu = sorted(self.cpu)
        count = len(wall)
        return Figures(
            decisions=count,
            median_us=percentile(wall, 0.5),
            p90_us=percentile(wall, 0.9),
            p99_us=percentile(wall, 0.99),
            max_us=wall[-1] / 1_000,
            mean_us=sum(wall) / count / 1_000,
            cpu_median_us=percentile(cpu, 0.5),
            cpu_p99_us=percentile(cpu, 0.99),
            setup_s=self.setup_s,
            offers_per_decision=self.offers / count,
            gc_collections=collections,
            load_before=self._load,
            load_after=load,
        )


def percentile(ordered_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in microseconds."""
    index = min(len(ordered_ns) - 1, max(0, math.ceil(q * len(ordered_ns)) - 1))
    return ordered_ns[index] / 1_000


def measure_arrive(agents: int, params: Params) -> Figures:
    """(a): time `ContactArrived` with every agent available."""
    started = time.perf_counter()
    workload = Workload(random.Random(f"{params.seed}-arrive-{agents}"))
    driver = Driver(build_engine(workload), workload)
    driver.add_agents(agents, available=agents)
    open_limit = max(1, int(agents * LOAD_PER_AGENT))
    for _ in range(open_limit + params.warmup):  # reach the steady load, then warm up
        driver.arrive_once(open_limit)
    measurement = Measurement(params, time.perf_counter() - started)
    for _ in range(params.arrive_decisions):
        timing, offered = driver.arrive_once(open_limit)
        measurement.add(timing, int(offered))
    figures = measurement.finish()
    del driver
    gc.collect()
    return figures


def measure_free(agents: int, params: Params) -> Figures:
    """(b): time `ContactCompleted` of a busy agent with `params.waiting` contacts waiting."""
    started = time.perf_counter()
    workload = Workload(random.Random(f"{params.seed}-free-{agents}"))
    driver = Driver(build_engine(workload), workload)
    driver.add_agents(agents, available=min(agents, params.busy_agents_max))
    driver.fill(params.waiting)
    busy = sorted(driver.held)
    for _ in range(params.warmup):
        driver.free_once(busy)
    measurement = Measurement(params, time.perf_counter() - started)
    for _ in range(params.free_decisions):
        measurement.add(*driver.free_once(busy))
    figures = measurement.finish()
    del driver
    gc.collect()
    return figures


def revision() -> str | None:
    """The project's git commit, "+dirty" when the work tree differs; None without git."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "plugins"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    return {
        "revision": revision(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        # the engine's hot modules compiled by mypyc (setup.py), or plain Python
        "compiled": is_compiled(),
    }


def run(params: Params, *, log: bool = True) -> Report:
    report = Report(params=params, machine=machine())
    for agents in params.agent_counts:
        arrive = measure_arrive(agents, params)
        if log:
            print(f"  {agents:>6} agents: (a) arrive done", file=sys.stderr, flush=True)
        free = measure_free(agents, params)
        if log:
            print(f"  {agents:>6} agents: (b) free done", file=sys.stderr, flush=True)
        report.results.append(SizeResult(agents, arrive, free))
    return report


# ---------------------------------------------------------------- output
def render(report: Report) -> str:
    p = report.params
    m = report.machine
    gc_state = "on while measuring" if p.gc_enabled else "OFF while measuring (--no-gc)"
    lines = [
        f"Decision cost ({p.mode}): Python {m['python']}, {m['nproc']} CPUs, seed {p.seed},"
        f" revision {m['revision']}",
        f"  {QUEUES} queues, {CUSTOMERS:,} customers, capacity {dict(CAPACITY)},"
        f" candidate_limit {RoutingSettings().candidate_limit}",
        f"  gc.collect() + gc.freeze() after setup and {p.warmup:,} warm-up decisions;"
        f" GC {gc_state}",
        f"  (a) arrive: every agent available, {LOAD_PER_AGENT} open contacts per agent;"
        f" {p.arrive_decisions:,} ContactArrived timed",
        f"  (b) free: {p.waiting:,} contacts waiting, up to {p.busy_agents_max:,} agents busy"
        f" (full), the rest away; {p.free_decisions:,} ContactCompleted timed",
        "  wall time (perf_counter_ns) per handle call; cpu: thread CPU time of the same calls;",
        "  gc0/1/2: collections per generation while measuring; load: 1-min load average"
        " (this process counts 1)",
        "",
        f"{'agents':>7} {'kind':<6} {'n':>6} {'median':>7} {'p90':>7} {'p99':>7} {'max':>8}"
        f" {'cpu50':>7} {'cpu99':>7} {'offers':>6} {'gc0/1/2':>9} {'load':>5} {'setup':>6}",
        f"{'':>7} {'':<6} {'':>6} {'µs':>7} {'µs':>7} {'µs':>7} {'µs':>8}"
        f" {'µs':>7} {'µs':>7} {'/dec':>6} {'':>9} {'':>5} {'s':>6}",
    ]
    for result in report.results:
        for kind, f in (("arrive", result.arrive), ("free", result.free)):
            collections = "/".join(str(c) for c in f.gc_collections)
            lines.append(
                f"{result.agents:>7,} {kind:<6} {f.decisions:>6} {f.median_us:>7.1f}"
                f" {f.p90_us:>7.1f} {f.p99_us:>7.1f} {f.max_us:>8.0f} {f.cpu_median_us:>7.1f}"
                f" {f.cpu_p99_us:>7.1f} {f.offers_per_decision:>6.2f} {collections:>9}"
                f" {max(f.load_before, f.load_after):>5.1f} {f.setup_s:>6.1f}"
            )
    growth = report.growth()
    if growth is not None:
        lines.append("")
        lines.append("Growth 1,000 -> 10,000 agents (cpu_: on CPU time):")
        lines.extend(f"  {key:<18} {value:5.2f}x" for key, value in growth.items())
    targets = report.targets()
    if targets is not None:
        lines.append(
            f"Targets: p99 <= {TARGET_P99_US:.0f} µs at 10,000 agents,"
            f" growth <= {TARGET_GROWTH}x (median and p99)"
        )
        lines.extend(f"  {key:<30} {'met' if met else 'MISSED'}" for key, met in targets.items())
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="CI smoke run: under a minute")
    size.add_argument("--smoke", action="store_true", help="tiny run for the test suite")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 2)")
    parser.add_argument(
        "--no-gc",
        action="store_true",
        help="diagnostic: disable the garbage collector while measuring",
    )
    args = parser.parse_args(argv)
    params = MODES["quick" if args.quick else "smoke" if args.smoke else "full"]
    if args.seed is not None:
        params = replace(params, seed=args.seed)
    if args.no_gc:
        params = replace(params, gc_enabled=False)
    started = time.perf_counter()
    report = run(params, log=not args.smoke)
    print(render(report))
    print(f"Total {time.perf_counter() - started:.1f} s")
    if args.json:
        print(json.dumps(report.to_json()))
    return report


if __name__ == "__main__":
    main()
