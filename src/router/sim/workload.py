"""The workload file (CONTRACT 5, extended): what arrives, who answers, for how long.

`load_workload(path)` reads one TOML file, checks every key and either returns
a frozen `Workload` or raises `ConfigError` listing every problem as
`FILE:LINE: message` — the same reader and messages as the router's config, so
`router simulate` reports a bad workload the way `router check-config` reports a
bad config. Files the workload names (empirical CSVs, JSONL traces) are read and
checked here too, relative to the workload file's folder. docs/simulate.md
describes every key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from router.config_lines import locate_keys, syntax_error_location
from router.config_reader import ConfigError, Problem, Reader, Table
from router.sim.distributions import Constant
from router.sim.trace import read_trace
from router.sim.workload_types import (
    AgentGroup,
    ArrivalStream,
    Replay,
    Shift,
    TracedContact,
    Workload,
)
from router.sim.workload_values import (
    read_contact_template,
    read_distribution,
    read_levels,
    read_profile,
    read_shifts,
)

TOP_KEYS = ("simulation",)
SIMULATION_KEYS = (
    "duration_seconds",
    "warmup_seconds",
    "seed",
    "interval_seconds",
    "drain_seconds",
    "arrivals",
    "agents",
    "replay",
)
ARRIVAL_KEYS = (
    "name",
    "channel",
    "queue",
    "rate_per_hour",
    "hourly_rates",
    "profile",
    "profile_period_seconds",
    "handle_time",
    "patience",
    "contact",
)
AGENT_KEYS = (
    "name",
    "count",
    "skills",
    "capacity",
    "languages",
    "shifts",
    "answer_delay",
    "reject_probability",
)
REPLAY_KEYS = ("file", "handle_time", "patience")
DEFAULT_INTERVAL_SECONDS = 900.0
DEFAULT_DRAIN_SECONDS = 3600.0


def load_workload(path: Path) -> Workload:
    """Read and validate `path`; raise `ConfigError` with every problem found."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([Problem(file, None, f"cannot read workload: {reason or exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, line = syntax_error_location(exc, text)
        raise ConfigError([Problem(file, line, f"TOML syntax error: {message}")]) from None
    reader = Reader(file, locate_keys(text), {})
    root = reader.table(data, (), "the top-level table")
    root.check_keys(TOP_KEYS)
    sim = root.subtable("simulation", "[simulation]")
    if sim is None:
        reader.problem((), "a workload needs a [simulation] table")
        raise ConfigError(reader.sorted_problems())
    workload = _read_simulation(sim, path)
    if reader.problems:
        raise ConfigError(reader.sorted_problems())
    return workload


def _read_simulation(sim: Table, path: Path) -> Workload:
    sim.check_keys(SIMULATION_KEYS)
    duration = sim.number("duration_seconds", 3600.0, above=0)
    warmup = sim.non_negative("warmup_seconds", 0.0)
    if warmup >= duration:
        sim.fail("warmup_seconds", "'warmup_seconds' must be less than 'duration_seconds'")
    folder = path.parent
    arrivals = tuple(
        _read_arrival(
            sim.reader.table(t, (*sim.at("arrivals"), i), f"[[simulation.arrivals]] #{i + 1}"),
            i,
            folder,
        )
        for i, t in sim.tables("arrivals", "simulation.arrivals") or []
    )
    agents = tuple(
        _read_agents(
            sim.reader.table(t, (*sim.at("agents"), i), f"[[simulation.agents]] #{i + 1}"),
            i,
            folder,
        )
        for i, t in sim.tables("agents", "simulation.agents") or []
    )
    replays = tuple(
        _read_replay(
            sim.reader.table(t, (*sim.at("replay"), i), f"[[simulation.replay]] #{i + 1}"), folder
        )
        for i, t in sim.tables("replay", "simulation.replay") or []
    )
    if not arrivals and not replays:
        sim.reader.problem(
            sim.path, "[simulation] needs [[simulation.arrivals]] or [[simulation.replay]]"
        )
    if not agents:
        sim.reader.problem(sim.path, "[simulation] needs at least one [[simulation.agents]] group")
    names = [a.name for a in arrivals]
    for i, name in enumerate(names):
        if name in names[:i]:
            sim.reader.problem(
                (*sim.at("arrivals"), i, "name"), f"arrival stream name {name!r} is used twice"
            )
    groups = [g.name for g in agents]
    for i, name in enumerate(groups):
        if name in groups[:i]:
            sim.reader.problem(
                (*sim.at("agents"), i, "name"), f"agent group name {name!r} is used twice"
            )
    return Workload(
        source=path,
        duration=duration,
        warmup=warmup,
        seed=sim.integer("seed", 1, low=0),
        interval=sim.number("interval_seconds", DEFAULT_INTERVAL_SECONDS, above=0),
        drain=sim.non_negative("drain_seconds", DEFAULT_DRAIN_SECONDS),
        arrivals=arrivals,
        agents=agents,
        replays=replays,
    )


def _read_arrival(table: Table, index: int, folder: Path) -> ArrivalStream:
    table.check_keys(ARRIVAL_KEYS)
    name = table.text("name", f"arrivals{index + 1}")
    channel = table.text("channel", "voice")
    queue = table.data.get("queue")
    if queue is not None and (not isinstance(queue, str) or not queue.strip()):
        table.wrong_type("queue", "a non-empty string", queue)
        queue = None
    handle = read_distribution(table, "handle_time", folder)
    if handle is None:
        if "handle_time" not in table.data:
            table.fail("handle_time", f"{table.label} needs 'handle_time'")
        handle = Constant(0.0)
    return ArrivalStream(
        name=name,
        profile=read_profile(table),
        handle_time=handle,
        patience=read_distribution(table, "patience", folder),
        template=read_contact_template(table, channel, queue),
    )


def _read_agents(table: Table, index: int, folder: Path) -> AgentGroup:
    table.check_keys(AGENT_KEYS)
    probability = table.number("reject_probability", 0.0)
    if not 0.0 <= probability < 1.0:
        table.fail("reject_probability", "'reject_probability' must be from 0 to less than 1")
        probability = 0.0
    return AgentGroup(
        name=table.text("name", f"group{index + 1}"),
        count=table.integer("count", 1, low=0),
        skills=read_levels(table, "skills", low=1, high=10),
        capacity=read_levels(table, "capacity", low=0, high=1000, default={"voice": 1}),
        languages=frozenset(table.strings("languages")),
        shifts=tuple(Shift(a, b) for a, b in read_shifts(table)),
        answer_delay=read_distribution(table, "answer_delay", folder) or Constant(0.0),
        reject_probability=probability,
    )


def _read_replay(table: Table, folder: Path) -> Replay:
    table.check_keys(REPLAY_KEYS)
    file = table.text("file", "")
    handle = read_distribution(table, "handle_time", folder)
    patience = read_distribution(table, "patience", folder)
    contacts: tuple[TracedContact, ...] = ()
    if file:
        contacts = read_trace(table, folder / file, need_handle=handle is None)
    return Replay(source=file, contacts=contacts, handle_time=handle, patience=patience)
