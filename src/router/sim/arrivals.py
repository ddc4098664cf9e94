"""Arrival times: a Poisson process at a piecewise-constant rate, drawn lazily.

`RateProfile` is the rate over time: pieces starting at `starts` (seconds,
ascending, the first at 0), each with its rate per second, the whole repeated
every `period` seconds when one is given (an hourly curve over a day).

`PoissonArrivals.next()` gives the next arrival time after the last. Within a
piece the gap is exponential; a gap that would cross into the next piece is
thrown away and drawing restarts at the boundary — exact, because the process
is memoryless. One uniform per attempt, from the stream's own generator.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateProfile:
    starts: tuple[float, ...]
    #: contacts per second in each piece
    rates: tuple[float, ...]
    period: float | None

    def piece(self, t: float) -> tuple[float, float]:
        """(rate at `t`, when that rate ends: the next piece's start, or inf)."""
        offset = 0.0
        local = t
        if self.period is not None:
            cycles = math.floor(t / self.period)
            offset = cycles * self.period
            local = t - offset
        index = bisect_right(self.starts, local) - 1
        if index + 1 < len(self.starts):
            end = offset + self.starts[index + 1]
        elif self.period is not None:
            end = offset + self.period
        else:
            end = math.inf
        return self.rates[index], end

    def mean_rate(self, until: float) -> float:
        """The average rate over [0, until), per second (for reports and checks)."""
        total, t = 0.0, 0.0
        while t < until:
            rate, end = self.piece(t)
            stop = min(end, until)
            total += rate * (stop - t)
            t = stop
        return total / until if until > 0 else 0.0


class PoissonArrivals:
    __slots__ = ("_end", "_log", "_profile", "_random", "_rate", "t")

    def __init__(self, profile: RateProfile, rng: random.Random) -> None:
        self._profile = profile
        self._random = rng.random
        self._log = math.log
        self.t = 0.0
        self._rate, self._end = profile.piece(0.0)

    def next(self, until: float) -> float | None:
        """The next arrival time, or None when there is none before `until`."""
        t = self.t
        while t < until:
            if t >= self._end:
                self._rate, self._end = self._profile.piece(t)
            rate = self._rate
            if rate <= 0.0:
                t = self._end
                continue
            candidate = t - self._log(1.0 - self._random()) / rate
            if candidate < self._end:
                self.t = candidate
                return candidate if candidate < until else None
            t = self._end
        self.t = t
        return None
