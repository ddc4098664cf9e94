"""Resident memory of the daemon with 100,000 waiting contacts and 10,000 agents (issue 6).

Everything is real: `router run` in a subprocess on the shipped config (`config/router.toml`:
its queues, escalations, plugins, and its `[store]` settings as shipped; only the ports, the
broker and the store's path rewritten), a Mosquitto from `config/mosquitto.conf` on a free
port, HTTP through aiohttp. The harness is `restart.py`'s, the agents are added as in `e2e.py`.

1. The daemon starts on an empty store: its memory with nothing in it.
2. A agents (10,000) are added by `PUT /v1/agents/{id}` and `POST .../state` (available):
   skill `sales` at level 5, English, chat capacity 3. They are **available on another queue**:
   the contacts all go to `support`, which needs the skill `support`, and whose escalation to
   `overflow` (after 90 s) needs `general`; these agents have neither, so none of them is ever
   offered one. Available rather than away because an available agent with free slots is also
   kept in the availability indexes (per queue, channel and language), which an away agent
   leaves: the larger footprint, the one to bound.
3. N contacts (100,000; `--quick` 10,000) are POSTed to `/v1/contacts` by 64 concurrent
   clients (`restart.contact_body`: explicit id, chat, queue `support`, one of 20,000
   customers, a subject and a short body). Every one waits; `GET /v1/stats` must show N.
4. The daemon's VmRSS (resident now) and VmHWM (its peak so far) from /proc/PID/status, after
   the fill and a 5 s settle.
5. SIGTERM (drain, stop), start again on the same store, ready once `/v1/stats` shows the N
   waiting (the restore from the store); VmRSS and VmHWM read again (the peak is the
   restore's, in a new process), with the agents the store gave back and their states.

Target (issue 6): at most 1 GB (10^9 bytes, 954 MiB) resident with 100,000 waiting and 10,000
agents; judged on the peak, VmHWM, both after the fill and after the restart.

Run:  .venv/bin/python benchmarks/memory.py [--quick | --smoke] [--json] [--agents A]
      [--contacts N]

Prints figures, never asserts. Memory does not depend much on the machine's load; the fill
rate does (the load generator shares the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import restart  # noqa: E402 - needs the path above
from e2e import add_agents  # noqa: E402
from restart import Broker, Daemon, free_port  # noqa: E402

#: issue 6's target: resident memory with 100,000 waiting and 10,000 agents
TARGET_BYTES = 10**9
SETTLE_S = 5.0
MODES: dict[str, dict[str, Any]] = {
    "full": {"agents": 10_000, "contacts": 100_000, "settle": SETTLE_S},
    "quick": {"agents": 10_000, "contacts": 10_000, "settle": SETTLE_S},
    "smoke": {"agents": 20, "contacts": 200, "settle": 0.0},
}


def sales_agent(index: int) -> bytes:
    """An agent of the `sales` queue only: the `support` contacts can never reach it."""
    return orjson.dumps(
        {
            "name": f"Agent {index}",
            "skills": {"sales": 5},
            "languages": ["en"],
            "capacity": {"chat": 3},
        }
    )


@dataclass(frozen=True, slots=True)
class Params:
    mode: str
    agents: int
    contacts: int
    settle_s: float


@dataclass(slots=True)
class Reading:
    """The daemon's memory at one moment, and what it held then."""

    when: str
    rss_mib: float
    peak_rss_mib: float
    waiting: int
    agents: dict[str, int]
    #: seconds from spawn to this reading's readiness (restarts only)
    ready_s: float | None = None


@dataclass(slots=True)
class Report:
    params: Params
    machine: dict[str, Any]
    readings: list[Reading] = field(default_factory=list)
    fill: dict[str, Any] = field(default_factory=dict)

    def target_met(self) -> bool | None:
        """Every peak (VmHWM) within the target; None until the full reading is there."""
        full = self.params.contacts >= 100_000 and self.params.agents >= 10_000
        loaded = [r for r in self.readings if r.when != "empty"]
        if not full or not loaded:
            return None
        return all(r.peak_rss_mib * 2**20 <= TARGET_BYTES for r in loaded)

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": "memory",
            "params": asdict(self.params),
            "machine": self.machine,
            "fill": self.fill,
            "readings": [asdict(r) for r in self.readings],
            "target_bytes": TARGET_BYTES,
            "target_met": self.target_met(),
        }


async def read(session: aiohttp.ClientSession, daemon: Daemon, when: str) -> Reading:
    _, stats = await restart.get_json(session, f"{daemon.base}/v1/stats")
    rss, peak = daemon.memory_mib()
    agents = {k: int(v) for k, v in stats["agents"].items() if isinstance(v, int)}
    return Reading(when, rss, peak, restart.waiting_total(stats), agents)


