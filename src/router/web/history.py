"""The wallboard's last hour: per queue, one bucket per minute, kept in a ring.

The engine's queue counters are cumulative since start (or restore); a chart
wants per-minute figures. Once a second the stats task hands the counters to
`History.sample` (reading them costs nothing like `Engine.stats()`, which
counts agents); a minute's bucket is the difference between the counters at
its end and at its start. Sixty finished minutes are kept per queue, so the
memory is fixed whatever the traffic, and a wallboard opened mid-shift sees
the hour behind it at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from router.engine.stats import QueueCounters

MINUTES = 60


@dataclass(frozen=True, slots=True)
class Totals:
    """A queue's cumulative counters at one moment."""

    offered: int = 0
    answered: int = 0
    in_sla: int = 0
    abandoned: int = 0

    @classmethod
    def of(cls, counters: QueueCounters) -> Totals:
        return cls(
            counters.arrived, counters.answered, counters.answered_in_sla, counters.abandoned
        )

    def minus(self, start: Totals) -> Totals:
        # a restore or reload may reset counters: never report a negative minute
        return Totals(
            max(0, self.offered - start.offered),
            max(0, self.answered - start.answered),
            max(0, self.in_sla - start.in_sla),
            max(0, self.abandoned - start.abandoned),
        )


def bucket_json(minute: int, totals: Totals) -> dict[str, Any]:
    finished = totals.answered + totals.abandoned
    return {
        "minute": minute,
        "offered": totals.offered,
        "answered": totals.answered,
        "abandoned": totals.abandoned,
        # None: nobody stopped waiting that minute, so there is no level to draw
        "service_level": round(totals.in_sla / finished, 4) if finished else None,
    }


class History:
    def __init__(self, minutes: int = MINUTES) -> None:
        self.minutes = minutes
        #: bumped whenever a minute is finished: streams resend the history then
        self.version = 0
        self._minute: int | None = None
        self._start: dict[str, Totals] = {}
        self._now: dict[str, Totals] = {}
        self._done: dict[str, deque[dict[str, Any]]] = {}

    def sample(self, now: float, counters: Mapping[str, QueueCounters]) -> None:
        """Take the engine's queue counters (`Engine.counters`: O(queues), not O(agents))."""
        minute = int(now // 60) * 60
        current = {name: Totals.of(c) for name, c in counters.items()}
        if self._minute is None:
            self._minute, self._start = minute, current
        elif minute != self._minute:
            for name, totals in self._now.items():
                ring = self._done.setdefault(name, deque(maxlen=self.minutes))
                ring.append(bucket_json(self._minute, totals.minus(self._start.get(name, totals))))
            self.version += 1
            # the new minute starts where the last sample left the counters
            self._minute, self._start = minute, {**current, **self._now}
        for name, totals in current.items():
            self._start.setdefault(name, totals)
        self._now = current

    def finished(self) -> dict[str, list[dict[str, Any]]]:
        """Per queue, the finished minutes, oldest first."""
        return {name: list(ring) for name, ring in self._done.items()}

    def current(self) -> dict[str, dict[str, Any]]:
        """Per queue, the minute under way so far."""
        if self._minute is None:
            return {}
        return {
            name: bucket_json(self._minute, totals.minus(self._start.get(name, totals)))
            for name, totals in self._now.items()
        }
