"""The report of a run: per queue, per agent group, per interval; JSON and a table.

Definitions (CONTRACT 5, docs/simulate.md):

- `offered`: contacts that arrived at or after warm-up and entered the queue.
- `service_level`: of those, the share answered (assigned) within the queue's
  `sla_seconds`; abandoned contacts, and any still waiting when the run
  stopped, count as not answered. 0.0 when nothing was offered.
- `asa_seconds`: mean wait of the answered ones; `longest_wait_seconds`: the
  longest wait of any offered contact, answered, abandoned or still waiting.
- `aht_seconds`: mean handle time plus the queue's wrap-up, of those handled.
- `occupancy`: busy time over staffed time within [warmup, duration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.sim.run import Outcome
from router.sim.tally import QueueTally


@dataclass(frozen=True, slots=True)
class QueueFigures:
    offered: int
    answered: int
    handled: int
    abandoned: int
    service_level: float
    asa_seconds: float
    aht_seconds: float
    longest_wait_seconds: float
    sla_seconds: float

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.offered if self.offered else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "handled": self.handled,
            "abandoned": self.abandoned,
            "service_level": self.service_level,
            "asa_seconds": self.asa_seconds,
            "sla_seconds": self.sla_seconds,
            "answered": self.answered,
            "abandon_rate": self.abandon_rate,
            "aht_seconds": self.aht_seconds,
            "longest_wait_seconds": self.longest_wait_seconds,
        }


def _queue_figures(t: QueueTally) -> QueueFigures:
    return QueueFigures(
        offered=t.offered,
        answered=t.answered,
        handled=t.handled,
        abandoned=t.abandoned,
        service_level=t.in_sla / t.offered if t.offered else 0.0,
        asa_seconds=t.wait_sum / t.answered if t.answered else 0.0,
        aht_seconds=t.handle_sum / t.handled if t.handled else 0.0,
        longest_wait_seconds=t.longest_wait,
        sla_seconds=t.sla,
    )


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Report:
    queues: dict[str, QueueFigures]
    #: group name → {"agents", "occupancy", "staffed_hours", "busy_hours"}
    groups: dict[str, dict[str, float]]
    occupancy: float
    intervals: list[dict[str, Any]]
    contacts: int
    rejected: int
    unresolved: int
    wall_seconds: float
    seed: int
    duration_seconds: float
    warmup_seconds: float

    @property
    def contacts_per_second(self) -> float:
        return _ratio(self.contacts, self.wall_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "queues": {name: q.to_json() for name, q in self.queues.items()},
            "agents": {"occupancy": self.occupancy, "groups": self.groups},
            "contacts_per_second_simulated": self.contacts_per_second,
            "contacts": self.contacts,
            "rejected": self.rejected,
            "unresolved": self.unresolved,
            "seed": self.seed,
            "duration_seconds": self.duration_seconds,
            "warmup_seconds": self.warmup_seconds,
            "wall_seconds": self.wall_seconds,
            "intervals": self.intervals,
        }


def build(outcome: Outcome) -> Report:
    clock = outcome.clock
    # only queues that saw contacts (the config may hold queues the workload never feeds)
    tallies = [t for t in outcome.queues.values() if any(t.i_offered)]
    groups = {
        g.name: {
            "agents": g.agents,
            "occupancy": _ratio(g.busy, g.staffed),
            "staffed_hours": g.staffed / 3600,
            "busy_hours": g.busy / 3600,
        }
        for g in outcome.groups.values()
    }
    busy = sum(g.busy for g in outcome.groups.values())
    staffed = sum(g.staffed for g in outcome.groups.values())
    intervals = []
    for i in range(clock.intervals):
        start = i * clock.step
        queues = {}
        for t in tallies:
            offered = t.i_offered[i]
            answered = t.i_answered[i]
            queues[t.name] = {
                "offered": offered,
                "answered": answered,
                "handled": t.i_handled[i],
                "abandoned": t.i_abandoned[i],
                "service_level": _ratio(t.i_in_sla[i], offered),
                "asa_seconds": _ratio(t.i_wait_sum[i], answered),
                "aht_seconds": _ratio(t.i_handle_sum[i], t.i_handled[i]),
                "longest_wait_seconds": t.i_longest[i],
            }
        span = min(clock.step, clock.duration - start)
        occupancy = {g.name: _ratio(g.i_busy[i], g.i_staffed[i]) for g in outcome.groups.values()}
        intervals.append(
            {
                "start_seconds": start,
                "warmup": start < clock.warmup,
                "queues": queues,
                "occupancy": occupancy,
                "waiting_average": _ratio(outcome.waiting.i_area[i], span),
                "waiting_peak": outcome.waiting.i_peak[i],
                "agents_staffed": _ratio(
                    sum(g.i_staffed[i] for g in outcome.groups.values()), span
                ),
            }
        )
    return Report(
        queues={t.name: _queue_figures(t) for t in tallies},
        groups=groups,
        occupancy=_ratio(busy, staffed),
        intervals=intervals,
        contacts=outcome.arrived,
        rejected=outcome.rejected,
        unresolved=outcome.unresolved,
        wall_seconds=outcome.wall_seconds,
        seed=outcome.seed,
        duration_seconds=clock.duration,
        warmup_seconds=clock.warmup,
    )
