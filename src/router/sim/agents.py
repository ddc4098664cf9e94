"""Simulated agents: the workload's groups as engine agents, their shifts, their answers.

Agents enter the engine as the daemon's API puts them there: `AgentUpserted`
with a profile (skills, languages, capacity), then `AgentStateChanged` to
`available` when a shift starts. When a shift ends the agent goes `away`: the
engine offers it nothing new, and it finishes what it holds (an open offer is
still answered, a contact still completed, wrap-up still runs); it counts as
staffed until then. An agent of a group without shifts is on duty all run.

Each offer is answered after the group's `answer_delay` (default 0: at once),
and rejected with the group's `reject_probability`; both are drawn from the
group's own generator. An answer that comes after the offer expired (the
queue's `offer_timeout_seconds`) or was withdrawn is refused by the engine, as
a late click in the agent page would be, and changes nothing.
"""

from __future__ import annotations

import random
from types import MappingProxyType

from router.model import AgentProfile
from router.sim.distributions import Constant
from router.sim.tally import Clock, GroupTally
from router.sim.workload_types import AgentGroup


class SimAgent:
    __slots__ = ("busy_since", "group", "id", "leaving", "on_since", "tally")

    def __init__(self, agent_id: str, group: AnswerBehaviour, tally: GroupTally) -> None:
        self.id = agent_id
        self.group = group
        self.tally = tally
        #: when it last became busy / staffed; None while it is not
        self.busy_since: float | None = None
        self.on_since: float | None = None
        #: its shift ended while it was busy: it leaves when it is free
        self.leaving = False

    def set_busy(self, busy: bool, at: float, clock: Clock) -> None:
        if busy:
            if self.busy_since is None:
                self.busy_since = at
            return
        since = self.busy_since
        if since is None:
            return
        self.busy_since = None
        tally = self.tally
        tally.busy += clock.counted(since, at)
        clock.spread(tally.i_busy, since, at)
        if self.leaving:
            self.off_duty(at, clock)

    def on_duty(self, at: float) -> None:
        self.leaving = False
        if self.on_since is None:
            self.on_since = at

    def shift_over(self, at: float, clock: Clock) -> None:
        if self.busy_since is not None:
            self.leaving = True
        else:
            self.off_duty(at, clock)

    def off_duty(self, at: float, clock: Clock) -> None:
        since = self.on_since
        self.leaving = False
        if since is None:
            return
        self.on_since = None
        tally = self.tally
        tally.staffed += clock.counted(since, at)
        clock.spread(tally.i_staffed, since, at)

    def close(self, at: float, clock: Clock) -> None:
        """The run is over: count the busy and staffed time up to `at`."""
        if self.busy_since is not None:
            self.leaving = False
            self.set_busy(False, at, clock)
        self.off_duty(at, clock)


class AnswerBehaviour:
    """How a group's agents answer offers: delay and reject probability, one generator."""

    __slots__ = ("_delay", "_p", "_random", "_rng", "instant")

    def __init__(self, group: AgentGroup, rng: random.Random) -> None:
        self._delay = group.answer_delay
        self._p = group.reject_probability
        self._random = rng.random
        #: accept at once, nothing to draw: the common case takes no generator calls
        self.instant = self._p == 0.0 and isinstance(self._delay, Constant) and not self._delay.mean
        self._rng = rng

    def answer(self) -> tuple[float, bool]:
        """(delay in seconds, accept)."""
        delay = self._delay.sample(self._rng)
        accept = self._p == 0.0 or self._random() >= self._p
        return delay, accept


def profiles(group: AgentGroup) -> list[AgentProfile]:
    """The group's agents, `NAME-1` … `NAME-COUNT`."""
    skills = MappingProxyType(dict(group.skills))
    capacity = MappingProxyType(dict(group.capacity))
    return [
        AgentProfile(
            id=f"{group.name}-{n}",
            name=f"{group.name} {n}",
            skills=skills,
            languages=group.languages,
            capacity=capacity,
        )
        for n in range(1, group.count + 1)
    ]
