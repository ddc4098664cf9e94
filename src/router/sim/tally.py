"""What the run counts as it goes: per queue, per agent group, per interval.

Kept apart from the event loop so the loop stays short, and kept cheap: plain
slotted objects and lists indexed by interval, updated a handful of times per
contact. `report.py` turns the totals into figures.

- A contact is *counted* when it arrived at or after `warmup` (CONTRACT 5);
  per-interval figures count every contact, in the interval it arrived in.
- A wait runs from arrival to assignment (answered) or to abandonment.
- Agent time is counted inside the window [warmup, duration): an agent is
  *staffed* while on shift (and after its shift while it finishes a contact),
  *busy* while it holds anything — an offer, a contact or its wrap-up.
"""

from __future__ import annotations

import math


class QueueTally:
    __slots__ = (
        "abandoned",
        "answered",
        "handle_sum",
        "handled",
        "i_abandoned",
        "i_answered",
        "i_handle_sum",
        "i_handled",
        "i_in_sla",
        "i_longest",
        "i_offered",
        "i_wait_sum",
        "in_sla",
        "longest_wait",
        "name",
        "offered",
        "sla",
        "wait_sum",
        "wrapup",
    )

    def __init__(self, name: str, sla: float, wrapup: float, intervals: int) -> None:
        self.name = name
        self.sla = sla
        self.wrapup = wrapup
        self.offered = self.answered = self.in_sla = self.abandoned = self.handled = 0
        self.wait_sum = self.handle_sum = self.longest_wait = 0.0
        self.i_offered = [0] * intervals
        self.i_answered = [0] * intervals
        self.i_in_sla = [0] * intervals
        self.i_abandoned = [0] * intervals
        self.i_handled = [0] * intervals
        self.i_handle_sum = [0.0] * intervals
        self.i_wait_sum = [0.0] * intervals
        self.i_longest = [0.0] * intervals


class SimContact:
    """The simulator's side of one contact: its pre-drawn durations and where it stands."""

    __slots__ = ("answered", "arrival", "counted", "handle", "id", "interval", "tally")

    def __init__(
        self, contact_id: str, arrival: float, handle: float, interval: int, counted: bool
    ) -> None:
        self.id = contact_id
        self.arrival = arrival
        self.handle = handle
        self.interval = interval
        self.counted = counted
        self.answered = False
        self.tally: QueueTally | None = None


class GroupTally:
    __slots__ = ("agents", "busy", "i_busy", "i_staffed", "name", "staffed")

    def __init__(self, name: str, agents: int, intervals: int) -> None:
        self.name = name
        self.agents = agents
        self.busy = self.staffed = 0.0
        self.i_busy = [0.0] * intervals
        self.i_staffed = [0.0] * intervals


class Clock:
    """The run's time frame: warm-up, duration, and the interval buckets of the day."""

    __slots__ = ("duration", "intervals", "step", "warmup")

    def __init__(self, duration: float, warmup: float, step: float) -> None:
        self.duration = duration
        self.warmup = warmup
        self.step = step
        self.intervals = max(1, math.ceil(duration / step))

    def index(self, t: float) -> int:
        return min(int(t / self.step), self.intervals - 1)

    def spread(self, buckets: list[float], start: float, end: float) -> None:
        """Add the span [start, end) to the interval buckets it covers (clipped to the run)."""
        end = min(end, self.duration)
        step = self.step
        i = int(start / step)
        while start < end:
            stop = min(end, (i + 1) * step)
            buckets[i] += stop - start
            start = stop
            i += 1

    def counted(self, start: float, end: float) -> float:
        """The part of [start, end) inside the counted window [warmup, duration)."""
        return max(0.0, min(end, self.duration) - max(start, self.warmup))


class Waiting:
    """The number of contacts waiting (all queues), integrated per interval."""

    __slots__ = ("clock", "i_area", "i_peak", "last", "now")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.now = 0
        self.last = 0.0
        self.i_area = [0.0] * clock.intervals
        self.i_peak = [0] * clock.intervals

    def change(self, at: float, delta: int) -> None:
        clock = self.clock
        if self.now and at > self.last:
            step = clock.step
            start, end = self.last, min(at, clock.duration)
            i = int(start / step)
            while start < end:
                stop = min(end, (i + 1) * step)
                self.i_area[i] += self.now * (stop - start)
                start = stop
                i += 1
        self.last = at
        self.now += delta
        if delta > 0 and at < clock.duration:
            i = clock.index(at)
            self.i_peak[i] = max(self.i_peak[i], self.now)


class Tallies:
    """Everything counted, updated from the engine's published events."""

    __slots__ = ("clock", "groups", "queues", "waiting")

    def __init__(
        self, clock: Clock, queues: dict[str, QueueTally], groups: dict[str, GroupTally]
    ) -> None:
        self.clock = clock
        self.queues = queues
        self.groups = groups
        self.waiting = Waiting(clock)

    def queued(self, record: SimContact, queue: str | None, at: float) -> None:
        tally = self.queues.get(queue) if queue is not None else None
        if tally is None or record.tally is not None:
            return  # re-queued after a declined offer: still the same wait
        record.tally = tally
        self.waiting.change(at, 1)
        tally.i_offered[record.interval] += 1
        if record.counted:
            tally.offered += 1

    def answered(self, record: SimContact, at: float) -> None:
        record.answered = True
        wait = at - record.arrival
        tally = record.tally
        self.waiting.change(at, -1)
        if tally is None:
            return
        i = record.interval
        tally.i_answered[i] += 1
        tally.i_wait_sum[i] += wait
        tally.i_longest[i] = max(tally.i_longest[i], wait)
        within = wait <= tally.sla
        if within:
            tally.i_in_sla[i] += 1
        if record.counted:
            tally.answered += 1
            tally.wait_sum += wait
            tally.in_sla += within
            tally.longest_wait = max(tally.longest_wait, wait)

    def abandoned(self, record: SimContact, at: float) -> None:
        wait = at - record.arrival
        tally = record.tally
        self.waiting.change(at, -1)
        if tally is None:
            return
        i = record.interval
        tally.i_abandoned[i] += 1
        tally.i_longest[i] = max(tally.i_longest[i], wait)
        if record.counted:
            tally.abandoned += 1
            tally.longest_wait = max(tally.longest_wait, wait)

    def completed(self, record: SimContact) -> None:
        tally = record.tally
        if tally is None:
            return
        handle = record.handle + tally.wrapup
        tally.i_handled[record.interval] += 1
        tally.i_handle_sum[record.interval] += handle
        if record.counted:
            tally.handled += 1
            tally.handle_sum += handle