async def fill(session: aiohttp.ClientSession, daemon: Daemon, params: Params) -> dict[str, Any]:
    """The N contacts by HTTP, 64 in flight; each acknowledged (202) once stored."""
    bodies = [restart.contact_body("m", i) for i in range(params.contacts)]
    ingest = await restart.post_contacts(session, daemon.base, bodies, restart.CONCURRENCY)
    return {
        "contacts": ingest.contacts,
        "seconds": ingest.seconds,
        "per_second": ingest.per_second,
        "retries": ingest.retries,
    }


async def run(params: Params, *, log: bool = True) -> Report:
    report = Report(params=params, machine=restart.machine())

    def say(text: str) -> None:
        if log:
            print(f"  {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        broker = Broker()
        broker.start()
        http_port = free_port()
        store = Path(tmp) / "var" / "router.db"
        store.parent.mkdir()
        config = restart.write_config(
            Path(tmp), http_port=http_port, mqtt_url=broker.url, store=str(store)
        )
        daemon = Daemon(config, http_port)
        daemon.start()
        try:
            async with restart.client_session() as session:
                ready = await restart.wait_ready(session, daemon, 0, 60.0, mqtt=True)
                if ready.ready_s is None:
                    raise RuntimeError(f"the daemon did not start:\n{daemon.log_tail()}")
                report.readings.append(await read(session, daemon, "empty"))
                say(f"adding {params.agents:,} agents (available on sales) ...")
                await add_agents(session, daemon.base, params.agents, sales_agent)
                say(f"filling {params.contacts:,} contacts ...")
                report.fill = await fill(session, daemon, params)
                await asyncio.sleep(params.settle_s)  # let the store's batch and timers settle
                report.readings.append(await read(session, daemon, "after the fill"))
                say("restarting ...")
                daemon.terminate()
                daemon.start()
                ready = await restart.wait_ready(session, daemon, params.contacts, 120.0)
                if ready.ready_s is None:
                    raise RuntimeError(f"the restart never got ready:\n{daemon.log_tail()}")
                await asyncio.sleep(params.settle_s)
                restarted = await read(session, daemon, "after a restart")
                restarted.ready_s = ready.ready_s
                report.readings.append(restarted)
        finally:
            if daemon.running():
                daemon.terminate()
            broker.close()
    return report


def render(report: Report) -> str:
    p, f = report.params, report.fill
    lines = [
        f"Resident memory ({p.mode}): {p.agents:,} agents available on `sales`,"
        f" {p.contacts:,} contacts waiting in `support` (config/router.toml, store as shipped)",
        f"  fill: {f['contacts']:,} contacts by HTTP in {f['seconds']:.1f} s ="
        f" {f['per_second']:,.0f}/s, {f['retries']} retries",
        f"  {'reading':<16} {'VmRSS MiB':>9} {'VmHWM MiB':>9} {'waiting':>8} {'agents':>7}"
        f" {'available':>9} {'ready s':>7}",
    ]
    for r in report.readings:
        ready = "" if r.ready_s is None else f"{r.ready_s:.2f}"
        lines.append(
            f"  {r.when:<16} {r.rss_mib:9.0f} {r.peak_rss_mib:9.0f} {r.waiting:>8,}"
            f" {r.agents.get('total', 0):>7,} {r.agents.get('available', 0):>9,} {ready:>7}"
        )
    met = report.target_met()
    verdict = (
        "not judged (needs 100,000 contacts and 10,000 agents)"
        if met is None
        else "met"
        if met
        else "MISSED"
    )
    lines.append(
        f"  target: peak resident (VmHWM) <= 1 GB ({TARGET_BYTES / 2**20:.0f} MiB): {verdict};"
        f" 1-min load {report.machine['load_1min']:.2f}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="10,000 contacts instead of 100,000")
    size.add_argument("--smoke", action="store_true", help="tiny run for the test suite")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    parser.add_argument("--agents", type=int, default=None, help="override A")
    parser.add_argument("--contacts", type=int, default=None, help="override N")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "smoke" if args.smoke else "full"
    params = Params(
        mode=mode,
        agents=args.agents or MODES[mode]["agents"],
        contacts=args.contacts or MODES[mode]["contacts"],
        settle_s=MODES[mode]["settle"],
    )
    started = time.perf_counter()
    with asyncio.Runner(loop_factory=restart.loop_factory()) as runner:
        report = runner.run(run(params, log=not args.smoke))
    print(render(report))
    print(f"Total {time.perf_counter() - started:.1f} s")
    if args.json:
        print(json.dumps(report.to_json()))
    return report


if __name__ == "__main__":
    main()
