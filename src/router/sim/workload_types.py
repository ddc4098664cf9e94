"""The workload's value objects: what `load_workload` returns (docs/simulate.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from router.model import Contact
from router.sim.arrivals import RateProfile
from router.sim.distributions import Distribution


@dataclass(frozen=True, slots=True)
class Shift:
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class ArrivalStream:
    """Poisson arrivals of one kind of contact, at a constant or piecewise rate."""

    name: str
    profile: RateProfile
    handle_time: Distribution
    patience: Distribution | None
    #: every arrival is a copy of this contact with its own id
    template: Contact


@dataclass(frozen=True, slots=True)
class AgentGroup:
    name: str
    count: int
    skills: dict[str, int]
    capacity: dict[str, int]
    languages: frozenset[str]
    #: empty: on duty for the whole run
    shifts: tuple[Shift, ...]
    answer_delay: Distribution
    reject_probability: float


@dataclass(frozen=True, slots=True)
class TracedContact:
    """One line of a replayed trace; None durations are drawn from the replay's distributions."""

    at: float
    contact: Contact
    handle: float | None
    patience: float | None


@dataclass(frozen=True, slots=True)
class Replay:
    source: str
    contacts: tuple[TracedContact, ...]
    handle_time: Distribution | None
    patience: Distribution | None


@dataclass(frozen=True, slots=True)
class Workload:
    source: Path
    duration: float
    warmup: float
    seed: int
    interval: float
    #: after `duration` no contact arrives; the run goes on this long at most for those waiting
    drain: float
    arrivals: tuple[ArrivalStream, ...]
    agents: tuple[AgentGroup, ...]
    replays: tuple[Replay, ...] = ()
