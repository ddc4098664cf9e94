"""Simulated contacts per second: `router simulate` against Ciw on the same M/M/c model (issue 5).

The model: Poisson arrivals, exponential handle times (mean 180 s), c agents,
utilization 0.9, nobody abandons, no wrap-up. For each agent count, in the
same run and one after the other:

- **router**: `router.sim.run.Simulation` exactly as `router simulate` runs it —
  the config read from a TOML file by `load_config_and_plugins` (one voice
  queue; every built-in plugin loaded and configured with its defaults), the
  real `Engine`, agents that accept at once. Timed: `Simulation.run()` (agent
  set-up, the event loop, draining what waits after the last arrival).
- **ciw**: `ciw.Simulation` on the same λ, μ and c, run until the time that
  many arrivals take. Timed: building the network and simulation, simulating,
  and `get_all_records()`. Counted: the records (customers served).

contacts per second = contacts simulated / wall seconds. Every run has its own
seed; the figure quoted is the median over the repeats.

Run:  .venv/bin/python benchmarks/simulate.py [--quick | --smoke] [--json]

Needs Ciw for the comparison (`pip install -e '.[bench]'`); without it the
router figures are printed and Ciw is reported as skipped. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from router.compiled import is_compiled
from router.config import load_config_and_plugins
from router.sim.run import Simulation
from router.sim.workload import load_workload

MEAN_HANDLE = 180.0
UTILIZATION = 0.9
CONFIG = """
[[queues]]
name = "support"
channels = ["voice"]
skills = ["support"]
sla_seconds = 20
wrapup_seconds = 0
"""


@dataclass(frozen=True, slots=True)
class Params:
    mode: str
    servers: tuple[int, ...]
    contacts: int
    repeats: int


MODES = {
    "full": Params("full", (10, 63, 300, 1000), 20_000, 3),
    "quick": Params("quick", (10, 63, 300), 6_000, 3),
    "smoke": Params("smoke", (5,), 300, 1),
}


def workload_text(servers: int, contacts: int) -> str:
    rate = UTILIZATION * servers / MEAN_HANDLE  # per second
    hours = contacts / rate / 3600
    return f"""
[simulation]
duration_seconds = {hours * 3600}
drain_seconds = 36000
seed = 1
[[simulation.arrivals]]
channel = "voice"
queue = "support"
rate_per_hour = {rate * 3600}
handle_time = {{distribution = "exponential", mean_seconds = {MEAN_HANDLE}}}
[[simulation.agents]]
count = {servers}
skills = {{support = 5}}
capacity = {{voice = 1}}
"""


def router_run(folder: Path, servers: int, contacts: int, seed: int) -> tuple[int, float]:
    config_path = folder / "router.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    workload_path = folder / f"mmc{servers}.toml"
    workload_path.write_text(workload_text(servers, contacts), encoding="utf-8")
    config, plugins = load_config_and_plugins(config_path)
    outcome = Simulation(config.engine, plugins, load_workload(workload_path), seed=seed).run()
    return outcome.arrived, outcome.wall_seconds


def ciw_run(servers: int, contacts: int, seed: int) -> tuple[int, float]:
    import ciw  # noqa: PLC0415 - optional: the `bench` extra

    rate = UTILIZATION * servers / MEAN_HANDLE
    started = time.perf_counter()
    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate)],
        service_distributions=[ciw.dists.Exponential(1 / MEAN_HANDLE)],
        number_of_servers=[servers],
    )
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_time(contacts / rate)
    records = simulation.get_all_records()
    return len(records), time.perf_counter() - started


def ciw_available() -> str | None:
    """None when Ciw imports; else why not."""
    try:
        import ciw  # noqa: F401, PLC0415
    except ImportError:
        return "Ciw is not installed (pip install -e '.[bench]'): its figures are skipped"
    return None


def measure(params: Params) -> dict[str, Any]:
    skipped = ciw_available()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for servers in params.servers:
            row: dict[str, Any] = {"servers": servers}
            for name in ("router", "ciw"):
                if name == "ciw" and skipped:
                    continue
                rates, counts = [], []
                for repeat in range(params.repeats):
                    seed = repeat + 1
                    # The previous run's garbage (a whole engine, or Ciw's network) is
                    # collected now, not charged to whichever run comes next.
                    gc.collect()
                    if name == "router":
                        count, wall = router_run(Path(folder), servers, params.contacts, seed)
                    else:
                        count, wall = ciw_run(servers, params.contacts, seed)
                    rates.append(count / wall)
                    counts.append(count)
                row[name] = {
                    "contacts_per_second": statistics.median(rates),
                    "runs": rates,
                    "contacts": counts,
                }
            if "ciw" in row:
                row["ratio"] = (
                    row["router"]["contacts_per_second"] / row["ciw"]["contacts_per_second"]
                )
            results.append(row)
    return {
        "benchmark": "simulate",
        "params": asdict(params),
        "model": {"mean_handle_seconds": MEAN_HANDLE, "utilization": UTILIZATION},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "compiled": is_compiled(),
        },
        "ciw_skipped": skipped,
        "results": results,
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"M/M/c, utilization {UTILIZATION}, mean handle {MEAN_HANDLE:g} s; "
        f"{report['params']['contacts']:,} contacts per run, median of "
        f"{report['params']['repeats']} runs (contacts simulated per wall second)",
        f"{'agents':>7}  {'router':>10}  {'ciw':>10}  {'router/ciw':>10}",
    ]
    for row in report["results"]:
        ours = row["router"]["contacts_per_second"]
        theirs = row["ciw"]["contacts_per_second"] if "ciw" in row else None
        ratio = f"{row['ratio']:.2f}x" if "ratio" in row else "-"
        shown = f"{theirs:10,.0f}" if theirs is not None else f"{'skipped':>10}"
        lines.append(f"{row['servers']:>7}  {ours:10,.0f}  {shown}  {ratio:>10}")
    if report["ciw_skipped"]:
        lines.append(report["ciw_skipped"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="fewer contacts, up to 300 agents")
    group.add_argument("--smoke", action="store_true", help="the tiny run of the tests")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    params = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    report = measure(params)
    print(table(report))
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
