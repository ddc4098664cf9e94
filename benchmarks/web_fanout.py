"""What the pages cost the router (issue 7): the effect listener, snapshots, wallboard ticks.

The web hub runs inside the core's single writer (`RouterCore.add_listener`),
so its cost is paid on the engine's critical path; everything else (sending)
happens in the stream tasks. Measured on the example config with N agents
(skills support/sales, chat capacity 3), all of them with a page open:

- listener: `Hub.on_effect` per effect, for the effects of contacts arriving
  and being offered (SendOffer + Publish), with no page open and with every
  agent's page open (encoding the offer message, marking the agent dirty);
- snapshot: one agent's snapshot (state, offers, contacts with customer
  history), built once per touched agent per batch, after the dispatch;
- tick: the wallboard's once-a-second figures (`wallboard_stats` + JSON),
  with its size.

Run:  .venv/bin/python benchmarks/web_fanout.py [--quick] [--json] [--agents 1000 10000]

`--quick` measures 1,000 agents only. Prints figures (`--json` adds one JSON line), never
asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

from router.config import load_config_and_plugins
from router.engine import AgentStateChanged, AgentUpserted, ContactArrived, Effect
from router.model import AgentProfile, AgentState, Contact, Customer
from router.runtime.core import RouterCore
from router.web.hub import Hub, encode
from router.web.snapshots import agent_snapshot, wallboard_stats

ROOT = Path(__file__).resolve().parents[1]
ENV = {"ROUTER_ADMIN_TOKEN": "x", "META_APP_SECRET": "x", "META_VERIFY_TOKEN": "x"}


def _core(agents: int) -> RouterCore:
    config, plugins = load_config_and_plugins(ROOT / "config" / "router.toml", env=ENV)
    config = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, url=None))
    core = RouterCore(config, plugins)
    engine, now = core.engine, time.time()
    for n in range(agents):
        profile = AgentProfile(
            id=f"a{n}", name=f"Agent {n}", skills={"support": 5, "sales": 5}, capacity={"chat": 3}
        )
        engine.handle(AgentUpserted(profile), now)
        engine.handle(AgentStateChanged(f"a{n}", AgentState.AVAILABLE), now)
    return core


def _arrivals(core: RouterCore, count: int, start: int) -> list[Effect]:
    effects: list[Effect] = []
    now = time.time()
    for n in range(start, start + count):
        customer = Customer(id=f"cust{n % 500}", name=f"Customer {n % 500}")
        contact = Contact(id=f"c{n}", channel="chat", customer=customer, subject="Where is it?")
        effects.extend(core.engine.handle(ContactArrived(contact), now))
    return effects


def _figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median": statistics.median(ordered), "p99": ordered[int(len(ordered) * 0.99)]}


def _per_call_us(figures: dict[str, float]) -> str:
    return f"median {figures['median']:.2f} µs, p99 {figures['p99']:.2f} µs"


async def measure(agents: int) -> dict[str, Any]:
    """Prints the figures for `agents` and returns them (µs; the tick in ms)."""
    core = _core(agents)
    hub = Hub(core)
    idle = _arrivals(core, 2000, 0)
    alone = []
    for effect in idle:
        started = time.perf_counter()
        hub.on_effect(effect)
        alone.append((time.perf_counter() - started) * 1e6)
    for n in range(agents):
        hub.subscribe(f"a{n}")
    watched = []
    effects = _arrivals(core, 2000, 2000)
    for effect in effects:
        started = time.perf_counter()
        hub.on_effect(effect)
        watched.append((time.perf_counter() - started) * 1e6)
    await asyncio.sleep(0)  # the flush: one snapshot per touched agent
    snapshots = []
    for n in range(min(agents, 2000)):
        started = time.perf_counter()
        encode(agent_snapshot(core.engine, f"a{n}").body or {})
        snapshots.append((time.perf_counter() - started) * 1e6)
    ticks = []
    size = 0
    for _ in range(20):
        started = time.perf_counter()
        size = len(encode(wallboard_stats(core.engine, time.time())))
        ticks.append((time.perf_counter() - started) * 1e3)
    figures: dict[str, Any] = {
        "agents": agents,
        "effects": len(effects),
        "listener_no_page_us": _figures(alone),
        "listener_every_page_us": _figures(watched),
        "agent_snapshot_us": _figures(snapshots),
        "wallboard_tick_ms": statistics.median(ticks),
        "wallboard_tick_bytes": size,
        "queued_for_pages": hub.queued,
    }
    print(f"{agents} agents, {len(effects)} effects of 2,000 arrivals:")
    alone_text = _per_call_us(figures["listener_no_page_us"])
    print(f"  listener, no page open:        {alone_text} per effect")
    print(
        f"  listener, every agent's page:  {_per_call_us(figures['listener_every_page_us'])}"
        " per effect"
    )
    print(f"  agent snapshot (+ JSON):       {_per_call_us(figures['agent_snapshot_us'])}")
    print(
        f"  wallboard tick (+ JSON):       median {figures['wallboard_tick_ms']:.2f} ms, {size} B"
    )
    print(f"  queued for the pages:          {hub.queued} messages")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, nargs="+", default=None)
    parser.add_argument("--quick", action="store_true", help="1,000 agents only")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    args = parser.parse_args(argv)
    agents = args.agents or ([1000] if args.quick else [1000, 10000])
    results = [asyncio.run(measure(count)) for count in agents]
    if args.json:
        print(json.dumps({"benchmark": "web_fanout", "results": results}))


if __name__ == "__main__":
    main()
