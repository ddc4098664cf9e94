"""Small config and workload files for the simulator tests, and a one-call run."""

from __future__ import annotations

from pathlib import Path

from router.config import load_config_and_plugins
from router.sim.report import Report, build
from router.sim.run import Simulation
from router.sim.workload import load_workload

ONE_QUEUE = """
[[queues]]
name = "q"
channels = ["voice", "chat"]
skills = ["s"]
sla_seconds = 20
wrapup_seconds = {wrapup}
offer_timeout_seconds = {timeout}
"""


def config_file(
    folder: Path, *, wrapup: float = 0, timeout: float = 20, name: str = "router.toml"
) -> Path:
    path = folder / name
    path.write_text(ONE_QUEUE.format(wrapup=wrapup, timeout=timeout), encoding="utf-8")
    return path


def mmc_workload(
    folder: Path,
    *,
    agents: int,
    rate_per_hour: float,
    aht: float = 180.0,
    patience: float | None = None,
    hours: float = 8.0,
    warmup: float = 600.0,
    extra_agent_keys: str = "",
    name: str = "workload.toml",
) -> Path:
    patience_line = (
        f'patience = {{distribution = "exponential", mean_seconds = {patience}}}'
        if patience
        else ""
    )
    path = folder / name
    path.write_text(
        f"""
[simulation]
duration_seconds = {hours * 3600}
warmup_seconds = {warmup}
seed = 1

[[simulation.arrivals]]
channel = "voice"
queue = "q"
rate_per_hour = {rate_per_hour}
handle_time = {{distribution = "exponential", mean_seconds = {aht}}}
{patience_line}

[[simulation.agents]]
count = {agents}
skills = {{s = 5}}
capacity = {{voice = 1}}
{extra_agent_keys}
""",
        encoding="utf-8",
    )
    return path


def simulate(config: Path, workload: Path, seed: int | None = None) -> Report:
    router_config, plugins = load_config_and_plugins(config)
    outcome = Simulation(router_config.engine, plugins, load_workload(workload), seed=seed).run()
    return build(outcome)


def without_timing(report: Report) -> dict[str, object]:
    """The report's JSON without the wall-clock figures, which differ run to run."""
    data = report.to_json()
    for key in ("wall_seconds", "contacts_per_second_simulated"):
        data.pop(key)
    return data
