"""Per-queue figures for `/v1/stats`, the wallboard and the simulator report.

Service level here is answered within the queue's `sla_seconds` divided by
contacts that stopped waiting (answered or abandoned); contacts still waiting
are not counted yet. Waits count from entering the queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# by name: compiled, `heapq.heappush(...)` looks the function up on the module at every call
from heapq import heapify, heappop, heappush

from router.engine.records import ContactRecord
from router.model import ContactState

_WAITING_STATES = (ContactState.QUEUED, ContactState.OFFERED)


@dataclass(slots=True)
class QueueCounters:
    name: str
    arrived: int = 0
    answered: int = 0
    answered_in_sla: int = 0
    abandoned: int = 0
    handled: int = 0
    answer_wait_sum: float = 0.0
    waiting: int = 0
    #: (entered_queue_at, seq, generation, contact): the oldest live one is the longest wait
    _clock: list[tuple[float, int, int, ContactRecord]] = field(default_factory=list)

    def entered(self, record: ContactRecord) -> None:
        self.arrived += 1
        self.waiting += 1
        self.track(record)

    def track(self, record: ContactRecord) -> None:
        """Count the contact's wait towards the longest wait (a restore tracks what waits)."""
        clock = self._clock
        heappush(clock, (record.entered_queue_at, record.seq, record.generation, record))
        if len(clock) > 1024 + 4 * self.waiting:
            # Entries leave lazily, when `longest_wait` meets them at the top; a host that
            # seldom asks (the simulator) would otherwise keep every contact ever queued.
            self._clock = [entry for entry in clock if self._live(entry)]
            heapify(self._clock)

    def _live(self, entry: tuple[float, int, int, ContactRecord]) -> bool:
        _, _, generation, record = entry
        return (
            record.state in _WAITING_STATES
            and record.queue == self.name
            and record.generation == generation
        )

    def left(self) -> None:
        self.waiting -= 1

    def answered_after(self, wait: float, sla_seconds: float) -> None:
        self.answered += 1
        self.answer_wait_sum += wait
        if wait <= sla_seconds:
            self.answered_in_sla += 1

    def longest_wait(self, now: float) -> float:
        clock = self._clock
        while clock:
            if self._live(clock[0]):
                return max(0.0, now - clock[0][0])
            heappop(clock)
        return 0.0

    @property
    def service_level(self) -> float | None:
        finished = self.answered + self.abandoned
        return self.answered_in_sla / finished if finished else None

    @property
    def asa_seconds(self) -> float:
        return self.answer_wait_sum / self.answered if self.answered else 0.0


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    waiting: int
    longest_wait_seconds: float
    service_level: float | None
    asa_seconds: float
    arrived: int
    answered: int
    handled: int
    abandoned: int
    agents_available: int
    sla_seconds: float
